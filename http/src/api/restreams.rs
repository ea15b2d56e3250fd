//! `/api/v1/channels/{slug}/restreams*`: where a channel's stream is pushed on while it is live
//! (another platform's RTMP ingest), at most five. Owner or admin only. The destination's stream
//! key is write-only: stored sealed, never returned (only whether one is set), never logged.
//! A live stream picks changes up within a few seconds
//! ([`RELOAD_EVERY`](streamhall_actors::stream::restream::RELOAD_EVERY)).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use streamhall_actors::health::{RestreamHealth, RestreamState};
use streamhall_actors::notify::webhook::parse_allow_list;
use streamhall_actors::stream::restream::{MAX_DESTINATIONS, check_destination};
use streamhall_entities::{RestreamDestination, channel, restream_destination};
use ts_rs::TS;
use utoipa::ToSchema;

use super::channels::find_changeable;
use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

const MAX_NAME: usize = 64;
const MAX_KEY: usize = 512;
const MAX_URL: usize = 2048;

/// A restream destination as its owner sees it: never with its stream key.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct RestreamDto {
    pub id: i64,
    /// What the streamer calls it ("YouTube").
    pub name: String,
    /// `rtmp://` or `rtmps://` ingest URL, without the key.
    pub url: String,
    pub enabled: bool,
    /// A stream key is stored (it is never shown).
    pub has_key: bool,
    /// `idle` while the channel is not live (or the destination is disabled), else
    /// `connecting`, `live` or `failed`.
    #[schema(value_type = String)]
    pub state: RestreamState,
    /// Why the last attempt failed (stream key scrubbed); while `failed`, and while
    /// `connecting` again after a failure.
    pub last_error: Option<String>,
    /// Failed attempts in the current broadcast.
    pub restarts: u32,
    pub created_at: DateTime<Utc>,
}

impl RestreamDto {
    fn new(d: restream_destination::Model, live: Option<&RestreamHealth>) -> Self {
        Self {
            id: d.id,
            name: d.name,
            url: d.url,
            enabled: d.enabled,
            has_key: !d.stream_key.is_empty(),
            state: live.map_or(RestreamState::Idle, |h| h.state),
            last_error: live.and_then(|h| h.last_error.clone()),
            restarts: live.map_or(0, |h| h.restarts),
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct CreateRestream {
    /// 1-64 characters.
    pub name: String,
    /// `rtmp://host[:port]/app` or `rtmps://...`, without the key; must not point at a private,
    /// loopback or link-local address unless the admin allows it (`[ingest] allow_private`).
    pub url: String,
    /// 1-512 characters; appended to the URL as its last path segment.
    pub stream_key: String,
}

/// Changes to a destination; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct UpdateRestream {
    pub name: Option<String>,
    pub url: Option<String>,
    pub stream_key: Option<String>,
    pub enabled: Option<bool>,
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME {
        return Err(ApiError::invalid(
            "name",
            format!("the name must be 1 to {MAX_NAME} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn check_key(key: &str) -> ApiResult<&str> {
    let key = key.trim();
    if key.is_empty() || key.chars().count() > MAX_KEY {
        return Err(ApiError::invalid(
            "stream_key",
            format!("the stream key must be 1 to {MAX_KEY} characters"),
        ));
    }
    if key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::invalid(
            "stream_key",
            "the stream key may not contain spaces or control characters",
        ));
    }
    Ok(key)
}

async fn check_url(state: &AppState, url: &str) -> ApiResult<String> {
    let url = url.trim();
    if url.len() > MAX_URL {
        return Err(ApiError::invalid("url", "the URL is too long"));
    }
    let allow = parse_allow_list("ingest.allow_private", &state.live.ingest_allow_private);
    check_destination(url, &allow)
        .await
        .map_err(|m| ApiError::invalid("url", m))?;
    Ok(url.trim_end_matches('/').to_owned())
}

fn seal(state: &AppState, key: &str) -> ApiResult<String> {
    state
        .live
        .sealer
        .seal(key)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))
}

/// The channel's restreams in its live stream on this node, if it is live here.
async fn live_restreams(state: &AppState, c: &channel::Model) -> Vec<RestreamHealth> {
    state
        .live
        .health()
        .await
        .streams
        .into_iter()
        .find(|s| s.slug == c.slug)
        .map(|s| s.restreams)
        .unwrap_or_default()
}

async fn count(state: &AppState, channel_id: i64) -> ApiResult<u64> {
    Ok(RestreamDestination::find()
        .filter(restream_destination::Column::ChannelId.eq(channel_id))
        .count(&state.db)
        .await?)
}

async fn find_destination(
    state: &AppState,
    c: &channel::Model,
    id: i64,
) -> ApiResult<restream_destination::Model> {
    RestreamDestination::find_by_id(id)
        .filter(restream_destination::Column::ChannelId.eq(c.id))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("restream destination"))
}

fn too_many() -> ApiError {
    ApiError::invalid(
        "url",
        format!("a channel can restream to at most {MAX_DESTINATIONS} destinations"),
    )
}

/// The channel's restream destinations, oldest first, each with its state in the live stream.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/restreams", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = Vec<RestreamDto>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let rows = RestreamDestination::find()
        .filter(restream_destination::Column::ChannelId.eq(c.id))
        .order_by_asc(restream_destination::Column::Id)
        .all(&state.db)
        .await?;
    let live = live_restreams(&state, &c).await;
    let items: Vec<RestreamDto> = rows
        .into_iter()
        .map(|d| {
            let h = live.iter().find(|h| h.id == d.id && d.enabled);
            RestreamDto::new(d, h)
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(items))
}

/// Adds a destination (enabled). A live stream starts pushing to it within seconds.
#[utoipa::path(post, path = "/api/v1/channels/{slug}/restreams", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = CreateRestream,
    responses((status = 201, body = RestreamDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "`invalid_field`: a bad name, URL (scheme, host, a private address not allowed) or key, or already five destinations", body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
    body: web::Json<CreateRestream>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let body = body.into_inner();
    if count(&state, c.id).await? >= MAX_DESTINATIONS {
        return Err(too_many());
    }
    let name = check_name(&body.name)?;
    let key = check_key(&body.stream_key)?;
    let url = check_url(&state, &body.url).await?;
    let created = restream_destination::ActiveModel {
        channel_id: Set(c.id),
        name: Set(name),
        url: Set(url),
        stream_key: Set(seal(&state, key)?),
        enabled: Set(true),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    // Two creations racing past the count: the later one gives way.
    if count(&state, c.id).await? > MAX_DESTINATIONS {
        RestreamDestination::delete_by_id(created.id)
            .exec(&state.db)
            .await?;
        return Err(too_many());
    }
    tracing::info!(channel = %c.slug, user_id = caller.id, destination = created.id, "restream destination added");
    Ok(HttpResponse::Created().json(RestreamDto::new(created, None)))
}

/// Changes a destination. A new URL or key restarts its push; `enabled: false` stops it.
#[utoipa::path(patch, path = "/api/v1/channels/{slug}/restreams/{id}", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i64, Path)), request_body = UpdateRestream,
    responses((status = 200, body = RestreamDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    path: web::Path<(String, i64)>,
    body: web::Json<UpdateRestream>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let d = find_destination(&state, &c, id).await?;
    let body = body.into_inner();
    let mut active = d.into_active_model();
    if let Some(name) = &body.name {
        active.name = Set(check_name(name)?);
    }
    if let Some(key) = &body.stream_key {
        active.stream_key = Set(seal(&state, check_key(key)?)?);
    }
    if let Some(url) = &body.url {
        active.url = Set(check_url(&state, url).await?);
    }
    if let Some(enabled) = body.enabled {
        active.enabled = Set(enabled);
    }
    let saved = active.update(&state.db).await?;
    tracing::info!(channel = %c.slug, user_id = caller.id, destination = saved.id, enabled = saved.enabled, "restream destination changed");
    let live = live_restreams(&state, &c).await;
    let h = live.iter().find(|h| h.id == saved.id && saved.enabled);
    Ok(HttpResponse::Ok().json(RestreamDto::new(saved, h)))
}

/// Removes a destination; a live push to it stops within seconds.
#[utoipa::path(delete, path = "/api/v1/channels/{slug}/restreams/{id}", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path), ("id" = i64, Path)),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    path: web::Path<(String, i64)>,
) -> ApiResult<HttpResponse> {
    let (slug, id) = path.into_inner();
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let d = find_destination(&state, &c, id).await?;
    RestreamDestination::delete_by_id(d.id)
        .exec(&state.db)
        .await?;
    tracing::info!(channel = %c.slug, user_id = caller.id, destination = d.id, "restream destination removed");
    Ok(HttpResponse::NoContent().finish())
}
