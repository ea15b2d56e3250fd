//! `videos`: the recording of one broadcast (a VOD), or a DVR-only copy of a channel that does
//! not keep recordings. Its objects live under `vod/{id}/` in the object store.
//!
//! `id` is 32 lowercase hex characters (a random UUID): unlisted videos are reachable by id
//! alone, so ids must not be guessable.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "videos")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub channel_id: i64,
    #[sea_orm(unique)]
    pub broadcast_id: Option<i64>,
    pub title: String,
    pub description: String,
    /// `public`, `unlisted` or `private`.
    pub visibility: String,
    /// `recording`, `processing` (the broadcast ended, segments still uploading or the
    /// playlists being written), `ready`, `failed`.
    pub status: String,
    /// Kept only while live for rewind and clips; deleted when the broadcast ends.
    pub dvr_only: bool,
    pub duration_secs: f64,
    pub size_bytes: i64,
    /// `[{name, width, height, bandwidth}]`.
    pub renditions: Json,
    /// `[{title, start}]`, start in seconds, ascending.
    pub chapters: Json,
    /// `[{lang, label}]`; the files are `vod/{id}/subs/{lang}.vtt`.
    pub subtitles: Json,
    pub has_thumbnail: bool,
    pub has_sprite: bool,
    /// Segments that never reached the store (the spool overflowed while it was down).
    pub missing_segments: i64,
    pub view_count: i64,
    /// Why it failed, in plain words.
    pub error: Option<String>,
    /// The node that records it (finalises it after a crash).
    pub node_id: String,
    pub created_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    /// Hidden by a moderation decision or a DMCA notice (not deleted); null while up.
    pub taken_down_at: Option<DateTimeUtc>,
    /// The public sentence shown in the item's place while it is down.
    pub takedown_notice: Option<String>,
    /// What decided the takedown: `report:{id}` or `dmca:{id}`.
    pub takedown_ref: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::channel::Entity",
        from = "Column::ChannelId",
        to = "super::channel::Column::Id",
        on_delete = "Cascade"
    )]
    Channel,
}

impl Related<super::channel::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Channel.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
