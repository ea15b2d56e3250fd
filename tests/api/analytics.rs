//! Streamer analytics end to end: a real `ffmpeg` push, scripted players polling the media
//! playlist and fetching its newest segment with their own `vid`, chat from two users, a
//! follow; then the figures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    both_backends,
    chat::Chat,
    helpers::{Backend, TestApp, expect_error, poll_until, spawn_app_with},
    media_tools::{exits, publish, segments, variants},
};

both_backends!(a_scripted_audience_adds_up);

const SLUG: &str = "caster";

/// When each player's segment requests were answered: (first, last).
#[derive(Default)]
struct Players(BTreeMap<&'static str, (Instant, Instant)>);

impl Players {
    /// One media playlist and one segment request per player, as hls.js makes with `vid`
    /// (segments count the viewer, playlists do not).
    async fn poll(&mut self, app: &TestApp, rendition: &str, vids: &[&'static str]) {
        for vid in vids {
            let path = format!("/hls/{SLUG}/{rendition}/index.m3u8?vid={vid}");
            let Some(playlist) = app.text(&path).await else {
                continue;
            };
            let Some((_, seg)) = segments(&playlist).pop() else {
                continue;
            };
            let path = format!("/hls/{SLUG}/{rendition}/{seg}?vid={vid}");
            if app.bytes(&path).await.is_some() {
                let now = Instant::now();
                self.0.entry(vid).or_insert((now, now)).1 = now;
            }
        }
    }

    /// What the sessions should add up to, in seconds.
    fn watched(&self) -> f64 {
        self.0
            .values()
            .map(|(first, last)| (*last - *first).as_secs_f64())
            .sum()
    }
}

async fn analytics(app: &TestApp, path: &str, token: &str) -> Value {
    let res = app.get_auth(path, token).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

async fn a_scripted_audience_adds_up(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.analytics.sample_secs = 1).await;
    let owner = app.register("caster").await;
    let key = app.create_channel(&owner.access, SLUG).await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (alice, bob, carol, stranger) = (
        app.register("alice").await,
        app.register("bob").await,
        app.register("carol").await,
        app.register("stranger").await,
    );
    let mut obs = publish(&app.rtmp_url(&key), 640, 360, 120);
    // Playlists count nobody; segment requests count their requester.
    let master = poll_until(Duration::from_secs(30), "the master playlist", || async {
        app.text(&format!("/hls/{SLUG}/master.m3u8")).await
    })
    .await;
    let rendition = variants(&master)[0].clone();
    let broadcast_id = app.broadcasts(SLUG).await[0].0;

    // Three players for about five seconds, chatting meanwhile; a follow.
    let mut players = Players::default();
    let mut pace = tokio::time::interval(Duration::from_secs(1));
    let mut a = Chat::join(&app, &alice, SLUG).await;
    let mut b = Chat::join(&app, &bob, SLUG).await;
    for i in 0..6 {
        pace.tick().await;
        players
            .poll(&app, &rendition, &["player-1", "player-2", "player-3"])
            .await;
        let said = match i {
            0 | 2 | 4 => a.say(&format!("a{i}"), "hello").await,
            1 | 3 => b.say(&format!("b{i}"), "hi").await,
            _ => continue,
        };
        assert_eq!(said["type"], "ack", "{said}");
    }
    let res = app
        .post_json(
            &format!("/channels/{SLUG}/follow"),
            &json!({}),
            Some(&carol.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "follow");

    // Player 3 leaves; two stay until a sample shows that.
    let left = Instant::now();
    let path = format!("/broadcasts/{broadcast_id}/analytics");
    loop {
        pace.tick().await;
        players
            .poll(&app, &rendition, &["player-1", "player-2"])
            .await;
        let now = analytics(&app, &path, &owner.access).await;
        let samples = now["samples"].as_array().unwrap();
        let peaked = samples.iter().any(|s| s["viewers"] == 3);
        if peaked && samples.last().is_some_and(|s| s["viewers"] == 2) {
            break;
        }
        assert!(
            left.elapsed() < Duration::from_secs(20),
            "no sample of 3 then 2 viewers: {now}"
        );
    }
    players
        .poll(&app, &rendition, &["player-1", "player-2"])
        .await;
    let last_request = chrono::Utc::now();

    // The end.
    let admin = app.admin_token().await;
    let res = app
        .post_json(
            &format!("/admin/streams/{SLUG}/stop"),
            &json!({}),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(!exits(&mut obs, Duration::from_secs(10)).await);
    // A sample after the last request means the sessions as of then are stored.
    let last = poll_until(Duration::from_secs(15), "the final figures", || async {
        let now = analytics(&app, &path, &owner.access).await;
        let sampled_after = now["samples"]
            .as_array()
            .and_then(|s| s.last())
            .and_then(|s| s["at"].as_str())
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .is_some_and(|at| at > last_request);
        (!now["summary"]["ended_at"].is_null() && sampled_after).then_some(now)
    })
    .await;
    let s = &last["summary"];
    assert_eq!(s["broadcast_id"], broadcast_id);
    assert_eq!(s["peak_viewers"], 3, "{s}");
    assert_eq!(s["unique_viewers"], 3, "{s}");
    let watch = s["watch_time_s"].as_f64().unwrap();
    let watched = players.watched();
    assert!(
        (watched - 1.5..=watched + 1.5).contains(&watch),
        "watched {watch} s, the players {watched:.1} s: {s}"
    );
    assert_eq!(s["avg_watch_s"].as_f64().unwrap(), watch / 3.0);
    assert_eq!(s["chat_messages"], 5, "{s}");
    assert_eq!(s["chatters"], 2, "{s}");
    assert_eq!(s["new_followers"], 1, "{s}");
    assert!(s["duration_s"].as_i64().unwrap() >= 10, "{s}");
    let avg = s["avg_viewers"].as_f64().unwrap();
    assert!(avg > 0.0 && avg <= 3.0, "{s}");

    // Samples: one a second, the viewers as scripted, every chat message in exactly one.
    let samples = last["samples"].as_array().unwrap();
    let duration = s["duration_s"].as_i64().unwrap();
    assert!(samples.len() as i64 >= duration / 2, "{samples:?}");
    assert!(samples.iter().all(|x| x["broadcast_id"] == broadcast_id));
    assert!(samples.iter().all(|x| x["viewers"].as_i64().unwrap() <= 3));
    let three = samples.iter().position(|x| x["viewers"] == 3).unwrap();
    assert!(samples[three..].iter().any(|x| x["viewers"] == 2));
    let messages: i64 = samples
        .iter()
        .map(|x| x["chat_messages"].as_i64().unwrap())
        .sum();
    assert_eq!(messages, 5);
    assert!(samples.iter().all(|x| x["chatters"].as_i64().unwrap() <= 2));

    // The channel over the default range: the same broadcast, the follow.
    let ch = analytics(&app, &format!("/channels/{SLUG}/analytics"), &owner.access).await;
    assert_eq!(ch["broadcasts"].as_array().unwrap().len(), 1, "{ch}");
    assert_eq!(ch["broadcasts"][0], last["summary"]);
    assert_eq!(ch["samples"].as_array().unwrap().len(), samples.len());
    assert_eq!(
        (ch["followers_total"].clone(), ch["new_followers"].clone()),
        (json!(1), json!(1))
    );
    // An admin may look too.
    analytics(&app, &path, &admin).await;

    // Nobody else; unknown ids; bad ranges.
    expect_error(
        app.get_auth(&path, &stranger.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get_auth(&format!("/channels/{SLUG}/analytics"), &stranger.access)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get(&path).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.get_auth("/broadcasts/999999/analytics", &owner.access)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for query in [
        "from=2026-11-20T00:00:00Z&to=2026-11-19T00:00:00Z",
        "from=2026-01-01T00:00:00Z&to=2026-11-01T00:00:00Z",
        "from=yesterday",
    ] {
        expect_error(
            app.get_auth(
                &format!("/channels/{SLUG}/analytics?{query}"),
                &owner.access,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    // A range before the broadcast holds none of it.
    let old = analytics(
        &app,
        &format!("/channels/{SLUG}/analytics?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"),
        &owner.access,
    )
    .await;
    assert_eq!(old["samples"], json!([]));
    assert_eq!(old["broadcasts"], json!([]));
    assert_eq!(old["new_followers"], 0);
}
