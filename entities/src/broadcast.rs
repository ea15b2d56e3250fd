//! `broadcasts`: one row per live session of a channel, from the first publish to the end of
//! the reconnect grace window. `ended_at` is null while it runs; `went_live_at` is set once
//! viewers could watch.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "broadcasts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    /// The channel title when the broadcast started.
    pub title: String,
    pub peak_viewers: i32,
    /// When viewers could first watch (segments existed) and followers were told; null for a
    /// broadcast that never produced video.
    pub went_live_at: Option<DateTimeUtc>,
    /// Why viewers could not watch, the last time they could not (plain words).
    pub failure: Option<String>,
    /// The node whose ingest holds the broadcast (`cluster.node_id`); null for broadcasts from
    /// before nodes were named.
    pub owner_node: Option<String>,
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
