//! `/api/v1/channels/{slug}/webhooks*`: a channel's webhooks, their delivery log, and a test
//! ping. Owner or admin only. The secret that signs deliveries is shown once, on creation.
//! Sending is done by the webhook worker (`streamhall_actors::notify::webhook`).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use streamhall_actors::notify::webhook::{self as hooks, UrlError};
use streamhall_entities::{Webhook, WebhookDelivery, channel, webhook, webhook_delivery};
use ts_rs::TS;
use utoipa::ToSchema;

use super::channels::find_changeable;
use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

/// One attempt log entry of a webhook.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct DeliveryDto {
    /// Sent as `X-Streamhall-Delivery` and as `id` in the body.
    pub id: String,
    /// `stream.online`, `stream.offline` or `ping`.
    pub event: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    /// The receiver's HTTP status on the latest attempt.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the next attempt is due (while `pending`).
    pub next_attempt_at: DateTime<Utc>,
}

impl From<webhook_delivery::Model> for DeliveryDto {
    fn from(d: webhook_delivery::Model) -> Self {
        Self {
            id: d.id,
            event: d.event,
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
            next_attempt_at: d.next_attempt_at,
        }
    }
}

/// A webhook as its owner sees it (never with its secret).
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct WebhookDto {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_delivery: Option<DeliveryDto>,
}

impl WebhookDto {
    fn new(w: webhook::Model, last_delivery: Option<DeliveryDto>) -> Self {
        Self {
            id: w.id,
            events: hooks::parse_events(&w.events),
            url: w.url,
            created_at: w.created_at,
            last_delivery,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct CreateWebhook {
    /// `http` or `https`; must not point at a private, loopback or link-local address.
    pub url: String,
    /// A non-empty subset of `stream.online`, `stream.offline`.
    pub events: Vec<String>,
}

/// The answer to creating a webhook: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CreatedWebhook {
    pub webhook: WebhookDto,
    /// Verify deliveries with it: `X-Streamhall-Signature` is `sha256=` followed by the hex
    /// HMAC-SHA256 of the body under this secret.
    pub secret: String,
}

#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    limit: Option<u64>,
}

/// The channel's webhooks, oldest first, each with its latest delivery.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = Vec<WebhookDto>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let rows = Webhook::find()
        .filter(webhook::Column::ChannelId.eq(c.id))
        .order_by_asc(webhook::Column::Id)
        .all(&state.db)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for w in rows {
        let last = latest_deliveries(&state, w.id, 1).await?.pop();
        items.push(WebhookDto::new(w, last));
    }
    Ok(HttpResponse::Ok().json(items))
}

/// Adds a webhook. The URL is resolved and refused (400 `url_not_allowed`) when any address
/// it resolves to is private, loopback, link-local or otherwise internal.
#[utoipa::path(post, path = "/api/v1/channels/{slug}/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook),
        (status = 400, description = "`invalid_url`, `url_not_allowed` or `url_unresolvable`", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`too_many_webhooks`: the channel has the most it may have", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
    body: web::Json<CreateWebhook>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let body = body.into_inner();
    let events =
        hooks::normalize_events(&body.events).map_err(|m| ApiError::invalid("events", m))?;
    let handle = state.live.notifier.webhooks();
    let max = handle.config().max_per_channel;
    if count(&state, c.id).await? >= max {
        return Ok(too_many(max));
    }
    let url = body.url.trim();
    if let Err(e) = handle.guard().check(url).await {
        return Ok(url_refused(&e));
    }
    let secret = hooks::new_secret().map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    let created = webhook::ActiveModel {
        channel_id: Set(c.id),
        url: Set(url.to_owned()),
        events: Set(events.join(",")),
        secret: Set(secret.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    // Two creations racing past the count: the later one gives way.
    if count(&state, c.id).await? > max {
        Webhook::delete_by_id(created.id).exec(&state.db).await?;
        return Ok(too_many(max));
    }
    tracing::info!(channel = %c.slug, user_id = caller.id, webhook_id = created.id, "webhook created");
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedWebhook {
            webhook: WebhookDto::new(created, None),
            secret,
        }))
}

/// Removes a webhook and its delivery log.
#[utoipa::path(delete, path = "/api/v1/channels/{slug}/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i64, Path)),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    path: web::Path<(String, i64)>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let w = find_webhook(&state, &c, id).await?;
    Webhook::delete_by_id(w.id).exec(&state.db).await?;
    tracing::info!(channel = %c.slug, user_id = caller.id, webhook_id = w.id, "webhook deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// A webhook's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/webhooks/{id}/deliveries", tag = "webhooks",
    security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i64, Path),
        ("limit" = Option<u64>, Query, description = "1..=100, default 20")),
    responses((status = 200, body = Vec<DeliveryDto>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn deliveries(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    path: web::Path<(String, i64)>,
    q: web::Query<DeliveriesQuery>,
) -> ApiResult<HttpResponse> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 100",
        ));
    }
    let (slug, id) = path.into_inner();
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let w = find_webhook(&state, &c, id).await?;
    Ok(HttpResponse::Ok().json(latest_deliveries(&state, w.id, limit).await?))
}

/// Sends a `ping` event to this webhook now, to test the endpoint; see the delivery log for
/// how it went. At most `notify.webhooks.pings_per_minute` per webhook (then 429).
#[utoipa::path(post, path = "/api/v1/channels/{slug}/webhooks/{id}/ping", tag = "webhooks",
    security(("bearer" = [])), params(("slug" = String, Path), ("id" = i64, Path)),
    responses((status = 202, description = "queued", body = DeliveryDto), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, description = "too many pings for this webhook", body = ErrorBody)))]
pub async fn ping(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    path: web::Path<(String, i64)>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let w = find_webhook(&state, &c, id).await?;
    let data = serde_json::json!({
        "webhook_id": w.id,
        "channel": {"id": c.id, "slug": c.slug},
    });
    let webhooks = state.live.notifier.webhooks();
    let cfg = webhooks.config();
    let count = state
        .limiter
        .hit(&format!("webhook-ping:{}", w.id), Duration::from_secs(60))
        .await;
    if count.hits > cfg.pings_per_minute.max(1) {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: count.resets_in.as_secs() + 1,
        });
    }
    let delivery_id = hooks::enqueue_to(
        &state.db,
        w.id,
        hooks::PING,
        data,
        cfg.max_queued_per_webhook,
    )
    .await?;
    webhooks.wake();
    let queued = WebhookDelivery::find_by_id(delivery_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok(HttpResponse::Accepted().json(DeliveryDto::from(queued)))
}

async fn find_webhook(state: &AppState, c: &channel::Model, id: i64) -> ApiResult<webhook::Model> {
    Webhook::find_by_id(id)
        .filter(webhook::Column::ChannelId.eq(c.id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

async fn latest_deliveries(
    state: &AppState,
    webhook_id: i64,
    limit: u64,
) -> ApiResult<Vec<DeliveryDto>> {
    let rows = WebhookDelivery::find()
        .filter(webhook_delivery::Column::WebhookId.eq(webhook_id))
        .order_by_desc(webhook_delivery::Column::CreatedAt)
        .order_by_desc(webhook_delivery::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?;
    Ok(rows.into_iter().map(DeliveryDto::from).collect())
}

async fn count(state: &AppState, channel_id: i64) -> ApiResult<usize> {
    let n = Webhook::find()
        .filter(webhook::Column::ChannelId.eq(channel_id))
        .count(&state.db)
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// 400 with the guard's own code (`invalid_url`, `url_not_allowed`, `url_unresolvable`).
fn url_refused(e: &UrlError) -> HttpResponse {
    HttpResponse::BadRequest().json(ErrorBody {
        error: e.code(),
        message: e.to_string(),
        field: Some("url"),
        fields: None,
        request_id: None,
    })
}

fn too_many(max: usize) -> HttpResponse {
    HttpResponse::Conflict().json(ErrorBody {
        error: "too_many_webhooks",
        message: format!("a channel may have at most {max} webhooks"),
        field: None,
        fields: None,
        request_id: None,
    })
}
