//! Answering with an object of the store: whole, one `bytes=` range (206, or 416), or a 302 to a
//! presigned bucket URL; immutable files kept in a bounded in-memory cache; content types and
//! cache lifetimes by kind and audience; a viewer's playback token carried into playlists.

use std::{
    sync::{LazyLock, Mutex},
    time::Duration,
};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
};

use super::{Refusal, access::Audience};
use crate::{hls::parse_range, state::AppState, vod_memory::FileCache};

/// How long a presigned URL may be valid: the store shortens it to `objects.s3.presign_ttl_secs`
/// (the redirect itself is never cached).
const PRESIGN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Bytes of immutable files (segments, MP4s) kept in memory after they were read from the store,
/// so popular ones are not read again per viewer; the first cached is the first forgotten.
const FILE_CACHE_BYTES: usize = 256 << 20;
/// Files larger than this are never cached (a long clip would push out many segments).
const FILE_CACHE_MAX_FILE: usize = 8 << 20;

const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const PRIVATE: HeaderValue = HeaderValue::from_static("private");

/// What an object is, for its content type and cache lifetime.
#[derive(Clone, Copy)]
pub(super) enum Kind {
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

/// Answers with the object at `key`: whole, one range of it, or a redirect to the bucket.
pub(super) async fn serve(
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

/// Immutable files read from the store, shared by every worker. Access is still checked per
/// request (the row is looked up first), so a deleted or hidden video is not served from here.
static FILE_CACHE: LazyLock<Mutex<FileCache>> =
    LazyLock::new(|| Mutex::new(FileCache::new(FILE_CACHE_BYTES, FILE_CACHE_MAX_FILE)));

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
