//! The web app as the binary serves it: SPA fallback, caching, content types, and the API and
//! HLS routes left alone. Works with or without a `web/dist` build (a debug build reads it
//! from disk; without one, `/` explains how to build the app).

use reqwest::{StatusCode, header};

use crate::helpers::{Backend, spawn_app};

#[actix_web::test]
async fn app_routes_fall_back_to_index_and_assets_are_cached_for_good() {
    let app = spawn_app(Backend::Sqlite).await;
    let get = |path: &str| app.client.get(format!("{}{path}", app.url)).send();

    let home = get("/").await.unwrap();
    let status = home.status();
    let built = status == StatusCode::OK;
    let headers = home.headers().clone();
    let body = home.text().await.unwrap();
    if built {
        assert!(body.contains("<div id=\"root\">"), "{body}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert!(headers.contains_key(header::ETAG));
        // Revalidation: the same index answers 304.
        let again = app
            .client
            .get(format!("{}/", app.url))
            .header(header::IF_NONE_MATCH, headers[header::ETAG].clone())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

        // A hashed asset named by the index: its type, and cached for a year.
        let asset = body
            .split('"')
            .find(|s| s.starts_with("/assets/") && s.ends_with(".js"))
            .expect("a script in index.html")
            .to_owned();
        let res = get(&asset).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            res.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let raw = res.bytes().await.unwrap().len();
        // Gzipped for clients that accept it, and smaller.
        let gz = app
            .client
            .get(format!("{}{asset}", app.url))
            .header(header::ACCEPT_ENCODING, "gzip, br")
            .send()
            .await
            .unwrap();
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gz.headers()[header::VARY], "Accept-Encoding");
        let gz = gz.bytes().await.unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b], "a gzip stream");
        assert!(gz.len() < raw / 2, "{} of {raw} bytes", gz.len());
    } else {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("./dev run"), "{body}");
    }
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("worker-src 'self' blob:"),
        "hls.js needs blob: workers: {csp}"
    );
    assert!(csp.contains("media-src 'self' blob:"), "{csp}");

    // Deep links get the same page; the app's router draws them.
    for path in ["/c/somebody", "/dashboard", "/no/such/page"] {
        let res = get(path).await.unwrap();
        assert_eq!(
            res.status(),
            if built {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
            "{path}"
        );
        assert_eq!(res.text().await.unwrap(), body, "{path}");
    }
    // A missing file is a 404, never HTML a browser would try to run as a script.
    for path in ["/assets/index-deadbeef.js", "/favicon-nope.png"] {
        let res = get(path).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!res.text().await.unwrap().contains("<html"), "{path}");
    }
    // The API and HLS keep their own answers.
    let res = get("/api/v1/nope").await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "not_found"
    );
    let res = get("/hls/nobody/master.m3u8").await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().await.unwrap().contains("<html"));
    // Only GET and HEAD reach the app.
    let res = app
        .client
        .post(format!("{}/dashboard", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_server_says_where_encoders_push() {
    let app = spawn_app(Backend::Sqlite).await;
    let info = app.get_json("/server").await;
    assert_eq!(
        info["rtmp_url"],
        format!("rtmp://127.0.0.1:{}/live", app.rtmp_addr.port())
    );
}
