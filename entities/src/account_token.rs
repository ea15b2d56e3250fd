//! `account_tokens`: single-use links sent by email (password reset, email verification),
//! stored as the SHA-256 hash of the token; the token itself exists only in the email (or the
//! admin CLI's output).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// [`PURPOSE_PASSWORD_RESET`] or [`PURPOSE_VERIFY_EMAIL`].
    pub purpose: String,
    /// Hex SHA-256 of the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// For email verification: the address the link was sent to (it verifies only that one).
    pub email: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Set when the link was used, or when a newer link of the same purpose replaced it.
    pub used_at: Option<DateTimeUtc>,
}

pub const PURPOSE_PASSWORD_RESET: &str = "password_reset";
pub const PURPOSE_VERIFY_EMAIL: &str = "verify_email";

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
