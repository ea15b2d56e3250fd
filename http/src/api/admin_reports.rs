//! `/api/v1/admin/reports*`: the moderation queue. Staff (admins and site moderators) list the
//! cases by state and kind, oldest first, open one with its snapshot and context (the chat
//! around a reported message, the channel's thumbnail at the time), claim it, and resolve it
//! with an action ([`super::report_resolve`]). Every claim and resolution is in the audit log.

use actix_web::{HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use streamhall_entities::{
    ChatMessage, Clip, Report, ReportReporter, User, Video, chat_message, report, report_reporter,
    user,
};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

use super::{
    admin_users::staff_only,
    reports::{KINDS, ReportSnapshot, reason_label},
};
use crate::{
    audit::{self, Action, Target},
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    validate,
};

/// A case as the queue shows it.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ReportDto {
    pub id: i64,
    /// `channel`, `message`, `video` or `clip`.
    pub kind: String,
    pub item_id: String,
    /// `open`, `claimed` or `resolved`.
    pub state: String,
    /// The first report's reason, and its label.
    pub reason: String,
    pub reason_label: String,
    pub report_count: i32,
    pub snapshot: ReportSnapshot,
    /// Whether the channel's live thumbnail was kept (`GET .../thumbnail.jpg`).
    pub has_thumbnail: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `dismiss`, `delete_message`, `end_stream`, `take_down` or `suspend`.
    pub action: Option<String>,
    pub note: Option<String>,
}

/// One page of cases, oldest first; `next_offset` is `null` on the last page.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ReportPage {
    pub items: Vec<ReportDto>,
    pub total: u64,
    pub next_offset: Option<u64>,
}

/// One reporter of a case.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ReporterDto {
    pub username: String,
    pub reason: String,
    pub reason_label: String,
    pub details: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A chat message around a reported one.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ContextMessage {
    pub id: i64,
    pub username: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub deleted: bool,
    /// The reported message itself.
    pub reported: bool,
}

/// A case with its reporters, the chat around a reported message, and what the item is now.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ReportDetail {
    pub report: ReportDto,
    /// Oldest first, at most [`MAX_REPORTERS_SHOWN`].
    pub reporters: Vec<ReporterDto>,
    /// For a message: up to 10 messages before and after it, deleted ones included.
    pub context: Vec<ContextMessage>,
    /// `present`, `deleted` (a message), `taken_down` (a video or clip) or `gone`.
    pub item_status: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `open` (default), `claimed` or `resolved`.
    pub state: Option<String>,
    /// `channel`, `message`, `video` or `clip`.
    pub kind: Option<String>,
    /// 1 to 100, default 50.
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// Reporters listed on a case's page (the count says how many there are).
pub const MAX_REPORTERS_SHOWN: u64 = 100;
/// Chat messages shown on each side of a reported one.
const CONTEXT: i64 = 10;

/// The queue: cases in one state, optionally of one kind, oldest first. Staff.
#[utoipa::path(get, path = "/api/v1/admin/reports", tag = "admin", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, body = ReportPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    query: web::Query<ReportQuery>,
) -> ApiResult<HttpResponse> {
    staff_only(&me)?;
    let query = query.into_inner();
    let (limit, offset) = validate::page(query.limit, query.offset, 50)?;
    let wanted = query.state.as_deref().unwrap_or(report::STATE_OPEN);
    if ![
        report::STATE_OPEN,
        report::STATE_CLAIMED,
        report::STATE_RESOLVED,
    ]
    .contains(&wanted)
    {
        return Err(ApiError::invalid("state", "open, claimed or resolved"));
    }
    let mut cond = Condition::all().add(report::Column::State.eq(wanted));
    if let Some(kind) = query.kind.as_deref() {
        if !KINDS.contains(&kind) {
            return Err(ApiError::invalid("kind", "channel, message, video or clip"));
        }
        cond = cond.add(report::Column::Kind.eq(kind));
    }
    let total = Report::find().filter(cond.clone()).count(&state.db).await?;
    let rows = Report::find()
        .filter(cond)
        .order_by_asc(report::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(&state.db)
        .await?;
    let items = dtos(&state, rows).await?;
    Ok(HttpResponse::Ok().json(ReportPage {
        items,
        total,
        next_offset: (offset + limit < total).then_some(offset + limit),
    }))
}

/// One case with its reporters and context. Staff.
#[utoipa::path(get, path = "/api/v1/admin/reports/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ReportDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    staff_only(&me)?;
    let case = find(&state, *id).await?;
    let reporters: Vec<ReporterDto> = ReportReporter::find()
        .filter(report_reporter::Column::ReportId.eq(case.id))
        .find_also_related(User)
        .order_by_asc(report_reporter::Column::CreatedAt)
        .limit(MAX_REPORTERS_SHOWN)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|(r, u)| ReporterDto {
            username: u.map(|u| u.username).unwrap_or_default(),
            reason_label: reason_label(&r.reason).to_owned(),
            reason: r.reason,
            details: r.details,
            created_at: r.created_at,
        })
        .collect();
    let (context, item_status) = item_now(&state, &case).await?;
    let report = dtos(&state, vec![case])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("report"))?;
    Ok(HttpResponse::Ok().json(ReportDetail {
        report,
        reporters,
        context,
        item_status,
    }))
}

/// Claims a case (it moves to the claimed tab under the claimer's name). Claiming one's own
/// claim again is a no-op; a case someone else claimed, or resolved, is 409. Staff.
#[utoipa::path(post, path = "/api/v1/admin/reports/{id}/claim", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ReportDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "claimed by someone else, or resolved", body = ErrorBody)))]
pub async fn claim(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    staff_only(&me)?;
    let case = find(&state, *id).await?;
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let won = Report::update_many()
        .col_expr(report::Column::State, Expr::value(report::STATE_CLAIMED))
        .col_expr(report::Column::ClaimedBy, Expr::value(me.id))
        .col_expr(report::Column::ClaimedAt, Expr::value(now))
        .col_expr(report::Column::UpdatedAt, Expr::value(now))
        .filter(report::Column::Id.eq(case.id))
        .filter(report::Column::State.eq(report::STATE_OPEN))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if won {
        audit::record(
            &txn,
            Some(&me),
            Action::ReportClaim,
            Target::report(case.id),
            None,
            json!({ "kind": case.kind, "item_id": case.item_id }),
        )
        .await?;
    }
    txn.commit().await?;
    let case = find(&state, case.id).await?;
    if !won && (case.state != report::STATE_CLAIMED || case.claimed_by != Some(me.id)) {
        return Err(ApiError::Conflict {
            field: "state",
            message: if case.state == report::STATE_RESOLVED {
                "this case is already resolved".into()
            } else {
                "someone else claimed this case".into()
            },
        });
    }
    let dto = dtos(&state, vec![case])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("report"))?;
    Ok(HttpResponse::Ok().json(dto))
}

/// The channel's live thumbnail as it was when the case opened. Staff.
#[utoipa::path(get, path = "/api/v1/admin/reports/{id}/thumbnail.jpg", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg"), (status = 403, body = ErrorBody),
        (status = 404, description = "no such case, or none was kept", body = ErrorBody)))]
pub async fn thumbnail(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    staff_only(&me)?;
    let case = find(&state, *id).await?;
    let key = case.thumbnail_key.ok_or(ApiError::NotFound("thumbnail"))?;
    let jpeg = state
        .objects
        .get(&key)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "report thumbnail: the object store failed");
            ApiError::Unavailable("object store")
        })?
        .ok_or(ApiError::NotFound("thumbnail"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/jpeg"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(jpeg))
}

pub(crate) async fn find(state: &AppState, id: i64) -> ApiResult<report::Model> {
    Report::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("report"))
}

/// The stored snapshot (an unreadable one shows as empty, never as an error).
pub(crate) fn snapshot_of(case: &report::Model) -> ReportSnapshot {
    serde_json::from_str(&case.snapshot).unwrap_or_else(|e| {
        tracing::warn!(case = case.id, error = %e, "report: unreadable snapshot");
        ReportSnapshot::default()
    })
}

/// The cases as the API shows them, with the claimers' and resolvers' names.
pub(crate) async fn dtos(state: &AppState, rows: Vec<report::Model>) -> ApiResult<Vec<ReportDto>> {
    let ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| [r.claimed_by, r.resolved_by])
        .flatten()
        .collect();
    let names: std::collections::HashMap<i64, String> = User::find()
        .filter(user::Column::Id.is_in(ids))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let name = |id: Option<i64>| id.and_then(|id| names.get(&id).cloned());
    Ok(rows
        .into_iter()
        .map(|r| ReportDto {
            snapshot: snapshot_of(&r),
            has_thumbnail: r.thumbnail_key.is_some(),
            reason_label: reason_label(&r.reason).to_owned(),
            claimed_by: name(r.claimed_by),
            resolved_by: name(r.resolved_by),
            id: r.id,
            kind: r.kind,
            item_id: r.item_id,
            state: r.state,
            reason: r.reason,
            report_count: r.report_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
            claimed_at: r.claimed_at,
            resolved_at: r.resolved_at,
            action: r.action,
            note: r.note,
        })
        .collect())
}

/// `(channel id, message id)` of a message case.
pub(crate) fn message_key(case: &report::Model) -> Option<(i64, i64)> {
    let (c, m) = case.item_id.split_once(':')?;
    Some((c.parse().ok()?, m.parse().ok()?))
}

/// The chat around a reported message, and what the item is now.
async fn item_now(
    state: &AppState,
    case: &report::Model,
) -> ApiResult<(Vec<ContextMessage>, String)> {
    let status = |present: bool, down: bool| {
        match (present, down) {
            (false, _) => "gone",
            (true, true) => "taken_down",
            (true, false) => "present",
        }
        .to_owned()
    };
    Ok(match case.kind.as_str() {
        "message" => {
            let Some((channel_id, id)) = message_key(case) else {
                return Ok((Vec::new(), "gone".into()));
            };
            let rows = ChatMessage::find()
                .filter(chat_message::Column::ChannelId.eq(channel_id))
                .filter(chat_message::Column::Id.between(id - CONTEXT, id + CONTEXT))
                .order_by_asc(chat_message::Column::Id)
                .all(&state.db)
                .await?;
            let item = rows.iter().find(|m| m.id == id);
            let item_status = match item {
                None => "gone",
                Some(m) if m.deleted_at.is_some() => "deleted",
                Some(_) => "present",
            }
            .to_owned();
            let context = rows
                .into_iter()
                .map(|m| ContextMessage {
                    reported: m.id == id,
                    id: m.id,
                    username: m.username,
                    text: m.text,
                    created_at: m.created_at,
                    deleted: m.deleted_at.is_some(),
                })
                .collect();
            (context, item_status)
        }
        "video" => {
            let v = Video::find_by_id(case.item_id.clone())
                .one(&state.db)
                .await?;
            let down = v.as_ref().is_some_and(|v| v.taken_down_at.is_some());
            (Vec::new(), status(v.is_some(), down))
        }
        "clip" => {
            let c = Clip::find_by_id(case.item_id.clone())
                .one(&state.db)
                .await?;
            let down = c.as_ref().is_some_and(|c| c.taken_down_at.is_some());
            (Vec::new(), status(c.is_some(), down))
        }
        _ => {
            let exists = match case.channel_id {
                Some(id) => streamhall_entities::Channel::find_by_id(id)
                    .one(&state.db)
                    .await?
                    .is_some(),
                None => false,
            };
            (Vec::new(), status(exists, false))
        }
    })
}
