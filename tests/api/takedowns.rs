//! A video and a clip taken down and restored (`streamhall_http::takedown`), as viewers, the
//! channel's owner and admins see them: pages, lists, media and new clips. The reports queue and
//! DMCA notices decide takedowns through the same two calls; their own tests drive them by API.

use actix_web::web::Bytes;
use reqwest::StatusCode;
use serde_json::json;
use streamhall_http::takedown::{self, Item};

use crate::{
    both_backends,
    helpers::{Backend, expect_error, spawn_app},
    videos::{admin, fetch, fixture, insert_clip, insert_video, put_vod_objects, send, titles},
};

both_backends!(a_taken_down_video_and_clip_are_gone_for_viewers_until_restored);

const NOTICE: &str = "Taken down after DMCA notice 7";

async fn a_taken_down_video_and_clip_are_gone_for_viewers_until_restored(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let viewer = f.app.register("viewer").await;
    let admin = admin(&f.app).await;
    let video = insert_video(&f, "the video", "public", "ready", 1).await;
    insert_video(&f, "another", "public", "ready", 2).await;
    put_vod_objects(&f, &video).await;
    let clip = insert_clip(&f, viewer.user_id, "the clip", "ready", 5).await;
    f.store
        .put(
            &format!("clips/{clip}/clip.mp4"),
            Bytes::from_static(b"mp4"),
        )
        .await
        .unwrap();
    let master = format!("/vod/{video}/master.m3u8");
    let mp4 = format!("/clips/{clip}/clip.mp4");
    assert_eq!(fetch(&f.app, &master, None).await.status(), StatusCode::OK);
    assert_eq!(fetch(&f.app, &mp4, None).await.status(), StatusCode::OK);

    assert!(
        takedown::take_down(&f.app.db, Item::Video(&video), NOTICE, "dmca:7")
            .await
            .unwrap()
    );
    assert!(
        takedown::take_down(&f.app.db, Item::Clip(&clip), NOTICE, "dmca:7")
            .await
            .unwrap()
    );
    assert!(
        !takedown::take_down(
            &f.app.db,
            Item::Clip("0123456789abcdef0123456789abcdef"),
            NOTICE,
            "dmca:7"
        )
        .await
        .unwrap()
    );

    // Viewers, signed in or not: the page is 410 with the notice, the lists skip it, the media
    // are 410 too, and nothing new can be cut from it.
    let res = f
        .app
        .client
        .get(f.app.api(&format!("/videos/{video}")))
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::GONE, "taken_down").await;
    assert_eq!(body["message"], NOTICE);
    let res = send(
        &f.app,
        reqwest::Method::GET,
        &format!("/clips/{clip}"),
        None,
        &viewer.access,
    )
    .await;
    let body = expect_error(res, StatusCode::GONE, "taken_down").await;
    assert_eq!(body["message"], NOTICE);
    assert_eq!(
        titles(&f.app.get_json("/channels/vods/videos").await),
        ["another"]
    );
    assert!(titles(&f.app.get_json("/channels/vods/clips").await).is_empty());
    for path in [&master, &mp4] {
        let res = fetch(&f.app, path, None).await;
        let body = expect_error(res, StatusCode::GONE, "taken_down").await;
        assert_eq!(body["message"], NOTICE, "{path}");
    }

    // The owner sees it, with the notice, in the page and the list, but cannot play or clip it.
    let shown = f
        .app
        .get_auth_json(&format!("/videos/{video}"), &f.owner.access)
        .await;
    assert_eq!(shown["takedown"]["notice"], NOTICE);
    assert!(shown["takedown"]["at"].is_string());
    let page = f
        .app
        .get_auth_json("/channels/vods/videos", &f.owner.access)
        .await;
    assert_eq!(titles(&page), ["the video", "another"]);
    assert!(page["items"][1]["takedown"].is_null());
    let shown = f
        .app
        .get_auth_json(&format!("/clips/{clip}"), &f.owner.access)
        .await;
    assert_eq!(shown["takedown"]["notice"], NOTICE);
    let res = fetch(&f.app, &master, Some(&f.owner.access)).await;
    expect_error(res, StatusCode::GONE, "taken_down").await;
    let res = send(
        &f.app,
        reqwest::Method::POST,
        &format!("/videos/{video}/clips"),
        Some(json!({"start": 10, "end": 20})),
        &f.owner.access,
    )
    .await;
    expect_error(res, StatusCode::GONE, "taken_down").await;

    // Admins review it: the media play for them.
    assert_eq!(
        fetch(&f.app, &master, Some(&admin)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        fetch(&f.app, &mp4, Some(&admin)).await.status(),
        StatusCode::OK
    );

    // Only the case that took it down puts it back.
    assert!(
        !takedown::restore(&f.app.db, Item::Video(&video), Some("report:3"))
            .await
            .unwrap()
    );
    let res = fetch(&f.app, &master, None).await;
    expect_error(res, StatusCode::GONE, "taken_down").await;
    assert!(
        takedown::restore(&f.app.db, Item::Video(&video), Some("dmca:7"))
            .await
            .unwrap()
    );
    assert!(
        takedown::restore(&f.app.db, Item::Clip(&clip), None)
            .await
            .unwrap()
    );
    assert!(
        !takedown::restore(&f.app.db, Item::Clip(&clip), None)
            .await
            .unwrap()
    );
    assert_eq!(fetch(&f.app, &master, None).await.status(), StatusCode::OK);
    assert_eq!(fetch(&f.app, &mp4, None).await.status(), StatusCode::OK);
    let shown = f.app.get_json(&format!("/videos/{video}")).await;
    assert!(shown["takedown"].is_null());
    assert_eq!(
        titles(&f.app.get_json("/channels/vods/clips").await),
        ["the clip"]
    );
}
