//! `channels`: what a streamer broadcasts to. A user owns any number of channels.
//!
//! The stream key itself is never stored: `stream_key_hash` is its hex SHA-256, unique, so
//! ingest looks a key up by hash and rotation replaces the hash (the old key stops at once).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub owner_id: i64,
    /// `[a-z0-9_-]{3,32}`, unique; the channel's address (`/c/{slug}`).
    #[sea_orm(unique)]
    pub slug: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub is_live: bool,
    #[sea_orm(unique)]
    pub stream_key_hash: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Broadcasts are kept as VODs (default); otherwise only a DVR copy while live.
    pub record_vods: bool,
    /// VODs older than this many days are deleted; null keeps them forever.
    pub vod_retention_days: Option<i32>,
    /// SRT passphrase, sealed ([`crate::secret::Sealer`]); `None`: SRT unencrypted.
    pub srt_passphrase: Option<String>,
    /// `push` (an encoder connects with the stream key) or `pull` (the server pulls
    /// `pull_url`).
    pub source: String,
    /// `rtsp://host[:port]/path`, without credentials.
    pub pull_url: Option<String>,
    /// `user:password` for the camera, sealed.
    pub pull_credentials: Option<String>,
    /// `tcp` (RTP interleaved in the RTSP connection) or `udp`.
    pub pull_transport: String,
    /// Pull all the time (`true`), or only while someone watches.
    pub pull_always_on: bool,
    /// `public`, `unlisted`, `password` or `followers` (see [`Visibility`]).
    pub visibility: String,
    /// A `password` channel's viewing password as an argon2id PHC string; never sent out.
    pub playback_password_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::OwnerId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    Owner,
    #[sea_orm(has_many = "super::broadcast::Entity")]
    Broadcast,
    #[sea_orm(has_many = "super::restream_destination::Entity")]
    RestreamDestination,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Owner.def()
    }
}

impl Related<super::broadcast::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Broadcast.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// Who may watch a channel (its live HLS, its videos and clips).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Listed; anyone watches.
    Public,
    /// Not listed; anyone with the link watches (a token is handed out without a check).
    Unlisted,
    /// Not listed; viewers give the channel's password for a playback token.
    Password,
    /// Not listed; followers (and the owner, its moderators, admins) get a playback token.
    Followers,
}

impl Visibility {
    pub const ALL: [Self; 4] = [
        Self::Public,
        Self::Unlisted,
        Self::Password,
        Self::Followers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Unlisted => "unlisted",
            Self::Password => "password",
            Self::Followers => "followers",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether playing needs a playback token: every channel but a public one (an unlisted
    /// channel's token is handed to anyone who asks, so its media URLs are not reusable links
    /// once shared outside the page).
    pub fn needs_token(self) -> bool {
        self != Self::Public
    }
}

impl Model {
    /// The stored visibility; an unknown value is treated as the strictest gate that needs no
    /// secret the server lacks (followers).
    pub fn visibility(&self) -> Visibility {
        Visibility::parse(&self.visibility).unwrap_or(Visibility::Followers)
    }
}
