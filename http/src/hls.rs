//! HLS delivery from memory: `/hls/{slug}/master.m3u8`, `/hls/{slug}/{rendition}/index.m3u8`
//! and `/hls/{slug}/{rendition}/seg-N.ts`; the DVR window (`live.dvr_minutes`) as
//! `/hls/{slug}/dvr.m3u8` and `/hls/{slug}/{rendition}/dvr.m3u8`, whose older segments come
//! from the broadcast's recording (its spool or the object store).
//!
//! Low-latency HLS (`live.ladder.low_latency`): `/hls/{slug}/ll.m3u8` is the master over
//! `/hls/{slug}/{rendition}/ll.m3u8`, fMP4 parts and segments with blocking playlist reload
//! (`_HLS_msn`, `_HLS_part`: answered once the playlist has them, 503 after three target
//! durations, 400 when further ahead than two segments) and preload hints (the hinted part is
//! held until it exists). The MPEG-TS playlists stay for players without fMP4 or LL-HLS.
//!
//! A stream another node of the cluster owns is fetched from that node (its lease names it:
//! [`streamhall_actors::Cluster::remote`]) through [`HlsRelay`](crate::relay::HlsRelay), which
//! coalesces concurrent requests and caches segments; the viewer is counted here, where they
//! asked, and the owner does not count the relaying node. An owner that cannot be reached is a
//! 502 (504 when slow), so players retry rather than give up.
//!
//! Requests that come by the [lane](crate::lane) (a connection that has carried only HLS) are
//! marked [`CanSendfile`]: a live MPEG-TS segment is then answered with its sealed memory file
//! ([`Sendfile`]), which the lane sends without copying.
//!
//! Names are looked up in the stream's in-memory window; nothing from the URL ever reaches
//! the filesystem. Playlists may be cached for a second; segment names never repeat (each
//! broadcast numbers them from its start time), so segments are immutable. CORS is open:
//! players on any site may fetch. `HEAD` answers any of these with the head alone. Each
//! segment `GET` counts the viewer (the player's `vid` query parameter, else a hash of address
//! and user agent); playlists and `HEAD`s count nobody, so polling them is not watching. One client address adds at most `http.viewer_ids_per_address`
//! viewers to a channel, so cycling random `vid`s is not a cheap way to inflate the count.
//!
//! A channel that is not public answers only requests with a valid playback token for it
//! (`?token=`, see [`crate::playback`]), on every node: 403 `playback_token_required`,
//! `_invalid`, `_expired` or `_wrong_channel` otherwise. Its playlists are rewritten to carry
//! the token on every URI and, like its segments, are `Cache-Control: private`, so no shared
//! cache hands one viewer's token or a protected stream to another. Another node relaying for
//! its viewer has checked the token and proves itself with the relay credential instead.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use actix_web::{
    HttpRequest, HttpResponse, guard,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
    web,
};
use bytes::Bytes;

use streamhall_media::hls::SealedFile;
use streamhall_media::hls::request::blocking_query;
pub use streamhall_media::hls::request::parse_range;

use crate::lane::{CanSendfile, Sendfile};
use crate::{auth::client_ip, state::AppState};

const PLAYLIST: HeaderValue = HeaderValue::from_static("application/vnd.apple.mpegurl");
const SEGMENT: HeaderValue = HeaderValue::from_static("video/mp2t");
const FMP4: HeaderValue = HeaderValue::from_static("video/mp4");
const PLAYLIST_CACHE: HeaderValue = HeaderValue::from_static("public, max-age=1");
const SEGMENT_CACHE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
/// Playlists of a protected channel: they carry the viewer's token.
const PRIVATE_PLAYLIST: HeaderValue = HeaderValue::from_static("private, no-cache");
/// Segments of a protected channel: only the viewer's browser keeps them.
const PRIVATE_SEGMENT: HeaderValue = HeaderValue::from_static("private, max-age=600");
const ANY: HeaderValue = HeaderValue::from_static("*");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/hls")
            .route("/{slug}/{name}", get_or_head().to(channel_file))
            .route(
                "/{slug}/{rendition}/{name}",
                get_or_head().to(rendition_file),
            )
            .default_service(web::to(not_found)),
    );
}

/// `GET`, and `HEAD` for its head alone (a CDN or `curl -I` checking a segment).
fn get_or_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

// One route per path shape, told apart by the file name here: the router matches each
// pattern in turn with a regex, and this path runs for every player every second (with a route
// per file, a media playlist tried four patterns before its own, and the regexes took 5% of a
// worker serving playlists).

/// `/hls/{slug}/{name}`: the channel's master playlists.
async fn channel_file(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match param(&req, "name") {
        "master.m3u8" => master(state, req).await,
        "ll.m3u8" => ll_master(state, req).await,
        "dvr.m3u8" => dvr_master(state, req).await,
        _ => not_found_response(),
    }
}

/// `/hls/{slug}/{rendition}/{name}`: a rendition's playlists, then anything else as a segment.
async fn rendition_file(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match param(&req, "name") {
        "index.m3u8" => media_playlist(state, req).await,
        "ll.m3u8" => ll_playlist(state, req).await,
        "dvr.m3u8" => dvr_playlist(state, req).await,
        _ => segment(state, req).await,
    }
}

// Path segments are read as borrowed `&str` from the match info: this path runs once per
// player per second, so it allocates as little as it can.
fn param<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or_default()
}

/// Whether the request may be served. `Ok(None)`: a public channel (or no such channel, or
/// another node relaying for a viewer it checked); `Ok(Some(token))`: a protected channel and
/// a valid token for it, which the playlists served carry on; `Err`: the 403 (503 when the
/// database cannot say).
async fn admit<'a>(
    state: &AppState,
    req: &'a HttpRequest,
) -> Result<Option<&'a str>, HttpResponse> {
    use crate::playback::{Refused, query_token};
    if state.playback.is_relay(req) {
        return Ok(None);
    }
    let gate = match state
        .playback
        .gates
        .get(&state.db, param(req, "slug"))
        .await
    {
        Ok(Some(gate)) if gate.visibility.needs_token() => gate,
        Ok(_) => return Ok(None),
        Err(error) => {
            tracing::error!(%error, "HLS: the channel's visibility could not be read");
            return Err(retry_soon(
                "unavailable",
                "the database is unreachable; try again shortly",
            ));
        }
    };
    let checked = match query_token(req.query_string()) {
        None => Err(Refused::Missing),
        Some(token) => state
            .playback
            .verify(token, gate.channel_id)
            .map(|()| token),
    };
    checked.map(Some).map_err(refusal)
}

/// The 403 for a refused playback token.
fn refusal(refused: crate::playback::Refused) -> HttpResponse {
    error(HttpResponse::Forbidden(), refused.code(), refused.message())
}

/// Runs `admit` for a handler: its token, or the response to send instead.
macro_rules! admitted {
    ($state:expr, $req:expr) => {
        match admit(&$state, &$req).await {
            Ok(token) => token,
            Err(res) => return res,
        }
    };
}

async fn master(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = admitted!(state, req);
    // A camera pulled on demand starts (or stays up) while someone asks for it.
    state.live.pulls.want(param(&req, "slug"));
    match state.live.hls.master(param(&req, "slug")) {
        Some(body) => playlist(&state, body, token),
        None => remote_playlist(&state, &req, token).await,
    }
}

fn playlist(state: &AppState, body: Bytes, token: Option<&str>) -> HttpResponse {
    state.metrics.hls_playlists.inc();
    match token {
        None => ok(PLAYLIST, PLAYLIST_CACHE, body),
        Some(token) => ok(
            PLAYLIST,
            PRIVATE_PLAYLIST,
            crate::playback::rewrite_playlist(&body, token),
        ),
    }
}

/// A playlist of a stream another node owns, else a 404.
async fn remote_playlist(state: &AppState, req: &HttpRequest, token: Option<&str>) -> HttpResponse {
    match from_owner(state, req).await {
        Some(Ok(body)) => playlist(state, body, token),
        Some(Err(res)) => res,
        None => miss(state),
    }
}

/// The owner's copy when another node owns the channel's broadcast: `None` when no node does
/// (or the owner has no such file), `Err` with the response to send when the owner fails.
async fn from_owner(state: &AppState, req: &HttpRequest) -> Option<Result<Bytes, HttpResponse>> {
    let owner = state.live.cluster.remote(param(req, "slug"))?;
    // A blocking low-latency reload blocks at the owner too: its `_HLS_` parameters go along
    // (and nothing else, so viewers asking for the same part share one upstream request).
    let blocking: Vec<&str> = req
        .query_string()
        .split('&')
        .filter(|kv| kv.starts_with("_HLS_"))
        .collect();
    let path = if blocking.is_empty() {
        std::borrow::Cow::Borrowed(req.path())
    } else {
        std::borrow::Cow::Owned(format!("{}?{}", req.path(), blocking.join("&")))
    };
    match state.relay.get(&owner.url, &path).await {
        Ok(r) if r.status == 200 => Some(Ok(r.body)),
        Ok(_) => None,
        Err(e) => {
            state.metrics.hls_relay_errors.inc();
            tracing::warn!(node = %owner.node, owner = %owner.url, error = %e, "HLS from the owning node failed");
            Some(Err(HttpResponse::build(e.status())
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY))
                .insert_header((header::CACHE_CONTROL, NO_CACHE))
                .json(crate::error::ErrorBody {
                    error: "upstream_unavailable",
                    message: "the server running this stream did not answer; retry".into(),
                    field: None,
                    fields: None,
                    request_id: None,
                })))
        }
    }
}

async fn media_playlist(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = admitted!(state, req);
    let slug = param(&req, "slug");
    state.live.pulls.want(slug);
    match state
        .live
        .hls
        .media_playlist(slug, param(&req, "rendition"))
    {
        Some(body) => playlist(&state, body, token),
        None => remote_playlist(&state, &req, token).await,
    }
}

async fn ll_master(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = admitted!(state, req);
    let slug = param(&req, "slug");
    state.live.pulls.want(slug);
    match state.live.hls.ll_master(slug) {
        Some(body) => playlist(&state, body, token),
        None => remote_playlist(&state, &req, token).await,
    }
}

async fn ll_playlist(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    use streamhall_actors::LlPlaylist;
    let token = admitted!(state, req);
    let slug = param(&req, "slug");
    state.live.pulls.want(slug);
    let Some((msn, part)) = blocking_query(req.query_string()) else {
        return bad_request("_HLS_msn and _HLS_part must be numbers, _HLS_part only with _HLS_msn");
    };
    let rendition = param(&req, "rendition");
    match state.live.hls.ll_playlist(slug, rendition, msn, part).await {
        // Blocking answers differ per query: not cached.
        LlPlaylist::Playlist(body) => {
            state.metrics.hls_playlists.inc();
            match token {
                None => ok(PLAYLIST, NO_CACHE, body),
                Some(token) => ok(
                    PLAYLIST,
                    PRIVATE_PLAYLIST,
                    crate::playback::rewrite_playlist(&body, token),
                ),
            }
        }
        LlPlaylist::TooFar => bad_request("_HLS_msn is more than two segments ahead of the stream"),
        LlPlaylist::Timeout => retry_soon(
            "not_yet_available",
            "the requested segment or part did not arrive in time; retry",
        ),
        LlPlaylist::NotFound => remote_playlist(&state, &req, token).await,
    }
}

fn bad_request(message: &str) -> HttpResponse {
    error(HttpResponse::BadRequest(), "bad_request", message)
}

/// An error in the API's shape, open to any origin and never cached.
fn error(
    mut res: actix_web::HttpResponseBuilder,
    code: &'static str,
    message: &str,
) -> HttpResponse {
    res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY))
        .insert_header((header::CACHE_CONTROL, NO_CACHE))
        .json(crate::error::ErrorBody {
            error: code,
            message: message.into(),
            field: None,
            fields: None,
            request_id: None,
        })
}

/// A 503 that asks the player to retry in a second.
fn retry_soon(code: &'static str, message: &str) -> HttpResponse {
    let mut res = HttpResponse::ServiceUnavailable();
    res.insert_header((header::RETRY_AFTER, "1"));
    error(res, code, message)
}

async fn dvr_master(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = admitted!(state, req);
    match state.live.hls.dvr_master(param(&req, "slug")) {
        Some(body) => playlist(&state, body, token),
        None => remote_playlist(&state, &req, token).await,
    }
}

async fn dvr_playlist(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = admitted!(state, req);
    let found = state
        .live
        .hls
        .dvr_playlist(param(&req, "slug"), param(&req, "rendition"));
    match found {
        Some(body) => playlist(&state, body, token),
        None => remote_playlist(&state, &req, token).await,
    }
}

async fn segment(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = admitted!(state, req);
    let cache = if token.is_some() {
        PRIVATE_SEGMENT
    } else {
        SEGMENT_CACHE
    };
    let slug = param(&req, "slug");
    let (rendition, name) = (param(&req, "rendition"), param(&req, "name"));
    let fmp4 = name.ends_with(".m4s") || name.ends_with(".mp4");
    // The live window first; a DVR player rewinding past it reads the recording.
    // On the HLS lane a live segment goes out with `sendfile` from its sealed memory file.
    let mut sealed = None;
    let found = if fmp4 {
        state.live.hls.ll_media(slug, rendition, name).await
    } else if actix_web::HttpMessage::extensions(&req).contains::<CanSendfile>() {
        match state.live.hls.sealed_segment(slug, rendition, name) {
            Some((bytes, file)) => {
                sealed = file;
                Some(bytes)
            }
            None => state.live.hls.recorded_segment(slug, rendition, name).await,
        }
    } else {
        match state.live.hls.segment(slug, rendition, name) {
            Some(s) => Some(s),
            None => state.live.hls.recorded_segment(slug, rendition, name).await,
        }
    };
    let body = match found {
        Some(body) => body,
        None => match from_owner(&state, &req).await {
            Some(Ok(body)) => body,
            Some(Err(res)) => return res,
            None => return miss(&state),
        },
    };
    let content_type = if fmp4 { FMP4 } else { SEGMENT };
    // Another node fetching for its viewer: that viewer was counted there. Init segments are
    // fetched once per run, not while watching.
    // A HEAD is not watching either.
    if !req.headers().contains_key(crate::relay::RELAY_HEADER)
        && !name.starts_with("init-")
        && req.method() == actix_web::http::Method::GET
    {
        let mut buf = [0u8; 18];
        let (viewer, client) = viewer_key(&req, &state, &mut buf);
        state
            .live
            .presence
            .touch_from(slug, viewer, client, state.http.viewer_ids_per_address);
    }
    state.metrics.hls_segments.inc();
    let Some(range) = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    else {
        let len = body.len() as u64;
        return sendfile(ok(content_type, cache, body), sealed, 0, len);
    };
    let len = body.len() as u64;
    match parse_range(range, len) {
        Some((start, end)) => {
            let mut res = ok(
                content_type,
                cache,
                body.slice(start as usize..=end as usize),
            );
            res = sendfile(res, sealed, start, end + 1 - start);
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            res
        }
        None => HttpResponse::RangeNotSatisfiable()
            .insert_header((header::CONTENT_RANGE, format!("bytes */{len}")))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY))
            .finish(),
    }
}

fn ok(content_type: HeaderValue, cache: HeaderValue, body: Bytes) -> HttpResponse {
    let mut res = HttpResponse::Ok().body(body);
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CACHE_CONTROL, cache);
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY);
    headers.insert(header::ACCEPT_RANGES, BYTES);
    res
}

/// Marks `res` to be sent from `file` (the same bytes as its body) by the lane.
fn sendfile(
    mut res: HttpResponse,
    file: Option<Arc<SealedFile>>,
    offset: u64,
    len: u64,
) -> HttpResponse {
    if let Some(file) = file {
        res.extensions_mut().insert(Sendfile { file, offset, len });
    }
    res
}

fn miss(state: &AppState) -> HttpResponse {
    state.metrics.hls_misses.inc();
    not_found_response()
}

async fn not_found() -> HttpResponse {
    not_found_response()
}

fn not_found_response() -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, ANY))
        .insert_header((header::CACHE_CONTROL, NO_CACHE))
        .json(crate::error::ErrorBody {
            error: "not_found",
            message: "no such stream, rendition or segment".into(),
            field: None,
            fields: None,
            request_id: None,
        })
}

/// The viewer this request counts as, and the client (a keyed hash of its address) it comes
/// from. The viewer is the player's `vid` (a random id it keeps for the session) when
/// well-formed, else a keyed hash of client address and user agent (so neither is stored).
/// Written into `buf` to keep the hot path free of allocations; a `vid` cannot contain `:`,
/// so it never collides with the `a:` hashed form.
fn viewer_key<'a>(req: &'a HttpRequest, state: &AppState, buf: &'a mut [u8; 18]) -> (&'a str, u64) {
    let mut h = state.viewer_hasher.build_hasher();
    match req.peer_addr() {
        Some(addr) if !state.http.trust_proxy_headers => write_client(&mut h, addr.ip()),
        _ => {
            let ip = client_ip(req, state.http.trust_proxy_headers);
            match ip.parse() {
                Ok(ip) => write_client(&mut h, ip),
                Err(_) => h.write(ip.as_bytes()),
            }
        }
    }
    let client = h.finish();
    let vid = req
        .query_string()
        .split('&')
        .find_map(|kv| kv.strip_prefix("vid="));
    if let Some(vid) = vid.filter(|v| {
        (8..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }) {
        return (vid, client);
    }
    h.write(
        req.headers()
            .get(header::USER_AGENT)
            .map(|v| v.as_bytes())
            .unwrap_or_default(),
    );
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf[0] = b'a';
    buf[1] = b':';
    for (i, byte) in h.finish().to_be_bytes().iter().enumerate() {
        buf[2 + 2 * i] = HEX[(byte >> 4) as usize];
        buf[3 + 2 * i] = HEX[(byte & 0xf) as usize];
    }
    (std::str::from_utf8(&buf[..]).unwrap_or("a:"), client)
}

/// A client address for the per-address cap: IPv4 as is, IPv6 by its /64 (one subscriber's
/// network usually holds a whole /64, so its addresses are one client).
fn write_client(h: &mut impl Hasher, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(ip) => h.write(&ip.octets()),
        std::net::IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => h.write(&v4.octets()),
            None => h.write(&ip.octets()[..8]),
        },
    }
}
