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
    /// `user`, `moderator` (site-wide: may list and suspend users) or `admin`.
    pub role: String,
    /// Bumped on password change: every access token carries the version it was issued at.
    pub token_version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Set while the account is (or was last) suspended; see [`Model::suspension`].
    pub suspended_at: Option<DateTimeUtc>,
    /// When the suspension ends; `None` with `suspended_at` set: permanent.
    pub suspended_until: Option<DateTimeUtc>,
    /// Why, as the user is told when they try to sign in.
    pub suspension_reason: Option<String>,
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

    /// A site-wide moderator or an admin: may list users and suspend ordinary ones.
    pub fn is_staff(&self) -> bool {
        self.role == ROLE_ADMIN || self.role == ROLE_MODERATOR
    }

    /// The suspension in force at `now`, if any: a suspension past its end no longer applies.
    pub fn suspension(&self, now: DateTimeUtc) -> Option<Suspension> {
        self.suspended_at?;
        match self.suspended_until {
            Some(until) if until <= now => None,
            until => Some(Suspension {
                until,
                reason: self.suspension_reason.clone().unwrap_or_default(),
            }),
        }
    }
}

/// A suspension in force: until when (`None`: permanently) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suspension {
    pub until: Option<DateTimeUtc>,
    pub reason: String,
}

/// The condition "suspended now" on `users`, for queries (the SQL twin of
/// [`Model::suspension`]).
pub fn suspended_now(now: DateTimeUtc) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::SuspendedAt.is_not_null())
        .add(
            sea_orm::Condition::any()
                .add(Column::SuspendedUntil.is_null())
                .add(Column::SuspendedUntil.gt(now)),
        )
}

pub const ROLE_USER: &str = "user";
pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_MODERATOR: &str = "moderator";
/// Every role, as stored.
pub const ROLES: &[&str] = &[ROLE_USER, ROLE_MODERATOR, ROLE_ADMIN];

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
