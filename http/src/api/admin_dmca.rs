//! `/api/v1/admin/dmca*`: admins review DMCA notices ([`crate::dmca`]): list and read them,
//! take down what one names, reject one, or record that the claimant went to court (which
//! stops the restores counter-notices scheduled). Every decision is a conditional UPDATE on
//! the notice's state, in one transaction with its audit entry, so two admins cannot both
//! decide one notice.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use serde::Deserialize;
use serde_json::json;
use streamhall_entities::{
    Clip, DmcaCounterNotice, DmcaNotice, DmcaNoticeItem, User, Video, dmca_counter_notice,
    dmca_notice, dmca_notice_item,
};

use super::admin::admin_only;
use crate::{
    audit::{self, Action, Target},
    auth::AuthUser,
    dmca::{
        self,
        dto::{AdminDmcaNotice, AdminDmcaPage, AdminDmcaSummary, DmcaNote},
        notify::{self, DownItem},
        view,
    },
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    takedown::{self, Item},
    validate,
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminDmcaQuery {
    /// Only notices in this state: `received`, `taken_down` or `rejected`.
    pub state: Option<String>,
    /// 1 to 100, default 50.
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// DMCA notices, newest first. Admins only.
#[utoipa::path(get, path = "/api/v1/admin/dmca", tag = "admin", security(("bearer" = [])), params(AdminDmcaQuery),
    responses((status = 200, body = AdminDmcaPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    query: web::Query<AdminDmcaQuery>,
) -> ApiResult<HttpResponse> {
    admin_only(&me)?;
    let query = query.into_inner();
    let (limit, offset) = validate::page(query.limit, query.offset, 50)?;
    let mut find = DmcaNotice::find();
    if let Some(s) = query.state.as_deref().filter(|s| !s.is_empty()) {
        let s = dmca_notice::STATES
            .iter()
            .find(|k| **k == s)
            .ok_or_else(|| ApiError::invalid("state", "received, taken_down or rejected"))?;
        find = find.filter(dmca_notice::Column::State.eq(*s));
    }
    let total = find.clone().count(&state.db).await?;
    let notices = find
        .order_by_desc(dmca_notice::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(&state.db)
        .await?;
    let ids: Vec<i64> = notices.iter().map(|n| n.id).collect();
    let items = counts_by_notice(
        &state.db,
        DmcaNoticeItem::find()
            .select_only()
            .column(dmca_notice_item::Column::NoticeId)
            .column_as(Expr::col(dmca_notice_item::Column::Id).count(), "n")
            .filter(dmca_notice_item::Column::NoticeId.is_in(ids.clone()))
            .group_by(dmca_notice_item::Column::NoticeId),
    )
    .await?;
    let waiting = counts_by_notice(
        &state.db,
        DmcaCounterNotice::find()
            .select_only()
            .column(dmca_counter_notice::Column::NoticeId)
            .column_as(Expr::col(dmca_counter_notice::Column::Id).count(), "n")
            .filter(dmca_counter_notice::Column::NoticeId.is_in(ids))
            .filter(dmca_counter_notice::Column::State.eq(dmca_counter_notice::STATE_WAITING))
            .group_by(dmca_counter_notice::Column::NoticeId),
    )
    .await?;
    let items = notices
        .into_iter()
        .map(|n| AdminDmcaSummary {
            items: items.get(&n.id).copied().unwrap_or(0),
            counters_waiting: waiting.get(&n.id).copied().unwrap_or(0),
            id: n.id,
            state: n.state,
            claimant_name: n.claimant_name,
            claimant_email: n.claimant_email,
            created_at: n.created_at,
            legal_action_at: n.legal_action_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(AdminDmcaPage {
        items,
        total,
        next_offset: (offset + limit < total).then_some(offset + limit),
    }))
}

async fn counts_by_notice<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: sea_orm::Select<E>,
) -> ApiResult<HashMap<i64, u64>> {
    let rows: Vec<(i64, i64)> = select.into_tuple().all(db).await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// One notice with its items' state now and its counter-notices. Admins only.
#[utoipa::path(get, path = "/api/v1/admin/dmca/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = AdminDmcaNotice), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    admin_only(&me)?;
    let notice = find(&state, *id).await?;
    Ok(HttpResponse::Ok().json(detail(&state, notice).await?))
}

/// Takes down every video and clip the notice names (hidden with "Taken down after DMCA
/// notice {id}", not deleted) and tells their uploaders. Only a `received` notice (409
/// otherwise). Admins only.
#[utoipa::path(post, path = "/api/v1/admin/dmca/{id}/takedown", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = AdminDmcaNotice), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the notice was already decided", body = ErrorBody)))]
pub async fn take_down(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    admin_only(&me)?;
    let notice = find(&state, *id).await?;
    let items = DmcaNoticeItem::find()
        .filter(dmca_notice_item::Column::NoticeId.eq(notice.id))
        .order_by_asc(dmca_notice_item::Column::Id)
        .all(&state.db)
        .await?;
    let now = Utc::now();
    let txn = state.db.begin().await?;
    decide(&txn, notice.id, &me, dmca_notice::STATE_TAKEN_DOWN, None).await?;
    let (text, reference) = (dmca::public_notice(notice.id), dmca::reference(notice.id));
    let mut down = Vec::new();
    let mut missing = Vec::new();
    for item in &items {
        let which = item_of(item);
        let title = match which {
            Item::Video(id) => Video::find_by_id(id).one(&txn).await?.map(|v| v.title),
            Item::Clip(id) => Clip::find_by_id(id).one(&txn).await?.map(|c| c.title),
        };
        if takedown::take_down(&txn, which, &text, &reference).await? {
            down.push((
                item.owner_id,
                DownItem {
                    kind: which.kind(),
                    id: item.item_id.clone(),
                    title: title.unwrap_or_default(),
                    channel_id: item.channel_id,
                },
            ));
        } else {
            missing.push(item.item_id.clone());
        }
    }
    audit::record(
        &txn,
        Some(&me),
        Action::DmcaTakedown,
        Target::dmca_notice(notice.id),
        None,
        json!({
            "taken_down": down.iter().map(|(_, i)| json!({"kind": i.kind, "id": i.id})).collect::<Vec<_>>(),
            "already_deleted": missing,
        }),
    )
    .await?;
    txn.commit().await?;
    state.cache.invalidate();
    tracing::info!(
        notice_id = notice.id,
        by = me.id,
        items = down.len(),
        at = %now,
        "dmca: taken down"
    );
    let notice = find(&state, notice.id).await?;
    notify::taken_down(&state, &notice, down).await;
    Ok(HttpResponse::Ok().json(detail(&state, notice).await?))
}

/// Rejects a `received` notice with a note (409 otherwise); nothing is taken down. Admins
/// only.
#[utoipa::path(post, path = "/api/v1/admin/dmca/{id}/reject", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = DmcaNote,
    responses((status = 200, body = AdminDmcaNotice), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the notice was already decided", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reject(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
    body: web::Json<DmcaNote>,
) -> ApiResult<HttpResponse> {
    admin_only(&me)?;
    let note = validate::text("note", &body.note, 1, 1000)?;
    let notice = find(&state, *id).await?;
    let txn = state.db.begin().await?;
    decide(
        &txn,
        notice.id,
        &me,
        dmca_notice::STATE_REJECTED,
        Some(&note),
    )
    .await?;
    audit::record(
        &txn,
        Some(&me),
        Action::DmcaReject,
        Target::dmca_notice(notice.id),
        Some(&note),
        json!({ "claimant": notice.claimant_name }),
    )
    .await?;
    txn.commit().await?;
    let notice = find(&state, notice.id).await?;
    Ok(HttpResponse::Ok().json(detail(&state, notice).await?))
}

/// Records that the claimant went to court over a notice that took content down: waiting
/// counter-notices will not restore, and later ones are refused. 409 when nothing was taken
/// down or it is already recorded. Admins only.
#[utoipa::path(post, path = "/api/v1/admin/dmca/{id}/legal-action", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = DmcaNote,
    responses((status = 200, body = AdminDmcaNotice), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "nothing was taken down under this notice, or legal action is already recorded", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn legal_action(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
    body: web::Json<DmcaNote>,
) -> ApiResult<HttpResponse> {
    admin_only(&me)?;
    let note = validate::text("note", &body.note, 1, 1000)?;
    let notice = find(&state, *id).await?;
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let marked = DmcaNotice::update_many()
        .col_expr(dmca_notice::Column::LegalActionAt, Expr::value(Some(now)))
        .col_expr(
            dmca_notice::Column::LegalActionNote,
            Expr::value(Some(note.clone())),
        )
        .filter(dmca_notice::Column::Id.eq(notice.id))
        .filter(dmca_notice::Column::State.eq(dmca_notice::STATE_TAKEN_DOWN))
        .filter(dmca_notice::Column::LegalActionAt.is_null())
        .exec(&txn)
        .await?;
    if marked.rows_affected != 1 {
        return Err(ApiError::Conflict {
            field: "notice",
            message: "legal action can be recorded once, on a notice that took content down".into(),
        });
    }
    // A restore that already claimed its row committed first; the rest stop here.
    let stopped = DmcaCounterNotice::update_many()
        .col_expr(
            dmca_counter_notice::Column::State,
            Expr::value(dmca_counter_notice::STATE_LEGAL_ACTION),
        )
        .filter(dmca_counter_notice::Column::NoticeId.eq(notice.id))
        .filter(dmca_counter_notice::Column::State.eq(dmca_counter_notice::STATE_WAITING))
        .exec(&txn)
        .await?
        .rows_affected;
    audit::record(
        &txn,
        Some(&me),
        Action::DmcaLegalAction,
        Target::dmca_notice(notice.id),
        Some(&note),
        json!({ "restores_stopped": stopped }),
    )
    .await?;
    txn.commit().await?;
    let notice = find(&state, notice.id).await?;
    Ok(HttpResponse::Ok().json(detail(&state, notice).await?))
}

async fn find(state: &AppState, id: i64) -> ApiResult<dmca_notice::Model> {
    DmcaNotice::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("notice"))
}

/// Moves a `received` notice to `to`, or 409 when another decision got there first.
async fn decide(
    txn: &impl ConnectionTrait,
    id: i64,
    me: &streamhall_entities::user::Model,
    to: &'static str,
    note: Option<&str>,
) -> ApiResult<()> {
    let done = DmcaNotice::update_many()
        .col_expr(dmca_notice::Column::State, Expr::value(to))
        .col_expr(
            dmca_notice::Column::DecidedAt,
            Expr::value(Some(Utc::now())),
        )
        .col_expr(dmca_notice::Column::DecidedBy, Expr::value(Some(me.id)))
        .col_expr(
            dmca_notice::Column::DecisionNote,
            Expr::value(note.map(str::to_owned)),
        )
        .filter(dmca_notice::Column::Id.eq(id))
        .filter(dmca_notice::Column::State.eq(dmca_notice::STATE_RECEIVED))
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(ApiError::Conflict {
            field: "state",
            message: "this notice was already decided".into(),
        });
    }
    Ok(())
}

fn item_of(item: &dmca_notice_item::Model) -> Item<'_> {
    if item.kind == "clip" {
        Item::Clip(&item.item_id)
    } else {
        Item::Video(&item.item_id)
    }
}

async fn detail(state: &AppState, n: dmca_notice::Model) -> ApiResult<AdminDmcaNotice> {
    let decided_by = match n.decided_by {
        Some(id) => User::find_by_id(id)
            .one(&state.db)
            .await?
            .map(|u| u.username),
        None => None,
    };
    Ok(AdminDmcaNotice {
        items: view::items(&state.db, n.id, None).await?,
        counters: view::counters(&state.db, n.id, None).await?,
        id: n.id,
        state: n.state,
        claimant_name: n.claimant_name,
        claimant_email: n.claimant_email,
        claimant_contact: n.claimant_contact,
        work_description: n.work_description,
        signature: n.signature,
        created_at: n.created_at,
        decided_at: n.decided_at,
        decided_by,
        decision_note: n.decision_note,
        legal_action_at: n.legal_action_at,
        legal_action_note: n.legal_action_note,
    })
}
