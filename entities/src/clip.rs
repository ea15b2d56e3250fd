//! `clips`: a short cut of a live broadcast or of a VOD, stream-copied at keyframes into an MP4
//! and an HLS copy under `clips/{id}/`. `id` is 32 random hex characters, like a video's.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "clips")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub channel_id: i64,
    /// The VOD it was cut from (live clips: the broadcast's recording), if it still exists.
    pub video_id: Option<String>,
    pub author_id: i64,
    pub title: String,
    /// Where it starts in the source video, in seconds.
    pub start_secs: f64,
    /// Measured on the cut file once ready; the asked-for length while processing.
    pub duration_secs: f64,
    /// `processing`, `ready`, `failed`.
    pub status: String,
    pub error: Option<String>,
    pub size_bytes: i64,
    pub view_count: i64,
    pub created_at: DateTimeUtc,
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
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::AuthorId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    Author,
}

impl Related<super::channel::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Channel.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Author.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
