//! The web app (`web/`, built by Vite into `web/dist`), embedded in the binary.
//!
//! Every GET that no other route takes lands here: a file of the build by its path, else
//! `index.html` so the app's own router shows the page (SPA fallback). Hashed files under
//! `/assets/` never change and are cached for a year; `index.html`, the service worker
//! (`sw.js`), its offline page and the PWA manifest are revalidated each time (ETag), so a new
//! release is picked up on the next load.
//!
//! A checkout without a build (no node installed, `cargo build` only) still compiles: the
//! folder may be missing, and `/` then explains how to build the app. Debug builds read the
//! files from disk at run time, release builds carry them inside the binary.
//!
//! Text files (scripts, styles, HTML, JSON, SVG) go out gzipped to clients that accept it:
//! each is compressed once, on its first request, and kept (the build is a fixed, small set of
//! files), so the home page ships about a third of its raw bytes.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        Method, StatusCode,
        header::{self, HeaderValue},
    },
};
use rust_embed::Embed;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

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
        return respond(&req, &file, content_type(path), cache_policy(path));
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
    res.insert_header((header::VARY, "Accept-Encoding"));
    // For HEAD, actix sends the headers (with the length) and drops the body.
    if compressible(content_type) && accepts_gzip(req) {
        let hash = file.metadata.sha256_hash();
        if let Some(gz) = gzipped(&hash, &file.data) {
            return res
                .content_type(content_type)
                .insert_header((header::CONTENT_ENCODING, "gzip"))
                .body(gz.to_vec());
        }
    }
    res.content_type(content_type)
        .body(file.data.clone().into_owned())
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("application/manifest")
        || content_type == "image/svg+xml"
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// Gzipped files by the sha-256 of their content.
type GzCache = Mutex<HashMap<[u8; 32], Arc<[u8]>>>;

/// The gzip of an embedded file, made once per file (keyed by its content hash).
fn gzipped(hash: &[u8; 32], data: &[u8]) -> Option<Arc<[u8]>> {
    static CACHE: OnceLock<GzCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(gz) = cache.lock().ok()?.get(hash) {
        return Some(gz.clone());
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    let gz: Arc<[u8]> = enc.finish().ok()?.into();
    // Not worth it for tiny files.
    if gz.len() >= data.len() {
        return None;
    }
    cache.lock().ok()?.insert(*hash, gz.clone());
    Some(gz)
}

/// Hashed assets never change; the files that must follow a release at once are revalidated
/// on every load: the index, the service worker (a browser checks it for updates and a stale one
/// would keep serving an old release's offline page), its offline page and the PWA manifest.
fn cache_policy(path: &str) -> HeaderValue {
    if path.starts_with("assets/") {
        IMMUTABLE
    } else if matches!(
        path,
        INDEX | "sw.js" | "offline.html" | "manifest.webmanifest"
    ) {
        REVALIDATE
    } else {
        SHORT
    }
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
    #![allow(clippy::expect_used)]
    use super::{accepts_gzip, cache_policy, content_type, gzipped};
    use actix_web::test::TestRequest;

    #[test]
    fn gzip_when_accepted_and_not_refused() {
        let with = |v: &str| {
            accepts_gzip(
                &TestRequest::default()
                    .insert_header(("accept-encoding", v))
                    .to_http_request(),
            )
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(with("*"));
        assert!(!with("br"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn compresses_once_and_skips_what_does_not_shrink() {
        let text = "const x = 1;\n".repeat(1000);
        let gz = gzipped(&[7; 32], text.as_bytes()).expect("compressed");
        assert!(gz.len() < text.len() / 10);
        let again = gzipped(&[7; 32], b"ignored: cached by hash").expect("cached");
        assert!(std::sync::Arc::ptr_eq(&gz, &again));
        assert!(gzipped(&[8; 32], b"ab").is_none());
    }

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
        assert_eq!(
            content_type("manifest.webmanifest"),
            "application/manifest+json"
        );
        assert_eq!(content_type("sw.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("icons/icon-512.png"), "image/png");
    }

    #[test]
    fn the_service_worker_and_manifest_are_never_cached_for_long() {
        for path in [
            "sw.js",
            "manifest.webmanifest",
            "offline.html",
            "index.html",
        ] {
            assert_eq!(cache_policy(path), "no-cache", "{path}");
        }
        assert_eq!(cache_policy("icons/icon-192.png"), "public, max-age=3600");
        assert_eq!(
            cache_policy("assets/index-3f9a.js"),
            "public, max-age=31536000, immutable"
        );
    }
}
