//! `view_sessions`: one continuous watch of a broadcast by one player.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "view_sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    pub broadcast_id: i64,
    /// The player's viewer id, hashed.
    pub viewer_id: String,
    pub started_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub watch_seconds: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
