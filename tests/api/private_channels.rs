//! Private and password-protected channels: visibility on `PATCH /channels/{slug}`, playback
//! tokens from `POST /channels/{slug}/playback-token`, and the gate on HLS, thumbnails and
//! chat, on one node and on a second node of a cluster. Expired tokens are minted here with
//! the key every node derives from the JWT secret, independently of the server's code.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    both_backends,
    helpers::{
        Backend, JWT_SECRET, TestApp, eventually, expect_error, poll_until, restart, spawn_app,
        spawn_app_with,
    },
    media_tools::{publish, segments, variants},
};

const LIVE_WAIT: Duration = Duration::from_secs(60);
const PASSWORD: &str = "open-sesame-42";

both_backends!(
    a_password_channel_plays_only_with_a_token,
    followers_only_channels_hand_tokens_to_followers,
    unlisted_channels_are_not_listed_but_play_by_link,
    visibility_changes_are_checked,
    videos_of_a_protected_channel_need_its_token,
);

/// A token as the server makes it: `{channel}.{expires}.{nonce}.{mac}`, the MAC keyed with
/// HMAC(JWT secret, label).
fn mint(channel_id: i64, expires: i64) -> String {
    let hmac = |key: &[u8], data: &[u8]| {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    };
    let key = hmac(JWT_SECRET.as_bytes(), b"streamhall playback token v1");
    let body = format!("{channel_id}.{expires}.0011223344556677");
    let mac = hmac(&key, body.as_bytes());
    format!("{body}.{}", hex::encode(&mac[..16]))
}

impl TestApp {
    async fn patch_channel(&self, slug: &str, token: &str, body: Value) -> Response {
        self.client
            .patch(self.api(&format!("/channels/{slug}")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn playback_token(&self, slug: &str, bearer: Option<&str>, body: Value) -> Response {
        self.post_json(&format!("/channels/{slug}/playback-token"), &body, bearer)
            .await
    }

    /// A token the server hands out (the test fails otherwise).
    async fn token_for(&self, slug: &str, bearer: Option<&str>, body: Value) -> String {
        let res = self.playback_token(slug, bearer, body).await;
        assert_eq!(res.status(), StatusCode::OK, "a playback token for {slug}");
        let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
        assert_eq!(cache, "no-store");
        let body: Value = res.json().await.unwrap();
        assert!(body["expires_in_secs"].as_i64().unwrap() > 60);
        assert!(body["expires_at"].is_string());
        body["token"].as_str().unwrap().to_owned()
    }

    async fn raw(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    async fn listed(&self, query: &str) -> Vec<String> {
        let page = self.get_json(&format!("/channels{query}")).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["slug"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn assert_private(res: &Response, what: &str) {
    let cache = res.headers()["cache-control"].to_str().unwrap();
    assert!(
        cache.starts_with("private"),
        "{what}: Cache-Control {cache}"
    );
}

/// The playlist chain as a player follows it, from a master URL that carries a token: every
/// URI in it carries the token on; returns (media playlist path, newest segment path).
async fn follow_playlists(app: &TestApp, master: &str, token: &str) -> (String, String) {
    let res = app.raw(master).await;
    assert_eq!(res.status(), StatusCode::OK, "{master}");
    assert_private(&res, "master");
    let text = res.text().await.unwrap();
    let uris: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(!uris.is_empty(), "{text}");
    for uri in &uris {
        assert!(uri.ends_with(&format!("?token={token}")), "{uri} in {text}");
    }
    let base = master.rsplit_once('/').unwrap().0;
    let media = format!("{base}/{}", uris[0]);
    let res = app.raw(&media).await;
    assert_eq!(res.status(), StatusCode::OK, "{media}");
    assert_private(&res, "media playlist");
    let text = res.text().await.unwrap();
    let (_, last) = segments(&text).last().cloned().expect("a segment");
    assert!(last.ends_with(&format!("?token={token}")), "{last}");
    let segment = format!("{}/{last}", media.rsplit_once('/').unwrap().0);
    (media, segment)
}

async fn wait_live(app: &TestApp, slug: &str) {
    poll_until(LIVE_WAIT, &format!("{slug} live"), || async {
        let c = app.get_json(&format!("/channels/{slug}")).await;
        c["live"]["playback_url"].as_str().map(|_| ())
    })
    .await;
}

async fn a_password_channel_plays_only_with_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("streamer").await;
    let viewer = app.register("viewer").await;
    let created = app.create_channel(&owner.access, "secret").await;
    let channel_id = created["channel"]["id"].as_i64().unwrap();
    let key = created["stream_key"].as_str().unwrap().to_owned();
    let other = app.create_channel(&owner.access, "other").await["channel"]["id"]
        .as_i64()
        .unwrap();

    let res = app
        .patch_channel(
            "secret",
            &owner.access,
            json!({"visibility": "password", "playback_password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(!text.contains(PASSWORD), "the password is never returned");
    assert!(!text.contains("argon2"), "nor its hash: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["visibility"], "password");
    let stored = app
        .count("SELECT COUNT(*) FROM channels WHERE playback_password_hash LIKE '$argon2id$%'")
        .await;
    assert_eq!(stored, 1, "stored as an argon2id hash");

    // Not listed, not found by search; the page itself is reachable and says what it is.
    assert_eq!(app.listed("").await, vec!["other".to_owned()]);
    assert!(app.listed("?q=secret").await.is_empty());
    let page = app.get_json("/channels/secret").await;
    assert_eq!(page["visibility"], "password");
    assert!(!page.to_string().contains(PASSWORD));

    let _obs = publish(&app.rtmp_url(&key), 640, 360, 120);
    wait_live(&app, "secret").await;
    assert!(
        app.listed("?live=true").await.is_empty(),
        "not among live channels"
    );

    // No token: 403 on the master, the media playlists and segments.
    let master = "/hls/secret/master.m3u8";
    expect_error(
        app.raw(master).await,
        StatusCode::FORBIDDEN,
        "playback_token_required",
    )
    .await;

    // The password: missing, wrong, right.
    expect_error(
        app.playback_token("secret", None, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    let wrong = app
        .playback_token(
            "secret",
            Some(&viewer.access),
            json!({"password": "guess-123"}),
        )
        .await;
    expect_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let token = app
        .token_for("secret", None, json!({"password": PASSWORD}))
        .await;
    assert!(!token.contains(PASSWORD));

    // With it: the whole chain plays, and every playlist passes the token on.
    let with = format!("{master}?token={token}");
    let (media, segment) = poll_until(LIVE_WAIT, "segments", || async {
        let res = app.raw(&with).await;
        (res.status() == StatusCode::OK).then_some(())?;
        Some(follow_playlists(&app, &with, &token).await)
    })
    .await;
    let res = app.raw(&segment).await;
    assert_eq!(res.status(), StatusCode::OK, "{segment}");
    assert_private(&res, "segment");
    assert!(!res.bytes().await.unwrap().is_empty());

    // Without the token, with an expired one, one of another channel, a forged one: 403.
    let bare = |p: &str| p.split('?').next().unwrap().to_owned();
    for path in [bare(&media), bare(&segment), bare(master)] {
        expect_error(
            app.raw(&path).await,
            StatusCode::FORBIDDEN,
            "playback_token_required",
        )
        .await;
        let expired = format!(
            "{path}?token={}",
            mint(channel_id, chrono::Utc::now().timestamp() - 1)
        );
        expect_error(
            app.raw(&expired).await,
            StatusCode::FORBIDDEN,
            "playback_token_expired",
        )
        .await;
        let theirs = app.token_for("other", Some(&owner.access), json!({})).await;
        assert_ne!(theirs, token);
        let wrong = format!("{path}?token={theirs}");
        expect_error(
            app.raw(&wrong).await,
            StatusCode::FORBIDDEN,
            "playback_token_wrong_channel",
        )
        .await;
        let forged = format!(
            "{path}?token={}",
            mint(other, i64::MAX).replacen(&format!("{other}."), &format!("{channel_id}."), 1)
        );
        expect_error(
            app.raw(&forged).await,
            StatusCode::FORBIDDEN,
            "playback_token_invalid",
        )
        .await;
        // A token minted with the same key for the right channel and a future expiry works.
        let minted = format!(
            "{path}?token={}",
            mint(channel_id, chrono::Utc::now().timestamp() + 60)
        );
        assert_eq!(app.raw(&minted).await.status(), StatusCode::OK, "{path}");
    }
    // Claiming to be a relaying node is not enough.
    let res = app
        .client
        .get(format!("{}{}", app.url, bare(&segment)))
        .header("x-streamhall-relay", "1")
        .header("x-streamhall-relay-auth", "0".repeat(64))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::FORBIDDEN, "playback_token_required").await;

    // The live thumbnail: the offline card without a token.
    let offline = app
        .raw("/api/v1/channels/other/thumbnail.jpg")
        .await
        .bytes()
        .await
        .unwrap();
    let res = app.raw("/api/v1/channels/secret/thumbnail.jpg").await;
    assert_eq!(res.headers()["cache-control"], "private, no-store");
    assert_eq!(res.bytes().await.unwrap(), offline, "the offline card");

    // Chat history needs the token too.
    expect_error(
        app.get("/chat/secret/messages").await,
        StatusCode::FORBIDDEN,
        "playback_token_required",
    )
    .await;
    let res = app
        .get(&format!("/chat/secret/messages?token={token}"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // The owner gets a token without the password.
    app.token_for("secret", Some(&owner.access), json!({}))
        .await;
}

async fn followers_only_channels_hand_tokens_to_followers(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("owner").await;
    let fan = app.register("fan").await;
    let stranger = app.register("stranger").await;
    let moderator = app.register("moddy").await;
    app.create_channel(&owner.access, "club").await;
    let res = app
        .patch_channel("club", &owner.access, json!({"visibility": "followers"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_json("/channels/club/follow", &json!({}), Some(&fan.access))
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let res = app
        .client
        .put(app.api("/channels/club/moderators/moddy"))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    expect_error(
        app.playback_token("club", None, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.playback_token("club", Some(&stranger.access), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "followers_only",
    )
    .await;
    let token = app.token_for("club", Some(&fan.access), json!({})).await;
    app.token_for("club", Some(&moderator.access), json!({}))
        .await;
    app.token_for("club", Some(&owner.access), json!({})).await;
    let admin = app.admin_token().await;
    app.token_for("club", Some(&admin), json!({})).await;

    // The fan's token opens what needs one (chat history here; HLS in the test above).
    let res = app.get(&format!("/chat/club/messages?token={token}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(
        app.get("/chat/club/messages").await,
        StatusCode::FORBIDDEN,
        "playback_token_required",
    )
    .await;
    assert!(app.listed("").await.is_empty(), "not listed");
}

async fn unlisted_channels_are_not_listed_but_play_by_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("owner").await;
    let created = app.create_channel(&owner.access, "hidden").await;
    let key = created["stream_key"].as_str().unwrap().to_owned();
    app.create_channel(&owner.access, "shown").await;
    let res = app
        .patch_channel("hidden", &owner.access, json!({"visibility": "unlisted"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.listed("").await, vec!["shown".to_owned()]);
    assert!(app.listed("?q=hidden").await.is_empty());
    assert_eq!(
        app.get_json("/channels/hidden").await["visibility"],
        "unlisted"
    );

    let _obs = publish(&app.rtmp_url(&key), 640, 360, 120);
    wait_live(&app, "hidden").await;
    expect_error(
        app.raw("/hls/hidden/master.m3u8").await,
        StatusCode::FORBIDDEN,
        "playback_token_required",
    )
    .await;
    // Anyone with the link gets a token, no questions asked.
    let token = app.token_for("hidden", None, json!({})).await;
    let master = format!("/hls/hidden/master.m3u8?token={token}");
    let (_, segment) = poll_until(LIVE_WAIT, "segments", || async {
        let res = app.raw(&master).await;
        (res.status() == StatusCode::OK).then_some(())?;
        Some(follow_playlists(&app, &master, &token).await)
    })
    .await;
    assert_eq!(app.raw(&segment).await.status(), StatusCode::OK);

    // Public again: no token needed, shared caches may keep it.
    let res = app
        .patch_channel("hidden", &owner.access, json!({"visibility": "public"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.raw("/hls/hidden/master.m3u8").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    assert!(app.listed("").await.contains(&"hidden".to_owned()));
}

async fn visibility_changes_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("owner").await;
    let intruder = app.register("intruder").await;
    app.create_channel(&owner.access, "gated").await;

    let res = app
        .patch_channel("gated", &owner.access, json!({"visibility": "password"}))
        .await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(body["field"], "playback_password");
    let res = app
        .patch_channel("gated", &owner.access, json!({"visibility": "secret"}))
        .await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(body["field"], "visibility");
    let res = app
        .patch_channel(
            "gated",
            &owner.access,
            json!({"visibility": "password", "playback_password": "short"}),
        )
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let res = app
        .patch_channel(
            "gated",
            &owner.access,
            json!({"playback_password": PASSWORD}),
        )
        .await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(
        body["field"], "playback_password",
        "a password needs visibility password"
    );
    let res = app
        .patch_channel("gated", &intruder.access, json!({"visibility": "public"}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(
        app.get_json("/channels/gated").await["visibility"],
        "public",
        "nothing changed"
    );

    // Set, then change the title only: the password stays; a new password replaces it.
    let set = json!({"visibility": "password", "playback_password": PASSWORD});
    assert_eq!(
        app.patch_channel("gated", &owner.access, set)
            .await
            .status(),
        StatusCode::OK
    );
    let res = app
        .patch_channel("gated", &owner.access, json!({"title": "still gated"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.token_for("gated", None, json!({"password": PASSWORD}))
        .await;
    let res = app
        .patch_channel(
            "gated",
            &owner.access,
            json!({"playback_password": "another-one"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(
        app.playback_token("gated", None, json!({"password": PASSWORD}))
            .await,
        StatusCode::FORBIDDEN,
        "wrong_password",
    )
    .await;
    app.token_for("gated", None, json!({"password": "another-one"}))
        .await;
    // Leaving `password` forgets the password.
    let res = app
        .patch_channel("gated", &owner.access, json!({"visibility": "followers"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let left = app
        .count("SELECT COUNT(*) FROM channels WHERE playback_password_hash IS NOT NULL")
        .await;
    assert_eq!(left, 0);
}

/// Wrong passwords are throttled per address: past the limit, 429 with `Retry-After`, even
/// for the right password; the right password before then takes its count back.
#[actix_web::test]
async fn password_guesses_are_throttled() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.auth.playback.password_failures_per_ip = 3;
    })
    .await;
    let owner = app.register("owner").await;
    app.create_channel(&owner.access, "vault").await;
    let set = json!({"visibility": "password", "playback_password": PASSWORD});
    assert_eq!(
        app.patch_channel("vault", &owner.access, set)
            .await
            .status(),
        StatusCode::OK
    );
    for _ in 0..3 {
        app.token_for("vault", None, json!({"password": PASSWORD}))
            .await;
    }
    for _ in 0..3 {
        let res = app
            .playback_token("vault", None, json!({"password": "wrong-guess"}))
            .await;
        expect_error(res, StatusCode::FORBIDDEN, "wrong_password").await;
    }
    let res = app
        .playback_token("vault", None, json!({"password": PASSWORD}))
        .await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// Two nodes on one PostgreSQL + Redis: a token minted by node A opens the stream on node B
/// (which fetches it from A, the owner), and B refuses requests without one, or with an
/// expired one, just as A does.
#[actix_web::test]
async fn a_token_from_one_node_works_on_another() {
    let a = spawn_app_with(Backend::Postgres, |c| c.cluster.lease_secs = 2).await;
    let owner = a.register("owner").await;
    let created = a.create_channel(&owner.access, "privy").await;
    let channel_id = created["channel"]["id"].as_i64().unwrap();
    let key = created["stream_key"].as_str().unwrap().to_owned();
    let set = json!({"visibility": "password", "playback_password": PASSWORD});
    assert_eq!(
        a.patch_channel("privy", &owner.access, set).await.status(),
        StatusCode::OK
    );
    let _obs = publish(&a.rtmp_url(&key), 640, 360, 120);
    wait_live(&a, "privy").await;

    let b = restart(&a).await;
    wait_live(&b, "privy").await;
    let token = a
        .token_for("privy", None, json!({"password": PASSWORD}))
        .await;
    let master = format!("/hls/privy/master.m3u8?token={token}");
    let (media, segment) = poll_until(LIVE_WAIT, "segments through B", || async {
        let res = b.raw(&master).await;
        (res.status() == StatusCode::OK).then_some(())?;
        Some(follow_playlists(&b, &master, &token).await)
    })
    .await;
    let res = b.raw(&segment).await;
    assert_eq!(res.status(), StatusCode::OK, "{segment} on B");
    assert_private(&res, "segment on B");
    let master_text = b.raw(&master).await.text().await.unwrap();
    assert!(variants(&master_text).iter().all(|v| !v.is_empty()));

    let expired = mint(channel_id, chrono::Utc::now().timestamp() - 1);
    for path in [&master, &media, &segment] {
        let bare = path.split('?').next().unwrap();
        for node in [&a, &b] {
            expect_error(
                node.raw(bare).await,
                StatusCode::FORBIDDEN,
                "playback_token_required",
            )
            .await;
            let res = node.raw(&format!("{bare}?token={expired}")).await;
            expect_error(res, StatusCode::FORBIDDEN, "playback_token_expired").await;
        }
    }

    // A visibility change made on A applies on B within moments.
    let res = a
        .patch_channel("privy", &owner.access, json!({"visibility": "public"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    eventually(
        Duration::from_secs(10),
        "B sees the channel public",
        || async { b.raw("/hls/privy/master.m3u8").await.status() == StatusCode::OK },
    )
    .await;
}

/// A channel's videos inherit its gate: every file of a public video of a followers-only
/// channel needs a playback token for that channel (the owner's bearer also passes), its
/// playlists pass the token on, and answers are private.
async fn videos_of_a_protected_channel_need_its_token(backend: Backend) {
    use crate::videos::{SEGMENT, fixture, insert_video, put_vod_objects};
    let f = fixture(spawn_app(backend).await).await;
    let app = &f.app;
    let id = insert_video(&f, "members jam", "public", "ready", 1).await;
    put_vod_objects(&f, &id).await;
    let channel_id = app.get_json("/channels/vods").await["id"].as_i64().unwrap();
    let res = app
        .patch_channel("vods", &f.owner.access, json!({"visibility": "followers"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = app
        .token_for("vods", Some(&f.owner.access), json!({}))
        .await;
    let expired = mint(channel_id, chrono::Utc::now().timestamp() - 1);

    let files = [
        format!("/vod/{id}/master.m3u8"),
        format!("/vod/{id}/source/index.m3u8"),
        format!("/vod/{id}/source/{SEGMENT}"),
        format!("/vod/{id}/thumb.jpg"),
    ];
    for path in &files {
        expect_error(
            app.raw(path).await,
            StatusCode::FORBIDDEN,
            "playback_token_required",
        )
        .await;
        let res = app.raw(&format!("{path}?token={expired}")).await;
        expect_error(res, StatusCode::FORBIDDEN, "playback_token_expired").await;
        let res = app.raw(&format!("{path}?token={token}")).await;
        assert_eq!(res.status(), StatusCode::OK, "{path} with a token");
        assert_eq!(res.headers()["cache-control"], "private", "{path}");
        let res = app
            .client
            .get(format!("{}{path}", app.url))
            .bearer_auth(&f.owner.access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path} for the owner");
    }
    let master = app
        .raw(&format!("/vod/{id}/master.m3u8?token={token}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        master.contains(&format!("source/index.m3u8?token={token}")),
        "{master}"
    );
    // Public again: no token needed.
    let res = app
        .patch_channel("vods", &f.owner.access, json!({"visibility": "public"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(app.raw(&files[0]).await.status(), StatusCode::OK);
}
