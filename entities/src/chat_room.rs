//! `chat_rooms`: one row per channel whose chat was ever opened: the id counter and the modes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_rooms")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel_id: i64,
    /// The id of the newest message; a batch of n messages adds n when it commits.
    pub last_message_id: i64,
    pub slow_seconds: i32,
    pub followers_only_minutes: Option<i32>,
    pub emote_only: bool,
    /// JSON array of strings.
    pub blocked_terms: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
