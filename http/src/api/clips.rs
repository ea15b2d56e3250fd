//! `/api/v1/clips*`, `/api/v1/channels/{slug}/clips` and `/api/v1/videos/{id}/clips`: cuts of a
//! live broadcast (its last 10 to 60 seconds) or of a video (5 to 60 seconds of it), made in the
//! background by the clip jobs of [`streamhall_actors::clips`]; creating one answers 202 with the
//! clip `processing`, and the client polls it until `ready` or `failed`.
//!
//! Anyone signed in may clip what they can watch, at most [`CLIPS_PER_MINUTE`] a minute. Lists
//! show ready clips; the channel's owner and admins also see those still processing or failed.
//! A clip's author, the channel's owner and admins may delete it.

use std::time::Duration;

use actix_web::{HttpResponse, http::StatusCode, web};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use streamhall_actors::clips::ClipRefused;
use streamhall_entities::{Channel, Clip, User, channel, clip, user};

use crate::{
    api::{channels, videos},
    auth::{AuthUser, MaybeUser},
    dto::{ClipDto, ClipPage, CreateLiveClip, CreateVodClip, PageQuery},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    takedown,
    validate::{self, Problems},
    vod::{Refusal, can_manage, is_media_id},
};

/// Clips one user may start per minute.
pub const CLIPS_PER_MINUTE: u32 = 10;

fn clip_dto(
    state: &AppState,
    c: &clip::Model,
    channel: &channel::Model,
    author: Option<&user::Model>,
    caller: Option<&user::Model>,
) -> ClipDto {
    let base = format!("{}/clips/{}", state.public_url, c.id);
    ClipDto {
        id: c.id.clone(),
        channel_slug: channel.slug.clone(),
        video_id: c.video_id.clone(),
        author_name: author.map(|a| a.display_name.clone()).unwrap_or_default(),
        title: c.title.clone(),
        duration_secs: c.duration_secs,
        status: c.status.clone(),
        error: c.error.clone(),
        created_at: c.created_at,
        mp4_url: format!("{base}/clip.mp4"),
        playback_url: format!("{base}/index.m3u8"),
        thumbnail_url: (c.status == "ready").then(|| format!("{base}/thumb.jpg")),
        view_count: c.view_count,
        can_delete: caller.is_some_and(|u| u.id == c.author_id)
            || can_manage(caller, channel.owner_id),
        takedown: takedown::dto(
            c.taken_down_at,
            c.takedown_notice.as_deref(),
            c.takedown_ref.as_deref(),
        )
        .filter(|_| can_manage(caller, channel.owner_id)),
    }
}

/// An optional title: 1 to 140 characters when given, else `default`.
fn title_or(problems: &mut Problems, title: Option<String>, default: &str) -> String {
    match title {
        Some(t) => problems
            .check(validate::text("title", &t, 1, 140))
            .unwrap_or_default(),
        None => default.chars().take(140).collect(),
    }
}

/// Counts a clip request of `user_id`: 429 beyond [`CLIPS_PER_MINUTE`].
async fn throttle(state: &AppState, user_id: i64) -> ApiResult<()> {
    let count = state
        .limiter
        .hit(&format!("clips:{user_id}"), Duration::from_secs(60))
        .await;
    if count.hits > CLIPS_PER_MINUTE {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: count.resets_in.as_secs() + 1,
        });
    }
    Ok(())
}

/// The clip jobs' refusals as answers.
fn refused(r: ClipRefused) -> actix_web::Error {
    match r {
        ClipRefused::NotLive => {
            Refusal::new(StatusCode::CONFLICT, "not_live", "the channel is not live").into()
        }
        ClipRefused::TooShort(message) => {
            Refusal::new(StatusCode::CONFLICT, "too_short", message).into()
        }
        ClipRefused::Busy => Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many clips are being made right now; try again in a minute",
        )
        .retry_after(30)
        .into(),
        ClipRefused::Invalid(message) => ApiError::invalid("body", message).into(),
        ClipRefused::Db(e) => ApiError::from(e).into(),
    }
}

/// Clips the last `seconds` (10 to 60) of the channel's live broadcast.
#[utoipa::path(post, path = "/api/v1/channels/{slug}/clips", tag = "clips", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = CreateLiveClip,
    responses((status = 202, description = "being cut", body = ClipDto), (status = 404, body = ErrorBody),
        (status = 409, description = "`not_live`, or `too_short`: the broadcast has not that much video yet", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, description = "`busy`: too many clips in progress (`Retry-After`)", body = ErrorBody)))]
pub async fn create_live(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    slug: web::Path<String>,
    body: web::Json<CreateLiveClip>,
) -> actix_web::Result<HttpResponse> {
    let (channel, _) = channels::find(&state, &slug).await?;
    let body = body.into_inner();
    let mut problems = Problems::new();
    if !(10..=60).contains(&body.seconds) {
        problems.check::<()>(Err(ApiError::invalid("seconds", "10 to 60 seconds")));
    }
    let title = title_or(&mut problems, body.title, &channel.title);
    problems.finish()?;
    throttle(&state, caller.id).await?;
    let clip = state
        .live
        .clips
        .clip_live(&channel, caller.id, body.seconds, title)
        .await
        .map_err(refused)?;
    tracing::info!(clip = %clip.id, channel = %channel.slug, user_id = caller.id, "live clip started");
    Ok(HttpResponse::Accepted().json(clip_dto(
        &state,
        &clip,
        &channel,
        Some(&caller),
        Some(&caller),
    )))
}

/// Clips `start..end` of a video (seconds, 5 to 60 long).
#[utoipa::path(post, path = "/api/v1/videos/{id}/clips", tag = "clips", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = CreateVodClip,
    responses((status = 202, description = "being cut", body = ClipDto), (status = 404, body = ErrorBody),
        (status = 409, description = "`too_short`: the video has no such range", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, description = "`busy`: too many clips in progress (`Retry-After`)", body = ErrorBody)))]
pub async fn create_vod(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<String>,
    body: web::Json<CreateVodClip>,
) -> actix_web::Result<HttpResponse> {
    let found = videos::find_visible(&state, &id, Some(&caller)).await?;
    if found.video.taken_down_at.is_some() {
        return Err(ApiError::TakenDown(takedown::notice_of(
            found.video.takedown_notice.as_deref(),
        ))
        .into());
    }
    let body = body.into_inner();
    let mut problems = Problems::new();
    let (start, end) = (body.start, body.end);
    if !start.is_finite() || start < 0.0 {
        problems.check::<()>(Err(ApiError::invalid("start", "0 or more seconds")));
    }
    if !end.is_finite() || end <= start {
        problems.check::<()>(Err(ApiError::invalid("end", "must be after start")));
    } else if !(5.0..=60.0).contains(&(end - start)) {
        problems.check::<()>(Err(ApiError::invalid(
            "end",
            "a clip is 5 to 60 seconds long",
        )));
    }
    let title = title_or(&mut problems, body.title, &found.video.title);
    problems.finish()?;
    throttle(&state, caller.id).await?;
    let clip = state
        .live
        .clips
        .clip_vod(&found.video, caller.id, start, end, title)
        .await
        .map_err(refused)?;
    tracing::info!(clip = %clip.id, video = %found.video.id, user_id = caller.id, "video clip started");
    Ok(HttpResponse::Accepted().json(clip_dto(
        &state,
        &clip,
        &found.channel,
        Some(&caller),
        Some(&caller),
    )))
}

/// The clip with its channel and author.
async fn find(
    state: &AppState,
    id: &str,
) -> ApiResult<(clip::Model, channel::Model, Option<user::Model>)> {
    if !is_media_id(id) {
        return Err(ApiError::NotFound("clip"));
    }
    let Some((clip, Some(channel))) = Clip::find_by_id(id)
        .find_also_related(Channel)
        .one(&state.db)
        .await?
    else {
        return Err(ApiError::NotFound("clip"));
    };
    let author = User::find_by_id(clip.author_id).one(&state.db).await?;
    Ok((clip, channel, author))
}

/// One clip, in any state (its author polls it after creating it).
#[utoipa::path(get, path = "/api/v1/clips/{id}", tag = "clips", security((), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = ClipDto), (status = 404, body = ErrorBody),
        (status = 410, description = "`taken_down`: the notice is the message", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    MaybeUser(caller): MaybeUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (clip, channel, author) = find(&state, &id).await?;
    if clip.taken_down_at.is_some() && !can_manage(caller.as_ref(), channel.owner_id) {
        return Err(ApiError::TakenDown(takedown::notice_of(
            clip.takedown_notice.as_deref(),
        )));
    }
    Ok(HttpResponse::Ok().json(clip_dto(
        &state,
        &clip,
        &channel,
        author.as_ref(),
        caller.as_ref(),
    )))
}

/// A channel's clips, newest first: ready ones, and for its owner and admins all of them.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/clips", tag = "clips", security((), ("bearer" = [])),
    params(("slug" = String, Path), PageQuery),
    responses((status = 200, body = ClipPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    MaybeUser(caller): MaybeUser,
    slug: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let (channel, _) = channels::find(&state, &slug).await?;
    let (limit, offset) = crate::validate::page(query.limit, query.offset, 24)?;
    let mut select = Clip::find()
        .find_also_related(User)
        .filter(clip::Column::ChannelId.eq(channel.id));
    if !can_manage(caller.as_ref(), channel.owner_id) {
        select = select
            .filter(clip::Column::Status.eq("ready"))
            .filter(clip::Column::TakenDownAt.is_null());
    }
    let rows = select
        .order_by_desc(clip::Column::CreatedAt)
        .order_by_desc(clip::Column::Id)
        .limit(limit + 1)
        .offset(offset)
        .all(&state.db)
        .await?;
    let more = rows.len() as u64 > limit;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(|(c, author)| clip_dto(&state, c, &channel, author.as_ref(), caller.as_ref()))
        .collect();
    Ok(HttpResponse::Ok().json(ClipPage {
        items,
        next_offset: more.then_some(offset + limit),
    }))
}

/// Deletes a clip and its files: its author, the channel's owner or an admin.
#[utoipa::path(delete, path = "/api/v1/clips/{id}", tag = "clips", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "`objects_unavailable`", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    let (clip, channel, _) = find(&state, &id).await?;
    if caller.id != clip.author_id && !can_manage(Some(&caller), channel.owner_id) {
        return Err(ApiError::Forbidden(
            "only the clip's author, the channel's owner or an admin may do that",
        )
        .into());
    }
    let removed =
        streamhall_actors::clips::delete_clip(&state.db, state.objects.as_ref(), &clip.id)
            .await
            .map_err(videos::store_or_internal)?;
    tracing::info!(clip = %clip.id, user_id = caller.id, objects = removed, "clip deleted");
    Ok(HttpResponse::NoContent().finish())
}
