//! Live streaming end to end: a real `ffmpeg` pushes RTMP with the channel's key, the server
//! transcodes, and the test plays the HLS back as a player would, checking it with `ffprobe`.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, eventually, expect_error, poll_until, spawn_app, spawn_app_with},
    media_tools::{exits, probe, publish, segments, variants},
};

both_backends!(reconnect_within_grace_continues_then_the_broadcast_ends);

impl TestApp {
    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.rtmp_addr)
    }

    pub async fn text(&self, path: &str) -> Option<String> {
        let res = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .ok()?;
        if res.status() != StatusCode::OK {
            return None;
        }
        res.text().await.ok()
    }

    pub async fn bytes(&self, path: &str) -> Option<Vec<u8>> {
        let res = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .ok()?;
        (res.status() == StatusCode::OK).then_some(())?;
        res.bytes().await.ok().map(|b| b.to_vec())
    }

    pub async fn channel(&self, slug: &str) -> Value {
        self.get_json(&format!("/channels/{slug}")).await
    }

    pub async fn admin_token(&self) -> String {
        let (name, password) = self.first_admin.clone().expect("first admin");
        let body: Value = self.login(&name, &password).await.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// The broadcasts rows of a channel: (id, ended).
    pub async fn broadcasts(&self, slug: &str) -> Vec<(i64, bool)> {
        let sql = format!(
            "SELECT b.id AS id, CASE WHEN b.ended_at IS NULL THEN 0 ELSE 1 END AS ended \
             FROM broadcasts b JOIN channels c ON c.id = b.channel_id WHERE c.slug = '{slug}' ORDER BY b.id"
        );
        let rows = self
            .db
            .query_all_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get::<i64>("", "id").unwrap(),
                    r.try_get::<i32>("", "ended").unwrap() == 1,
                )
            })
            .collect()
    }

    /// Waits for 2 segments of `source`, then checks the newest decodes with H.264 and audio.
    pub async fn decodes(&self, slug: &str) {
        let playlist = self
            .wait_for_segments(slug, "source", 2, Duration::from_secs(40))
            .await;
        let (_, name) = segments(&playlist).pop().unwrap();
        let bytes = self
            .bytes(&format!("/hls/{slug}/source/{name}"))
            .await
            .expect("segment");
        let p = probe(&bytes);
        assert_eq!(p.video_codec, "h264", "{p:?}");
        assert!(p.audio_codec.is_some(), "{p:?}");
    }

    /// Waits until `source` lists segments after a discontinuity (a publisher came back).
    pub async fn wait_for_discontinuity(&self, slug: &str, within: Duration) {
        let path = format!("/hls/{slug}/source/index.m3u8");
        eventually(within, "segments after a discontinuity", || async {
            let p = self.text(&path).await.unwrap_or_default();
            p.split("#EXT-X-DISCONTINUITY\n")
                .nth(1)
                .is_some_and(|after| !segments(after).is_empty())
        })
        .await;
    }

    pub async fn wait_for_segments(
        &self,
        slug: &str,
        rendition: &str,
        n: usize,
        within: Duration,
    ) -> String {
        let path = format!("/hls/{slug}/{rendition}/index.m3u8");
        poll_until(within, &format!("{n} segments in {rendition}"), || async {
            self.text(&path).await.filter(|p| segments(p).len() >= n)
        })
        .await
    }
}

#[actix_web::test]
async fn push_transcode_and_play_the_ladder() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.register("caster").await;
    let key = app.create_channel(&s.access, "caster").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut obs = publish(&app.rtmp_url(&key), 1280, 720, 40);

    // The master playlist lists the source and every rendition below 720p: no second 720p.
    let master = poll_until(Duration::from_secs(20), "the master playlist", || async {
        app.text("/hls/caster/master.m3u8").await
    })
    .await;
    let names = variants(&master);
    assert_eq!(names, ["source", "480p", "360p"], "{master}");
    for attr in [
        "BANDWIDTH=",
        "RESOLUTION=1280x720",
        "RESOLUTION=854x480",
        "RESOLUTION=640x360",
        "CODECS=\"avc1.",
        "FRAME-RATE=",
    ] {
        assert!(master.contains(attr), "master lacks {attr}:\n{master}");
    }

    // Each rendition decodes at its size; transcoded segments are about a second.
    for (name, width, height) in [
        ("source", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ] {
        let playlist = app
            .wait_for_segments("caster", name, 3, Duration::from_secs(20))
            .await;
        assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
        let segs = segments(&playlist);
        if name != "source" {
            for (d, uri) in &segs[..segs.len() - 1] {
                assert!((0.8..=1.2).contains(d), "{name} {uri} lasts {d}s");
            }
        }
        let data = app
            .bytes(&format!("/hls/caster/{name}/{}", segs[0].1))
            .await
            .expect("segment");
        let p = probe(&data);
        assert_eq!(
            (p.video_codec.as_str(), p.width, p.height),
            ("h264", width, height),
            "{name}"
        );
        assert_eq!(p.audio_codec.as_deref(), Some("aac"), "{name}");
    }

    // Segment responses: immutable, open CORS, ranges.
    let seg = segments(&app.text("/hls/caster/360p/index.m3u8").await.unwrap())[0]
        .1
        .clone();
    let res = app
        .client
        .get(format!("{}/hls/caster/360p/{seg}", app.url))
        .header("range", "bytes=0-187")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(
        res.bytes().await.unwrap()[0],
        0x47,
        "an MPEG-TS packet starts with 0x47"
    );
    assert_eq!(
        app.client
            .get(format!(
                "{}/hls/caster/360p/..%2F..%2Fetc%2Fpasswd",
                app.url
            ))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.client
            .get(format!("{}/hls/caster/9000p/index.m3u8", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // The channel is live, with a broadcast row, and counts this player as a viewer (on its
    // segment request).
    let newest = segments(&app.text("/hls/caster/360p/index.m3u8").await.unwrap())
        .pop()
        .unwrap()
        .1;
    app.bytes(&format!("/hls/caster/360p/{newest}?vid=test-viewer-0001"))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "the viewer to count", || async {
        let c = app.channel("caster").await;
        c["is_live"] == true && c["viewer_count"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    let c = app.channel("caster").await;
    assert_eq!(
        c["live"]["playback_url"],
        format!("{}/hls/caster/master.m3u8", app.url)
    );
    assert_eq!(c["live"]["renditions"].as_array().unwrap().len(), 3);
    assert_eq!(c["stream_status"], "live");
    let broadcasts = app.broadcasts("caster").await;
    assert_eq!(broadcasts.len(), 1);
    assert_eq!(
        broadcasts[0],
        (c["live"]["broadcast_id"].as_i64().unwrap(), false)
    );

    // A thumbnail appears and is a JPEG.
    eventually(Duration::from_secs(25), "a live thumbnail", || async {
        let res = app.get("/channels/caster/thumbnail.jpg").await;
        let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
        let body = res.bytes().await.unwrap();
        cache.contains("max-age=5") && body.starts_with(&[0xFF, 0xD8]) && body.len() > 2000
    })
    .await;

    // The health tree shows the stream and its four children.
    let admin = app.admin_token().await;
    let health: Value = app
        .get_auth("/admin/health", &admin)
        .await
        .json()
        .await
        .unwrap();
    let stream = health["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == "caster")
        .expect("stream in health")
        .clone();
    let mut kinds: Vec<&str> = stream["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["ingest", "segment", "thumbnail", "transcode"]);
    assert_eq!(stream["ingest"]["video"]["width"], 1280);
    let expect_forbidden = app.get_auth("/admin/health", &s.access).await;
    expect_error(expect_forbidden, StatusCode::FORBIDDEN, "forbidden").await;

    // Killing the transcoder: new segments follow a discontinuity within a few seconds.
    let pid = stream["ffmpeg_pid"].as_u64().expect("ffmpeg pid");
    let before = segments(&app.text("/hls/caster/360p/index.m3u8").await.unwrap())
        .last()
        .unwrap()
        .1
        .clone();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    eventually(
        Duration::from_secs(8),
        "segments after the transcoder restart",
        || async {
            let p = app
                .text("/hls/caster/360p/index.m3u8")
                .await
                .unwrap_or_default();
            p.contains("#EXT-X-DISCONTINUITY\n")
                && segments(&p).last().is_some_and(|(_, u)| *u != before)
                && p.split("#EXT-X-DISCONTINUITY\n")
                    .nth(1)
                    .is_some_and(|after| !segments(after).is_empty())
        },
    )
    .await;
    let health: Value = app
        .get_auth("/admin/health", &admin)
        .await
        .json()
        .await
        .unwrap();
    let stream = &health["streams"][0];
    let transcode = stream["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "transcode")
        .unwrap();
    assert!(transcode["restarts"].as_u64().unwrap() >= 1, "{transcode}");

    // An admin stops the stream: the publisher is cut and the broadcast ends.
    let res = app
        .post_json("/admin/streams/caster/stop", &json!({}), Some(&admin))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        !exits(&mut obs, Duration::from_secs(10)).await,
        "the publisher is disconnected"
    );
    eventually(Duration::from_secs(5), "the broadcast to end", || async {
        app.broadcasts("caster").await == [(broadcasts[0].0, true)]
            && app.channel("caster").await["is_live"] == false
    })
    .await;
    assert!(
        app.text("/hls/caster/360p/index.m3u8")
            .await
            .is_none_or(|p| p.contains("#EXT-X-ENDLIST"))
    );
}

#[actix_web::test]
async fn wrong_keys_are_refused_and_two_channels_stream_at_once() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.register("duo").await;
    let a = app.create_channel(&s.access, "duo-a").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = app.create_channel(&s.access, "duo-b").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut wrong = publish(
        &app.rtmp_url("live_00000000000000000000000000000000"),
        320,
        240,
        5,
    );
    assert!(
        !exits(&mut wrong, Duration::from_secs(10)).await,
        "a wrong key must be refused"
    );

    // Hostile connections close without disturbing anyone.
    use tokio::io::AsyncWriteExt;
    let mut junk = tokio::net::TcpStream::connect(app.rtmp_addr).await.unwrap();
    junk.write_all(&[0x42; 4096]).await.unwrap();

    let mut pa = publish(&app.rtmp_url(&a), 426, 240, 30);
    let mut pb = publish(&app.rtmp_url(&format!("{b}?token=obs")), 426, 240, 30);
    for slug in ["duo-a", "duo-b"] {
        app.wait_for_segments(slug, "source", 2, Duration::from_secs(20))
            .await;
        assert_eq!(app.channel(slug).await["is_live"], true);
    }
    let listed: Value = app.get_json("/channels?live=true").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let _ = pa.start_kill();
    let _ = pb.start_kill();
}

async fn reconnect_within_grace_continues_then_the_broadcast_ends(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.live.grace_secs = 4).await;
    let s = app.register("flaky").await;
    let key = app.create_channel(&s.access, "flaky").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut first = publish(&app.rtmp_url(&key), 426, 240, 4);
    app.wait_for_segments("flaky", "source", 2, Duration::from_secs(20))
        .await;
    let id = app.channel("flaky").await["live"]["broadcast_id"]
        .as_i64()
        .unwrap();
    assert!(exits(&mut first, Duration::from_secs(15)).await);

    // Back within the grace window: the same broadcast, a discontinuity, more segments.
    let mut second = publish(&app.rtmp_url(&key), 426, 240, 3);
    app.wait_for_discontinuity("flaky", Duration::from_secs(15))
        .await;
    assert_eq!(
        app.channel("flaky").await["live"]["broadcast_id"].as_i64(),
        Some(id)
    );
    assert_eq!(app.broadcasts("flaky").await, [(id, false)]);
    assert!(exits(&mut second, Duration::from_secs(15)).await);

    // After the window, the broadcast ends and the playlist says so.
    eventually(
        Duration::from_secs(15),
        "the broadcast to end after the grace window",
        || async { app.broadcasts("flaky").await == [(id, true)] },
    )
    .await;
    assert_eq!(app.channel("flaky").await["is_live"], false);
    if let Some(p) = app.text("/hls/flaky/source/index.m3u8").await {
        assert!(p.contains("#EXT-X-ENDLIST"), "{p}");
    }
}

#[actix_web::test]
async fn admin_health_websocket_authenticates_by_first_message() {
    use awc::ws::Message;
    use futures_util::{SinkExt, StreamExt};

    let app = spawn_app(Backend::Sqlite).await;
    let user = app.register("nosy").await;
    let url = format!(
        "{}/api/v1/admin/health/ws",
        app.url.replace("http://", "ws://")
    );

    // A signed-in non-admin is refused with a policy close.
    let (_, mut ws) = awc::Client::new().ws(&url).connect().await.unwrap();
    ws.send(Message::Text(
        json!({"type": "auth", "token": user.access})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap();
    assert!(
        matches!(frame, Some(Ok(awc::ws::Frame::Close(Some(ref r)))) if r.code == awc::ws::CloseCode::Policy),
        "{frame:?}"
    );

    // An admin gets the tree at once and then every second.
    let admin = app.admin_token().await;
    let (_, mut ws) = awc::Client::new().ws(&url).connect().await.unwrap();
    ws.send(Message::Text(
        json!({"type": "auth", "token": admin}).to_string().into(),
    ))
    .await
    .unwrap();
    for _ in 0..2 {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let awc::ws::Frame::Text(text) = frame else {
            panic!("expected the tree, got {frame:?}")
        };
        let tree: Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(tree["registry"]["kind"], "registry");
        assert_eq!(tree["presence"]["kind"], "presence");
        assert!(tree["streams"].is_array());
    }
}

#[actix_web::test]
async fn an_8_second_keyframe_interval_warns_and_transcoded_segments_stay_short() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.register("obsdefault").await;
    let key = app.create_channel(&s.access, "obsdefault").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // OBS Simple output: a keyframe every 250 frames.
    // 480p, so the ladder transcodes 360p (a 360p source would get passthrough only).
    let mut obs = crate::media_tools::publish_with_gop(&app.rtmp_url(&key), 854, 480, 30, 250);
    let playlist = app
        .wait_for_segments("obsdefault", "360p", 5, Duration::from_secs(30))
        .await;
    let segs = segments(&playlist);
    for (d, uri) in &segs[..segs.len() - 1] {
        assert!(
            (0.8..=1.2).contains(d),
            "360p {uri} lasts {d}s despite the 8 s source GOP"
        );
    }
    let admin = app.admin_token().await;
    let warning = poll_until(
        Duration::from_secs(15),
        "a keyframe warning in health",
        || async {
            let health: Value = app
                .get_auth("/admin/health", &admin)
                .await
                .json()
                .await
                .ok()?;
            let warnings = health["streams"][0]["warnings"].as_array()?.clone();
            warnings.iter().find_map(|w| {
                w.as_str()
                    .filter(|w| w.to_lowercase().contains("keyframe"))
                    .map(str::to_owned)
            })
        },
    )
    .await;
    assert!(
        warning.contains('8') || warning.contains("2 s"),
        "{warning}"
    );
    let _ = obs.start_kill();
}
