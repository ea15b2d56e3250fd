//! `notifications`: in-app notifications, one per (user, kind, broadcast).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// `stream_online`, or `report_resolved` (a report the user made was decided; `title`
    /// says how).
    pub kind: String,
    pub channel_id: i64,
    pub broadcast_id: Option<i64>,
    /// The broadcast title when the notification was made.
    pub title: String,
    pub created_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
