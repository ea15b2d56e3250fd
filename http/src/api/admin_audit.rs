//! `GET /api/v1/admin/audit`: the audit log ([`crate::audit`]), newest first, for admins.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use streamhall_entities::{AuditLog, audit_log};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{
    audit::Action,
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AuditEntryDto {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `null` for the system, or an actor since deleted (see `actor_name`).
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    /// e.g. `user.suspend`, `user.role`, `user.delete`, `stream.stop`, `service.restart`,
    /// `chat_room.restart`, `chat_room.close`.
    pub action: String,
    /// `user`, `channel` or `service`.
    pub target_kind: String,
    /// A user id, a channel slug or a service kind.
    pub target_id: String,
    pub reason: Option<String>,
    /// What else the entry keeps (e.g. a new role, a suspension's end).
    #[schema(value_type = Object)]
    #[ts(type = "Record<string, unknown>")]
    pub detail: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEntryDto>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    pub next_before: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this actor's entries (a user id).
    pub actor_id: Option<i64>,
    /// Only this action, e.g. `user.suspend`.
    pub action: Option<String>,
    /// Only entries about this kind of target (`user`, `channel`, `service`)…
    pub target_kind: Option<String>,
    /// …and this one (a user id, a slug, a service kind).
    pub target_id: Option<String>,
    /// Only entries with a smaller id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// 1 to 100, default 50.
    pub limit: Option<u64>,
}

/// The audit log, newest first, filtered by actor, action and target. Admins only.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    query: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    super::admin::admin_only(&me)?;
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(50).clamp(1, 100);
    let mut find = AuditLog::find();
    if let Some(actor) = query.actor_id {
        find = find.filter(audit_log::Column::ActorId.eq(actor));
    }
    if let Some(action) = query.action.as_deref().filter(|a| !a.is_empty()) {
        let action = Action::parse(action)
            .ok_or_else(|| ApiError::invalid("action", "not an action the audit log records"))?;
        find = find.filter(audit_log::Column::Action.eq(action.as_str()));
    }
    if let Some(kind) = query.target_kind.as_deref().filter(|k| !k.is_empty()) {
        find = find.filter(audit_log::Column::TargetKind.eq(kind));
    }
    if let Some(id) = query.target_id.as_deref().filter(|i| !i.is_empty()) {
        find = find.filter(audit_log::Column::TargetId.eq(id));
    }
    if let Some(before) = query.before {
        find = find.filter(audit_log::Column::Id.lt(before));
    }
    let rows = find
        .order_by_desc(audit_log::Column::Id)
        .limit(limit + 1)
        .all(&state.db)
        .await?;
    let more = rows.len() as u64 > limit;
    let items: Vec<AuditEntryDto> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditEntryDto {
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            reason: r.reason,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let next_before = if more {
        items.last().map(|e| e.id)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(AuditPage { items, next_before }))
}
