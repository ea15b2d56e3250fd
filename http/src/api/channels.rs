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
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, JoinType, QueryFilter,
    QueryOrder, QuerySelect, RelationTrait, Set,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use streamhall_entities::{
    Broadcast, Channel, User, broadcast,
    channel::{self, Visibility},
    secret, user,
};

use crate::{
    api::{auth::unique_to_conflict, follower_counts::with_follower_counts},
    auth::AuthUser,
    dto::{
        BroadcastDto, CategoryCount, ChannelDto, ChannelPage, ChannelQuery, CreateChannel,
        CreatedChannel, StreamKey, UpdateChannel,
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
    // Every field is checked before any is refused; `finish` returns the 422 when one failed,
    // so the defaults below are never stored.
    let mut problems = validate::Problems::new();
    problems.check(validate::slug(&body.slug));
    let title = problems.check(validate::text("title", &body.title, 1, 140));
    let category = problems.check(validate::text(
        "category",
        body.category.as_deref().unwrap_or(""),
        0,
        64,
    ));
    let description = problems.check(validate::text(
        "description",
        body.description.as_deref().unwrap_or(""),
        0,
        2000,
    ));
    problems.finish()?;
    let (title, category, description) = (
        title.unwrap_or_default(),
        category.unwrap_or_default(),
        description.unwrap_or_default(),
    );
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

/// Lists channels, live ones first, newest first within each group. `q` matches the slug,
/// title and category and the owner's username and display name (case-insensitive), so an
/// offline channel is found by its streamer's name too. The first page also counts the
/// categories of every match (ignoring `category`), for filters that only offer what has
/// results.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", params(ChannelQuery),
    responses((status = 200, body = ChannelPage), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ChannelQuery>,
) -> ApiResult<HttpResponse> {
    let cache_key = format!("list?{}", req.query_string());
    if let Some(body) = state.cache.get(&cache_key) {
        return Ok(json_bytes(body));
    }
    let query = query.into_inner();
    let (limit, offset) = crate::validate::page(query.limit, query.offset, 24)?;
    let matches = search_condition(&query);
    let mut filter = matches.clone();
    if let Some(category) = query
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        filter = filter.add(channel::Column::Category.eq(category));
    }
    let rows = Channel::find()
        .find_also_related(User)
        .filter(filter)
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
    let categories = if offset == 0 {
        category_counts(&state, matches).await?
    } else {
        Vec::new()
    };
    let page = ChannelPage {
        items,
        next_offset: more.then_some(offset + limit),
        categories,
    };
    respond_cached(&state, cache_key, &page)
}

/// `live` and `q` of a list query, on channels joined with their owner.
fn search_condition(query: &ChannelQuery) -> Condition {
    // Only public channels of users not suspended are listed (and counted); the others are
    // reached by their link.
    let mut cond = Condition::all()
        .add(user::suspended_now(Utc::now()).not())
        .add(channel::Column::Visibility.eq(Visibility::Public.as_str()));
    if query.live == Some(true) {
        cond = cond.add(channel::Column::IsLive.eq(true));
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
        let like = |col: Expr| {
            Expr::expr(Func::lower(col)).like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        cond = cond.add(
            Condition::any()
                .add(like(Expr::col((channel::Entity, channel::Column::Slug))))
                .add(like(Expr::col((channel::Entity, channel::Column::Title))))
                .add(like(Expr::col((
                    channel::Entity,
                    channel::Column::Category,
                ))))
                .add(like(Expr::col((user::Entity, user::Column::Username))))
                .add(like(Expr::col((user::Entity, user::Column::DisplayName)))),
        );
    }
    cond
}

/// The non-empty categories of the channels matching `cond`, busiest first (live channels,
/// then all), then by name.
async fn category_counts(state: &AppState, cond: Condition) -> ApiResult<Vec<CategoryCount>> {
    let rows: Vec<(String, i64, i64)> = Channel::find()
        .select_only()
        .column(channel::Column::Category)
        .column_as(
            Expr::col((channel::Entity, channel::Column::Id)).count(),
            "channels",
        )
        .column_as(
            Expr::case(channel::Column::IsLive.eq(true), 1)
                .finally(0)
                .sum(),
            "live",
        )
        .join(JoinType::InnerJoin, channel::Relation::Owner.def())
        .filter(cond)
        .filter(channel::Column::Category.ne(""))
        .group_by(channel::Column::Category)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut out: Vec<CategoryCount> = rows
        .into_iter()
        .map(|(name, channels, live)| CategoryCount {
            name,
            channels: u64::try_from(channels).unwrap_or(0),
            live: u64::try_from(live).unwrap_or(0),
        })
        .collect();
    out.sort_by(|a, b| {
        b.live
            .cmp(&a.live)
            .then(b.channels.cmp(&a.channels))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(out)
}

/// One channel.
#[utoipa::path(get, path = "/api/v1/channels/{slug}", tag = "channels", params(("slug" = String, Path)),
    responses((status = 200, body = ChannelDto), (status = 404, body = ErrorBody)))]
pub async fn get(state: web::Data<AppState>, slug: web::Path<String>) -> ApiResult<HttpResponse> {
    state.live.pulls.want(&slug);
    let cache_key = format!("get/{slug}");
    if let Some(body) = state.cache.get(&cache_key) {
        return Ok(json_bytes(body));
    }
    let (c, owner) = find(&state, &slug).await?;
    let dto = with_follower_counts(&state.db, vec![ChannelDto::new(&state, &c, &owner)])
        .await?
        .remove(0);
    respond_cached(&state, cache_key, &dto)
}

/// Renders `value` and keeps it in the micro-cache under `key`. Both cached reads answer the
/// same to everyone (neither looks at the caller), so signed-in readers share the cache with
/// anonymous ones: a channel write on this node clears it, so its author reads their own write.
fn respond_cached<T: serde::Serialize>(
    state: &AppState,
    key: String,
    value: &T,
) -> ApiResult<HttpResponse> {
    let body = Bytes::from(serde_json::to_vec(value).map_err(ApiError::internal)?);
    state.cache.put(key, body.clone());
    Ok(json_bytes(body))
}

fn json_bytes(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}

/// Edits title, description or category, and whether broadcasts are kept as videos and for
/// how long (`vod_retention_days`: 1 to 3650, `null` forever).
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
    let current = c.clone();
    let mut model = c.into_active_model();
    let mut problems = validate::Problems::new();
    if let Some(title) = body.title
        && let Some(title) = problems.check(validate::text("title", &title, 1, 140))
    {
        model.title = Set(title);
    }
    if let Some(category) = body.category
        && let Some(category) = problems.check(validate::text("category", &category, 0, 64))
    {
        model.category = Set(category);
    }
    if let Some(description) = body.description
        && let Some(description) =
            problems.check(validate::text("description", &description, 0, 2000))
    {
        model.description = Set(description);
    }
    if let Some(record) = body.record_vods {
        model.record_vods = Set(record);
    }
    let visibility = crate::api::playback::visibility_change(
        &current,
        body.visibility,
        body.playback_password,
        &mut problems,
    );
    match body.vod_retention_days {
        Some(Some(days)) if !(1..=3650).contains(&days) => {
            problems.check::<()>(Err(ApiError::invalid(
                "vod_retention_days",
                "1 to 3650 days, or null to keep videos forever",
            )));
        }
        Some(days) => model.vod_retention_days = Set(days),
        None => {}
    }
    problems.finish()?;
    if let Some(change) = visibility {
        change.apply(&mut model).await?;
    }
    model.updated_at = Set(Utc::now());
    let updated = model.update(&state.db).await?;
    state.cache.invalidate();
    state.playback.gates.forget(&updated.slug);
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

/// The channel and its owner; 410 `channel_suspended` while the owner is suspended.
pub(crate) async fn find(state: &AppState, slug: &str) -> ApiResult<(channel::Model, user::Model)> {
    let (c, owner) = find_any(state, slug).await?;
    if owner.suspension(Utc::now()).is_some() {
        return Err(ApiError::ChannelSuspended);
    }
    Ok((c, owner))
}

/// The channel and its owner, suspended or not.
async fn find_any(state: &AppState, slug: &str) -> ApiResult<(channel::Model, user::Model)> {
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
    let (c, owner) = if caller.is_admin() {
        find_any(state, slug).await?
    } else {
        find(state, slug).await?
    };
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

pub(crate) fn escape_like(s: &str) -> String {
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
            went_live_at: b.went_live_at,
            failure: b.failure,
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

/// The channel's latest thumbnail while live (from the node that runs the stream when that
/// is another node), else an offline card. A channel that is not public shows its picture only
/// with a valid playback token (`?token=`); without one, the offline card.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/thumbnail.jpg", tag = "channels",
    params(("slug" = String, Path)),
    responses((status = 200, description = "JPEG", content_type = "image/jpeg")))]
pub async fn thumbnail(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    const OFFLINE: &[u8] = include_bytes!("../../assets/offline.jpg");
    const LIVE: &str = "public, max-age=5";
    if !crate::api::playback::thumbnail_allowed(&state, &req, &slug).await {
        return HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "image/jpeg"))
            .insert_header((header::CACHE_CONTROL, "private, no-store"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .body(Bytes::from_static(OFFLINE));
    }
    let (body, cache) = match state.live.hls.thumbnail(&slug) {
        Some(jpeg) => (jpeg, LIVE),
        None => match state.live.cluster.remote(&slug) {
            None => (Bytes::from_static(OFFLINE), "public, max-age=30"),
            Some(owner) => match state.relay.get(&owner.url, req.path()).await {
                Ok(r)
                    if r.status == 200
                        && r.content_type.as_ref().is_some_and(|t| t == "image/jpeg") =>
                {
                    (r.body, LIVE)
                }
                other => {
                    if let Err(e) = other {
                        tracing::warn!(node = %owner.node, error = %e, "thumbnail from the owning node failed");
                    }
                    // Live elsewhere, picture unavailable for now: the card, briefly.
                    (Bytes::from_static(OFFLINE), LIVE)
                }
            },
        },
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/jpeg"))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(body)
}
