//! `POST /api/v1/admin/reports/{id}/resolve`: staff decide a case with an action and a note.
//!
//! | action | for | does |
//! |---|---|---|
//! | `dismiss` | every kind | nothing |
//! | `delete_message` | message | marks it deleted, then the room announces it |
//! | `end_stream` | channel | ends its broadcast wherever it runs |
//! | `take_down` | video, clip | [`crate::takedown::take_down`] with a public notice, as `report:{id}` |
//! | `suspend` | every kind | suspends the channel's owner or the message's author, as `admin_users` does (staff are refused to moderators, admins to everyone) |
//!
//! One transaction moves the case to `resolved` only if it is not resolved yet (two staff
//! resolving at once: one wins, the other gets 409), and holds the action's database side, the
//! audit entry and each reporter's `report_resolved` notification. What lies outside the
//! database (ending the stream, the room's announcement, closing a suspended user's sockets)
//! runs after the commit; its failures are logged and the case says what was decided.

use actix_web::{HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    TransactionTrait, sea_query::Expr,
};
use serde::Deserialize;
use serde_json::json;
use streamhall_actors::{
    bus::{BusEvent, NotificationPush},
    chat::{Command, JoinUser, RoomKey, protocol::ClientMsg},
    notify::protocol::streamer_name,
};
use streamhall_entities::{
    Channel, ChatMessage, Report, ReportReporter, User, chat_message, notification, report,
    report_reporter, user,
};
use ts_rs::TS;
use utoipa::ToSchema;

use super::{
    admin_reports::{ReportDto, dtos, find, message_key, snapshot_of},
    admin_users::{after_suspension, may_suspend, staff_only, suspend_in, suspension_end},
    reports::reason_label,
};
use crate::{
    audit::{self, Action, Target},
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    takedown::{self, Item},
    validate,
};

/// A decision on a case.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct ResolveReport {
    /// `dismiss`, `delete_message` (messages), `end_stream` (channels), `take_down` (videos,
    /// clips) or `suspend`.
    pub action: String,
    /// Kept with the case and in the audit log; for `suspend`, the reason the user is shown
    /// (default: the report's reason). Up to 1,000 characters.
    pub note: Option<String>,
    /// `suspend`: 60 s to 10 years, or `permanent: true` (exactly one).
    pub duration_secs: Option<u64>,
    pub permanent: Option<bool>,
}

/// The actions, and the kinds each applies to (`None`: all).
const ACTIONS: &[(&str, Option<&str>)] = &[
    ("dismiss", None),
    ("delete_message", Some("message")),
    ("end_stream", Some("channel")),
    ("take_down", Some("video clip")),
    ("suspend", None),
];

/// The notification title each reporter gets.
fn outcome_title(kind: &str, action: &str) -> String {
    let what = match kind {
        "message" => "a chat message",
        "video" => "a video",
        "clip" => "a clip",
        _ => "a channel",
    };
    if action == "dismiss" {
        format!("We reviewed your report of {what} and found no rule broken.")
    } else {
        format!("We reviewed your report of {what}: action was taken.")
    }
}

/// Resolves a case. Staff; 409 when it is already resolved.
#[utoipa::path(post, path = "/api/v1/admin/reports/{id}/resolve", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = ResolveReport,
    responses((status = 200, body = ReportDto), (status = 403, description = "not staff, or a moderator suspending staff", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "already resolved, or the item to take down is gone", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn resolve(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
    body: web::Json<ResolveReport>,
) -> ApiResult<HttpResponse> {
    staff_only(&me)?;
    let body = body.into_inner();
    let case = find(&state, *id).await?;
    let action = body.action.as_str();
    let Some((_, kinds)) = ACTIONS.iter().find(|(a, _)| *a == action) else {
        return Err(ApiError::invalid(
            "action",
            "dismiss, delete_message, end_stream, take_down or suspend",
        ));
    };
    if kinds.is_some_and(|k| !k.split(' ').any(|k| k == case.kind)) {
        return Err(ApiError::invalid(
            "action",
            format!("{action} does not apply to a reported {}", case.kind),
        ));
    }
    let note = match body.note.as_deref() {
        Some(n) => Some(validate::text("note", n, 0, 1000)?).filter(|n| !n.is_empty()),
        None => None,
    };
    if case.state == report::STATE_RESOLVED {
        return Err(already_resolved());
    }
    let snapshot = snapshot_of(&case);
    // Who a suspension falls on, checked before anything changes.
    let suspend = if action == "suspend" {
        let until = suspension_end(body.duration_secs, body.permanent, Utc::now())?;
        let target = match snapshot.accountable() {
            Some(uid) => {
                User::find_by_id(uid)
                    .filter(user::Column::DeletedAt.is_null())
                    .one(&state.db)
                    .await?
            }
            None => None,
        }
        .ok_or(ApiError::Conflict {
            field: "action",
            message: "the account behind this item is gone; dismiss the case".into(),
        })?;
        may_suspend(&me, &target)?;
        Some((target, until))
    } else {
        None
    };

    let now = Utc::now();
    let txn = state.db.begin().await?;
    let won = Report::update_many()
        .col_expr(report::Column::State, Expr::value(report::STATE_RESOLVED))
        .col_expr(report::Column::OpenKey, Expr::value(Option::<String>::None))
        .col_expr(report::Column::ResolvedBy, Expr::value(me.id))
        .col_expr(report::Column::ResolvedAt, Expr::value(now))
        .col_expr(report::Column::Action, Expr::value(action))
        .col_expr(report::Column::Note, Expr::value(note.clone()))
        .col_expr(report::Column::UpdatedAt, Expr::value(now))
        .filter(report::Column::Id.eq(case.id))
        .filter(report::Column::State.ne(report::STATE_RESOLVED))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if !won {
        txn.rollback().await?;
        return Err(already_resolved());
    }
    let reference = format!("report:{}", case.id);
    match action {
        "take_down" => {
            let item = if case.kind == "video" {
                Item::Video(&case.item_id)
            } else {
                Item::Clip(&case.item_id)
            };
            let notice = format!(
                "Taken down by the moderators: {}",
                reason_label(&case.reason)
            );
            if !takedown::take_down(&txn, item, &notice, &reference).await? {
                txn.rollback().await?;
                return Err(ApiError::Conflict {
                    field: "action",
                    message: format!("the {} is gone; dismiss the case", case.kind),
                });
            }
        }
        "delete_message" => {
            if let Some((channel_id, message_id)) = message_key(&case) {
                ChatMessage::update_many()
                    .col_expr(chat_message::Column::DeletedAt, Expr::value(now))
                    .col_expr(chat_message::Column::DeletedBy, Expr::value(me.id))
                    .filter(chat_message::Column::ChannelId.eq(channel_id))
                    .filter(chat_message::Column::Id.eq(message_id))
                    .filter(chat_message::Column::DeletedAt.is_null())
                    .exec(&txn)
                    .await?;
            }
        }
        _ => {}
    }
    if let Some((target, until)) = &suspend {
        let reason = note
            .clone()
            .unwrap_or_else(|| format!("Suspended after a report: {}", reason_label(&case.reason)));
        suspend_in(
            &txn,
            &me,
            target,
            &reason,
            *until,
            json!({ "report": case.id }),
        )
        .await?;
    }
    audit::record(
        &txn,
        Some(&me),
        Action::ReportResolve,
        Target::report(case.id),
        note.as_deref(),
        json!({
            "action": action,
            "kind": case.kind,
            "item_id": case.item_id,
            "channel": snapshot.channel_slug,
            "reports": case.report_count,
            "suspended": suspend.as_ref().map(|(t, _)| t.id),
        }),
    )
    .await?;
    let notified = notify_reporters(&txn, &case, action, now).await?;
    txn.commit().await?;

    after_commit(
        &state,
        &me,
        &case,
        action,
        suspend.as_ref().map(|(t, _)| t.id),
    )
    .await;
    if let Some((users, push)) = notified {
        state.live.bus.publish(BusEvent::Notified {
            users,
            notification: std::sync::Arc::new(push),
        });
    }
    tracing::info!(case = case.id, action, by = me.id, "report resolved");
    let case = find(&state, case.id).await?;
    let dto = dtos(&state, vec![case])
        .await?
        .pop()
        .ok_or(ApiError::NotFound("report"))?;
    Ok(HttpResponse::Ok().json(dto))
}

fn already_resolved() -> ApiError {
    ApiError::Conflict {
        field: "state",
        message: "this case is already resolved".into(),
    }
}

/// A `report_resolved` notification for each reporter, in the resolution's transaction; what
/// to push to their sockets once it commits. None when the item's channel is gone (the
/// notification table names a channel): the outcome is then only in the case.
async fn notify_reporters(
    txn: &impl ConnectionTrait,
    case: &report::Model,
    action: &str,
    now: chrono::DateTime<Utc>,
) -> ApiResult<Option<(Vec<(i64, i64)>, NotificationPush)>> {
    let channel = match case.channel_id {
        Some(id) => {
            Channel::find_by_id(id)
                .find_also_related(User)
                .one(txn)
                .await?
        }
        None => None,
    };
    let Some((channel, owner)) = channel else {
        tracing::warn!(
            case = case.id,
            "report resolved: its channel is gone, reporters not notified"
        );
        return Ok(None);
    };
    let title = outcome_title(&case.kind, action);
    let reporters = ReportReporter::find()
        .filter(report_reporter::Column::ReportId.eq(case.id))
        .all(txn)
        .await?;
    let mut users = Vec::with_capacity(reporters.len());
    for r in reporters {
        let row = notification::ActiveModel {
            user_id: Set(r.user_id),
            kind: Set("report_resolved".to_owned()),
            channel_id: Set(channel.id),
            broadcast_id: Set(None),
            title: Set(title.clone()),
            created_at: Set(now),
            read_at: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        users.push((r.user_id, row.id));
    }
    let push = NotificationPush {
        kind: "report_resolved".to_owned(),
        channel_slug: channel.slug,
        channel_title: channel.title,
        streamer_name: owner
            .map(|o| streamer_name(&o.display_name, &o.username))
            .unwrap_or_default(),
        title,
        broadcast_id: None,
        created_at: now,
    };
    Ok(Some((users, push)))
}

/// The parts of an action outside the database.
async fn after_commit(
    state: &AppState,
    me: &user::Model,
    case: &report::Model,
    action: &str,
    suspended: Option<i64>,
) {
    match action {
        "end_stream" => {
            if let Some(id) = case.channel_id {
                match Channel::find_by_id(id).one(&state.db).await {
                    Ok(Some(c)) => {
                        state.live.end_streams_anywhere([c.slug]).await;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(case = case.id, error = %e, "report: could not end the stream")
                    }
                }
            }
        }
        "delete_message" => announce_deleted(state, me, case).await,
        "take_down" => state.cache.invalidate(),
        _ => {}
    }
    if let Some(user_id) = suspended
        && let Err(e) = after_suspension(state, user_id).await
    {
        tracing::warn!(case = case.id, error = %e, "report: suspension stored, ending its streams failed");
    }
}

/// Tells the channel's room the message is gone, so viewers drop it now (it is already
/// deleted in the database: history and new viewers never see it).
async fn announce_deleted(state: &AppState, me: &user::Model, case: &report::Model) {
    let Some((channel_id, message_id)) = message_key(case) else {
        return;
    };
    let Ok(Some(c)) = Channel::find_by_id(channel_id).one(&state.db).await else {
        return;
    };
    let room = state
        .live
        .chat
        .room(RoomKey {
            channel_id: c.id,
            slug: c.slug.clone(),
            owner_id: c.owner_id,
        })
        .await;
    let sent = match room {
        Ok(room) => room
            .send(Command {
                session: None,
                // Staff act on every room as its admin would.
                user: Some(JoinUser {
                    id: me.id,
                    username: me.username.clone(),
                    is_admin: true,
                }),
                msg: ClientMsg::Delete { id: message_id },
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|r| r.message)),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = sent {
        tracing::warn!(case = case.id, error = %e, "report: message deleted, the room could not announce it");
    }
}
