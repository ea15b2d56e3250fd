//! `chat_moderation_log`: every moderation action, who did it and to whom.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_moderation_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel_id: i64,
    pub actor_id: i64,
    /// `delete`, `timeout`, `ban`, `unban`, `set_mode`, `blocked_terms`, `add_moderator`,
    /// `remove_moderator`.
    pub action: String,
    pub target_user_id: Option<i64>,
    pub message_id: Option<i64>,
    pub details: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
