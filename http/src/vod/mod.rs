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
//!
//! The parts: `access` (who may fetch what: ids and names from the URL, private videos, the
//! channel's gate, suspensions and takedowns), `serve` (the object itself: whole, a range, from
//! the file cache or a redirect to the bucket, with its content type and cache lifetime),
//! `views` (counting a view once per client and item) and `refusal` (the error answers). The
//! route handlers here tie them together.

mod access;
mod refusal;
mod serve;
mod views;

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::header::{self, HeaderValue},
    web,
};
use streamhall_media::vod::parse_segment_file_name;

pub use access::{can_manage, is_lang, is_media_id};
pub use refusal::Refusal;

use crate::state::AppState;
use access::{clip_audience, clip_ready, find_clip, ready, rendition, watchable_video};
use serve::{Kind, serve};
use views::{Counted, count_view};

const ANY: HeaderValue = HeaderValue::from_static("*");

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
