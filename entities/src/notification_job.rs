//! `notification_jobs`: one fan-out per (broadcast, event); inserting the row claims it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub broadcast_id: i64,
    /// `stream.online` or `stream.offline`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub event: String,
    pub channel_id: i64,
    /// The node that claimed it.
    pub node: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub total: i64,
    pub done: i64,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
