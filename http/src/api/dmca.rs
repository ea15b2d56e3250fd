//! `/api/v1/dmca/*`: the public DMCA notice form (no account), and the uploader's side of a
//! notice: reading it and filing a counter-notice. The admins' side is
//! [`super::admin_dmca`]; the flow is described in [`crate::dmca`].

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
    sea_query::Expr,
};
use streamhall_entities::{
    Channel, Clip, DmcaCounterNotice, DmcaNotice, DmcaNoticeItem, Video, dmca_counter_notice,
    dmca_notice, dmca_notice_item,
};

use crate::{
    auth::{AuthUser, client_ip},
    dmca::{
        self, Named,
        dto::{DmcaNoticeCreated, NewCounterNotice, NewDmcaNotice, UploaderNoticeDto},
        notify, view,
    },
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    validate::{self, Problems},
};

/// Most URLs one notice may name.
pub const MAX_URLS: usize = 20;

/// Sends a DMCA notice: who claims, the work, the addresses of the videos and clips on this
/// server that infringe it, the two statements the law requires, and a signature. No account
/// is needed. Every URL must name a video or clip of this server (a 422 names the first that
/// does not). Throttled per client address.
#[utoipa::path(post, path = "/api/v1/dmca/notices", tag = "dmca", request_body = NewDmcaNotice,
    responses((status = 201, body = DmcaNoticeCreated), (status = 422, body = ErrorBody),
        (status = 429, description = "too many notices from this address; see Retry-After", body = ErrorBody)))]
pub async fn create_notice(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<NewDmcaNotice>,
) -> ApiResult<HttpResponse> {
    let cfg = &state.dmca;
    let ip = client_ip(&req, state.http.trust_proxy_headers);
    let count = state
        .limiter
        .hit(
            &format!("dmca:ip:{ip}"),
            Duration::from_secs(cfg.notice_window_secs.max(1)),
        )
        .await;
    if count.hits > cfg.notices_per_ip {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: count.resets_in.as_secs() + 1,
        });
    }
    let body = body.into_inner();
    let mut problems = Problems::new();
    let name = problems.check(validate::text("claimant_name", &body.claimant_name, 1, 200));
    let email = body.claimant_email.trim().to_lowercase();
    problems.check(
        validate::email(&email)
            .map_err(|_| ApiError::invalid("claimant_email", "not a valid email address")),
    );
    let contact = problems.check(validate::text(
        "claimant_contact",
        &body.claimant_contact,
        1,
        500,
    ));
    let work = problems.check(validate::text(
        "work_description",
        &body.work_description,
        1,
        5000,
    ));
    // A bad URL is one more field problem; a database failure is not.
    let named = match named_items(&state, &body.urls).await {
        Err(e @ ApiError::Invalid(_)) => problems.check::<Vec<NamedItem>>(Err(e)),
        other => Some(other?),
    };
    if !body.good_faith {
        problems.check::<()>(Err(ApiError::invalid(
            "good_faith",
            "the good-faith statement is required",
        )));
    }
    if !body.accurate {
        problems.check::<()>(Err(ApiError::invalid(
            "accurate",
            "the accuracy statement is required",
        )));
    }
    let signature = problems.check(validate::text("signature", &body.signature, 1, 200));
    problems.finish()?;
    let (Some(name), Some(contact), Some(work), Some(named), Some(signature)) =
        (name, contact, work, named, signature)
    else {
        return Err(ApiError::invalid("body", "incomplete notice"));
    };

    let txn = state.db.begin().await?;
    let notice = dmca_notice::ActiveModel {
        state: Set(dmca_notice::STATE_RECEIVED.into()),
        claimant_name: Set(name),
        claimant_email: Set(email),
        claimant_contact: Set(contact),
        work_description: Set(work),
        signature: Set(signature),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    for item in &named {
        dmca_notice_item::ActiveModel {
            notice_id: Set(notice.id),
            url: Set(item.url.clone()),
            kind: Set(item.named.item().kind().into()),
            item_id: Set(item.named.item().id().into()),
            channel_id: Set(item.channel_id),
            owner_id: Set(item.owner_id),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    tracing::info!(
        notice_id = notice.id,
        items = named.len(),
        "dmca: notice received"
    );
    Ok(HttpResponse::Created().json(DmcaNoticeCreated {
        id: notice.id,
        message: format!(
            "Notice {} received. An administrator will review it; we will write to you at the address you gave.",
            notice.id
        ),
    }))
}

/// A URL of a notice and what it names.
struct NamedItem {
    url: String,
    named: Named,
    channel_id: i64,
    owner_id: i64,
}

/// The items `urls` name (each once), or a 422 on `urls` naming the first bad URL.
async fn named_items(state: &AppState, urls: &[String]) -> ApiResult<Vec<NamedItem>> {
    if urls.is_empty() || urls.len() > MAX_URLS {
        return Err(ApiError::invalid(
            "urls",
            format!("give 1 to {MAX_URLS} addresses of videos or clips on this server"),
        ));
    }
    let mut out: Vec<NamedItem> = Vec::with_capacity(urls.len());
    for url in urls {
        let url = url.trim();
        let shown: String = url.chars().take(200).collect();
        if url.len() > 2048 {
            return Err(ApiError::invalid("urls", format!("{shown}…: too long")));
        }
        let named = dmca::parse_url(&state.public_url, url)
            .map_err(|why| ApiError::invalid("urls", format!("{shown}: {why}")))?;
        if out.iter().any(|n| n.named == named) {
            continue;
        }
        let channel_id = match &named {
            Named::Video(id) => Video::find_by_id(id.as_str())
                .one(&state.db)
                .await?
                .filter(|v| !v.dvr_only)
                .map(|v| v.channel_id),
            Named::Clip(id) => Clip::find_by_id(id.as_str())
                .one(&state.db)
                .await?
                .map(|c| c.channel_id),
        };
        let channel = match channel_id {
            Some(id) => Channel::find_by_id(id).one(&state.db).await?,
            None => None,
        };
        let Some(channel) = channel else {
            return Err(ApiError::invalid(
                "urls",
                format!("{shown}: no such video or clip on this server"),
            ));
        };
        out.push(NamedItem {
            url: url.to_owned(),
            named,
            channel_id: channel.id,
            owner_id: channel.owner_id,
        });
    }
    Ok(out)
}

/// A notice as the caller sees it: an uploader it names sees their items and counter-notice.
/// Others get 403 (admins read it under `/admin/dmca`).
#[utoipa::path(get, path = "/api/v1/dmca/notices/{id}", tag = "dmca", security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = UploaderNoticeDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_notice(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let notice = find_named(&state, *id, me.id).await?;
    Ok(HttpResponse::Ok().json(uploader_view(&state, &notice, me.id).await?))
}

/// Files the caller's counter-notice to a notice that took their items down. Their items come
/// back `dmca.restore_after_secs` later (10 days by default) unless an admin records that the
/// claimant went to court first; the claimant is emailed the counter-notice.
#[utoipa::path(post, path = "/api/v1/dmca/notices/{id}/counter", tag = "dmca", security(("bearer" = [])),
    params(("id" = i64, Path)), request_body = NewCounterNotice,
    responses((status = 201, body = UploaderNoticeDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "nothing of yours is down under this notice, you already countered, or the claimant went to court", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn counter(
    state: web::Data<AppState>,
    AuthUser(me): AuthUser,
    id: web::Path<i64>,
    body: web::Json<NewCounterNotice>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut problems = Problems::new();
    let full_name = problems.check(validate::text("full_name", &body.full_name, 1, 200));
    let contact = problems.check(validate::text("contact", &body.contact, 1, 500));
    let statement = problems.check(validate::text("statement", &body.statement, 1, 5000));
    if !body.good_faith {
        problems.check::<()>(Err(ApiError::invalid(
            "good_faith",
            "the good-faith statement is required",
        )));
    }
    if !body.consent_to_jurisdiction {
        problems.check::<()>(Err(ApiError::invalid(
            "consent_to_jurisdiction",
            "consent to the court's jurisdiction is required",
        )));
    }
    let signature = problems.check(validate::text("signature", &body.signature, 1, 200));
    let notice = find_named(&state, *id, me.id).await?;
    problems.finish()?;
    let (Some(full_name), Some(contact), Some(statement), Some(signature)) =
        (full_name, contact, statement, signature)
    else {
        return Err(ApiError::invalid("body", "incomplete counter-notice"));
    };
    counter_allowed(&state, &notice, me.id).await?;
    let now = Utc::now();
    let txn = state.db.begin().await?;
    // Locks the notice's row (PostgreSQL) against an admin recording legal action at the
    // same time: whichever commits second sees the other's change.
    let open = DmcaNotice::update_many()
        .col_expr(
            dmca_notice::Column::State,
            Expr::value(dmca_notice::STATE_TAKEN_DOWN),
        )
        .filter(dmca_notice::Column::Id.eq(notice.id))
        .filter(dmca_notice::Column::State.eq(dmca_notice::STATE_TAKEN_DOWN))
        .filter(dmca_notice::Column::LegalActionAt.is_null())
        .exec(&txn)
        .await?;
    if open.rows_affected != 1 {
        return Err(court());
    }
    let created = dmca_counter_notice::ActiveModel {
        notice_id: Set(notice.id),
        user_id: Set(me.id),
        state: Set(dmca_counter_notice::STATE_WAITING.into()),
        full_name: Set(full_name),
        contact: Set(contact),
        statement: Set(statement),
        signature: Set(signature),
        created_at: Set(now),
        restore_due_at: Set(now + state.dmca.restore_after()),
        restored_at: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => already_countered(),
        _ => e.into(),
    })?;
    txn.commit().await?;
    tracing::info!(
        notice_id = notice.id,
        user_id = me.id,
        due = %created.restore_due_at,
        "dmca: counter-notice filed"
    );
    notify::countered(&state, &notice, &created);
    Ok(HttpResponse::Created().json(uploader_view(&state, &notice, me.id).await?))
}

fn court() -> ApiError {
    ApiError::Conflict {
        field: "notice",
        message: "the claimant has gone to court over this notice: a counter-notice no longer restores anything".into(),
    }
}

fn already_countered() -> ApiError {
    ApiError::Conflict {
        field: "notice",
        message: "you already filed a counter-notice to this notice".into(),
    }
}

/// The notice, if it names an item of `user_id` (404 when there is no such notice, 403
/// when it names nothing of theirs).
async fn find_named(state: &AppState, id: i64, user_id: i64) -> ApiResult<dmca_notice::Model> {
    let notice = DmcaNotice::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("notice"))?;
    let mine = DmcaNoticeItem::find()
        .filter(dmca_notice_item::Column::NoticeId.eq(id))
        .filter(dmca_notice_item::Column::OwnerId.eq(user_id))
        .count(&state.db)
        .await?;
    if mine == 0 {
        return Err(ApiError::Forbidden(
            "only the owner of what a notice names may read it or counter it",
        ));
    }
    Ok(notice)
}

/// 409 unless `user_id` may counter `notice` now.
async fn counter_allowed(
    state: &AppState,
    notice: &dmca_notice::Model,
    user_id: i64,
) -> ApiResult<()> {
    if notice.state != dmca_notice::STATE_TAKEN_DOWN {
        return Err(ApiError::Conflict {
            field: "notice",
            message: "nothing was taken down under this notice".into(),
        });
    }
    if notice.legal_action_at.is_some() {
        return Err(court());
    }
    let filed = DmcaCounterNotice::find()
        .filter(dmca_counter_notice::Column::NoticeId.eq(notice.id))
        .filter(dmca_counter_notice::Column::UserId.eq(user_id))
        .count(&state.db)
        .await?;
    if filed > 0 {
        return Err(already_countered());
    }
    Ok(())
}

async fn uploader_view(
    state: &AppState,
    notice: &dmca_notice::Model,
    user_id: i64,
) -> ApiResult<UploaderNoticeDto> {
    let items = view::items(&state.db, notice.id, Some(user_id)).await?;
    let counter = view::counters(&state.db, notice.id, Some(user_id))
        .await?
        .into_iter()
        .next();
    let can_counter = counter.is_none()
        && notice.state == dmca_notice::STATE_TAKEN_DOWN
        && notice.legal_action_at.is_none();
    Ok(UploaderNoticeDto {
        id: notice.id,
        state: notice.state.clone(),
        created_at: notice.created_at,
        claimant_name: notice.claimant_name.clone(),
        work_description: notice.work_description.clone(),
        decided_at: notice.decided_at,
        legal_action: notice.legal_action_at.is_some(),
        items,
        counter,
        restore_after_secs: state.dmca.restore_after_secs,
        can_counter,
    })
}
