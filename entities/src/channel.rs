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
