//! `audit_log`: every admin and moderator action on the site (suspensions, role changes,
//! deletions, streams ended, services restarted), who did it, to what, and why. Rows are only
//! ever added; an actor's deletion keeps their name (`actor_name`) and clears `actor_id`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// Who acted; `None` for the system (or an actor since deleted: see `actor_name`).
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    /// e.g. `user.suspend`, `user.role`, `stream.stop`; see `streamhall_http::audit::Action`.
    pub action: String,
    /// `user`, `channel`, `service`.
    pub target_kind: String,
    /// The target's id (a user id) or name (a channel slug, a service kind).
    pub target_id: String,
    pub reason: Option<String>,
    /// A JSON object with what else is worth keeping (the new role, the suspension's end).
    pub detail: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
