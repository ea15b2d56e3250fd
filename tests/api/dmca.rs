//! DMCA takedowns: the public notice form (validation, throttle), an admin's takedown (viewers
//! get 410, the uploader sees the notice and is notified), the counter-notice (only by the
//! uploader) that restores after the configured wait, legal action that stops it, the
//! repeat-infringer count, one restore across several nodes and restarts, and the audit log.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use streamhall_entities::{clip, video};

use crate::{
    both_backends,
    helpers::{
        Backend, Session, TestApp, eventually, expect_error, poll_until, restart, spawn_app_with,
    },
    notify::SmtpSink,
};

const WAIT: Duration = Duration::from_secs(20);

both_backends!(
    notices_are_checked_field_by_field,
    notices_are_throttled_per_address,
    a_takedown_hides_the_items_and_tells_the_uploader,
    a_counter_notice_restores_after_the_wait,
    legal_action_stops_the_restore,
    a_restore_happens_once_across_nodes_and_restarts,
);

/// An uploader with a channel, a video and a clip on it.
struct Uploader {
    session: Session,
    video: String,
    clip: String,
}

async fn uploader(app: &TestApp, name: &str) -> Uploader {
    let session = app.register(name).await;
    let created = app.create_channel(&session.access, name).await;
    let channel_id = created["channel"]["id"].as_i64().unwrap();
    let video = insert_video(app, channel_id, &format!("{name}'s video")).await;
    let clip = new_id();
    clip::ActiveModel {
        id: Set(clip.clone()),
        channel_id: Set(channel_id),
        video_id: Set(None),
        author_id: Set(session.user_id),
        title: Set(format!("{name}'s clip")),
        start_secs: Set(0.0),
        duration_secs: Set(20.0),
        status: Set("ready".into()),
        error: Set(None),
        size_bytes: Set(0),
        view_count: Set(0),
        created_at: Set(Utc::now()),
        taken_down_at: Set(None),
        takedown_notice: Set(None),
        takedown_ref: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    Uploader {
        session,
        video,
        clip,
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn insert_video(app: &TestApp, channel_id: i64, title: &str) -> String {
    let id = new_id();
    let now = Utc::now();
    video::ActiveModel {
        id: Set(id.clone()),
        channel_id: Set(channel_id),
        broadcast_id: Set(None),
        title: Set(title.into()),
        description: Set(String::new()),
        visibility: Set("public".into()),
        status: Set("ready".into()),
        dvr_only: Set(false),
        duration_secs: Set(600.0),
        size_bytes: Set(1000),
        renditions: Set(json!([])),
        chapters: Set(json!([])),
        subtitles: Set(json!([])),
        has_thumbnail: Set(false),
        has_sprite: Set(false),
        missing_segments: Set(0),
        view_count: Set(0),
        error: Set(None),
        node_id: Set("test".into()),
        created_at: Set(now),
        ended_at: Set(Some(now)),
        taken_down_at: Set(None),
        takedown_notice: Set(None),
        takedown_ref: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    id
}

fn notice(urls: &[String]) -> Value {
    json!({
        "claimant_name": "Rights Holder Ltd",
        "claimant_email": "legal@rights.example",
        "claimant_contact": "1 Music Row, Nashville; +1 555 0100",
        "work_description": "The song \"Example\" (2025)",
        "urls": urls,
        "good_faith": true,
        "accurate": true,
        "signature": "Jane Holder",
    })
}

fn counter_body() -> Value {
    json!({
        "full_name": "Uploader Person",
        "contact": "2 Home Street, Springfield; +1 555 0199",
        "statement": "I composed this music myself.",
        "good_faith": true,
        "consent_to_jurisdiction": true,
        "signature": "Uploader Person",
    })
}

async fn admin_token(app: &TestApp) -> String {
    let (name, password) = app.first_admin.clone().expect("first admin");
    let body: Value = app.login(&name, &password).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Sends a notice naming `urls`; its id.
async fn send_notice(app: &TestApp, urls: &[String]) -> i64 {
    let res = app.post_json("/dmca/notices", &notice(urls), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    body["id"].as_i64().unwrap()
}

fn video_url(app: &TestApp, id: &str) -> String {
    format!("{}/v/{id}", app.url)
}

fn clip_url(app: &TestApp, id: &str) -> String {
    format!("{}/clip/{id}", app.url)
}

async fn take_down(app: &TestApp, admin: &str, id: i64) -> reqwest::Response {
    app.post_json(
        &format!("/admin/dmca/{id}/takedown"),
        &json!({}),
        Some(admin),
    )
    .await
}

async fn counter(app: &TestApp, token: &str, id: i64, body: &Value) -> reqwest::Response {
    app.post_json(&format!("/dmca/notices/{id}/counter"), body, Some(token))
        .await
}

/// The audit entries of `action` about notice `id`.
async fn audited(app: &TestApp, admin: &str, action: &str, id: i64) -> Vec<Value> {
    let page = app
        .get_auth_json(
            &format!("/admin/audit?action={action}&target_kind=dmca_notice&target_id={id}"),
            admin,
        )
        .await;
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn strikes(app: &TestApp, admin: &str, username: &str) -> u64 {
    let page = app
        .get_auth_json(&format!("/admin/users?q={username}"), admin)
        .await;
    page["items"][0]["dmca_strikes"]
        .as_u64()
        .expect("dmca_strikes")
}

async fn is_up(app: &TestApp, path: &str) -> bool {
    app.get(path).await.status() == StatusCode::OK
}

fn fields(err: &Value) -> Vec<String> {
    err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

async fn notices_are_checked_field_by_field(backend: Backend) {
    // Refused notices count against the throttle too: room for this test's.
    let app = spawn_app_with(backend, |c| c.dmca.notices_per_ip = 100).await;
    let up = uploader(&app, "alice").await;

    // Everything wrong at once: every field named.
    let res = app
        .post_json(
            "/dmca/notices",
            &json!({
                "claimant_name": " ",
                "claimant_email": "not-an-address",
                "claimant_contact": "",
                "work_description": "",
                "urls": [],
                "good_faith": false,
                "accurate": false,
                "signature": "",
            }),
            None,
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(
        fields(&err),
        [
            "claimant_name",
            "claimant_email",
            "claimant_contact",
            "work_description",
            "urls",
            "good_faith",
            "accurate",
            "signature"
        ]
    );

    // A URL elsewhere, or of nothing here, is named in the error.
    for (url, why) in [
        (
            format!("https://elsewhere.example/v/{}", up.video),
            "not an address on this server",
        ),
        (video_url(&app, "doesnotexist"), "no such video or clip"),
        (format!("{}/c/alice", app.url), "not the address of a video"),
    ] {
        let res = app
            .post_json(
                "/dmca/notices",
                &notice(&[video_url(&app, &up.video), url.clone()]),
                None,
            )
            .await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert_eq!(err["field"], "urls");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(&url) && message.contains(why), "{message}");
    }
    // Too many URLs.
    let many: Vec<String> = (0..21).map(|_| video_url(&app, &up.video)).collect();
    let res = app.post_json("/dmca/notices", &notice(&many), None).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(err["field"], "urls");
    assert_eq!(app.count("SELECT COUNT(*) FROM dmca_notices").await, 0);

    // A good one, with the same video twice: one item each.
    let id = send_notice(
        &app,
        &[
            video_url(&app, &up.video),
            format!("{}/vod/{}/master.m3u8", app.url, up.video),
            clip_url(&app, &up.clip),
        ],
    )
    .await;
    assert_eq!(app.count("SELECT COUNT(*) FROM dmca_notice_items").await, 2);

    // Admins only see it; a received notice changes nothing for viewers.
    let res = app.get_auth("/admin/dmca", &up.session.access).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let admin = admin_token(&app).await;
    let page = app
        .get_auth_json("/admin/dmca?state=received", &admin)
        .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], id);
    assert_eq!(page["items"][0]["items"], 2);
    let page = app
        .get_auth_json("/admin/dmca?state=rejected", &admin)
        .await;
    assert_eq!(page["total"], 0);
    let res = app.get_auth("/admin/dmca?state=nope", &admin).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(is_up(&app, &format!("/videos/{}", up.video)).await);

    // Rejected with a note: audited, nothing down, no second decision.
    let res = app
        .post_json(
            &format!("/admin/dmca/{id}/reject"),
            &json!({"note": ""}),
            Some(&admin),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let res = app
        .post_json(
            &format!("/admin/dmca/{id}/reject"),
            &json!({"note": "no proof of ownership"}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["state"], "rejected");
    assert_eq!(detail["decision_note"], "no proof of ownership");
    let res = take_down(&app, &admin, id).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert!(is_up(&app, &format!("/videos/{}", up.video)).await);
    let entries = audited(&app, &admin, "dmca.reject", id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["reason"], "no proof of ownership");
    assert_eq!(strikes(&app, &admin, "alice").await, 0);
}

async fn notices_are_throttled_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.dmca.notices_per_ip = 2).await;
    let up = uploader(&app, "alice").await;
    for _ in 0..2 {
        send_notice(&app, &[video_url(&app, &up.video)]).await;
    }
    let res = app
        .post_json(
            "/dmca/notices",
            &notice(&[video_url(&app, &up.video)]),
            None,
        )
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3601).contains(&retry), "retry-after {retry}");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM dmca_notices").await, 2);
}

async fn a_takedown_hides_the_items_and_tells_the_uploader(backend: Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(backend, move |c| {
        c.notify.smtp = Some(
            serde_json::from_value(json!({
                "host": "127.0.0.1", "port": port, "tls": "none",
                "from": "streamhall <noreply@streamhall.test>",
            }))
            .unwrap(),
        );
        c.accounts.require_email_verification = Some(false);
    })
    .await;
    let up = uploader(&app, "alice").await;
    let other = uploader(&app, "bob").await;
    let id = send_notice(
        &app,
        &[video_url(&app, &up.video), clip_url(&app, &up.clip)],
    )
    .await;
    let admin = admin_token(&app).await;

    // Only admins decide.
    let res = take_down(&app, &up.session.access, id).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = take_down(&app, &admin, id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["state"], "taken_down");
    let statuses: Vec<&str> = detail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["taken_down", "taken_down"]);
    let res = take_down(&app, &admin, id).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // Viewers: 410 with the notice; the channel's lists skip them.
    let notice_text = format!("Taken down after DMCA notice {id}");
    for path in [
        format!("/videos/{}", up.video),
        format!("/clips/{}", up.clip),
    ] {
        let err = expect_error(app.get(&path).await, StatusCode::GONE, "taken_down").await;
        assert_eq!(err["message"], notice_text.as_str());
        let err = expect_error(
            app.get_auth(&path, &other.session.access).await,
            StatusCode::GONE,
            "taken_down",
        )
        .await;
        assert_eq!(err["message"], notice_text.as_str());
    }
    let media = app
        .client
        .get(format!("{}/vod/{}/master.m3u8", app.url, up.video))
        .send()
        .await
        .unwrap();
    assert_eq!(media.status(), StatusCode::GONE);
    // The uploader sees them with the notice and where to counter.
    let mine = app
        .get_auth_json(&format!("/videos/{}", up.video), &up.session.access)
        .await;
    assert_eq!(mine["takedown"]["notice"], notice_text.as_str());
    assert_eq!(mine["takedown"]["dmca_notice_id"], id);
    let mine = app
        .get_auth_json(&format!("/clips/{}", up.clip), &up.session.access)
        .await;
    assert_eq!(mine["takedown"]["dmca_notice_id"], id);
    let view = app
        .get_auth_json(&format!("/dmca/notices/{id}"), &up.session.access)
        .await;
    assert_eq!(view["state"], "taken_down");
    assert_eq!(view["can_counter"], true);
    assert_eq!(
        view["restore_after_secs"], 864_000,
        "the default wait is 10 days"
    );
    assert_eq!(view["items"].as_array().unwrap().len(), 2);
    // Someone the notice does not name may not read it; other videos are untouched.
    let res = app
        .get_auth(&format!("/dmca/notices/{id}"), &other.session.access)
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(is_up(&app, &format!("/videos/{}", other.video)).await);

    // Notified in the app and by email.
    let notes = app
        .get_auth_json("/notifications", &up.session.access)
        .await;
    let note = notes["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "dmca_takedown")
        .cloned()
        .expect("a dmca_takedown notification");
    assert_eq!(
        note["title"],
        format!("2 of your videos and clips were taken down after DMCA notice {id}")
    );
    assert_eq!(note["channel_slug"], "alice");
    let mail = poll_until(WAIT, "the uploader's takedown email", || async {
        sink.messages()
            .into_iter()
            .find(|m| m.contains("<alice@example.com>") && m.contains("DMCA notice"))
    })
    .await;
    let mail = mail.replace("=\r\n", "").replace("=3D", "=");
    assert!(mail.contains(&format!("/dmca/notices/{id}")), "{mail}");

    // Audited, and counted against the uploader only.
    let entries = audited(&app, &admin, "dmca.takedown", id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["detail"]["taken_down"].as_array().unwrap().len(),
        2
    );
    assert_eq!(strikes(&app, &admin, "alice").await, 1);
    assert_eq!(strikes(&app, &admin, "bob").await, 0);
    let second = send_notice(&app, &[video_url(&app, &up.video)]).await;
    assert_eq!(
        take_down(&app, &admin, second).await.status(),
        StatusCode::OK
    );
    assert_eq!(strikes(&app, &admin, "alice").await, 2);
}

async fn a_counter_notice_restores_after_the_wait(backend: Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port;
    let app = spawn_app_with(backend, move |c| {
        c.dmca.restore_after_secs = 2;
        c.dmca.check_every_secs = 1;
        c.notify.smtp = Some(
            serde_json::from_value(json!({
                "host": "127.0.0.1", "port": port, "tls": "none",
                "from": "streamhall <noreply@streamhall.test>",
            }))
            .unwrap(),
        );
        c.accounts.require_email_verification = Some(false);
    })
    .await;
    let up = uploader(&app, "alice").await;
    let other = app.register("mallory").await;
    let id = send_notice(
        &app,
        &[video_url(&app, &up.video), clip_url(&app, &up.clip)],
    )
    .await;
    let admin = admin_token(&app).await;

    // Nothing to counter before the takedown.
    let res = counter(&app, &up.session.access, id, &counter_body()).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(take_down(&app, &admin, id).await.status(), StatusCode::OK);
    assert_eq!(strikes(&app, &admin, "alice").await, 1);

    // Only the uploader counters, with both statements and a signature.
    let res = counter(&app, &other.access, id, &counter_body()).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = counter(&app, &up.session.access, 999_999, &counter_body()).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let mut bad = counter_body();
    bad["good_faith"] = json!(false);
    bad["consent_to_jurisdiction"] = json!(false);
    bad["signature"] = json!(" ");
    let res = counter(&app, &up.session.access, id, &bad).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(
        fields(&err),
        ["good_faith", "consent_to_jurisdiction", "signature"]
    );
    let before = Utc::now();
    let res = counter(&app, &up.session.access, id, &counter_body()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["counter"]["state"], "waiting");
    assert_eq!(view["can_counter"], false);
    let due: chrono::DateTime<Utc> =
        serde_json::from_value(view["counter"]["restore_due_at"].clone()).unwrap();
    assert!(due >= before + chrono::Duration::seconds(2), "{due}");
    let res = counter(&app, &up.session.access, id, &counter_body()).await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // The claimant hears of it.
    let mail = poll_until(WAIT, "the claimant's counter-notice email", || async {
        sink.messages()
            .into_iter()
            .find(|m| m.contains("<legal@rights.example>"))
    })
    .await;
    assert!(mail.contains("I composed this music myself."), "{mail}");

    // After the wait, both are back for everyone, once, by the system.
    let video = format!("/videos/{}", up.video);
    let clip = format!("/clips/{}", up.clip);
    eventually(WAIT, "the video restored", || is_up(&app, &video)).await;
    eventually(WAIT, "the clip restored", || is_up(&app, &clip)).await;
    let mine = app.get_auth_json(&video, &up.session.access).await;
    assert!(mine["takedown"].is_null(), "{mine}");
    let view = app
        .get_auth_json(&format!("/dmca/notices/{id}"), &up.session.access)
        .await;
    assert_eq!(view["counter"]["state"], "restored");
    let entries = audited(&app, &admin, "dmca.restore", id).await;
    assert_eq!(entries.len(), 1);
    assert!(entries[0]["actor_id"].is_null(), "the system restores");
    assert_eq!(
        entries[0]["detail"]["restored"].as_array().unwrap().len(),
        2
    );
    // A takedown that did not stand does not count.
    assert_eq!(strikes(&app, &admin, "alice").await, 0);
    // Nothing left to stop.
    let res = app
        .post_json(
            &format!("/admin/dmca/{id}/legal-action"),
            &json!({"note": "too late"}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["counters"][0]["state"], "restored");
}

async fn legal_action_stops_the_restore(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.dmca.restore_after_secs = 2;
        c.dmca.check_every_secs = 1;
    })
    .await;
    let up = uploader(&app, "alice").await;
    let admin = admin_token(&app).await;
    let sued = send_notice(&app, &[video_url(&app, &up.video)]).await;
    let witness = send_notice(&app, &[clip_url(&app, &up.clip)]).await;
    // Legal action needs a takedown first.
    let res = app
        .post_json(
            &format!("/admin/dmca/{sued}/legal-action"),
            &json!({"note": "case 1"}),
            Some(&admin),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    for id in [sued, witness] {
        assert_eq!(take_down(&app, &admin, id).await.status(), StatusCode::OK);
        let res = counter(&app, &up.session.access, id, &counter_body()).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = app
        .post_json(
            &format!("/admin/dmca/{sued}/legal-action"),
            &json!({"note": "Case 25-cv-0001, filed in N.D. Cal."}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let detail: Value = res.json().await.unwrap();
    assert_eq!(detail["counters"][0]["state"], "legal_action");
    assert!(detail["legal_action_at"].is_string());
    let res = app
        .post_json(
            &format!("/admin/dmca/{sued}/legal-action"),
            &json!({"note": "again"}),
            Some(&admin),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // The witness, due at the same time, comes back; the one in court stays down.
    let clip = format!("/clips/{}", up.clip);
    eventually(WAIT, "the witness restored", || is_up(&app, &clip)).await;
    let res = app.get(&format!("/videos/{}", up.video)).await;
    expect_error(res, StatusCode::GONE, "taken_down").await;
    let view = app
        .get_auth_json(&format!("/dmca/notices/{sued}"), &up.session.access)
        .await;
    assert_eq!(view["legal_action"], true);
    assert_eq!(view["counter"]["state"], "legal_action");
    assert!(audited(&app, &admin, "dmca.restore", sued).await.is_empty());
    let entries = audited(&app, &admin, "dmca.legal_action", sued).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["detail"]["restores_stopped"], 1);
    assert_eq!(strikes(&app, &admin, "alice").await, 1);
}

async fn a_restore_happens_once_across_nodes_and_restarts(backend: Backend) {
    // The first node never looks again after its start: the restore is due while it is "down".
    let mut app = spawn_app_with(backend, |c| {
        c.dmca.restore_after_secs = 1;
        c.dmca.check_every_secs = 3600;
    })
    .await;
    let up = uploader(&app, "alice").await;
    let admin = admin_token(&app).await;
    let first = send_notice(&app, &[video_url(&app, &up.video)]).await;
    let second = send_notice(&app, &[clip_url(&app, &up.clip)]).await;
    assert_eq!(
        take_down(&app, &admin, first).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        take_down(&app, &admin, second).await.status(),
        StatusCode::OK
    );
    let res = counter(&app, &up.session.access, first, &counter_body()).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Two more nodes on the same database, both looking every second.
    app.config.dmca.check_every_secs = 1;
    app.config.dmca.restore_after_secs = 2;
    let b = restart(&app).await;
    let c = restart(&app).await;
    let video = format!("/videos/{}", up.video);
    eventually(WAIT, "the video restored", || is_up(&b, &video)).await;
    // Later passes of both nodes: the second counter-notice is restored after the first.
    let res = counter(&c, &up.session.access, second, &counter_body()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let clip = format!("/clips/{}", up.clip);
    eventually(WAIT, "the clip restored", || is_up(&c, &clip)).await;
    assert_eq!(audited(&app, &admin, "dmca.restore", first).await.len(), 1);
    assert_eq!(audited(&app, &admin, "dmca.restore", second).await.len(), 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM dmca_counter_notices WHERE state = 'restored'")
            .await,
        2
    );
}
