//! Recorded video and clips, served from the object store: `/vod/{id}/master.m3u8`,
//! `/vod/{id}/{rendition}/index.m3u8`, `/vod/{id}/{rendition}/{segment}.ts`,
//! `/vod/{id}/thumb.jpg`, `/vod/{id}/sprite.jpg`, `/vod/{id}/sprite.vtt`,
//! `/vod/{id}/subs/{lang}.vtt`, and `/clips/{id}/clip.mp4`, `/clips/{id}/index.m3u8`,
//! `/clips/{id}/{n}.ts`, `/clips/{id}/thumb.jpg`.
//!
//! Every request looks the row up first: a private video answers only its channel's owner and
//! admins (`Authorization: Bearer`, on every request), and 404 to anyone else, as if it did not
//! exist; DVR-only copies are never served here. Names from the URL are checked before they
//! become object keys. A single `bytes=` range is answered 206 (416 when unsatisfiable).
//! Segments and MP4s never change, so they are cached for a year (`private` for private
//! videos); with S3 presigning on they are a 302 to the bucket instead, so the node does not
//! carry the bytes. Playlists are always served by the node, with a short cache. When the store
//! is unreachable the answer is 503 `objects_unavailable`.
//!
//! Segments and MP4s read from the store stay in a bounded in-memory cache (256 MiB, first in
//! first out), so a popular VOD is read from the store once, not once per viewer.
//!
//! A video's master playlist and a clip's MP4 (from its start) count a view, once per client
//! address and item every 30 minutes.
//!
//! Videos and clips of a channel that is not public inherit its gate: besides the video's own
//! visibility, every request needs a valid playback token for that channel (`?token=`, see
//! [`crate::playback`]) unless it comes from the channel's owner or an admin (403
//! `playback_token_*` otherwise). Such answers are `private`, never redirected to a shareable
//! bucket URL, and their playlists carry the token on every URI, as the sprite VTT does on
//! every tile image.
//!
//! While the channel's owner is suspended, every file of its videos and clips answers 410
//! `channel_suspended`, as the API does for their pages; admins still reach them.

use std::{
    fmt,
    hash::{BuildHasher, Hasher},
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse, ResponseError,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
    web,
};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};
use streamhall_entities::{Channel, Clip, User, Video, clip, user, video};
use streamhall_media::{objects::ObjectError, vod::parse_segment_file_name};

use crate::{
    auth::{MaybeUser, client_ip},
    error::ErrorBody,
    hls::parse_range,
    state::AppState,
    vod_memory::{FileCache, RecentViews},
};

/// How long a presigned URL may be valid: the store shortens it to `objects.s3.presign_ttl_secs`
/// (the redirect itself is never cached).
const PRESIGN_TTL: Duration = Duration::from_secs(24 * 3600);
/// A client that fetches the same item again within this time adds no view.
const VIEW_WINDOW: Duration = Duration::from_secs(30 * 60);
/// Most (client, item) pairs remembered; the oldest is forgotten first.
const VIEW_CAPACITY: usize = 100_000;
/// Bytes of immutable files (segments, MP4s) kept in memory after they were read from the store,
/// so popular ones are not read again per viewer; the first cached is the first forgotten.
const FILE_CACHE_BYTES: usize = 256 << 20;
/// Files larger than this are never cached (a long clip would push out many segments).
const FILE_CACHE_MAX_FILE: usize = 8 << 20;

const ANY: HeaderValue = HeaderValue::from_static("*");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const PRIVATE: HeaderValue = HeaderValue::from_static("private");

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Routes, not a scope: a path none of them matches falls through to the web app. The
    // fixed names come before the `{rendition}` patterns that would also match them.
    cfg.route("/vod/{id}/master.m3u8", web::get().to(vod_master))
        .route("/vod/{id}/thumb.jpg", web::get().to(vod_thumb))
        .route("/vod/{id}/sprite.jpg", web::get().to(vod_sprite))
        .route("/vod/{id}/sprite.vtt", web::get().to(vod_sprite_vtt))
        .route("/vod/{id}/subs/{file}", web::get().to(vod_subtitle))
        .route(
            "/vod/{id}/{rendition}/index.m3u8",
            web::get().to(vod_media_playlist),
        )
        .route("/vod/{id}/{rendition}/{file}", web::get().to(vod_segment))
        .route("/clips/{id}/clip.mp4", web::get().to(clip_mp4))
        .route("/clips/{id}/index.m3u8", web::get().to(clip_playlist))
        .route("/clips/{id}/thumb.jpg", web::get().to(clip_thumb))
        .route("/clips/{id}/{file}", web::get().to(clip_segment));
}

/// An error answer with a code [`crate::error::ApiError`] has no kind for (`not_live`,
/// `objects_unavailable`, …), in the API's `{ error, message }` shape.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// Adds `Retry-After`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(std::cmp::max(secs, 1));
        self
    }

    fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// The store failed: an invalid key is a missing object, anything else is logged and 503.
    pub fn objects(err: ObjectError) -> Self {
        if let ObjectError::InvalidKey(_) = err {
            return Self::not_found("file");
        }
        if err.is_storage_full() {
            tracing::error!(error = %err, "the object store's disk is full: nothing is saved until there is room");
            return Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "the server's storage is full, so nothing was saved; try again later",
            );
        }
        tracing::error!(error = %err, "object store unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "objects_unavailable",
            "video storage cannot be reached right now; try again in a moment",
        )
        .retry_after(5)
    }

    fn internal(err: sea_orm::DbErr) -> Self {
        tracing::error!(error = %err, "database error while serving video");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, NO_CACHE));
        if let Some(secs) = self.retry_after_secs {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.json(ErrorBody {
            error: self.code,
            message: self.message.clone(),
            field: None,
            fields: None,
            request_id: None,
        })
    }
}

/// A 32-character lowercase hex id, as videos and clips have.
pub fn is_media_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A BCP 47 tag as subtitles use: `[a-z]{2,3}(-[A-Za-z0-9]{2,8})?`.
pub fn is_lang(s: &str) -> bool {
    let (primary, sub) = match s.split_once('-') {
        Some((p, r)) => (p, Some(r)),
        None => (s, None),
    };
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && sub.is_none_or(|r| {
            (2..=8).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// The channel's owner and admins manage its videos and clips.
pub fn can_manage(caller: Option<&user::Model>, owner_id: i64) -> bool {
    caller.is_some_and(|u| u.id == owner_id || u.is_admin())
}

/// Who may cache an answer: anyone, or only the caller's browser (private videos, and media
/// of a channel that is not public).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    Anyone,
    Owner,
    /// A viewer with a playback token: playlists pass it on.
    Token,
}

/// What an object is, for its content type and cache lifetime.
#[derive(Clone, Copy)]
enum Kind {
    Playlist,
    Segment,
    Mp4,
    Jpeg,
    Vtt,
}

impl Kind {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Playlist => "application/vnd.apple.mpegurl",
            Self::Segment => "video/mp2t",
            Self::Mp4 => "video/mp4",
            Self::Jpeg => "image/jpeg",
            Self::Vtt => "text/vtt; charset=utf-8",
        })
    }

    /// Segments and MP4s never change. Playlists are written once too, but a video's
    /// visibility can change, so shared caches keep them only briefly; subtitles can be
    /// replaced by the owner.
    fn cache(self, audience: Audience) -> HeaderValue {
        if audience != Audience::Anyone {
            return PRIVATE;
        }
        HeaderValue::from_static(match self {
            Self::Segment | Self::Mp4 => "public, max-age=31536000, immutable",
            Self::Playlist => "public, max-age=5",
            Self::Jpeg => "public, max-age=300",
            Self::Vtt => "public, max-age=60",
        })
    }

    fn may_redirect(self) -> bool {
        matches!(self, Self::Segment | Self::Mp4)
    }
}

fn param<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or_default()
}

/// CORS is open, as for live HLS: players on any site may fetch public video.
fn open(result: Result<HttpResponse, Refusal>) -> HttpResponse {
    let mut res = result.unwrap_or_else(|e| e.error_response());
    res.headers_mut()
        .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
    res
}

/// The video of the path, if the caller may watch it.
async fn watchable_video(
    state: &AppState,
    req: &HttpRequest,
) -> Result<(video::Model, Audience), Refusal> {
    let id = param(req, "id");
    if !is_media_id(id) {
        return Err(Refusal::not_found("video"));
    }
    // The video, its channel and the channel's owner in one query: this runs for every segment.
    let found = Video::find_by_id(id)
        .find_also_related(Channel)
        .and_also_related(User)
        .one(&state.db)
        .await
        .map_err(Refusal::internal)?;
    let Some((video, Some(channel), owner)) = found.filter(|(v, _, _)| !v.dvr_only) else {
        return Err(Refusal::not_found("video"));
    };
    if video.taken_down_at.is_some() {
        taken_down_unless_admin(req, video.takedown_notice.as_deref()).await?;
        return Ok((video, Audience::Owner));
    }
    let gated = channel.visibility().needs_token();
    let private = video.visibility == "private";
    let caller = if private || gated {
        MaybeUser::extract(req).await.ok().and_then(|u| u.0)
    } else {
        None
    };
    let manages = can_manage(caller.as_ref(), channel.owner_id);
    // A private video does not exist for strangers, suspended owner or not (as in the API).
    if private && !manages {
        return Err(Refusal::not_found("video"));
    }
    not_suspended(req, owner.as_ref()).await?;
    if manages {
        Ok((video, Audience::Owner))
    } else if gated {
        token_for(state, req, channel.id)?;
        Ok((video, Audience::Token))
    } else {
        Ok((video, Audience::Anyone))
    }
}

/// 410 `channel_suspended` while the channel's owner (`owner`, loaded with the channel) is
/// suspended, as the API answers for the video's page, unless the caller is an admin (they still
/// review it).
async fn not_suspended(req: &HttpRequest, owner: Option<&user::Model>) -> Result<(), Refusal> {
    if owner.is_some_and(|o| o.suspension(chrono::Utc::now()).is_none()) {
        return Ok(());
    }
    let caller = MaybeUser::extract(req).await.ok().and_then(|u| u.0);
    if caller.as_ref().is_some_and(user::Model::is_admin) {
        return Ok(());
    }
    Err(Refusal::new(
        StatusCode::GONE,
        "channel_suspended",
        "this channel is unavailable: its owner's account is suspended",
    ))
}

/// The request's playback token, if valid for channel `channel_id` (403 otherwise).
fn token_for<'a>(
    state: &AppState,
    req: &'a HttpRequest,
    channel_id: i64,
) -> Result<&'a str, Refusal> {
    use crate::playback::{Refused, query_token};
    let token = query_token(req.query_string()).ok_or(Refused::Missing);
    token
        .and_then(|t| state.playback.verify(t, channel_id).map(|()| t))
        .map_err(|r| Refusal::new(StatusCode::FORBIDDEN, r.code(), r.message()))
}

/// The clip's audience: its channel's gate decides (the owner and admins always pass).
async fn clip_audience(
    state: &AppState,
    req: &HttpRequest,
    clip: &clip::Model,
) -> Result<Audience, Refusal> {
    let (channel, owner) = Channel::find_by_id(clip.channel_id)
        .find_also_related(User)
        .one(&state.db)
        .await
        .map_err(Refusal::internal)?
        .ok_or_else(|| Refusal::not_found("clip"))?;
    not_suspended(req, owner.as_ref()).await?;
    if !channel.visibility().needs_token() {
        return Ok(Audience::Anyone);
    }
    let caller = MaybeUser::extract(req).await.ok().and_then(|u| u.0);
    if can_manage(caller.as_ref(), channel.owner_id) {
        return Ok(Audience::Owner);
    }
    token_for(state, req, channel.id)?;
    Ok(Audience::Token)
}

/// Playlists exist once the recording is finalised.
fn ready(video: &video::Model) -> Result<(), Refusal> {
    let message = match video.status.as_str() {
        "ready" => return Ok(()),
        "recording" => {
            "this video is still being recorded; it can be watched once the broadcast ends"
        }
        "processing" => "this video is being processed; try again in a minute",
        _ => "this video could not be recorded",
    };
    Err(Refusal::new(
        StatusCode::NOT_FOUND,
        "video_not_ready",
        message,
    ))
}

async fn vod_master(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    open(
        async {
            let (video, audience) = watchable_video(&state, &req).await?;
            ready(&video)?;
            let key = format!("vod/{}/master.m3u8", video.id);
            let res = serve(&state, &req, &key, Kind::Playlist, audience).await?;
            count_view(&state, &req, Counted::Video(&video.id)).await;
            Ok::<_, Refusal>(res)
        }
        .await,
    )
}

async fn vod_media_playlist(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    open(
        async {
            let (video, audience) = watchable_video(&state, &req).await?;
            ready(&video)?;
            let rendition = rendition(&req)?;
            let key = format!("vod/{}/{rendition}/index.m3u8", video.id);
            serve(&state, &req, &key, Kind::Playlist, audience).await
        }
        .await,
    )
}

async fn vod_segment(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    open(
        async {
            let file = param(&req, "file");
            if parse_segment_file_name(file).is_none() {
                return Err(Refusal::not_found("segment"));
            }
            let rendition = rendition(&req)?;
            let (video, audience) = watchable_video(&state, &req).await?;
            let key = format!("vod/{}/{rendition}/{file}", video.id);
            serve(&state, &req, &key, Kind::Segment, audience).await
        }
        .await,
    )
}

async fn vod_thumb(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    vod_file(&state, &req, "thumb.jpg", Kind::Jpeg).await
}

async fn vod_sprite(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    vod_file(&state, &req, "sprite.jpg", Kind::Jpeg).await
}

async fn vod_sprite_vtt(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    vod_file(&state, &req, "sprite.vtt", Kind::Vtt).await
}

async fn vod_subtitle(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let name = param(&req, "file")
        .strip_suffix(".vtt")
        .filter(|lang| is_lang(lang))
        .map(|lang| format!("subs/{lang}.vtt"));
    match name {
        Some(name) => vod_file(&state, &req, &name, Kind::Vtt).await,
        None => open(Err(Refusal::not_found("subtitle"))),
    }
}

/// A file of the video's own (`name` is fixed or already checked).
async fn vod_file(state: &AppState, req: &HttpRequest, name: &str, kind: Kind) -> HttpResponse {
    open(
        async {
            let (video, audience) = watchable_video(state, req).await?;
            let key = format!("vod/{}/{name}", video.id);
            serve(state, req, &key, kind, audience).await
        }
        .await,
    )
}

/// The path's rendition name: `[A-Za-z0-9_-]{1,32}` (`720p`, `source`).
fn rendition(req: &HttpRequest) -> Result<&str, Refusal> {
    let name = param(req, "rendition");
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(name)
    } else {
        Err(Refusal::not_found("rendition"))
    }
}

/// The clip of the path.
async fn find_clip(state: &AppState, req: &HttpRequest) -> Result<clip::Model, Refusal> {
    let id = param(req, "id");
    if !is_media_id(id) {
        return Err(Refusal::not_found("clip"));
    }
    let clip = Clip::find_by_id(id)
        .one(&state.db)
        .await
        .map_err(Refusal::internal)?
        .ok_or_else(|| Refusal::not_found("clip"))?;
    if clip.taken_down_at.is_some() {
        taken_down_unless_admin(req, clip.takedown_notice.as_deref()).await?;
    }
    Ok(clip)
}

/// The media of an item taken down: 410 with its notice to everyone but admins (who review it).
async fn taken_down_unless_admin(req: &HttpRequest, notice: Option<&str>) -> Result<(), Refusal> {
    let caller = MaybeUser::extract(req).await.ok().and_then(|u| u.0);
    if caller.is_some_and(|c| c.is_admin()) {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::GONE,
            "taken_down",
            crate::takedown::notice_of(notice),
        ))
    }
}

fn clip_ready(clip: &clip::Model) -> Result<(), Refusal> {
    match clip.status.as_str() {
        "ready" => Ok(()),
        "processing" => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "clip_not_ready",
            "this clip is still being cut; try again in a few seconds",
        )),
        _ => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "clip_not_ready",
            "this clip could not be made",
        )),
    }
}

async fn clip_mp4(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    open(
        async {
            let clip = find_clip(&state, &req).await?;
            let audience = clip_audience(&state, &req, &clip).await?;
            clip_ready(&clip)?;
            let key = format!("clips/{}/clip.mp4", clip.id);
            let from_start = req
                .headers()
                .get(header::RANGE)
                .is_none_or(|v| v.as_bytes() == b"bytes=0-");
            let res = serve(&state, &req, &key, Kind::Mp4, audience).await?;
            if from_start {
                count_view(&state, &req, Counted::Clip(&clip.id)).await;
            }
            Ok::<_, Refusal>(res)
        }
        .await,
    )
}

async fn clip_playlist(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    open(
        async {
            let clip = find_clip(&state, &req).await?;
            let audience = clip_audience(&state, &req, &clip).await?;
            clip_ready(&clip)?;
            let key = format!("clips/{}/index.m3u8", clip.id);
            serve(&state, &req, &key, Kind::Playlist, audience).await
        }
        .await,
    )
}

async fn clip_thumb(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    open(
        async {
            let clip = find_clip(&state, &req).await?;
            let audience = clip_audience(&state, &req, &clip).await?;
            let key = format!("clips/{}/thumb.jpg", clip.id);
            serve(&state, &req, &key, Kind::Jpeg, audience).await
        }
        .await,
    )
}

async fn clip_segment(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    open(
        async {
            let file = param(&req, "file");
            let numbered = file.strip_suffix(".ts").is_some_and(|n| {
                (1..=6).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
            });
            if !numbered {
                return Err(Refusal::not_found("segment"));
            }
            let clip = find_clip(&state, &req).await?;
            let audience = clip_audience(&state, &req, &clip).await?;
            let key = format!("clips/{}/{file}", clip.id);
            serve(&state, &req, &key, Kind::Segment, audience).await
        }
        .await,
    )
}

/// Answers with the object at `key`: whole, one range of it, or a redirect to the bucket.
async fn serve(
    state: &AppState,
    req: &HttpRequest,
    key: &str,
    kind: Kind,
    audience: Audience,
) -> Result<HttpResponse, Refusal> {
    let store = &state.objects;
    if kind.may_redirect() && audience == Audience::Anyone {
        let url = store
            .presign_get(key, PRESIGN_TTL)
            .await
            .map_err(Refusal::objects)?;
        if let Some(url) = url {
            return Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, url))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish());
        }
    }
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok());
    let cacheable = kind.may_redirect();
    let cached = if cacheable {
        lock(&FILE_CACHE).get(key)
    } else {
        None
    };
    let Some(range) = range else {
        let body = match cached {
            Some(b) => b,
            None => {
                let body = store
                    .get(key)
                    .await
                    .map_err(Refusal::objects)?
                    .ok_or_else(|| Refusal::not_found("file"))?;
                if cacheable {
                    lock(&FILE_CACHE).insert(key, body.clone());
                }
                body
            }
        };
        // A viewer's token rides on to what the playlist, or the sprite VTT, lists.
        let body = match (kind, crate::playback::query_token(req.query_string())) {
            (Kind::Playlist, Some(token)) if audience == Audience::Token => {
                crate::playback::rewrite_playlist(&body, token)
            }
            (Kind::Vtt, Some(token))
                if audience == Audience::Token && key.ends_with("/sprite.vtt") =>
            {
                crate::playback::rewrite_sprite_vtt(&body, token)
            }
            _ => body,
        };
        return Ok(answer(StatusCode::OK, kind, audience, body));
    };
    if let Some(body) = cached {
        let len = body.len() as u64;
        let Some((start, end)) = parse_range(range, len) else {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
                .insert_header((header::ACCEPT_RANGES, BYTES))
                .finish());
        };
        let part = body.slice(start as usize..=end as usize);
        let mut res = answer(StatusCode::PARTIAL_CONTENT, kind, audience, part);
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            res.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Ok(res);
    }
    let info = store
        .stat(key)
        .await
        .map_err(Refusal::objects)?
        .ok_or_else(|| Refusal::not_found("file"))?;
    let Some((start, end)) = parse_range(range, info.size) else {
        return Ok(HttpResponse::RangeNotSatisfiable()
            .insert_header((header::CONTENT_RANGE, format!("bytes */{}", info.size)))
            .insert_header((header::ACCEPT_RANGES, BYTES))
            .finish());
    };
    let read = store
        .get_range(key, start, Some(end))
        .await
        .map_err(Refusal::objects)?
        .ok_or_else(|| Refusal::not_found("file"))?;
    let last = (read.start + read.data.len() as u64).saturating_sub(1);
    let content_range = format!("bytes {}-{last}/{}", read.start, read.total);
    let mut res = answer(StatusCode::PARTIAL_CONTENT, kind, audience, read.data);
    if let Ok(v) = HeaderValue::from_str(&content_range) {
        res.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(res)
}

fn answer(status: StatusCode, kind: Kind, audience: Audience, body: bytes::Bytes) -> HttpResponse {
    let mut res = HttpResponse::build(status).body(body);
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, kind.content_type());
    headers.insert(header::CACHE_CONTROL, kind.cache(audience));
    headers.insert(header::ACCEPT_RANGES, BYTES);
    res
}

/// What a view is counted on.
#[derive(Clone, Copy)]
enum Counted<'a> {
    Video(&'a str),
    Clip(&'a str),
}

/// The (client, item) pairs that counted a view in the last [`VIEW_WINDOW`]. One per process,
/// shared by every worker, so that a client's second fetch counts nothing whichever worker
/// answers it.
static RECENT_VIEWS: LazyLock<Mutex<RecentViews>> =
    LazyLock::new(|| Mutex::new(RecentViews::new(VIEW_WINDOW, VIEW_CAPACITY)));

/// Adds a view unless this client counted one for the item within the window. A failed update
/// is logged: a view is not worth failing playback for.
async fn count_view(state: &AppState, req: &HttpRequest, item: Counted<'_>) {
    let mut h = state.viewer_hasher.build_hasher();
    h.write(client_ip(req, state.http.trust_proxy_headers).as_bytes());
    let (kind, id) = match item {
        Counted::Video(id) => (b'v', id),
        Counted::Clip(id) => (b'c', id),
    };
    h.write_u8(kind);
    h.write(id.as_bytes());
    let first = RECENT_VIEWS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .first(h.finish(), Instant::now());
    if !first {
        return;
    }
    let updated = match item {
        Counted::Video(id) => Video::update_many()
            .col_expr(
                video::Column::ViewCount,
                Expr::col(video::Column::ViewCount).add(1),
            )
            .filter(video::Column::Id.eq(id))
            .exec(&state.db)
            .await
            .map(|_| ()),
        Counted::Clip(id) => Clip::update_many()
            .col_expr(
                clip::Column::ViewCount,
                Expr::col(clip::Column::ViewCount).add(1),
            )
            .filter(clip::Column::Id.eq(id))
            .exec(&state.db)
            .await
            .map(|_| ()),
    };
    if let Err(error) = updated {
        tracing::warn!(%error, "could not count a view");
    }
}

/// Immutable files read from the store, shared by every worker. Access is still checked per
/// request (the row is looked up first), so a deleted or hidden video is not served from here.
static FILE_CACHE: LazyLock<Mutex<FileCache>> =
    LazyLock::new(|| Mutex::new(FileCache::new(FILE_CACHE_BYTES, FILE_CACHE_MAX_FILE)));

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_media_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_media_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_media_id("0123456789abcdef"));
        for ok in ["en", "pt-BR", "deu", "zh-Hant", "es-419"] {
            assert!(is_lang(ok), "{ok}");
        }
        for bad in [
            "e",
            "EN",
            "engl",
            "en-",
            "en-x",
            "en-toolongtag",
            "en_US",
            "../x",
        ] {
            assert!(!is_lang(bad), "{bad}");
        }
    }
}
