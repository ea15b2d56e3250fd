//! The web app (`web/`, built by Vite into `web/dist`), embedded in the binary.
//!
//! Every GET that no other route takes lands here: a file of the build by its path, else
//! `index.html` so the app's own router shows the page (SPA fallback). Hashed files under
//! `/assets/` never change and are cached for a year; `index.html` is revalidated each time
//! (ETag), so a new release is picked up on the next load.
//!
//! A checkout without a build (no node installed, `cargo build` only) still compiles: the
//! folder may be missing, and `/` then explains how to build the app. Debug builds read the
//! files from disk at run time, release builds carry them inside the binary.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        Method, StatusCode,
        header::{self, HeaderValue},
    },
};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../web/dist"]
#[allow_missing = true]
struct Assets;

const INDEX: &str = "index.html";
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");
const SHORT: HeaderValue = HeaderValue::from_static("public, max-age=3600");

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
<title>streamhall</title><body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\">\
<h1>streamhall is running</h1><p>The web app is not built into this binary. Run <code>./dev run</code> \
(it builds <code>web/</code> with npm, then the server), or <code>npm ci &amp;&amp; npm run build</code> \
in <code>web/</code> and rebuild.</p><p>The API is at <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>";

/// The default service of the app: a file of the build, the app's `index.html`, or 404.
pub async fn serve(req: HttpRequest) -> HttpResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return HttpResponse::NotFound().finish();
    }
    let path = req.path().trim_start_matches('/');
    if !path.is_empty()
        && let Some(file) = Assets::get(path)
    {
        let cache = if path.starts_with("assets/") {
            IMMUTABLE
        } else if path == INDEX {
            REVALIDATE
        } else {
            SHORT
        };
        return respond(&req, &file, content_type(path), cache);
    }
    // A missing file (a stale hashed asset, a typo) is a 404, not the app: a browser asking
    // for a script must not get HTML back. App routes have no dot in their last segment.
    let last = path.rsplit('/').next().unwrap_or_default();
    if path.starts_with("assets/") || last.contains('.') {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    }
    match Assets::get(INDEX) {
        Some(index) => respond(&req, &index, "text/html; charset=utf-8", REVALIDATE),
        None => HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, REVALIDATE))
            .body(NOT_BUILT),
    }
}

fn respond(
    req: &HttpRequest,
    file: &rust_embed::EmbeddedFile,
    content_type: &'static str,
    cache: HeaderValue,
) -> HttpResponse {
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag));
    if fresh {
        return res.finish();
    }
    // For HEAD, actix sends the headers (with the length) and drops the body.
    res.content_type(content_type)
        .body(file.data.clone().into_owned())
}

/// Content types of what a Vite build produces.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn content_types_of_a_vite_build() {
        assert_eq!(
            content_type("assets/index-3f9a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-3f9a.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
