//! Conventions every route shares: health, readiness, metrics, headers, CORS, OpenAPI
//! coverage, 404s and 500s.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::Value;

use std::time::Duration;

use crate::{
    both_backends,
    helpers::{Backend, eventually, expect_error, poll_until, spawn_app, spawn_app_with},
    media_tools,
};

/// A live stream gets its per-channel series (viewers, ffmpeg CPU and speed) while it is live,
/// and loses them once it ended.
#[actix_web::test]
async fn live_metrics_follow_the_stream() {
    media_tools::require("ffmpeg");
    let app = spawn_app_with(Backend::Sqlite, |c| c.live.grace_secs = 1).await;
    let s = app.register("metrics").await;
    let key = app.create_channel(&s.access, "metricslive").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let scrape = || async {
        app.client
            .get(format!("{}/metrics", app.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let mut obs = media_tools::publish(&app.rtmp_url(&key), 426, 240, 60);
    let live = poll_until(Duration::from_secs(60), "per-stream metrics", || async {
        let m = scrape().await;
        let all = [
            r#"streamhall_live_streams{status="live"} 1"#,
            r#"streamhall_stream_viewers{channel="metricslive"}"#,
            r#"streamhall_ffmpeg_cpu_percent{channel="metricslive"}"#,
            r#"streamhall_ffmpeg_speed{channel="metricslive"}"#,
            r#"streamhall_actor_restarts{kind="transcode"}"#,
        ]
        .iter()
        .all(|want| m.contains(want));
        all.then_some(m)
    })
    .await;
    assert!(
        live.contains(r#"streamhall_actor_restarts{kind="stream"} 0"#),
        "{live}"
    );
    obs.kill().await.ok();
    eventually(
        Duration::from_secs(60),
        "series of the ended stream removed",
        || async {
            let m = scrape().await;
            !m.contains(r#"channel="metricslive""#)
                && m.contains(r#"streamhall_live_streams{status="live"} 0"#)
        },
    )
    .await;
}

both_backends!(
    health_ready_and_metrics,
    every_route_is_in_openapi,
    internal_errors_hide_details,
    cors_allowlist,
    metrics_can_require_a_token,
);

async fn health_ready_and_metrics(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for header in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-request-id",
    ] {
        assert!(res.headers().contains_key(header), "missing {header}");
    }
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    let ready: Value = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "ok");
    let redis = if backend == Backend::Postgres {
        "ok"
    } else {
        "not configured"
    };
    assert_eq!(ready["redis"], redis);
    assert_eq!(ready["objects"], "ok");

    // The object store failing (its folder replaced by a file): degraded, named, still serving.
    let objects = app.config.data_dir.join("objects");
    std::fs::remove_dir_all(&objects).ok();
    std::fs::write(&objects, b"not a directory").unwrap();
    let res = app
        .client
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    let degraded: Value = res.json().await.unwrap();
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    assert_eq!(degraded["objects"], "failing", "{degraded}");
    std::fs::remove_file(&objects).unwrap();

    app.get("/channels").await;
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"streamhall_http_requests_total{method="GET",route="/api/v1/channels",status="200"} 1"#), "{metrics}");
    assert!(metrics.contains("streamhall_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("streamhall_db_pool_connections"));
    // The live tree's metrics exist with nothing live: every status, the always-running
    // actors' restarts and the chat counter.
    for line in [
        r#"streamhall_live_streams{status="live"} 0"#,
        r#"streamhall_live_streams{status="starting"} 0"#,
        r#"streamhall_live_streams{status="failed"} 0"#,
        r#"streamhall_actor_restarts{kind="registry"} 0"#,
        "streamhall_chat_messages_total 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }

    let res = app.get("/no/such/route").await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn every_route_is_in_openapi(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.get_json("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in streamhall_http::api::ROUTES {
        let full = format!("/api/v1{path}");
        assert!(
            paths.get(&full).and_then(|p| p.get(*method)).is_some(),
            "{method} {full} is not in the OpenAPI document"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        streamhall_http::api::ROUTES.len(),
        "the document lists a route the server does not serve"
    );
}

async fn internal_errors_hide_details(backend: Backend) {
    let app = spawn_app(backend).await;
    // Renamed rather than dropped: other tables refer to it.
    app.db
        .execute_unprepared("ALTER TABLE channels RENAME TO channels_gone")
        .await
        .unwrap();
    let res = app.get("/channels").await;
    let header_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = expect_error(res, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    assert_eq!(body["request_id"], header_id.as_str());
    let text = body.to_string().to_lowercase();
    assert!(
        !text.contains("channels") && !text.contains("table") && !text.contains("sql"),
        "{text}"
    );
}

async fn cors_allowlist(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.http.cors_origins = vec!["https://watch.example.com".into()]
    })
    .await;
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.client
                .request(reqwest::Method::OPTIONS, app.api("/channels"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                )
                .send()
                .await
                .unwrap()
        }
    };
    let ok = preflight("https://watch.example.com").await;
    assert_eq!(
        ok.headers().get("access-control-allow-origin").unwrap(),
        "https://watch.example.com"
    );
    let refused = preflight("https://evil.example.net").await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

async fn metrics_can_require_a_token(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |c| {
        c.http.metrics_token = Some("scrape-secret-0123456789".to_owned().into());
    })
    .await;
    let url = format!("{}/metrics", app.url);
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let res = app
        .client
        .get(&url)
        .bearer_auth("scrape-secret-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .get(&url)
        .bearer_auth("scrape-secret-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("streamhall_db_pool_connections")
    );
    // Health stays open.
    let res = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
