//! Videos and clips through the API and `/vod/**`, `/clips/**`: visibility for owners,
//! strangers and admins, editing with every bad field named, chapters, subtitles, ranges and
//! cache headers, view counting, deletion down to the last object, clip requests, and a store
//! that fails. Rows are inserted and objects put straight into the server's own store (the
//! filesystem default here; `recording.rs` plays real recordings on S3 too).

use std::{path::PathBuf, sync::Arc};

use actix_web::web::Bytes;
use chrono::{Duration as Days, Utc};
use reqwest::{StatusCode, header};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use streamhall_entities::{Clip, Video, clip, video};
use streamhall_media::objects::{ObjectStore, ObjectsBackend, open_store};

use crate::{
    both_backends,
    helpers::{Backend, Session, TestApp, expect_error, spawn_app, spawn_app_with},
};

both_backends!(
    lists_page_newest_first_and_hide_what_others_may_not_see,
    private_videos_are_404_to_strangers_also_for_playback,
    edits_name_every_bad_field_and_need_ownership,
    chapters_are_checked_and_stored,
    subtitles_are_uploaded_and_served_as_webvtt,
    segments_answer_ranges_with_cache_headers,
    the_master_counts_a_view_once_per_client,
    delete_removes_every_object_and_the_row,
    clip_requests_are_checked_and_refused_offline,
    clips_are_listed_served_and_deleted,
    a_failing_store_is_a_503_not_a_crash,
    channels_keep_recording_settings,
);

/// A channel with its owner's session and id.
pub(crate) struct Fixture {
    pub(crate) app: TestApp,
    pub(crate) owner: Session,
    pub(crate) channel_id: i64,
    pub(crate) store: Arc<dyn ObjectStore>,
}

const SLUG: &str = "vods";

pub(crate) async fn fixture(app: TestApp) -> Fixture {
    let owner = app.register("streamer").await;
    let created = app.create_channel(&owner.access, SLUG).await;
    let channel_id = created["channel"]["id"].as_i64().unwrap();
    let store = open_store(&app.config.objects, &app.config.data_dir)
        .await
        .expect("the server's store");
    Fixture {
        app,
        owner,
        channel_id,
        store,
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Inserts a ten-minute video `age_hours` old.
pub(crate) async fn insert_video(
    f: &Fixture,
    title: &str,
    visibility: &str,
    status: &str,
    age_hours: i64,
) -> String {
    let id = new_id();
    let created = Utc::now() - Days::hours(age_hours);
    video::ActiveModel {
        id: Set(id.clone()),
        channel_id: Set(f.channel_id),
        broadcast_id: Set(None),
        title: Set(title.into()),
        description: Set(String::new()),
        visibility: Set(visibility.into()),
        status: Set(status.into()),
        dvr_only: Set(false),
        duration_secs: Set(600.0),
        size_bytes: Set(1000),
        renditions: Set(
            json!([{"name": "source", "width": 1280, "height": 720, "bandwidth": 3_000_000}]),
        ),
        chapters: Set(json!([])),
        subtitles: Set(json!([])),
        has_thumbnail: Set(true),
        has_sprite: Set(false),
        missing_segments: Set(0),
        view_count: Set(0),
        error: Set(None),
        node_id: Set("test".into()),
        created_at: Set(created),
        ended_at: Set(Some(created + Days::minutes(10))),
        taken_down_at: Set(None),
        takedown_notice: Set(None),
        takedown_ref: Set(None),
    }
    .insert(&f.app.db)
    .await
    .unwrap();
    id
}

pub(crate) const SEGMENT: &str = "0000000000000007_2000.ts";

/// The objects a finalised VOD has; the segment is 1000 bytes `0, 1, … 255, 0, …`.
pub(crate) async fn put_vod_objects(f: &Fixture, id: &str) -> Vec<u8> {
    let segment: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    let objects = [
        (
            "master.m3u8",
            Bytes::from_static(
                b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=3000000\nsource/index.m3u8\n",
            ),
        ),
        (
            "source/index.m3u8",
            Bytes::from(format!(
                "#EXTM3U\n#EXTINF:2.000,\n{SEGMENT}\n#EXT-X-ENDLIST\n"
            )),
        ),
        (SEGMENT, Bytes::from(segment.clone())),
        ("thumb.jpg", Bytes::from_static(b"\xff\xd8jpeg")),
    ];
    for (name, data) in objects {
        let key = if name == SEGMENT {
            format!("vod/{id}/source/{name}")
        } else {
            format!("vod/{id}/{name}")
        };
        f.store.put(&key, data).await.unwrap();
    }
    segment
}

pub(crate) async fn admin(app: &TestApp) -> String {
    let (name, password) = app.first_admin.clone().expect("first admin");
    let body: Value = app.login(&name, &password).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A GET of a server path (not under `/api/v1`), with an optional bearer token.
pub(crate) async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

pub(crate) async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.api(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

pub(crate) fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["title"].as_str().unwrap().to_owned())
        .collect()
}

fn fields_of(err: &Value) -> Vec<String> {
    err["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn header_of(res: &reqwest::Response, name: header::HeaderName) -> &str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn lists_page_newest_first_and_hide_what_others_may_not_see(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    for (i, title) in ["one", "two", "three"].iter().enumerate() {
        insert_video(&f, title, "public", "ready", 10 - i as i64).await;
    }
    insert_video(&f, "hidden link", "unlisted", "ready", 2).await;
    insert_video(&f, "mine only", "private", "ready", 1).await;
    let dvr = insert_video(&f, "dvr copy", "public", "recording", 0).await;
    Video::update(video::ActiveModel {
        id: Set(dvr.clone()),
        dvr_only: Set(true),
        ..Default::default()
    })
    .exec(&f.app.db)
    .await
    .unwrap();
    let path = format!("/channels/{SLUG}/videos");

    // Anonymous: public ones only, newest first, two per page.
    let page = f.app.get_json(&format!("{path}?limit=2")).await;
    assert_eq!(titles(&page), ["three", "two"]);
    assert_eq!(page["next_offset"], 2);
    let page = f.app.get_json(&format!("{path}?limit=2&offset=2")).await;
    assert_eq!(titles(&page), ["one"]);
    assert!(page.get("next_offset").is_none(), "last page: {page}");
    let first = &f.app.get_json(&path).await["items"][0];
    assert_eq!(first["channel_slug"], SLUG);
    assert_eq!(first["streamer_name"], "streamer");
    assert_eq!(first["can_edit"], false);
    assert_eq!(first["renditions"][0]["name"], "source");
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        first["playback_url"],
        format!("{}/vod/{id}/master.m3u8", f.app.url)
    );
    assert_eq!(
        first["thumbnail_url"],
        format!("{}/vod/{id}/thumb.jpg", f.app.url)
    );
    assert_eq!(first["sprite_vtt_url"], Value::Null);

    // A signed-in stranger sees the same.
    let stranger = f.app.register("stranger").await;
    let page = f.app.get_auth_json(&path, &stranger.access).await;
    assert_eq!(titles(&page), ["three", "two", "one"]);

    // The owner and an admin see unlisted and private ones, never the DVR copy.
    let all = ["mine only", "hidden link", "three", "two", "one"];
    let page = f.app.get_auth_json(&path, &f.owner.access).await;
    assert_eq!(titles(&page), all);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["can_edit"] == true)
    );
    let page = f.app.get_auth_json(&path, &admin(&f.app).await).await;
    assert_eq!(titles(&page), all);

    // Unlisted: not listed, but open by id; the DVR copy is not a video.
    let unlisted = f.app.get_auth_json(&path, &f.owner.access).await["items"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = f.app.get(&format!("/videos/{unlisted}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["visibility"], "unlisted");
    expect_error(
        f.app.get(&format!("/videos/{dvr}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        f.app.get("/videos/not-an-id").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        f.app.get("/channels/nope/videos").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn private_videos_are_404_to_strangers_also_for_playback(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let id = insert_video(&f, "secret", "private", "ready", 1).await;
    put_vod_objects(&f, &id).await;
    let stranger = f.app.register("stranger").await;
    let admin = admin(&f.app).await;

    expect_error(
        f.app.get(&format!("/videos/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        f.app
            .get_auth(&format!("/videos/{id}"), &stranger.access)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for token in [&f.owner.access, &admin] {
        let body = f.app.get_auth_json(&format!("/videos/{id}"), token).await;
        assert_eq!(body["title"], "secret");
        assert_eq!(body["can_edit"], true);
    }

    let files = [
        format!("/vod/{id}/master.m3u8"),
        format!("/vod/{id}/source/index.m3u8"),
        format!("/vod/{id}/source/{SEGMENT}"),
        format!("/vod/{id}/thumb.jpg"),
    ];
    for path in &files {
        for token in [None, Some(stranger.access.as_str()), Some("not-a-token")] {
            let res = fetch(&f.app, path, token).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path} with {token:?}");
        }
        for token in [&f.owner.access, &admin] {
            let res = fetch(&f.app, path, Some(token)).await;
            assert_eq!(res.status(), StatusCode::OK, "{path} for the owner/admin");
            assert_eq!(header_of(&res, header::CACHE_CONTROL), "private", "{path}");
        }
    }
    // Strangers cannot edit it either: it does not exist for them.
    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &format!("/videos/{id}"),
        Some(json!({"title": "x"})),
        &stranger.access,
    )
    .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn edits_name_every_bad_field_and_need_ownership(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let id = insert_video(&f, "before", "public", "ready", 1).await;
    let path = format!("/videos/{id}");
    let stranger = f.app.register("stranger").await;

    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"title": "mine now"})),
        &stranger.access,
    )
    .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = f
        .app
        .client
        .patch(f.app.api(&path))
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let bad = json!({"title": "  ", "description": "d".repeat(5001), "visibility": "secret"});
    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(bad),
        &f.owner.access,
    )
    .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["title", "description", "visibility"]);
    // Nothing was changed.
    assert_eq!(f.app.get_json(&path).await["title"], "before");

    let good =
        json!({"title": " After ", "description": "d".repeat(5000), "visibility": "unlisted"});
    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(good),
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["title"], "After");
    assert_eq!(body["visibility"], "unlisted");
    assert_eq!(body["description"].as_str().unwrap().len(), 5000);

    // An admin may edit anyone's video.
    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"visibility": "private"})),
        &admin(&f.app).await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(f.app.get(&path).await, StatusCode::NOT_FOUND, "not_found").await;
}

async fn chapters_are_checked_and_stored(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let id = insert_video(&f, "talk", "public", "ready", 1).await;
    let path = format!("/videos/{id}/chapters");

    let bad = json!({"chapters": [
        {"title": "", "start": 0},
        {"title": "Backwards", "start": -5},
        {"title": "Middle", "start": 300},
        {"title": "Earlier", "start": 200},
        {"title": "After the end", "start": 600},
    ]});
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &path,
        Some(bad),
        &f.owner.access,
    )
    .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["chapters"; 4], "{err}");
    let messages: Vec<&str> = err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    for (message, n) in messages.iter().zip([1, 2, 4, 5]) {
        assert!(
            message.starts_with(&format!("chapter {n}:")),
            "{messages:?}"
        );
    }
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"title": "c", "start": i}))
        .collect();
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &path,
        Some(json!({"chapters": too_many})),
        &f.owner.access,
    )
    .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;

    let stranger = f.app.register("stranger").await;
    let good =
        json!({"chapters": [{"title": "Intro", "start": 0.0}, {"title": "Q&A", "start": 420.5}]});
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &path,
        Some(good.clone()),
        &stranger.access,
    )
    .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &path,
        Some(good.clone()),
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let shown = f.app.get_json(&format!("/videos/{id}")).await;
    assert_eq!(shown["chapters"], good["chapters"]);
}

async fn subtitles_are_uploaded_and_served_as_webvtt(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let id = insert_video(&f, "talk", "public", "ready", 1).await;
    let vtt = "WEBVTT\n\n00:00.000 --> 00:02.000\nHello\n";

    let bad = json!({"label": "", "vtt": "hello"});
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &format!("/videos/{id}/subtitles/EN_us"),
        Some(bad),
        &f.owner.access,
    )
    .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["lang", "label", "vtt"]);
    // Larger than the API's usual JSON limit, smaller than 1 MiB: accepted.
    let long = format!("WEBVTT\n\nNOTE {}\n", "x".repeat(200_000));
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &format!("/videos/{id}/subtitles/de"),
        Some(json!({"label": "Deutsch", "vtt": long})),
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let huge = format!("WEBVTT\n\nNOTE {}\n", "x".repeat(1024 * 1024));
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &format!("/videos/{id}/subtitles/fr"),
        Some(json!({"label": "Français", "vtt": huge})),
        &f.owner.access,
    )
    .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["vtt"]);

    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &format!("/videos/{id}/subtitles/pt-BR"),
        Some(json!({"label": "Português", "vtt": vtt})),
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let url = format!("{}/vod/{id}/subs/pt-BR.vtt", f.app.url);
    assert_eq!(
        body["subtitles"][1],
        json!({"lang": "pt-BR", "label": "Português", "url": url})
    );

    let res = f.app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header_of(&res, header::CONTENT_TYPE).starts_with("text/vtt"));
    assert_eq!(res.text().await.unwrap(), vtt);

    let res = send(
        &f.app,
        reqwest::Method::DELETE,
        &format!("/videos/{id}/subtitles/pt-BR"),
        None,
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["subtitles"].as_array().unwrap().len(), 1);
    assert_eq!(
        f.app.client.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let res = send(
        &f.app,
        reqwest::Method::DELETE,
        &format!("/videos/{id}/subtitles/pt-BR"),
        None,
        &f.owner.access,
    )
    .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn segments_answer_ranges_with_cache_headers(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let id = insert_video(&f, "talk", "public", "ready", 1).await;
    let segment = put_vod_objects(&f, &id).await;
    let path = format!("/vod/{id}/source/{SEGMENT}");

    let res = fetch(&f.app, &path, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header_of(&res, header::CONTENT_TYPE), "video/mp2t");
    assert_eq!(
        header_of(&res, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header_of(&res, header::ACCEPT_RANGES), "bytes");
    assert_eq!(header_of(&res, header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    assert_eq!(res.bytes().await.unwrap(), segment);

    for (range, start, end) in [
        ("bytes=100-199", 100, 199),
        ("bytes=-100", 900, 999),
        ("bytes=990-5000", 990, 999),
    ] {
        let res = f
            .app
            .client
            .get(format!("{}{path}", f.app.url))
            .header(header::RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header_of(&res, header::CONTENT_RANGE),
            format!("bytes {start}-{end}/1000")
        );
        assert_eq!(res.bytes().await.unwrap(), segment[start..=end], "{range}");
    }
    let res = f
        .app
        .client
        .get(format!("{}{path}", f.app.url))
        .header(header::RANGE, "bytes=1000-")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header_of(&res, header::CONTENT_RANGE), "bytes */1000");

    let res = fetch(&f.app, &format!("/vod/{id}/master.m3u8"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header_of(&res, header::CONTENT_TYPE),
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(header_of(&res, header::CACHE_CONTROL), "public, max-age=5");
    assert!(res.text().await.unwrap().contains("source/index.m3u8"));
    let res = fetch(&f.app, &format!("/vod/{id}/thumb.jpg"), None).await;
    assert_eq!(header_of(&res, header::CONTENT_TYPE), "image/jpeg");

    // Names that are not a segment's, and missing objects, are 404.
    for bad in [
        "/source/seg-1.ts",
        "/source/..%2Fmaster.m3u8",
        "/sprite.vtt",
        "/subs/EN.vtt",
        "/nope/0000000000000007_2000.ts",
    ] {
        let res = fetch(&f.app, &format!("/vod/{id}{bad}"), None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{bad}");
    }

    // A recording in progress has no playlists yet, and says so.
    let live = insert_video(&f, "still live", "public", "recording", 0).await;
    let res = fetch(&f.app, &format!("/vod/{live}/master.m3u8"), None).await;
    let err = expect_error(res, StatusCode::NOT_FOUND, "video_not_ready").await;
    assert!(
        err["message"].as_str().unwrap().contains("recorded"),
        "{err}"
    );
}

async fn the_master_counts_a_view_once_per_client(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.http.trust_proxy_headers = true).await;
    let f = fixture(app).await;
    let id = insert_video(&f, "talk", "public", "ready", 1).await;
    put_vod_objects(&f, &id).await;
    let master = format!("{}/vod/{id}/master.m3u8", f.app.url);
    for client in ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1"] {
        let res = f
            .app
            .client
            .get(&master)
            .header("x-forwarded-for", client)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    // Playlists other than the master and segments count nothing.
    fetch(&f.app, &format!("/vod/{id}/source/index.m3u8"), None).await;
    fetch(&f.app, &format!("/vod/{id}/source/{SEGMENT}"), None).await;
    let shown = f.app.get_json(&format!("/videos/{id}")).await;
    assert_eq!(shown["view_count"], 2);
}

async fn delete_removes_every_object_and_the_row(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let id = insert_video(&f, "gone soon", "public", "ready", 1).await;
    let other = insert_video(&f, "stays", "public", "ready", 2).await;
    put_vod_objects(&f, &id).await;
    put_vod_objects(&f, &other).await;
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &format!("/videos/{id}/subtitles/en"),
        Some(json!({"label": "English", "vtt": "WEBVTT\n"})),
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(f.store.list(&format!("vod/{id}/")).await.unwrap().len(), 5);

    let stranger = f.app.register("stranger").await;
    let res = send(
        &f.app,
        reqwest::Method::DELETE,
        &format!("/videos/{id}"),
        None,
        &stranger.access,
    )
    .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;

    let res = send(
        &f.app,
        reqwest::Method::DELETE,
        &format!("/videos/{id}"),
        None,
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let left = f.store.list(&format!("vod/{id}/")).await.unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        Video::find_by_id(id.clone())
            .one(&f.app.db)
            .await
            .unwrap()
            .is_none()
    );
    expect_error(
        f.app.get(&format!("/videos/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        fetch(&f.app, &format!("/vod/{id}/master.m3u8"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // The other video is untouched.
    assert_eq!(
        f.store.list(&format!("vod/{other}/")).await.unwrap().len(),
        4
    );
    let res = send(
        &f.app,
        reqwest::Method::DELETE,
        &format!("/videos/{id}"),
        None,
        &f.owner.access,
    )
    .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn clip_requests_are_checked_and_refused_offline(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let clipper = f.app.register("clipper").await;
    let live_path = format!("/channels/{SLUG}/clips");

    let res = f
        .app
        .post_json(&live_path, &json!({"seconds": 30}), None)
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = f
        .app
        .post_json(&live_path, &json!({"seconds": 9}), Some(&clipper.access))
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["seconds"]);
    // A missing field is named too, not blamed on the body.
    let res = f
        .app
        .post_json(
            &live_path,
            &json!({"title": "no length"}),
            Some(&clipper.access),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(err["field"], "seconds", "{err}");
    let res = f
        .app
        .post_json(
            &live_path,
            &json!({"seconds": 61, "title": ""}),
            Some(&clipper.access),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["seconds", "title"]);
    let res = f
        .app
        .post_json(&live_path, &json!({"seconds": 30}), Some(&clipper.access))
        .await;
    expect_error(res, StatusCode::CONFLICT, "not_live").await;

    // Ten a minute per user; the eleventh is throttled.
    for _ in 1..10 {
        let res = f
            .app
            .post_json(&live_path, &json!({"seconds": 10}), Some(&clipper.access))
            .await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
    }
    let res = f
        .app
        .post_json(&live_path, &json!({"seconds": 10}), Some(&clipper.access))
        .await;
    let retry = res.headers().get(header::RETRY_AFTER).cloned();
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(retry.is_some(), "Retry-After");

    let id = insert_video(&f, "talk", "public", "ready", 1).await;
    let private = insert_video(&f, "secret", "private", "ready", 1).await;
    let vod_path = format!("/videos/{id}/clips");
    let res = f
        .app
        .post_json(
            &vod_path,
            &json!({"start": 10, "end": 5}),
            Some(&f.owner.access),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["end"]);
    let res = f
        .app
        .post_json(
            &vod_path,
            &json!({"start": -1, "end": 100, "title": "x".repeat(141)}),
            Some(&f.owner.access),
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["start", "end", "title"]);
    let res = f
        .app
        .post_json(
            &format!("/videos/{private}/clips"),
            &json!({"start": 0, "end": 10}),
            Some(&clipper.access),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

pub(crate) async fn insert_clip(
    f: &Fixture,
    author_id: i64,
    title: &str,
    status: &str,
    age_mins: i64,
) -> String {
    let id = new_id();
    clip::ActiveModel {
        id: Set(id.clone()),
        channel_id: Set(f.channel_id),
        video_id: Set(None),
        author_id: Set(author_id),
        title: Set(title.into()),
        start_secs: Set(0.0),
        duration_secs: Set(20.0),
        status: Set(status.into()),
        error: Set(None),
        size_bytes: Set(0),
        view_count: Set(0),
        created_at: Set(Utc::now() - Days::minutes(age_mins)),
        taken_down_at: Set(None),
        takedown_notice: Set(None),
        takedown_ref: Set(None),
    }
    .insert(&f.app.db)
    .await
    .unwrap();
    id
}

async fn clips_are_listed_served_and_deleted(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let clipper = f.app.register("clipper").await;
    let older = insert_clip(&f, clipper.user_id, "older", "ready", 10).await;
    let newer = insert_clip(&f, clipper.user_id, "newer", "ready", 5).await;
    insert_clip(&f, clipper.user_id, "cutting", "processing", 1).await;
    let mp4: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    for (name, data) in [
        ("clip.mp4", Bytes::from(mp4.clone())),
        ("index.m3u8", Bytes::from_static(b"#EXTM3U\n0.ts\n")),
        ("0.ts", Bytes::from_static(b"ts")),
        ("thumb.jpg", Bytes::from_static(b"jpg")),
    ] {
        f.store
            .put(&format!("clips/{newer}/{name}"), data)
            .await
            .unwrap();
    }

    let path = format!("/channels/{SLUG}/clips");
    let page = f.app.get_json(&path).await;
    assert_eq!(titles(&page), ["newer", "older"]);
    assert!(page.get("next_offset").is_none());
    let page = f.app.get_auth_json(&path, &f.owner.access).await;
    assert_eq!(titles(&page), ["cutting", "newer", "older"]);
    let page = f.app.get_json(&format!("{path}?limit=1&offset=1")).await;
    assert_eq!(titles(&page), ["older"]);

    let shown = f
        .app
        .get_auth_json(&format!("/clips/{newer}"), &clipper.access)
        .await;
    assert_eq!(shown["author_name"], "clipper");
    assert_eq!(shown["channel_slug"], SLUG);
    assert_eq!(shown["can_delete"], true);
    assert_eq!(
        shown["mp4_url"],
        format!("{}/clips/{newer}/clip.mp4", f.app.url)
    );
    assert_eq!(
        shown["playback_url"],
        format!("{}/clips/{newer}/index.m3u8", f.app.url)
    );
    assert_eq!(
        f.app.get_json(&format!("/clips/{newer}")).await["can_delete"],
        false
    );

    // The MP4: whole, from its start, and a later range; only the first two count a view.
    let url = format!("{}/clips/{newer}/clip.mp4", f.app.url);
    let res = f.app.client.get(&url).send().await.unwrap();
    assert_eq!(header_of(&res, header::CONTENT_TYPE), "video/mp4");
    assert_eq!(
        header_of(&res, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.bytes().await.unwrap(), mp4);
    let res = f
        .app
        .client
        .get(&url)
        .header(header::RANGE, "bytes=4000-")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header_of(&res, header::CONTENT_RANGE),
        "bytes 4000-4999/5000"
    );
    assert_eq!(
        f.app.get_json(&format!("/clips/{newer}")).await["view_count"],
        1
    );
    for (path, ty) in [
        ("index.m3u8", "application/vnd.apple.mpegurl"),
        ("0.ts", "video/mp2t"),
        ("thumb.jpg", "image/jpeg"),
    ] {
        let res = fetch(&f.app, &format!("/clips/{newer}/{path}"), None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&res, header::CONTENT_TYPE), ty);
    }
    assert_eq!(
        fetch(&f.app, &format!("/clips/{newer}/x.ts"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Strangers may not delete; the author may.
    let stranger = f.app.register("stranger").await;
    let res = send(
        &f.app,
        reqwest::Method::DELETE,
        &format!("/clips/{newer}"),
        None,
        &stranger.access,
    )
    .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = send(
        &f.app,
        reqwest::Method::DELETE,
        &format!("/clips/{newer}"),
        None,
        &clipper.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        f.store
            .list(&format!("clips/{newer}/"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        Clip::find_by_id(newer.clone())
            .one(&f.app.db)
            .await
            .unwrap()
            .is_none()
    );
    // The channel's owner may delete anyone's clip.
    let res = send(
        &f.app,
        reqwest::Method::DELETE,
        &format!("/clips/{older}"),
        None,
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

/// The filesystem store's directory for a video, made unreadable as a directory: every read
/// under it fails with an I/O error (root ignores permissions, so a file takes its place).
fn break_store_under(app: &TestApp, id: &str) -> PathBuf {
    let dir = app.config.data_dir.join("objects/vod").join(id);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    dir
}

async fn a_failing_store_is_a_503_not_a_crash(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    if f.app.config.objects.backend != ObjectsBackend::Fs {
        return;
    }
    let id = insert_video(&f, "talk", "public", "ready", 1).await;
    put_vod_objects(&f, &id).await;
    break_store_under(&f.app, &id);
    for path in [
        format!("/vod/{id}/master.m3u8"),
        format!("/vod/{id}/source/{SEGMENT}"),
    ] {
        let res = fetch(&f.app, &path, None).await;
        let err = expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "objects_unavailable").await;
        assert!(
            err["message"].as_str().unwrap().contains("storage"),
            "{err}"
        );
    }
    let res = send(
        &f.app,
        reqwest::Method::PUT,
        &format!("/videos/{id}/subtitles/en"),
        Some(json!({"label": "English", "vtt": "WEBVTT\n"})),
        &f.owner.access,
    )
    .await;
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "objects_unavailable").await;
    // The server is still there.
    assert_eq!(
        f.app.get(&format!("/videos/{id}")).await.status(),
        StatusCode::OK
    );
}

async fn channels_keep_recording_settings(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let path = format!("/channels/{SLUG}");
    let shown = f.app.get_json(&path).await;
    assert_eq!(shown["record_vods"], true);
    assert_eq!(shown["vod_retention_days"], Value::Null);

    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"record_vods": false, "vod_retention_days": 30})),
        &f.owner.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["record_vods"], false);
    assert_eq!(body["vod_retention_days"], 30);
    // Absent leaves it; null clears it.
    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"title": "Renamed"})),
        &f.owner.access,
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["vod_retention_days"], 30);
    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"vod_retention_days": null})),
        &f.owner.access,
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["vod_retention_days"],
        Value::Null
    );

    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"title": "", "vod_retention_days": 0})),
        &f.owner.access,
    )
    .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(fields_of(&err), ["title", "vod_retention_days"]);
    let res = send(
        &f.app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"vod_retention_days": 3651})),
        &f.owner.access,
    )
    .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
}

/// The S3-compatible server of the test command (`./dev test` starts moto_server); with
/// `CI=true` its absence fails, otherwise the S3 test is skipped.
fn s3_endpoint() -> Option<String> {
    match std::env::var("STREAMHALL_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "STREAMHALL_TEST_S3 is not set and CI=true"
            );
            eprintln!("STREAMHALL_TEST_S3 is not set: skipping the S3 playback test");
            None
        }
    }
}

/// Playback from S3: with presigning on, public segments are a 302 to the bucket and private
/// ones still come from the node (ranges included); playlists always do.
#[actix_web::test]
async fn s3_playback_redirects_public_segments_when_presigning() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    for presign in [true, false] {
        let bucket = format!("vod-{}", new_id());
        let res = reqwest::Client::new()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "create bucket: {}", res.status());
        let app = spawn_app_with(Backend::Sqlite, |c| {
            c.objects.backend = ObjectsBackend::S3;
            c.objects.s3.endpoint = endpoint.clone();
            c.objects.s3.bucket = bucket.clone();
            c.objects.s3.access_key = "test".into();
            c.objects.s3.secret_key = secrecy::SecretString::from("test-secret");
            c.objects.s3.presign = presign;
        })
        .await;
        let f = fixture(app).await;
        let public = insert_video(&f, "open", "public", "ready", 2).await;
        let private = insert_video(&f, "closed", "private", "ready", 1).await;
        let segment = put_vod_objects(&f, &public).await;
        put_vod_objects(&f, &private).await;

        let res = fetch(&f.app, &format!("/vod/{public}/source/{SEGMENT}"), None).await;
        if presign {
            assert_eq!(res.status(), StatusCode::FOUND);
            let location = header_of(&res, header::LOCATION).to_owned();
            assert!(location.starts_with(&endpoint), "{location}");
            let direct = reqwest::get(&location).await.unwrap();
            assert_eq!(direct.status(), StatusCode::OK);
            assert_eq!(direct.bytes().await.unwrap(), segment);
        } else {
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.bytes().await.unwrap(), segment);
        }

        let res = f
            .app
            .client
            .get(format!("{}/vod/{private}/source/{SEGMENT}", f.app.url))
            .bearer_auth(&f.owner.access)
            .header(header::RANGE, "bytes=10-19")
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::PARTIAL_CONTENT,
            "presign {presign}"
        );
        assert_eq!(header_of(&res, header::CONTENT_RANGE), "bytes 10-19/1000");
        assert_eq!(header_of(&res, header::CACHE_CONTROL), "private");
        assert_eq!(res.bytes().await.unwrap(), segment[10..20]);

        let res = fetch(&f.app, &format!("/vod/{public}/master.m3u8"), None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header_of(&res, header::CONTENT_TYPE),
            "application/vnd.apple.mpegurl"
        );
        let shown = f.app.get_json(&format!("/videos/{public}")).await;
        assert_eq!(shown["view_count"], 1);
    }
}
