//! Restreaming out, as a streamer uses it: destinations managed through the API, and a real
//! push. The receiving platform is this same server: channel A is restreamed to
//! `rtmp://127.0.0.1:{rtmp}/live` with channel B's stream key, so B going live (its HLS decoded
//! with `ffprobe`) proves the copy arrived whole. A destination that refuses connections fails
//! on its own while the broadcast goes on.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{
        Backend, TestApp, eventually, expect_error, key_of, poll_until, spawn_app, spawn_app_with,
    },
    media_tools::{publish, segments},
};

impl TestApp {
    async fn add_restream(&self, token: &str, slug: &str, body: Value) -> reqwest::Response {
        self.post_json(&format!("/channels/{slug}/restreams"), &body, Some(token))
            .await
    }

    async fn restreams(&self, token: &str, slug: &str) -> Value {
        let res = self
            .get_auth(&format!("/channels/{slug}/restreams"), token)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    async fn patch_restream(
        &self,
        token: &str,
        slug: &str,
        id: i64,
        body: Value,
    ) -> reqwest::Response {
        self.client
            .patch(self.api(&format!("/channels/{slug}/restreams/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn delete_restream(&self, token: &str, slug: &str, id: i64) -> reqwest::Response {
        self.client
            .delete(self.api(&format!("/channels/{slug}/restreams/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The newest segment of a rendition, if any.
    async fn last_segment(&self, slug: &str) -> Option<String> {
        let p = self.text(&format!("/hls/{slug}/source/index.m3u8")).await?;
        segments(&p).pop().map(|(_, uri)| uri)
    }
}

fn allow_loopback(c: &mut streamhall::config::Config) {
    c.ingest.allow_private = vec!["127.0.0.1".into()];
}

#[actix_web::test]
async fn a_channel_restreamed_to_another_channel_makes_it_live() {
    let app = spawn_app_with(Backend::Sqlite, allow_loopback).await;
    let s = app.register("restreamer").await;
    let key_a = key_of(&app.create_channel(&s.access, "rs-source").await);
    let key_b = key_of(&app.create_channel(&s.access, "rs-target").await);
    let res = app
        .add_restream(
            &s.access,
            "rs-source",
            json!({
                "name": "Other platform",
                "url": format!("rtmp://127.0.0.1:{}/live", app.rtmp_addr.port()),
                "stream_key": key_b,
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["state"], "idle");
    assert_eq!(created["has_key"], true);

    let _publisher = publish(&app.rtmp_url(&key_a), 426, 240, 40);
    app.decodes("rs-source").await;
    // The copy arrives at B as any encoder's push would.
    app.decodes("rs-target").await;
    eventually(Duration::from_secs(30), "B announced live", || async {
        app.channel("rs-target").await["is_live"] == true
    })
    .await;
    let list = poll_until(Duration::from_secs(20), "the restream live", || async {
        let list = app.restreams(&s.access, "rs-source").await;
        (list[0]["state"] == "live").then_some(list)
    })
    .await;
    assert_eq!(list[0]["last_error"], Value::Null);
    assert!(!list.to_string().contains(&key_b));

    // The streamer's health and the admin tree show it; the key is in neither.
    let health = app
        .get_auth_json("/channels/rs-source/health", &s.access)
        .await;
    assert_eq!(health["restreams"][0]["state"], "live", "{health}");
    assert_eq!(health["restreams"][0]["name"], "Other platform");
    assert!(!health.to_string().contains(&key_b));
    let admin = app.admin_token().await;
    let tree = app.get_auth_json("/admin/health", &admin).await;
    let source = tree["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["slug"] == "rs-source")
        .unwrap();
    let child = source["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "restream")
        .expect("a restream child");
    assert_eq!(child["state"], "running");
    assert!(!tree.to_string().contains(&key_b));
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("streamhall_restream_destinations{state=\"live\"} 1"),
        "{metrics}"
    );

    // Disabled: the push stops within seconds, B's publisher goes away (its grace starts).
    let id = created["id"].as_i64().unwrap();
    let res = app
        .patch_restream(&s.access, "rs-source", id, json!({"enabled": false}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    eventually(
        Duration::from_secs(20),
        "the restream gone from health",
        || async {
            let h = app
                .get_auth_json("/channels/rs-source/health", &s.access)
                .await;
            h["restreams"].as_array().is_some_and(|r| r.is_empty())
        },
    )
    .await;
    eventually(Duration::from_secs(20), "B's publisher gone", || async {
        let tree = app.get_auth_json("/admin/health", &admin).await;
        tree["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|st| st["slug"] == "rs-target" && st["publisher_connected"] == false)
    })
    .await;
}

#[actix_web::test]
async fn a_dead_destination_fails_with_a_reason_while_the_broadcast_goes_on() {
    let app = spawn_app_with(Backend::Sqlite, allow_loopback).await;
    let s = app.register("deadend").await;
    let key = key_of(&app.create_channel(&s.access, "rs-dead").await);
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead_key = "dead-destination-key-4711";
    let res = app
        .add_restream(
            &s.access,
            "rs-dead",
            json!({"name": "Nowhere", "url": format!("rtmp://127.0.0.1:{port}/live"), "stream_key": dead_key}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let _publisher = publish(&app.rtmp_url(&key), 426, 240, 40);
    app.decodes("rs-dead").await;
    let failed = poll_until(Duration::from_secs(30), "the restream failed", || async {
        let list = app.restreams(&s.access, "rs-dead").await;
        (list[0]["state"] == "failed").then_some(list)
    })
    .await;
    let reason = failed[0]["last_error"]
        .as_str()
        .expect("a reason")
        .to_owned();
    // ffmpeg's own words, with the key (which ffmpeg prints in the URL) scrubbed.
    assert!(reason.contains("Connection refused"), "{reason}");
    assert!(reason.contains("/live/***"), "{reason}");
    assert!(!failed.to_string().contains(dead_key), "{failed}");

    // The broadcast is unaffected: live, and its HLS keeps growing while the destination
    // keeps failing (and is retried).
    assert_eq!(app.channel("rs-dead").await["is_live"], true);
    let before = app.last_segment("rs-dead").await.unwrap();
    eventually(Duration::from_secs(20), "new segments", || async {
        app.last_segment("rs-dead")
            .await
            .is_some_and(|s| s != before)
    })
    .await;
    let health = poll_until(Duration::from_secs(30), "a retry counted", || async {
        let h = app
            .get_auth_json("/channels/rs-dead/health", &s.access)
            .await;
        (h["restreams"][0]["restarts"].as_u64() >= Some(2)).then_some(h)
    })
    .await;
    assert_eq!(health["status"], "live", "{health}");
    assert!(health["problem"].is_null(), "{health}");
    assert!(!health.to_string().contains(dead_key));
}

#[actix_web::test]
async fn destinations_are_validated_and_the_key_is_never_returned() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.register("keykeeper").await;
    app.create_channel(&s.access, "rs-keys").await;
    let secret = "sk-live-never-shown-0123456789";
    let add = |body: Value| app.add_restream(&s.access, "rs-keys", body);

    // Validation, each with a clear message.
    for (body, field, words) in [
        (
            json!({"name": "x", "url": "http://9.9.9.5/live", "stream_key": secret}),
            "url",
            "rtmp://",
        ),
        (
            json!({"name": "x", "url": "rtmp:///live", "stream_key": secret}),
            "url",
            "host",
        ),
        (
            json!({"name": "x", "url": "rtmp://127.0.0.1/live", "stream_key": secret}),
            "url",
            "allow_private",
        ),
        (
            json!({"name": "x", "url": "rtmp://10.0.0.7/live", "stream_key": secret}),
            "url",
            "allow_private",
        ),
        (
            json!({"name": "x", "url": "rtmp://9.9.9.5/live", "stream_key": ""}),
            "stream_key",
            "1 to 512",
        ),
        (
            json!({"name": "x", "url": "rtmp://9.9.9.5/live", "stream_key": "k".repeat(513)}),
            "stream_key",
            "1 to 512",
        ),
        (
            json!({"name": "", "url": "rtmp://9.9.9.5/live", "stream_key": secret}),
            "name",
            "1 to 64",
        ),
        (
            json!({"name": "n".repeat(65), "url": "rtmp://9.9.9.5/live", "stream_key": secret}),
            "name",
            "1 to 64",
        ),
    ] {
        let err = expect_error(
            add(body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert_eq!(err["field"], field, "{body} -> {err}");
        assert!(
            err["message"].as_str().unwrap().contains(words),
            "{body} -> {err}"
        );
    }

    let mut ids = Vec::new();
    for i in 0..5 {
        let res = add(json!({
            "name": format!("Dest {i}"),
            "url": format!("rtmps://9.9.9.{}:443/app/", i + 1),
            "stream_key": format!("{secret}-{i}"),
        }))
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body = res.text().await.unwrap();
        assert!(!body.contains(secret), "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["url"], format!("rtmps://9.9.9.{}:443/app", i + 1));
        ids.push(v["id"].as_i64().unwrap());
    }
    let err = expect_error(
        add(json!({"name": "six", "url": "rtmp://9.9.9.9/live", "stream_key": secret})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(
        err["message"].as_str().unwrap().contains("at most 5"),
        "{err}"
    );

    // Changes: a new key is write-only too.
    let res = app
        .patch_restream(
            &s.access,
            "rs-keys",
            ids[0],
            json!({"name": "Renamed", "stream_key": format!("{secret}-new"), "enabled": false}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(!body.contains(secret), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["name"].as_str(), v["enabled"].as_bool()),
        (Some("Renamed"), Some(false))
    );
    expect_error(
        app.patch_restream(&s.access, "rs-keys", ids[1], json!({"url": "ftp://x/y"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;

    // Nobody else sees or changes them.
    let other = app.register("snoop").await;
    assert_eq!(
        app.get_auth("/channels/rs-keys/restreams", &other.access)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.delete_restream(&other.access, "rs-keys", ids[1])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // No endpoint returns the key; the database keeps it sealed.
    let list = app.restreams(&s.access, "rs-keys").await;
    assert_eq!(list.as_array().unwrap().len(), 5);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|d| d["has_key"] == true && d["state"] == "idle")
    );
    for path in [
        "/channels/rs-keys/restreams",
        "/channels/rs-keys",
        "/users/me/channels",
        "/channels/rs-keys/ingest",
        "/channels/rs-keys/health",
    ] {
        let body = app.get_auth(path, &s.access).await.text().await.unwrap();
        assert!(!body.contains(secret), "{path}: {body}");
    }
    let admin = app.admin_token().await;
    let tree = app
        .get_auth("/admin/health", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(!tree.contains(secret));
    use sea_orm::{ConnectionTrait, Statement};
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT stream_key FROM restream_destinations".to_owned(),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    for r in rows {
        let stored: String = r.try_get("", "stream_key").unwrap();
        assert!(
            stored.starts_with("v1:") && !stored.contains(secret),
            "{stored}"
        );
    }

    let res = app.delete_restream(&s.access, "rs-keys", ids[4]).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete_restream(&s.access, "rs-keys", ids[4])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.restreams(&s.access, "rs-keys")
            .await
            .as_array()
            .unwrap()
            .len(),
        4
    );
}
