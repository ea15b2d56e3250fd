//! HLS delivery from memory: `/hls/{slug}/master.m3u8`, `/hls/{slug}/{rendition}/index.m3u8`
//! and `/hls/{slug}/{rendition}/seg-N.ts`.
//!
//! Names are looked up in the stream's in-memory window; nothing from the URL ever reaches
//! the filesystem. Playlists may be cached for a second; segment names never repeat (each
//! broadcast numbers them from its start time), so segments are immutable. CORS is open:
//! players on any site may fetch. Each media playlist request counts the viewer (the
//! player's `vid` query parameter, else a hash of address and user agent).

use std::hash::{BuildHasher, Hasher};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
    web,
};
use bytes::Bytes;

use crate::{auth::client_ip, state::AppState};

const PLAYLIST: &str = "application/vnd.apple.mpegurl";
const SEGMENT: &str = "video/mp2t";
const PLAYLIST_CACHE: &str = "public, max-age=1";
const SEGMENT_CACHE: &str = "public, max-age=31536000, immutable";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/hls")
            .route("/{slug}/master.m3u8", web::get().to(master))
            .route(
                "/{slug}/{rendition}/index.m3u8",
                web::get().to(media_playlist),
            )
            .route("/{slug}/{rendition}/{segment}", web::get().to(segment))
            .default_service(web::to(not_found)),
    );
}

async fn master(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    match state.live.hls.master(&path) {
        Some(body) => ok(PLAYLIST, PLAYLIST_CACHE, body),
        None => not_found().await,
    }
}

async fn media_playlist(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> HttpResponse {
    let (slug, rendition) = path.into_inner();
    match state.live.hls.media_playlist(&slug, &rendition) {
        Some(body) => {
            let viewer = viewer_key(&req, &state);
            state.live.presence.touch(&slug, &viewer);
            ok(PLAYLIST, PLAYLIST_CACHE, body)
        }
        None => not_found().await,
    }
}

async fn segment(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
) -> HttpResponse {
    let (slug, rendition, name) = path.into_inner();
    let Some(body) = state.live.hls.segment(&slug, &rendition, &name) else {
        return not_found().await;
    };
    let Some(range) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        return ok(SEGMENT, SEGMENT_CACHE, body);
    };
    let len = body.len() as u64;
    match parse_range(range, len) {
        Some((start, end)) => {
            let mut res = ok(
                SEGMENT,
                SEGMENT_CACHE,
                body.slice(start as usize..=end as usize),
            );
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            res
        }
        None => HttpResponse::RangeNotSatisfiable()
            .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .finish(),
    }
}

fn ok(content_type: &'static str, cache: &'static str, body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .body(body)
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(crate::error::ErrorBody {
            error: "not_found",
            message: "no such stream, rendition or segment".into(),
            field: None,
            request_id: None,
        })
}

/// The viewer this request counts as: the player's `vid` (a random id it keeps for the
/// session) when well-formed, else a keyed hash of client address and user agent (so neither
/// is stored).
fn viewer_key(req: &HttpRequest, state: &AppState) -> String {
    let vid = req
        .query_string()
        .split('&')
        .find_map(|kv| kv.strip_prefix("vid="));
    if let Some(vid) = vid.filter(|v| {
        (8..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }) {
        return format!("v:{vid}");
    }
    let mut h = state.viewer_hasher.build_hasher();
    h.write(client_ip(req, state.http.trust_proxy_headers).as_bytes());
    h.write(
        req.headers()
            .get(header::USER_AGENT)
            .map(|v| v.as_bytes())
            .unwrap_or_default(),
    );
    format!("a:{:016x}", h.finish())
}

/// A single `bytes=` range within `len`, as inclusive (start, end). Multiple ranges and
/// unsatisfiable ones are `None`.
pub fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?.trim();
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            if n == 0 {
                return None;
            }
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().ok()?, len - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(len - 1)),
    };
    (start <= end && start < len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 999)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-1", 1000), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
        assert_eq!(parse_range("bytes=-0", 1000), None);
    }
}
