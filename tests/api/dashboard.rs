//! What the creator dashboard and the watch page read besides the channel itself: the live
//! stream's health (owner or admin) and the channel's past broadcasts (anyone).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{Backend, expect_error, poll_until, spawn_app},
    media_tools::publish,
};

#[actix_web::test]
async fn owner_reads_live_health_and_anyone_reads_past_broadcasts() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.register("studio").await;
    let other = app.register("stranger").await;
    let key = app.create_channel(&owner.access, "studio").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Offline: no health, no broadcasts; strangers may not ask.
    expect_error(
        app.get_auth("/channels/studio/health", &owner.access).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.get_auth("/channels/studio/health", &other.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(app.get_json("/channels/studio/broadcasts").await, json!([]));

    let mut obs = publish(
        &format!("rtmp://{}/live/{key}", app.rtmp_addr),
        640,
        360,
        30,
    );
    let health: Value = poll_until(Duration::from_secs(30), "ingest health", || async {
        let res = app.get_auth("/channels/studio/health", &owner.access).await;
        if res.status() != StatusCode::OK {
            return None;
        }
        let v: Value = res.json().await.ok()?;
        (v["ingest"]["video"]["width"] == 640).then_some(v)
    })
    .await;
    assert_eq!(health["slug"], "studio");
    assert_eq!(health["ingest"]["video"]["height"], 360);
    assert!(
        health["ingest"]["bitrate_kbps"].as_f64().unwrap() > 0.0,
        "{health}"
    );
    assert!(health["dropped_frames"].is_u64(), "{health}");
    let live = app.get_json("/channels/studio/broadcasts").await;
    assert_eq!(live[0]["ended_at"], Value::Null, "{live}");
    assert_eq!(live[0]["title"], "studio live");

    // Stopped by an admin: the broadcast is listed with its end.
    let admin = app.admin_token().await;
    let res = app
        .post_json("/admin/streams/studio/stop", &json!({}), Some(&admin))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let ended = poll_until(Duration::from_secs(15), "the broadcast to end", || async {
        let list = app.get_json("/channels/studio/broadcasts").await;
        list[0]["ended_at"].is_string().then_some(list)
    })
    .await;
    assert_eq!(ended.as_array().unwrap().len(), 1, "{ended}");
    obs.kill().await.ok();
    expect_error(
        app.get("/channels/nobody/broadcasts").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}
