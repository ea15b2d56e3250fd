//! The moderation queue under pressure: two staff resolving one case at once (one wins, the
//! decision happens once), and a live channel's report (its thumbnail kept, `end_stream` ending
//! the broadcast). Helpers are in `reports.rs`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both_backends,
    helpers::{Backend, eventually, expect_error, spawn_app},
    media_tools::publish,
    reports::case_of,
    videos::{fixture, insert_video},
};

both_backends!(two_staff_resolving_at_once_one_wins);

async fn two_staff_resolving_at_once_one_wins(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let app = &f.app;
    let admin = app.admin_token().await;
    let moderator = app.moderator(&admin, "mod").await;
    let r = app.register("reporter").await;
    let video = insert_video(&f, "the video", "public", "ready", 1).await;
    assert_eq!(
        app.report(
            &r.access,
            json!({"kind": "video", "target": video, "reason": "spam"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let id = case_of(app, &admin, "video").await["id"].as_i64().unwrap();
    let (a, b) = tokio::join!(
        app.resolve(&admin, id, json!({"action": "take_down"})),
        app.resolve(&moderator.access, id, json!({"action": "dismiss"})),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let winner = if a.status() == StatusCode::OK {
        "take_down"
    } else {
        "dismiss"
    };
    let resolved = app
        .get_auth_json(&format!("/admin/reports/{id}"), &admin)
        .await;
    assert_eq!(resolved["report"]["action"], winner);
    // Only the winner's decision happened, once.
    let video_status = app.get(&format!("/videos/{video}")).await.status();
    assert_eq!(video_status == StatusCode::GONE, winner == "take_down");
    assert_eq!(app.notifications_of(&r.access).await.len(), 1);
    let audit = app
        .get_auth_json("/admin/audit?action=report.resolve", &admin)
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

/// A live channel's report keeps its thumbnail; `end_stream` ends the broadcast.
#[actix_web::test]
async fn a_live_channel_report_keeps_the_thumbnail_and_end_stream_ends_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app.admin_token().await;
    let s = app.register("liveone").await;
    let r = app.register("reporter").await;
    let key = crate::helpers::key_of(&app.create_channel(&s.access, "liveone").await);
    let _encoder = publish(&app.rtmp_url(&key), 426, 240, 60);
    app.wait_for_segments("liveone", "source", 2, Duration::from_secs(30))
        .await;
    eventually(Duration::from_secs(30), "a live thumbnail", || async {
        app.channel("liveone").await["is_live"] == true
            && app.get("/channels/liveone/thumbnail.jpg").await.headers()
                [reqwest::header::CACHE_CONTROL]
                == "public, max-age=5"
    })
    .await;
    assert_eq!(
        app.report(
            &r.access,
            json!({"kind": "channel", "target": "liveone", "reason": "violence"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let case = case_of(&app, &admin, "channel").await;
    assert_eq!(case["snapshot"]["live"], true);
    assert!(case["snapshot"]["broadcast_id"].is_i64(), "{case}");
    assert_eq!(case["has_thumbnail"], true, "{case}");
    let id = case["id"].as_i64().unwrap();
    let res = app
        .get_auth(&format!("/admin/reports/{id}/thumbnail.jpg"), &admin)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[reqwest::header::CONTENT_TYPE], "image/jpeg");
    let jpeg = res.bytes().await.unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    expect_error(
        app.get_auth(&format!("/admin/reports/{id}/thumbnail.jpg"), &r.access)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let res = app
        .resolve(&admin, id, json!({"action": "end_stream", "note": "gore"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    eventually(Duration::from_secs(15), "the broadcast to end", || async {
        app.broadcasts("liveone")
            .await
            .iter()
            .all(|(_, ended)| *ended)
    })
    .await;
    // The thumbnail kept is still there after the stream ended.
    let res = app
        .get_auth(&format!("/admin/reports/{id}/thumbnail.jpg"), &admin)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let n = app.notifications_of(&r.access).await;
    assert_eq!(n[0]["kind"], "report_resolved");
}
