//! `webhook_deliveries`: each event sent to a webhook, its attempts and outcome.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// A UUID, sent as `X-Streamhall-Delivery`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub webhook_id: i64,
    pub event: String,
    /// The JSON body, exactly as signed.
    pub payload: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
