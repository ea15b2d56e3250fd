//! Every file of a protected channel's videos and clips needs its playback token (thumbnails,
//! seek previews and the sprite the VTT points to, subtitles, a clip's MP4 and thumbnail), and a
//! suspended owner's media is gone for everyone but admins, as their pages are.

use actix_web::web::Bytes;
use reqwest::{Response, StatusCode};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::{Value, json};
use streamhall_entities::Video;

use crate::{
    both_backends,
    helpers::{Backend, JWT_SECRET, TestApp, expect_error, spawn_app},
    videos::{Fixture, fixture, insert_clip, insert_video, put_vod_objects},
};

both_backends!(
    every_file_of_a_protected_channel_needs_its_token,
    a_suspended_owners_media_is_gone_except_for_admins,
);

const PASSWORD: &str = "members-only-42";
const SPRITE_VTT: &str = "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\nsprite.jpg#xywh=0,0,160,90\n\n\
    00:00:05.000 --> 00:00:10.000\nsprite.jpg#xywh=160,0,160,90\n";
const SUBS: &str = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nsee sprite.jpg#xywh=1 here\n";

/// A token as every node makes it (see `private_channels::mint`), expired at `expires`.
fn mint(channel_id: i64, expires: i64) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let hmac = |key: &[u8], data: &[u8]| {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    };
    let key = hmac(JWT_SECRET.as_bytes(), b"streamhall playback token v1");
    let body = format!("{channel_id}.{expires}.8899aabbccddeeff");
    let mac = hmac(&key, body.as_bytes());
    format!("{body}.{}", hex::encode(&mac[..16]))
}

async fn raw(app: &TestApp, path: &str, bearer: Option<&str>) -> Response {
    let mut req = app.client.get(format!("{}{path}", app.url));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// A ready video with a thumbnail, a sprite and English subtitles, and a ready clip with its
/// MP4 and thumbnail: the paths of every file a page shows.
async fn media(f: &Fixture) -> Vec<String> {
    let id = insert_video(f, "members jam", "public", "ready", 1).await;
    put_vod_objects(f, &id).await;
    let mut v = Video::find_by_id(id.clone())
        .one(&f.app.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    v.has_sprite = Set(true);
    v.subtitles = Set(json!([{"lang": "en", "label": "English"}]));
    v.update(&f.app.db).await.unwrap();
    for (name, data) in [
        ("sprite.vtt", Bytes::from_static(SPRITE_VTT.as_bytes())),
        ("sprite.jpg", Bytes::from_static(b"\xff\xd8sprite")),
        ("subs/en.vtt", Bytes::from_static(SUBS.as_bytes())),
    ] {
        f.store
            .put(&format!("vod/{id}/{name}"), data)
            .await
            .unwrap();
    }
    let clip = insert_clip(f, f.owner.user_id, "best bit", "ready", 1).await;
    for (name, data) in [
        ("clip.mp4", Bytes::from_static(b"....ftypmp42")),
        ("thumb.jpg", Bytes::from_static(b"\xff\xd8clip")),
    ] {
        f.store
            .put(&format!("clips/{clip}/{name}"), data)
            .await
            .unwrap();
    }
    vec![
        format!("/vod/{id}/thumb.jpg"),
        format!("/vod/{id}/sprite.vtt"),
        format!("/vod/{id}/sprite.jpg"),
        format!("/vod/{id}/subs/en.vtt"),
        format!("/clips/{clip}/clip.mp4"),
        format!("/clips/{clip}/thumb.jpg"),
    ]
}

async fn every_file_of_a_protected_channel_needs_its_token(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let app = &f.app;
    let paths = media(&f).await;
    let res = app
        .client
        .patch(app.api("/channels/vods"))
        .bearer_auth(&f.owner.access)
        .json(&json!({"visibility": "password", "playback_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_json(
            "/channels/vods/playback-token",
            &json!({"password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let expired = mint(f.channel_id, chrono::Utc::now().timestamp() - 1);

    for path in &paths {
        expect_error(
            raw(app, path, None).await,
            StatusCode::FORBIDDEN,
            "playback_token_required",
        )
        .await;
        expect_error(
            raw(app, &format!("{path}?token={expired}"), None).await,
            StatusCode::FORBIDDEN,
            "playback_token_expired",
        )
        .await;
        let res = raw(app, &format!("{path}?token={token}"), None).await;
        assert_eq!(res.status(), StatusCode::OK, "{path} with a token");
        assert_eq!(res.headers()["cache-control"], "private", "{path}");
        // The owner's bearer still works without a token.
        let res = raw(app, path, Some(&f.owner.access)).await;
        assert_eq!(res.status(), StatusCode::OK, "{path} for the owner");
    }

    // The seek previews point at the sprite with the token, so a player that follows them
    // gets the image; subtitles are passed through untouched.
    let vtt = raw(app, &format!("{}?token={token}", paths[1]), None)
        .await
        .text()
        .await
        .unwrap();
    let tile = format!("sprite.jpg?token={token}#xywh=160,0,160,90");
    assert!(vtt.contains(&tile), "{vtt}");
    let sprite = format!("{}/{}", paths[1].rsplit_once('/').unwrap().0, tile);
    let sprite = sprite.split('#').next().unwrap();
    let res = raw(app, sprite, None).await;
    assert_eq!(res.status(), StatusCode::OK, "{sprite}");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"\xff\xd8sprite");
    let subs = raw(app, &format!("{}?token={token}", paths[3]), None)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(subs, SUBS);
    // Without a token (the owner's bearer) the sprite VTT is as stored.
    let own = raw(app, &paths[1], Some(&f.owner.access))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(own, SPRITE_VTT);
}

async fn a_suspended_owners_media_is_gone_except_for_admins(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let app = &f.app;
    let paths = media(&f).await;
    for path in &paths {
        assert_eq!(
            raw(app, path, None).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    let admin = app.admin_session().await;
    let res = app
        .suspend(
            &admin.access,
            f.owner.user_id,
            json!({"reason": "spam", "duration_secs": 3600}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // The video's page and every file of it agree: gone while the suspension lasts.
    let video = paths[0].split('/').nth(2).unwrap();
    expect_error(
        app.get(&format!("/videos/{video}")).await,
        StatusCode::GONE,
        "channel_suspended",
    )
    .await;
    let playlist = format!("/vod/{video}/master.m3u8");
    for path in paths.iter().chain([&playlist]) {
        expect_error(
            raw(app, path, None).await,
            StatusCode::GONE,
            "channel_suspended",
        )
        .await;
        let res = raw(app, path, Some(&admin.access)).await;
        assert_eq!(res.status(), StatusCode::OK, "{path} for an admin");
    }
    // A playback token does not get past it either.
    let token = mint(f.channel_id, chrono::Utc::now().timestamp() + 60);
    expect_error(
        raw(app, &format!("{}?token={token}", paths[0]), None).await,
        StatusCode::GONE,
        "channel_suspended",
    )
    .await;

    let res = app
        .admin_req(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}/suspension", f.owner.user_id),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for path in &paths {
        assert_eq!(
            raw(app, path, None).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
}
