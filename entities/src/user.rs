//! `users`: an account. Usernames and emails are unique case-insensitively: the `*_key`
//! columns hold the lowercased form and carry the unique indexes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As the user typed it (shown in the UI).
    pub username: String,
    /// Lowercased username, unique.
    #[sea_orm(unique)]
    pub username_key: String,
    /// Lowercased email, unique.
    #[sea_orm(unique)]
    pub email: String,
    pub display_name: String,
    pub bio: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// `user` or `admin`.
    pub role: String,
    /// Bumped on password change: every access token carries the version it was issued at.
    pub token_version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the owner proved the address in `email` is theirs (a link from an email); `None`
    /// until then, and again after the address changes.
    pub email_verified_at: Option<DateTimeUtc>,
    /// Set when the owner deleted the account: the row stays as an anonymous tombstone so the
    /// chat messages it wrote keep their author.
    pub deleted_at: Option<DateTimeUtc>,
}

impl Model {
    pub fn is_admin(&self) -> bool {
        self.role == ROLE_ADMIN
    }

    pub fn email_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

pub const ROLE_USER: &str = "user";
pub const ROLE_ADMIN: &str = "admin";

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::channel::Entity")]
    Channel,
    #[sea_orm(has_many = "super::refresh_token::Entity")]
    RefreshToken,
}

impl Related<super::channel::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Channel.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
