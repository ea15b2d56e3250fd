//! `/api/v1/admin/users*`: user management for site staff. Admins may do everything;
//! site-wide moderators may list users and suspend or unsuspend ordinary users, but not
//! change roles, delete, or act on staff. Every action is in the audit log
//! ([`crate::audit`]).
//!
//! A suspension revokes every sign-in (the token version is bumped, refresh tokens deleted,
//! and every node closes the user's sockets), ends their live streams on this node, hides
//! their channels (listings leave them out, their pages answer 410 `channel_suspended`), and
//! refuses sign-in with the reason and the end (403 `account_suspended`). A suspension past
//! its end no longer applies; nothing needs to run when it ends.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use streamhall_entities::{Channel, RefreshToken, User, channel, refresh_token, user};
use ts_rs::TS;
use utoipa::ToSchema;

use super::admin::admin_only;
use crate::{
    audit::{self, Action, Target},
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody, SuspensionInfo},
    state::AppState,
    validate,
};

/// A user as the admin pages show them.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AdminUserDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// `user`, `moderator` or `admin`.
    pub role: String,
    pub created_at: DateTime<Utc>,
    /// The suspension in force; `null` when there is none (or it has ended).
    pub suspension: Option<SuspensionInfo>,
    /// How many channels they own.
    pub channels: u64,
    /// Whether one of their channels is live now.
    pub live: bool,
    /// Repeat-infringer count: DMCA notices that took down their videos or clips and whose
    /// takedown stood (no counter-notice restored it). Admins decide what it means; nothing
    /// happens automatically.
    pub dmca_strikes: u64,
}

/// One page of users, newest first; `next_offset` is `null` on the last page.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AdminUserPage {
    pub items: Vec<AdminUserDto>,
    pub total: u64,
    pub next_offset: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminUserQuery {
    /// Part of the username, display name or email (case-insensitive).
    pub q: Option<String>,
    /// Only this role: `user`, `moderator` or `admin`.
    pub role: Option<String>,
    /// Only users suspended now (`true`) or not (`false`).
    pub suspended: Option<bool>,
    /// 1 to 100, default 50.
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// Suspends an account: for `duration_secs`, or with `permanent: true` (exactly one).
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct SuspendUser {
    /// Shown to the user when they try to sign in: 1 to 500 characters.
    pub reason: String,
    /// 60 s to 10 years.
    pub duration_secs: Option<u64>,
    pub permanent: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// `user`, `moderator` or `admin`.
    pub role: String,
}

/// Longest timed suspension: ten years (longer is `permanent`).
const MAX_SUSPENSION_SECS: u64 = 10 * 365 * 24 * 3600;

/// Lists users: search, filters, paging. Staff (admins and moderators).
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(AdminUserQuery),
    responses((status = 200, body = AdminUserPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    query: web::Query<AdminUserQuery>,
) -> ApiResult<HttpResponse> {
    staff_only(&me)?;
    let query = query.into_inner();
    let (limit, offset) = validate::page(query.limit, query.offset, 50)?;
    let now = Utc::now();
    // Accounts their owners deleted are tombstones kept for their chat messages: not users.
    let mut cond = Condition::all().add(user::Column::DeletedAt.is_null());
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", super::channels::escape_like(&q.to_lowercase()));
        let like = |col: user::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        cond = cond.add(
            Condition::any()
                .add(like(user::Column::UsernameKey))
                .add(like(user::Column::DisplayName))
                .add(like(user::Column::Email)),
        );
    }
    if let Some(role) = query.role.as_deref() {
        cond = cond.add(user::Column::Role.eq(parse_role(role)?));
    }
    match query.suspended {
        Some(true) => cond = cond.add(user::suspended_now(now)),
        Some(false) => cond = cond.add(user::suspended_now(now).not()),
        None => {}
    }
    let total = User::find().filter(cond.clone()).count(&state.db).await?;
    let users = User::find()
        .filter(cond)
        .order_by_desc(user::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(&state.db)
        .await?;
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let strikes = crate::dmca::strikes(&state.db, &ids).await?;
    let counts: Vec<(i64, i64, i64)> = Channel::find()
        .select_only()
        .column(channel::Column::OwnerId)
        .column_as(Expr::col(channel::Column::Id).count(), "channels")
        .column_as(
            Expr::case(channel::Column::IsLive.eq(true), 1)
                .finally(0)
                .sum(),
            "live",
        )
        .filter(channel::Column::OwnerId.is_in(ids))
        .group_by(channel::Column::OwnerId)
        .into_tuple()
        .all(&state.db)
        .await?;
    let items = users
        .iter()
        .map(|u| {
            let (channels, live) = counts
                .iter()
                .find(|(owner, _, _)| *owner == u.id)
                .map_or((0, 0), |(_, c, l)| (*c, *l));
            let mut d = dto(u, now, channels, live > 0);
            d.dmca_strikes = strikes.get(&u.id).copied().unwrap_or(0);
            d
        })
        .collect();
    Ok(HttpResponse::Ok().json(AdminUserPage {
        items,
        total,
        next_offset: (offset + limit < total).then_some(offset + limit),
    }))
}

fn dto(u: &user::Model, now: DateTime<Utc>, channels: i64, live: bool) -> AdminUserDto {
    AdminUserDto {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        role: u.role.clone(),
        created_at: u.created_at,
        suspension: u.suspension(now).map(|s| SuspensionInfo {
            reason: s.reason,
            until: s.until,
        }),
        channels: u64::try_from(channels).unwrap_or(0),
        live,
        dmca_strikes: 0,
    }
}

/// Suspends a user for a duration or permanently, with a reason. Staff; moderators only
/// ordinary users; admins must be demoted first; nobody suspends themselves. Replaces a
/// suspension already in force.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SuspendUser,
    responses((status = 200, body = AdminUserDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn suspend(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
    body: web::Json<SuspendUser>,
) -> ApiResult<HttpResponse> {
    staff_only(&me)?;
    let body = body.into_inner();
    let mut problems = validate::Problems::new();
    let reason = problems.check(validate::text("reason", &body.reason, 1, 500));
    let now = Utc::now();
    let until = problems.check(suspension_end(body.duration_secs, body.permanent, now));
    problems.finish()?;
    let (Some(reason), Some(until)) = (reason, until) else {
        return Err(ApiError::invalid("reason", "a reason is required"));
    };
    let target = find_user(&state, *id).await?;
    may_suspend(&me, &target)?;

    let txn = state.db.begin().await?;
    let updated = suspend_in(&txn, &me, &target, &reason, until, json!({})).await?;
    txn.commit().await?;
    let ended = after_suspension(&state, target.id).await?;
    tracing::info!(
        user_id = target.id,
        by = me.id,
        streams_ended = ended,
        "user suspended"
    );
    let (channels, _) = channel_counts(&state, target.id).await?;
    Ok(HttpResponse::Ok().json(with_strikes(&state, dto(&updated, now, channels, false)).await?))
}

/// When a suspension asked for as `duration_secs` or `permanent: true` (exactly one) ends:
/// `None` for permanent.
pub(crate) fn suspension_end(
    duration_secs: Option<u64>,
    permanent: Option<bool>,
    now: DateTime<Utc>,
) -> ApiResult<Option<DateTime<Utc>>> {
    match (duration_secs, permanent) {
        (Some(secs), None | Some(false)) if (60..=MAX_SUSPENSION_SECS).contains(&secs) => {
            i64::try_from(secs)
                .map(|s| Some(now + chrono::Duration::seconds(s)))
                .map_err(|_| ApiError::invalid("duration_secs", "too long"))
        }
        (None, Some(true)) => Ok(None),
        _ => Err(ApiError::invalid(
            "duration_secs",
            "give duration_secs (60 s to 10 years) or permanent: true, not both",
        )),
    }
}

/// Whether `me` may suspend `target`: staff, not oneself, moderators only ordinary users, and
/// never an admin (demote them first).
pub(crate) fn may_suspend(me: &user::Model, target: &user::Model) -> ApiResult<()> {
    staff_only(me)?;
    may_act_on(me, target)?;
    if target.is_admin() {
        return Err(ApiError::Forbidden(
            "an admin cannot be suspended; remove their admin role first",
        ));
    }
    Ok(())
}

/// The database side of a suspension, in the caller's transaction: the user row (token version
/// bumped), their refresh tokens, and the audit entry (`detail` adds to it, e.g. the report
/// that led to it). Check [`may_suspend`] first and call [`after_suspension`] after the commit.
pub(crate) async fn suspend_in(
    txn: &impl ConnectionTrait,
    me: &user::Model,
    target: &user::Model,
    reason: &str,
    until: Option<DateTime<Utc>>,
    detail: serde_json::Value,
) -> ApiResult<user::Model> {
    let now = Utc::now();
    let mut model = target.clone().into_active_model();
    model.suspended_at = Set(Some(now));
    model.suspended_until = Set(until);
    model.suspension_reason = Set(Some(reason.to_owned()));
    model.token_version = Set(target.token_version + 1);
    model.updated_at = Set(now);
    let updated: user::Model = model.update(txn).await?;
    delete_refresh_tokens(txn, target.id).await?;
    let mut entry =
        json!({ "username": target.username, "until": until, "permanent": until.is_none() });
    if let (Some(entry), serde_json::Value::Object(extra)) = (entry.as_object_mut(), detail) {
        entry.extend(extra);
    }
    audit::record(
        txn,
        Some(me),
        Action::UserSuspend,
        Target::user(target.id),
        Some(reason),
        entry,
    )
    .await?;
    Ok(updated)
}

/// What a committed suspension does outside the database: every node closes the user's
/// sockets, their streams end wherever they run, cached listings drop their channels. How
/// many streams ended on this node.
pub(crate) async fn after_suspension(state: &AppState, user_id: i64) -> ApiResult<usize> {
    revoke_sessions(state, user_id);
    let ended = end_live_streams(state, user_id).await?;
    state.cache.invalidate();
    Ok(ended)
}

/// Lifts a suspension (a no-op when there is none in force). Staff; moderators only for
/// ordinary users.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/suspension", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = AdminUserDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unsuspend(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    staff_only(&me)?;
    let target = find_user(&state, *id).await?;
    may_act_on(&me, &target)?;
    let now = Utc::now();
    let was = target.suspension(now);
    let txn = state.db.begin().await?;
    let mut model = target.clone().into_active_model();
    model.suspended_at = Set(None);
    model.suspended_until = Set(None);
    model.suspension_reason = Set(None);
    model.updated_at = Set(now);
    let updated: user::Model = model.update(&txn).await?;
    if was.is_some() {
        audit::record(
            &txn,
            Some(&me),
            Action::UserUnsuspend,
            Target::user(target.id),
            None,
            json!({ "username": target.username }),
        )
        .await?;
    }
    txn.commit().await?;
    state.cache.invalidate();
    let (channels, live) = channel_counts(&state, target.id).await?;
    Ok(HttpResponse::Ok().json(with_strikes(&state, dto(&updated, now, channels, live)).await?))
}

/// Sets a user's role (`user`, `moderator`, `admin`). Admins only; the last admin keeps the
/// role. A changed role ends the user's sign-ins, so no token carries the old role's reach.
#[utoipa::path(put, path = "/api/v1/admin/users/{id}/role", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = SetRole,
    responses((status = 200, body = AdminUserDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the last admin cannot be demoted", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_role(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
    body: web::Json<SetRole>,
) -> ApiResult<HttpResponse> {
    admin_only(&me)?;
    let role = parse_role(&body.role)?;
    let txn = state.db.begin().await?;
    let target = User::find_by_id(*id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if target.role == role {
        txn.commit().await?;
        let (channels, live) = channel_counts(&state, target.id).await?;
        return Ok(HttpResponse::Ok()
            .json(with_strikes(&state, dto(&target, Utc::now(), channels, live)).await?));
    }
    if target.is_admin() {
        keep_one_admin(&txn, target.id).await?;
    }
    let now = Utc::now();
    let mut model = target.clone().into_active_model();
    model.role = Set(role.to_owned());
    model.updated_at = Set(now);
    let updated: user::Model = model.update(&txn).await?;
    audit::record(
        &txn,
        Some(&me),
        Action::UserRole,
        Target::user(target.id),
        None,
        json!({ "username": target.username, "from": target.role, "to": role }),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(user_id = target.id, by = me.id, role, "role changed");
    let (channels, live) = channel_counts(&state, target.id).await?;
    Ok(HttpResponse::Ok().json(with_strikes(&state, dto(&updated, now, channels, live)).await?))
}

/// Deletes a user with their channels (and so their videos, clips, chat and follows), their
/// follows and notifications. Admins only; not oneself (that is account deletion), not the
/// last admin. Their live streams on this node end first.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path), ("reason" = Option<String>, Query, description = "kept in the audit log")),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the last admin cannot be deleted", body = ErrorBody),
        (status = 422, description = "the reason is not acceptable text (too long, control characters)", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
    query: web::Query<DeleteQuery>,
) -> ApiResult<HttpResponse> {
    admin_only(&me)?;
    if *id == me.id {
        return Err(ApiError::Forbidden(
            "you cannot delete your own account here",
        ));
    }
    let reason = match query.into_inner().reason {
        Some(r) => Some(validate::text("reason", &r, 0, 500)?),
        None => None,
    };
    let target = find_user(&state, *id).await?;
    end_live_streams(&state, target.id).await?;
    let txn = state.db.begin().await?;
    if target.is_admin() {
        keep_one_admin(&txn, target.id).await?;
    }
    let channels: Vec<String> = Channel::find()
        .filter(channel::Column::OwnerId.eq(target.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| c.slug)
        .collect();
    // Channels, follows, notifications, chat, refresh tokens: all cascade from the user row.
    User::delete_by_id(target.id).exec(&txn).await?;
    audit::record(
        &txn,
        Some(&me),
        Action::UserDelete,
        Target::user(target.id),
        reason.as_deref().filter(|r| !r.is_empty()),
        json!({ "username": target.username, "email": target.email, "channels": channels }),
    )
    .await?;
    txn.commit().await?;
    revoke_sessions(&state, target.id);
    state.cache.invalidate();
    tracing::info!(user_id = target.id, by = me.id, "user deleted by an admin");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    pub reason: Option<String>,
}

pub(crate) fn staff_only(u: &user::Model) -> ApiResult<()> {
    if u.is_staff() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("administrators and moderators only"))
    }
}

/// Whether `me` may suspend or unsuspend `target`: never oneself; moderators only ordinary
/// users.
fn may_act_on(me: &user::Model, target: &user::Model) -> ApiResult<()> {
    if me.id == target.id {
        return Err(ApiError::Forbidden(
            "you cannot do that to your own account",
        ));
    }
    if !me.is_admin() && target.is_staff() {
        return Err(ApiError::Forbidden(
            "moderators may act only on users without a staff role",
        ));
    }
    Ok(())
}

fn parse_role(role: &str) -> ApiResult<&'static str> {
    user::ROLES
        .iter()
        .copied()
        .find(|r| *r == role)
        .ok_or_else(|| ApiError::invalid("role", "user, moderator or admin"))
}

async fn find_user(state: &AppState, id: i64) -> ApiResult<user::Model> {
    User::find_by_id(id)
        .filter(user::Column::DeletedAt.is_null())
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

/// Refuses (409) when `leaving` is the only admin. The admins' rows are locked (PostgreSQL)
/// so two admins demoting each other at once cannot both succeed; SQLite writes one
/// transaction at a time.
async fn keep_one_admin(txn: &impl ConnectionTrait, leaving: i64) -> ApiResult<()> {
    let others = User::find()
        .filter(user::Column::Role.eq(user::ROLE_ADMIN))
        .filter(user::Column::Id.ne(leaving))
        .lock_exclusive()
        .all(txn)
        .await?;
    if others.is_empty() {
        return Err(ApiError::Conflict {
            field: "role",
            message: "this is the last admin: make someone else admin first".into(),
        });
    }
    Ok(())
}

async fn delete_refresh_tokens(txn: &impl ConnectionTrait, user_id: i64) -> ApiResult<()> {
    RefreshToken::delete_many()
        .filter(refresh_token::Column::UserId.eq(user_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Every node closes the user's open sockets (chat, notifications, admin).
fn revoke_sessions(state: &AppState, user_id: i64) {
    state
        .live
        .bus
        .publish(streamhall_actors::bus::BusEvent::SessionsRevoked { user_id });
}

/// Ends the user's broadcasts: here, or through the bus on the node that runs them; how many
/// ended here.
async fn end_live_streams(state: &AppState, user_id: i64) -> ApiResult<usize> {
    // Pulled channels too, live or still connecting: the kicked pull then holds.
    let live = Channel::find()
        .filter(channel::Column::OwnerId.eq(user_id))
        .filter(
            sea_orm::Condition::any()
                .add(channel::Column::IsLive.eq(true))
                .add(channel::Column::Source.eq("pull")),
        )
        .all(&state.db)
        .await?;
    Ok(state
        .live
        .end_streams_anywhere(live.into_iter().map(|c| c.slug))
        .await)
}

/// `d` with its repeat-infringer count.
async fn with_strikes(state: &AppState, mut d: AdminUserDto) -> ApiResult<AdminUserDto> {
    d.dmca_strikes = crate::dmca::strikes(&state.db, &[d.id])
        .await?
        .get(&d.id)
        .copied()
        .unwrap_or(0);
    Ok(d)
}

/// (channels owned, live ones).
async fn channel_counts(state: &AppState, user_id: i64) -> ApiResult<(i64, bool)> {
    let owned = Channel::find()
        .filter(channel::Column::OwnerId.eq(user_id))
        .all(&state.db)
        .await?;
    Ok((
        i64::try_from(owned.len()).unwrap_or(i64::MAX),
        owned.iter().any(|c| c.is_live),
    ))
}
