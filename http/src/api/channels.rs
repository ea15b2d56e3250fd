//! `/api/v1/channels*`: create, list, show, edit, delete, rotate the stream key.
//! Only the owner or an admin may change a channel.

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, ContentType},
    web,
};
use bytes::Bytes;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use streamhall_entities::{Broadcast, Channel, User, broadcast, channel, secret, user};

use crate::{
    api::{auth::unique_to_conflict, follows::with_follower_counts},
    auth::AuthUser,
    dto::{
        BroadcastDto, ChannelDto, ChannelPage, ChannelQuery, CreateChannel, CreatedChannel,
        StreamKey, UpdateChannel,
    },
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    validate,
};

/// Creates a channel owned by the caller; the stream key is in the response, only this once.
#[utoipa::path(post, path = "/api/v1/channels", tag = "channels", security(("bearer" = [])), request_body = CreateChannel,
    responses((status = 201, body = CreatedChannel), (status = 409, description = "slug taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    state: web::Data<AppState>,
    AuthUser(owner): AuthUser,
    body: web::Json<CreateChannel>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    validate::slug(&body.slug)?;
    let title = validate::text("title", &body.title, 1, 140)?;
    let description = validate::text(
        "description",
        body.description.as_deref().unwrap_or(""),
        0,
        2000,
    )?;
    let category = validate::text("category", body.category.as_deref().unwrap_or(""), 0, 64)?;
    if Channel::find()
        .filter(channel::Column::Slug.eq(&body.slug))
        .one(&state.db)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            field: "slug",
            message: "that slug is already taken".into(),
        });
    }
    let key = new_key()?;
    let now = Utc::now();
    let created = channel::ActiveModel {
        owner_id: Set(owner.id),
        slug: Set(body.slug),
        title: Set(title),
        description: Set(description),
        category: Set(category),
        is_live: Set(false),
        stream_key_hash: Set(secret::sha256_hex(&key)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(|e| unique_to_conflict(e, "slug"))?;
    state.cache.invalidate();
    tracing::info!(channel = %created.slug, user_id = owner.id, "channel created");
    Ok(HttpResponse::Created().json(CreatedChannel {
        channel: ChannelDto::new(&state, &created, &owner),
        stream_key: key,
    }))
}

/// Lists channels, live ones first, newest first within each group.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", params(ChannelQuery),
    responses((status = 200, body = ChannelPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ChannelQuery>,
) -> ApiResult<HttpResponse> {
    let cache_key = cacheable(&req).then(|| format!("list?{}", req.query_string()));
    if let Some(body) = cache_key.as_deref().and_then(|k| state.cache.get(k)) {
        return Ok(json_bytes(body));
    }
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(24).clamp(1, 100);
    let offset = query.offset.unwrap_or(0);
    let mut select = Channel::find().find_also_related(User);
    if query.live == Some(true) {
        select = select.filter(channel::Column::IsLive.eq(true));
    }
    if let Some(category) = query
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        select = select.filter(channel::Column::Category.eq(category));
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
        let like = |col: channel::Column| {
            Expr::expr(Func::lower(Expr::col((channel::Entity, col))))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        select = select.filter(
            Condition::any()
                .add(like(channel::Column::Slug))
                .add(like(channel::Column::Title)),
        );
    }
    let rows = select
        .order_by_desc(channel::Column::IsLive)
        .order_by_desc(channel::Column::Id)
        .limit(limit + 1)
        .offset(offset)
        .all(&state.db)
        .await?;
    let more = rows.len() as u64 > limit;
    let items = rows
        .iter()
        .take(limit as usize)
        .filter_map(|(c, owner)| owner.as_ref().map(|o| ChannelDto::new(&state, c, o)))
        .collect();
    let items = with_follower_counts(&state.db, items).await?;
    let page = ChannelPage {
        items,
        next_offset: more.then_some(offset + limit),
    };
    respond_cached(&state, cache_key, &page)
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/channels/{slug}", tag = "channels", params(("slug" = String, Path)),
    responses((status = 200, body = ChannelDto), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let cache_key = cacheable(&req).then(|| format!("get/{slug}"));
    if let Some(body) = cache_key.as_deref().and_then(|k| state.cache.get(k)) {
        return Ok(json_bytes(body));
    }
    let (c, owner) = find(&state, &slug).await?;
    let dto = with_follower_counts(&state.db, vec![ChannelDto::new(&state, &c, &owner)])
        .await?
        .remove(0);
    respond_cached(&state, cache_key, &dto)
}

/// Anonymous reads share cached responses; signed-in ones are always fresh.
fn cacheable(req: &HttpRequest) -> bool {
    !req.headers().contains_key(header::AUTHORIZATION)
}

fn respond_cached<T: serde::Serialize>(
    state: &AppState,
    key: Option<String>,
    value: &T,
) -> ApiResult<HttpResponse> {
    let body = Bytes::from(serde_json::to_vec(value).map_err(ApiError::internal)?);
    if let Some(key) = key {
        state.cache.put(key, body.clone());
    }
    Ok(json_bytes(body))
}

fn json_bytes(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}

/// Edits title, description or category.
#[utoipa::path(patch, path = "/api/v1/channels/{slug}", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = UpdateChannel,
    responses((status = 200, body = ChannelDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
    body: web::Json<UpdateChannel>,
) -> ApiResult<HttpResponse> {
    let (c, owner) = find_changeable(&state, &caller, &slug).await?;
    let body = body.into_inner();
    let mut model = c.into_active_model();
    if let Some(title) = body.title {
        model.title = Set(validate::text("title", &title, 1, 140)?);
    }
    if let Some(description) = body.description {
        model.description = Set(validate::text("description", &description, 0, 2000)?);
    }
    if let Some(category) = body.category {
        model.category = Set(validate::text("category", &category, 0, 64)?);
    }
    model.updated_at = Set(Utc::now());
    let updated = model.update(&state.db).await?;
    state.cache.invalidate();
    Ok(HttpResponse::Ok().json(ChannelDto::new(&state, &updated, &owner)))
}

/// Deletes a channel and its history.
#[utoipa::path(delete, path = "/api/v1/channels/{slug}", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    Channel::delete_by_id(c.id).exec(&state.db).await?;
    state.cache.invalidate();
    tracing::info!(channel = %c.slug, user_id = caller.id, "channel deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces the stream key. The old key stops working at once.
#[utoipa::path(post, path = "/api/v1/channels/{slug}/stream-key", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = StreamKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_key(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let key = new_key()?;
    Channel::update_many()
        .col_expr(
            channel::Column::StreamKeyHash,
            Expr::value(secret::sha256_hex(&key)),
        )
        .col_expr(channel::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(channel::Column::Id.eq(c.id))
        .exec(&state.db)
        .await?;
    tracing::info!(channel = %c.slug, user_id = caller.id, "stream key rotated");
    Ok(HttpResponse::Ok().json(StreamKey { stream_key: key }))
}

pub(crate) async fn find(state: &AppState, slug: &str) -> ApiResult<(channel::Model, user::Model)> {
    match Channel::find()
        .filter(channel::Column::Slug.eq(slug))
        .find_also_related(User)
        .one(&state.db)
        .await?
    {
        Some((c, Some(owner))) => Ok((c, owner)),
        _ => Err(ApiError::NotFound("channel")),
    }
}

/// The channel, if `caller` may change it: its owner or an admin (403 otherwise).
pub(crate) async fn find_changeable(
    state: &AppState,
    caller: &user::Model,
    slug: &str,
) -> ApiResult<(channel::Model, user::Model)> {
    let (c, owner) = find(state, slug).await?;
    if caller.id == c.owner_id || caller.is_admin() {
        Ok((c, owner))
    } else {
        Err(ApiError::Forbidden(
            "only the channel's owner or an admin may do that",
        ))
    }
}

fn new_key() -> ApiResult<String> {
    secret::new_stream_key().map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The channel's latest broadcasts, newest first (at most 20): the watch page shows the last
/// one while the channel is offline.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/broadcasts", tag = "channels", params(("slug" = String, Path)),
    responses((status = 200, body = Vec<BroadcastDto>), (status = 404, body = ErrorBody)))]
pub async fn broadcasts(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find(&state, &slug).await?;
    let rows = Broadcast::find()
        .filter(broadcast::Column::ChannelId.eq(c.id))
        .order_by_desc(broadcast::Column::Id)
        .limit(20)
        .all(&state.db)
        .await?;
    let items: Vec<BroadcastDto> = rows
        .into_iter()
        .map(|b| BroadcastDto {
            id: b.id,
            title: b.title,
            started_at: b.started_at,
            ended_at: b.ended_at,
            peak_viewers: i64::from(b.peak_viewers),
        })
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

/// The live broadcast's health as the owner's dashboard shows it: ingest bitrate, fps,
/// keyframe interval, resolution, dropped frames, ffmpeg speed, warnings. Owner or admin;
/// 404 while the channel is not live on this node.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/health", tag = "channels", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, description = "the stream's node of the actor tree (`StreamHealth`)", body = Object),
        (status = 403, body = ErrorBody), (status = 404, description = "not live on this node", body = ErrorBody)))]
pub async fn health(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &caller, &slug).await?;
    let tree = state.live.health().await;
    let stream = tree.streams.into_iter().find(|s| s.slug == c.slug);
    match stream {
        Some(s) => Ok(HttpResponse::Ok().json(s)),
        None => Err(ApiError::NotFound("live stream")),
    }
}

/// The channel's latest thumbnail while live, else an offline card.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/thumbnail.jpg", tag = "channels",
    params(("slug" = String, Path)),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg")))]
pub async fn thumbnail(state: web::Data<AppState>, slug: web::Path<String>) -> HttpResponse {
    const OFFLINE: &[u8] = include_bytes!("../../assets/offline.jpg");
    let (body, cache) = match state.live.hls.thumbnail(&slug) {
        Some(jpeg) => (jpeg, "public, max-age=5"),
        None => (Bytes::from_static(OFFLINE), "public, max-age=30"),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/jpeg"))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body)
}
