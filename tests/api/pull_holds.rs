//! A channel that pulls an RTSP camera (the GStreamer fixture of `ingest.rs`) stops pulling
//! while its owner is suspended or, where verification is required, has an unverified email
//! address; it says why to the streamer (ingest settings) and the admin (the health tree's
//! pulls), and pulls again by itself once that is over.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use streamhall_entities::{User, user};

use crate::{
    helpers::{Backend, Session, TestApp, poll_until, spawn_app_with},
    ingest::Camera,
};

const WAIT: Duration = Duration::from_secs(40);

/// An always-on pull of a fresh camera on `slug`, live (decoded) before this returns.
async fn pulling(app: &TestApp, owner: &Session, slug: &str) -> Camera {
    app.create_channel(&owner.access, slug).await;
    let camera = Camera::start(0, "viewer", "cam-secret-1").await;
    let res = app
        .put_ingest(
            &owner.access,
            slug,
            json!({
                "source": "pull",
                "pull_url": format!("rtsp://127.0.0.1:{}/cam", camera.port),
                "pull_username": "viewer",
                "pull_password": "cam-secret-1",
                "pull_always_on": true,
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.decodes(slug).await;
    camera
}

/// Waits until the pull of `slug` is held, as `bearer` reads its ingest settings; returns
/// the reason it gives.
async fn held(app: &TestApp, bearer: &str, slug: &str) -> String {
    poll_until(WAIT, "the pull to be held", || async {
        let s = app
            .get_auth_json(&format!("/channels/{slug}/ingest"), bearer)
            .await;
        (s["pull_state"]["state"] == "held")
            .then(|| s["pull_state"]["last_error"].as_str().unwrap().to_owned())
    })
    .await
}

/// Whether every broadcast of the channel has ended.
async fn offline(app: &TestApp, slug: &str) -> bool {
    app.broadcasts(slug).await.iter().all(|(_, ended)| *ended)
}

/// Waits until the pull of `slug` is live again in a second broadcast, then checks it decodes.
async fn pulled_again(app: &TestApp, bearer: &str, slug: &str) {
    poll_until(WAIT, "the pull live in a new broadcast", || async {
        let s = app
            .get_auth_json(&format!("/channels/{slug}/ingest"), bearer)
            .await;
        let b = app.broadcasts(slug).await;
        (s["pull_state"]["state"] == "live" && b.len() == 2 && !b[1].1).then_some(())
    })
    .await;
    app.decodes(slug).await;
}

async fn not_live(app: &TestApp, slug: &str) {
    poll_until(WAIT, "the stream to end", || async {
        offline(app, slug).await.then_some(())
    })
    .await;
}

#[actix_web::test]
async fn a_suspension_stops_a_camera_pull_until_it_is_lifted() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.ingest.allow_private = vec!["127.0.0.1".into()];
    })
    .await;
    let owner = app.register("gatecam").await;
    let _camera = pulling(&app, &owner, "gate-cam").await;
    let admin = app.admin_session().await;
    let res = app
        .suspend(
            &admin.access,
            owner.user_id,
            json!({"reason": "streaming someone else's camera", "permanent": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // The broadcast ends and the pull holds, saying why (the owner is signed out; the
    // admin reads the same settings and sees the pull in the health tree).
    not_live(&app, "gate-cam").await;
    let why = held(&app, &admin.access, "gate-cam").await;
    assert!(why.contains("suspended"), "{why}");
    let tree = app.get_auth_json("/admin/health", &admin.access).await;
    let pull = tree["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["channel"] == "gate-cam")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(pull["status"]["state"], "held", "{tree}");
    assert!(
        !tree["streams"].to_string().contains("gate-cam"),
        "no stream: {tree}"
    );
    // It does not come back while the suspension lasts (several rechecks).
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(offline(&app, "gate-cam").await, "pulled while suspended");
    assert_eq!(app.broadcasts("gate-cam").await.len(), 1);

    // Lifted: the camera is pulled again by itself.
    let res = app
        .admin_req(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}/suspension", owner.user_id),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    pulled_again(&app, &admin.access, "gate-cam").await;
}

#[actix_web::test]
async fn an_unverified_address_stops_a_camera_pull_until_verified() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.ingest.allow_private = vec!["127.0.0.1".into()];
        c.accounts.require_email_verification = Some(true);
    })
    .await;
    let owner = app.register("porchcam").await;
    let verify = |verified: bool| {
        let at = verified.then(chrono::Utc::now);
        User::update_many()
            .col_expr(user::Column::EmailVerifiedAt, Expr::value(at))
            .filter(user::Column::Id.eq(owner.user_id))
            .exec(&app.db)
    };
    verify(true).await.unwrap();
    let _camera = pulling(&app, &owner, "porch-cam").await;

    // A new address is unverified: the pull ends and holds.
    let res = app
        .client
        .patch(app.api("/users/me"))
        .bearer_auth(&owner.access)
        .json(&json!({"email": "porch@new.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    not_live(&app, "porch-cam").await;
    let why = held(&app, &owner.access, "porch-cam").await;
    assert!(why.contains("not verified"), "{why}");

    // Verified again: it pulls again by itself.
    verify(true).await.unwrap();
    pulled_again(&app, &owner.access, "porch-cam").await;
}
