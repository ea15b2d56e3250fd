//! `stream_analytics`: a live channel sampled every 30 s (viewers, chatters, chat messages).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_analytics")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    pub broadcast_id: i64,
    pub sampled_at: DateTimeUtc,
    pub viewers: i64,
    /// Distinct users who sent a chat message since the previous sample.
    pub chatters: i64,
    /// Chat messages since the previous sample.
    pub chat_messages: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
