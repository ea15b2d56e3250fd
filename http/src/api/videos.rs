//! `/api/v1/videos*` and `/api/v1/channels/{slug}/videos`: a channel's recorded broadcasts,
//! their details, chapters and subtitles. Playback itself is [`crate::vod`].
//!
//! Visibility: `public` videos are listed for everyone, `unlisted` ones are not listed but open
//! to anyone with the id, and `private` ones exist only for the channel's owner and admins
//! (404 to anyone else, never 403, so an id reveals nothing). DVR-only copies are never shown.
//! A video taken down ([`crate::takedown`]) is 410 with its notice to all but the owner and
//! admins.
//! Only the owner or an admin may change or delete a video.

use actix_web::{HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use streamhall_entities::{Channel, User, Video, channel, user, video};
use streamhall_media::objects::ObjectError;

use crate::{
    api::channels,
    auth::{AuthUser, MaybeUser},
    dto::{
        ChapterDto, PageQuery, PutChapters, PutSubtitle, RenditionDto, SubtitleDto, UpdateVideo,
        VideoDto, VideoPage,
    },
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    takedown,
    validate::{self, Problems},
    vod::{Refusal, can_manage, is_lang, is_media_id},
};

/// Largest subtitle file, in bytes.
const MAX_VTT_BYTES: usize = 1024 * 1024;
/// Largest subtitle request body: the file JSON-escaped, with room for escapes.
const MAX_SUBTITLE_BODY: usize = 3 * MAX_VTT_BYTES;
const MAX_CHAPTERS: usize = 100;

/// A video with its channel and the channel's owner.
pub(crate) struct Found {
    pub video: video::Model,
    pub channel: channel::Model,
    pub owner: user::Model,
}

/// The video, if `caller` may see it: 404 for unknown ids, DVR-only copies, and private
/// videos of channels the caller does not manage.
pub(crate) async fn find_visible(
    state: &AppState,
    id: &str,
    caller: Option<&user::Model>,
) -> ApiResult<Found> {
    if !is_media_id(id) {
        return Err(ApiError::NotFound("video"));
    }
    let Some((video, Some(channel))) = Video::find_by_id(id)
        .find_also_related(Channel)
        .one(&state.db)
        .await?
    else {
        return Err(ApiError::NotFound("video"));
    };
    if video.dvr_only || (video.visibility == "private" && !can_manage(caller, channel.owner_id)) {
        return Err(ApiError::NotFound("video"));
    }
    let owner = User::find_by_id(channel.owner_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("video"))?;
    // A suspended owner's videos are gone for now (admins still reach them).
    if owner.suspension(chrono::Utc::now()).is_some() && !caller.is_some_and(|c| c.is_admin()) {
        return Err(ApiError::ChannelSuspended);
    }
    // A video taken down is gone for viewers; its owner sees it with the notice.
    if video.taken_down_at.is_some() && !can_manage(caller, channel.owner_id) {
        return Err(ApiError::TakenDown(takedown::notice_of(
            video.takedown_notice.as_deref(),
        )));
    }
    Ok(Found {
        video,
        channel,
        owner,
    })
}

/// The video, if `caller` may change it (403 when they may only see it).
async fn find_editable(state: &AppState, id: &str, caller: &user::Model) -> ApiResult<Found> {
    let found = find_visible(state, id, Some(caller)).await?;
    if can_manage(Some(caller), found.channel.owner_id) {
        Ok(found)
    } else {
        Err(ApiError::Forbidden(
            "only the channel's owner or an admin may do that",
        ))
    }
}

/// `video.renditions` as stored.
#[derive(Deserialize)]
struct StoredRendition {
    name: String,
    width: u32,
    height: u32,
    bandwidth: u64,
}

/// `video.subtitles` as stored.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSubtitle {
    lang: String,
    label: String,
}

/// A JSON column read leniently: a malformed one shows as empty and is logged.
fn column<T: DeserializeOwned>(
    video: &video::Model,
    name: &str,
    value: &serde_json::Value,
) -> Vec<T> {
    serde_json::from_value(value.clone()).unwrap_or_else(|error| {
        tracing::warn!(video = %video.id, column = name, %error, "malformed JSON column");
        Vec::new()
    })
}

impl Found {
    pub(crate) fn dto(&self, state: &AppState, caller: Option<&user::Model>) -> VideoDto {
        video_dto(state, &self.video, &self.channel, &self.owner, caller)
    }
}

pub(crate) fn video_dto(
    state: &AppState,
    v: &video::Model,
    c: &channel::Model,
    owner: &user::Model,
    caller: Option<&user::Model>,
) -> VideoDto {
    let base = format!("{}/vod/{}", state.public_url, v.id);
    let renditions = column::<StoredRendition>(v, "renditions", &v.renditions)
        .into_iter()
        .map(|r| RenditionDto {
            name: r.name,
            width: r.width,
            height: r.height,
            bandwidth: r.bandwidth,
        })
        .collect();
    let subtitles = column::<StoredSubtitle>(v, "subtitles", &v.subtitles)
        .into_iter()
        .map(|s| SubtitleDto {
            url: format!("{base}/subs/{}.vtt", s.lang),
            lang: s.lang,
            label: s.label,
        })
        .collect();
    VideoDto {
        id: v.id.clone(),
        channel_slug: c.slug.clone(),
        channel_title: c.title.clone(),
        streamer_name: owner.display_name.clone(),
        title: v.title.clone(),
        description: v.description.clone(),
        visibility: v.visibility.clone(),
        status: v.status.clone(),
        duration_secs: v.duration_secs,
        size_bytes: v.size_bytes,
        created_at: v.created_at,
        ended_at: v.ended_at,
        thumbnail_url: v.has_thumbnail.then(|| format!("{base}/thumb.jpg")),
        sprite_vtt_url: v.has_sprite.then(|| format!("{base}/sprite.vtt")),
        renditions,
        chapters: column(v, "chapters", &v.chapters),
        subtitles,
        view_count: v.view_count,
        playback_url: format!("{base}/master.m3u8"),
        missing_segments: v.missing_segments,
        can_edit: can_manage(caller, c.owner_id),
        takedown: takedown::dto(
            v.taken_down_at,
            v.takedown_notice.as_deref(),
            v.takedown_ref.as_deref(),
        )
        .filter(|_| can_manage(caller, c.owner_id)),
    }
}

/// A channel's videos, newest first. Unlisted and private ones only for its owner and admins.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/videos", tag = "videos", security((), ("bearer" = [])),
    params(("slug" = String, Path), PageQuery),
    responses((status = 200, body = VideoPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    MaybeUser(caller): MaybeUser,
    slug: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let (channel, owner) = channels::find(&state, &slug).await?;
    let (limit, offset) = crate::validate::page(query.limit, query.offset, 24)?;
    let mut select = Video::find()
        .filter(video::Column::ChannelId.eq(channel.id))
        .filter(video::Column::DvrOnly.eq(false));
    if !can_manage(caller.as_ref(), channel.owner_id) {
        select = select
            .filter(video::Column::Visibility.eq("public"))
            .filter(video::Column::TakenDownAt.is_null());
    }
    let rows = select
        .order_by_desc(video::Column::CreatedAt)
        .order_by_desc(video::Column::Id)
        .limit(limit + 1)
        .offset(offset)
        .all(&state.db)
        .await?;
    let more = rows.len() as u64 > limit;
    let items = rows
        .iter()
        .take(limit as usize)
        .map(|v| video_dto(&state, v, &channel, &owner, caller.as_ref()))
        .collect();
    Ok(HttpResponse::Ok().json(VideoPage {
        items,
        next_offset: more.then_some(offset + limit),
    }))
}

/// One video. Unlisted ones are open to anyone with the id; private ones are 404 to all but
/// the channel's owner and admins; one taken down is 410 `taken_down` to all but them.
#[utoipa::path(get, path = "/api/v1/videos/{id}", tag = "videos", security((), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = VideoDto), (status = 404, body = ErrorBody),
        (status = 410, description = "`taken_down` (the notice is the message) or `channel_suspended`", body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    MaybeUser(caller): MaybeUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let found = find_visible(&state, &id, caller.as_ref()).await?;
    Ok(HttpResponse::Ok().json(found.dto(&state, caller.as_ref())))
}

fn visibility(value: &str) -> ApiResult<String> {
    match value {
        "public" | "unlisted" | "private" => Ok(value.to_owned()),
        _ => Err(ApiError::invalid(
            "visibility",
            "public, unlisted or private",
        )),
    }
}

/// Edits the title, description or visibility. Every invalid field is named in one 422.
#[utoipa::path(patch, path = "/api/v1/videos/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateVideo,
    responses((status = 200, body = VideoDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<String>,
    body: web::Json<UpdateVideo>,
) -> ApiResult<HttpResponse> {
    let mut found = find_editable(&state, &id, &caller).await?;
    let body = body.into_inner();
    let mut model = found.video.clone().into_active_model();
    let mut problems = Problems::new();
    if let Some(title) = body.title
        && let Some(title) = problems.check(validate::text("title", &title, 1, 140))
    {
        model.title = Set(title);
    }
    if let Some(description) = body.description
        && let Some(description) =
            problems.check(validate::text("description", &description, 0, 5000))
    {
        model.description = Set(description);
    }
    if let Some(v) = body.visibility
        && let Some(v) = problems.check(visibility(&v))
    {
        model.visibility = Set(v);
    }
    problems.finish()?;
    found.video = model.update(&state.db).await?;
    tracing::info!(video = %found.video.id, user_id = caller.id, "video edited");
    Ok(HttpResponse::Ok().json(found.dto(&state, Some(&caller))))
}

/// Deletes a video: every object under `vod/{id}/`, then its row.
#[utoipa::path(delete, path = "/api/v1/videos/{id}", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "`objects_unavailable`: the object store cannot be reached; nothing was deleted from the list", body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    let found = find_editable(&state, &id, &caller).await?;
    let removed = streamhall_actors::recording::delete_video(
        &state.db,
        state.objects.as_ref(),
        &found.video.id,
    )
    .await
    .map_err(store_or_internal)?;
    tracing::info!(video = %found.video.id, user_id = caller.id, objects = removed, "video deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// An object store failure is a 503 `objects_unavailable`; anything else is internal.
pub(crate) fn store_or_internal(err: anyhow::Error) -> actix_web::Error {
    match err.downcast::<ObjectError>() {
        Ok(e) => Refusal::objects(e).into(),
        Err(e) => ApiError::internal(e).into(),
    }
}

/// Replaces the chapters: at most 100, titles 1 to 100 characters, starts from 0 ascending and
/// before the end of the video. Every bad chapter is named in one 422 (field `chapters`).
#[utoipa::path(put, path = "/api/v1/videos/{id}/chapters", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PutChapters,
    responses((status = 200, body = VideoDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_chapters(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    id: web::Path<String>,
    body: web::Json<PutChapters>,
) -> ApiResult<HttpResponse> {
    let mut found = find_editable(&state, &id, &caller).await?;
    let chapters = check_chapters(body.into_inner().chapters, found.video.duration_secs)?;
    let mut model = found.video.clone().into_active_model();
    model.chapters = Set(serde_json::to_value(&chapters).map_err(ApiError::internal)?);
    found.video = model.update(&state.db).await?;
    Ok(HttpResponse::Ok().json(found.dto(&state, Some(&caller))))
}

fn check_chapters(chapters: Vec<ChapterDto>, duration: f64) -> ApiResult<Vec<ChapterDto>> {
    let mut problems = Problems::new();
    let mut bad = |message: String| {
        problems.check::<()>(Err(ApiError::invalid("chapters", message)));
    };
    if chapters.len() > MAX_CHAPTERS {
        bad(format!("at most {MAX_CHAPTERS} chapters"));
    }
    let mut out = Vec::with_capacity(chapters.len());
    let mut previous: Option<f64> = None;
    for (i, c) in chapters.into_iter().enumerate() {
        let n = i + 1;
        let title = validate::text("chapters", &c.title, 1, 100).unwrap_or_else(|_| {
            bad(format!(
                "chapter {n}: the title must be 1 to 100 characters"
            ));
            String::new()
        });
        if !c.start.is_finite() || c.start < 0.0 {
            bad(format!("chapter {n}: the start must be 0 or more seconds"));
        } else if c.start >= duration {
            bad(format!(
                "chapter {n}: starts at {:.0} s, after the video ends ({duration:.0} s)",
                c.start
            ));
        } else if previous.is_some_and(|p| c.start <= p) {
            bad(format!("chapter {n}: must start after chapter {i}"));
        }
        if c.start.is_finite() && c.start >= 0.0 {
            previous = Some(c.start);
        }
        out.push(ChapterDto {
            title,
            start: c.start,
        });
    }
    problems.finish()?;
    Ok(out)
}

/// Adds or replaces the subtitle track of `lang` (`[a-z]{2,3}(-[A-Za-z0-9]{2,8})?`): a WebVTT
/// file of at most 1 MiB, served at `/vod/{id}/subs/{lang}.vtt`.
#[utoipa::path(put, path = "/api/v1/videos/{id}/subtitles/{lang}", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path), ("lang" = String, Path)), request_body = PutSubtitle,
    responses((status = 200, body = VideoDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_subtitle(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let (id, lang) = path.into_inner();
    let mut found = find_editable(&state, &id, &caller).await?;
    // The API's JSON limit is far below a subtitle file's, so this body is read here.
    let body: PutSubtitle = read_json(payload, MAX_SUBTITLE_BODY).await?;
    let mut problems = Problems::new();
    if !is_lang(&lang) {
        problems.check::<()>(Err(ApiError::invalid(
            "lang",
            "a language tag such as en, pt-BR or es-419",
        )));
    }
    let label = problems.check(validate::text("label", &body.label, 1, 40));
    let vtt = body.vtt;
    if !vtt.trim_start_matches('\u{feff}').starts_with("WEBVTT") {
        problems.check::<()>(Err(ApiError::invalid(
            "vtt",
            "not a WebVTT file: it must start with WEBVTT",
        )));
    } else if vtt.len() > MAX_VTT_BYTES {
        problems.check::<()>(Err(ApiError::invalid("vtt", "at most 1 MiB")));
    }
    problems.finish()?;
    let label = label.unwrap_or_default();
    state
        .objects
        .put(&subtitle_key(&found.video.id, &lang), Bytes::from(vtt))
        .await
        .map_err(Refusal::objects)?;
    let mut subtitles: Vec<StoredSubtitle> =
        column(&found.video, "subtitles", &found.video.subtitles);
    match subtitles.iter_mut().find(|s| s.lang == lang) {
        Some(s) => s.label = label,
        None => subtitles.push(StoredSubtitle { lang, label }),
    }
    found.video = store_subtitles(&state, found.video, &subtitles).await?;
    Ok(HttpResponse::Ok().json(found.dto(&state, Some(&caller))))
}

/// Removes the subtitle track of `lang`.
#[utoipa::path(delete, path = "/api/v1/videos/{id}/subtitles/{lang}", tag = "videos", security(("bearer" = [])),
    params(("id" = String, Path), ("lang" = String, Path)),
    responses((status = 200, body = VideoDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn delete_subtitle(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    path: web::Path<(String, String)>,
) -> actix_web::Result<HttpResponse> {
    let (id, lang) = path.into_inner();
    let mut found = find_editable(&state, &id, &caller).await?;
    let mut subtitles: Vec<StoredSubtitle> =
        column(&found.video, "subtitles", &found.video.subtitles);
    let before = subtitles.len();
    subtitles.retain(|s| s.lang != lang);
    if subtitles.len() == before {
        return Err(ApiError::NotFound("subtitle").into());
    }
    found.video = store_subtitles(&state, found.video, &subtitles).await?;
    state
        .objects
        .delete(&subtitle_key(&found.video.id, &lang))
        .await
        .map_err(Refusal::objects)?;
    Ok(HttpResponse::Ok().json(found.dto(&state, Some(&caller))))
}

fn subtitle_key(video_id: &str, lang: &str) -> String {
    format!("vod/{video_id}/subs/{lang}.vtt")
}

async fn store_subtitles(
    state: &AppState,
    video: video::Model,
    subtitles: &[StoredSubtitle],
) -> ApiResult<video::Model> {
    let mut model = video.into_active_model();
    model.subtitles = Set(serde_json::to_value(subtitles).map_err(ApiError::internal)?);
    Ok(model.update(&state.db).await?)
}

/// A JSON body of at most `limit` bytes, with the API's errors: 413 when larger, 400 when not
/// JSON, 422 when the shape is wrong.
async fn read_json<T: DeserializeOwned>(mut payload: web::Payload, limit: usize) -> ApiResult<T> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| crate::error::payload_error(&e))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        if e.is_data() {
            ApiError::invalid("body", e.to_string())
        } else {
            ApiError::MalformedJson(e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chapter(title: &str, start: f64) -> ChapterDto {
        ChapterDto {
            title: title.into(),
            start,
        }
    }

    #[test]
    fn chapters_name_every_problem() {
        let ok = check_chapters(vec![chapter(" Intro ", 0.0), chapter("Talk", 60.0)], 120.0);
        let Ok(ok) = ok else {
            panic!("valid chapters refused")
        };
        assert_eq!(ok[0].title, "Intro");

        let bad = check_chapters(
            vec![
                chapter("", 0.0),
                chapter("Two", -1.0),
                chapter("Three", 50.0),
                chapter("Four", 40.0),
                chapter("Five", 500.0),
            ],
            120.0,
        );
        let Err(ApiError::Invalid(problems)) = bad else {
            panic!("expected a 422")
        };
        let messages: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 4, "{messages:?}");
        assert!(problems.iter().all(|p| p.field == "chapters"));
        assert!(messages[0].starts_with("chapter 1:"));
        assert!(messages[1].starts_with("chapter 2:"));
        assert!(messages[2].starts_with("chapter 4:"));
        assert!(messages[3].starts_with("chapter 5:"));

        let many = (0..101).map(|i| chapter("c", f64::from(i))).collect();
        assert!(check_chapters(many, 1000.0).is_err());
    }
}
