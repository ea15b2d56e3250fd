//! Ingest beyond RTMP, as streamers use it: a real `ffmpeg` pushing MPEG-TS over SRT (key in
//! the stream id, with and without a passphrase), and a real RTSP camera (GStreamer's RTSP
//! server, `tests/fixtures/rtsp_camera.py`) pulled by the server. Every way in ends in the
//! same stream tree, checked the way a player sees it (HLS decoded with `ffprobe`).

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

use crate::{
    helpers::{Backend, TestApp, key_of, poll_until, spawn_app, spawn_app_with},
    media_tools::{exits, publish, publish_srt},
};

impl TestApp {
    fn srt_url(&self, stream_id: &str, extra: &str) -> String {
        format!("srt://{}?streamid={stream_id}{extra}", self.srt_addr)
    }

    pub(crate) async fn put_ingest(
        &self,
        token: &str,
        slug: &str,
        body: Value,
    ) -> reqwest::Response {
        self.client
            .put(format!("{}/api/v1/channels/{slug}/ingest", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The stream's node in the admin health tree.
    async fn stream_health(&self, slug: &str) -> Option<Value> {
        let admin = self.admin_token().await;
        let tree = self.get_auth_json("/admin/health", &admin).await;
        tree["streams"]
            .as_array()?
            .iter()
            .find(|s| s["slug"] == slug)
            .cloned()
    }
}

#[actix_web::test]
async fn srt_with_the_stream_key_plays_a_wrong_key_is_refused_and_a_reconnect_continues() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.live.grace_secs = 15).await;
    let s = app.register("srtuser").await;
    let key = key_of(&app.create_channel(&s.access, "srt-cam").await);

    let info = app.get_json("/server").await;
    assert_eq!(
        info["srt_url"],
        format!("srt://127.0.0.1:{}", app.srt_addr.port())
    );

    // A wrong key is refused in the handshake: ffmpeg gives up, nothing goes live.
    let mut wrong = publish_srt(
        &app.srt_url(
            "#!::r=live/live_00000000000000000000000000000000,m=publish",
            "",
        ),
        320,
        240,
        30,
    );
    assert!(
        !exits(&mut wrong, Duration::from_secs(10)).await,
        "a wrong key must be refused"
    );
    assert_eq!(app.broadcasts("srt-cam").await, []);

    // The access-control form OBS documents.
    let mut first = publish_srt(
        &app.srt_url(&format!("#!::r=live/{key},m=publish"), ""),
        426,
        240,
        5,
    );
    app.decodes("srt-cam").await;
    assert_eq!(app.channel("srt-cam").await["is_live"], true);
    let health = app
        .stream_health("srt-cam")
        .await
        .expect("stream in health");
    assert_eq!(health["protocol"], "srt");
    let metrics = app.text("/metrics").await.unwrap();
    assert!(
        metrics.contains(r#"streamhall_ingest_publishers{protocol="srt"} 1"#),
        "{metrics}"
    );
    let id = app.channel("srt-cam").await["live"]["broadcast_id"]
        .as_i64()
        .unwrap();
    assert!(exits(&mut first, Duration::from_secs(20)).await);

    // Back within the grace window with the bare-key form: the same broadcast, after a
    // discontinuity.
    let mut second = publish_srt(&app.srt_url(&key, ""), 426, 240, 4);
    app.wait_for_discontinuity("srt-cam", Duration::from_secs(20))
        .await;
    assert_eq!(app.broadcasts("srt-cam").await, [(id, false)]);
    let _ = second.start_kill();
}

#[actix_web::test]
async fn an_srt_passphrase_admits_only_callers_that_encrypt_with_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.register("srtcrypt").await;
    let key = key_of(&app.create_channel(&s.access, "srt-crypt").await);
    let passphrase = "correct horse battery";

    let id = format!("#!::r=live/{key},m=publish");
    // A caller that encrypts while the channel has no passphrase is refused (srt-tokio
    // would panic its listener on that handshake; the later publishes prove it lives).
    let mut eager = publish_srt(
        &app.srt_url(&id, &format!("&passphrase={passphrase}&pbkeylen=16")),
        320,
        240,
        30,
    );
    assert!(!exits(&mut eager, Duration::from_secs(15)).await);
    assert_eq!(app.broadcasts("srt-crypt").await, []);

    let short = app
        .put_ingest(&s.access, "srt-crypt", json!({"srt_passphrase": "short"}))
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let set = app
        .put_ingest(
            &s.access,
            "srt-crypt",
            json!({"srt_passphrase": passphrase}),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let body = set.text().await.unwrap();
    assert!(!body.contains(passphrase), "{body}");
    assert!(body.contains(r#""srt_passphrase_set":true"#), "{body}");
    let stored: Value = app
        .get_auth_json("/channels/srt-crypt/ingest", &s.access)
        .await;
    assert!(!stored.to_string().contains(passphrase));

    // No encryption, then the wrong passphrase: refused, nothing live.
    for extra in [
        String::new(),
        "&passphrase=wrong horse battery&pbkeylen=16".to_owned(),
    ] {
        let mut caller = publish_srt(&app.srt_url(&id, &extra), 320, 240, 30);
        let exited_ok = exits(&mut caller, Duration::from_secs(15)).await;
        assert!(!exited_ok, "refused: {extra:?}");
        assert_eq!(app.broadcasts("srt-crypt").await, [], "{extra:?}");
    }

    let mut right = publish_srt(
        &app.srt_url(&id, &format!("&passphrase={passphrase}&pbkeylen=16")),
        320,
        240,
        30,
    );
    app.decodes("srt-crypt").await;
    let _ = right.start_kill();
}

/// A GStreamer RTSP camera on 127.0.0.1; killed when dropped.
pub(crate) struct Camera {
    child: Child,
    pub(crate) port: u16,
}

impl Camera {
    pub(crate) async fn start(port: u16, user: &str, password: &str) -> Camera {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rtsp_camera.py");
        let mut child = Command::new("/usr/bin/python3")
            .args([script, "--port", &port.to_string()])
            .args(["--user", user, "--password", password])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the RTSP camera fixture needs /usr/bin/python3 with GStreamer (CI={ci}): {e}"
                )
            });
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .expect("the camera fixture to listen in time")
            .unwrap()
            .expect("the camera fixture printed its port (are gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins installed?)");
        Camera {
            child,
            port: line.trim().parse().unwrap(),
        }
    }
}

#[actix_web::test]
async fn an_rtsp_camera_feeds_a_channel_and_its_restart_continues_the_broadcast() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.live.grace_secs = 30;
        c.ingest.allow_private = vec!["127.0.0.1".into()];
    })
    .await;
    let s = app.register("camowner").await;
    let key = key_of(&app.create_channel(&s.access, "door-cam").await);
    let secret = "pa55-camera-secret";
    let mut camera = Camera::start(0, "viewer", secret).await;

    let res = app
        .put_ingest(
            &s.access,
            "door-cam",
            json!({
                "source": "pull",
                "pull_url": format!("rtsp://127.0.0.1:{}/cam", camera.port),
                "pull_username": "viewer",
                "pull_password": secret,
                "pull_always_on": true,
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.decodes("door-cam").await;
    let health = app
        .stream_health("door-cam")
        .await
        .expect("stream in health");
    assert_eq!(health["protocol"], "rtsp");
    let settings = app
        .get_auth_json("/channels/door-cam/ingest", &s.access)
        .await;
    assert_eq!(settings["pull_state"]["state"], "live", "{settings}");
    assert_eq!(settings["pull_has_credentials"], true);
    for body in [
        settings.to_string(),
        app.channel("door-cam").await.to_string(),
        app.get_auth_json("/channels/door-cam/health", &s.access)
            .await
            .to_string(),
    ] {
        assert!(!body.contains(secret), "credentials leaked: {body}");
    }
    let id = app.channel("door-cam").await["live"]["broadcast_id"]
        .as_i64()
        .unwrap();

    // An encoder with the channel's key cannot fight the camera.
    let mut obs = publish(&app.rtmp_url(&key), 320, 240, 30);
    assert!(!exits(&mut obs, Duration::from_secs(10)).await);

    // The camera reboots: the pull reconnects, the same broadcast goes on after a
    // discontinuity.
    let port = camera.port;
    camera.child.kill().await.unwrap();
    poll_until(Duration::from_secs(30), "the pull to notice", || async {
        let s = app
            .get_auth_json("/channels/door-cam/ingest", &s.access)
            .await;
        (s["pull_state"]["state"] == "retrying").then_some(())
    })
    .await;
    let _camera = Camera::start(port, "viewer", secret).await;
    app.wait_for_discontinuity("door-cam", Duration::from_secs(40))
        .await;
    assert_eq!(app.broadcasts("door-cam").await, [(id, false)]);

    // Back to push: the pull stops and the broadcast ends after the grace window (not
    // waited for here); the state says idle.
    let res = app
        .put_ingest(&s.access, "door-cam", json!({"source": "push"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["pull_state"], Value::Null, "{body}");
}

#[actix_web::test]
async fn pull_urls_must_be_rtsp_without_credentials_and_public_unless_allowed() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.register("camcheck").await;
    app.create_channel(&s.access, "cam-check").await;
    for (url, says) in [
        ("rtsp://127.0.0.1:8554/cam", "allow_private"),
        ("rtsp://10.1.2.3/stream1", "allow_private"),
        ("rtsp://198.51.100.7/cam", "documentation"),
        ("rtsp://admin:hunter2@9.9.9.7/cam", "own fields"),
        ("http://9.9.9.7/cam", "rtsp://"),
    ] {
        let res = app
            .put_ingest(
                &s.access,
                "cam-check",
                json!({"source": "pull", "pull_url": url}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let body = res.text().await.unwrap();
        assert!(body.contains(says), "{url}: {body}");
        assert!(!body.contains("hunter2"), "{body}");
    }
    // A public address is taken (not contacted until the pull starts: on demand).
    let res = app
        .put_ingest(
            &s.access,
            "cam-check",
            json!({"source": "pull", "pull_url": "rtsp://9.9.9.7/cam"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["pull_state"]["state"], "idle", "{body}");
    // Another user may not see or change it.
    let other = app.register("nosy").await;
    let res = app
        .put_ingest(&other.access, "cam-check", json!({"source": "push"}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn an_on_demand_camera_is_pulled_over_udp_when_a_viewer_asks() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.ingest.allow_private = vec!["127.0.0.1".into()];
    })
    .await;
    let s = app.register("lobbycam").await;
    app.create_channel(&s.access, "lobby").await;
    let camera = Camera::start(0, "viewer", "lobby-secret-1").await;
    let res = app
        .put_ingest(
            &s.access,
            "lobby",
            json!({
                "source": "pull",
                "pull_url": format!("rtsp://127.0.0.1:{}/cam", camera.port),
                "pull_username": "viewer",
                "pull_password": "lobby-secret-1",
                "pull_transport": "udp",
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["pull_state"]["state"], "idle",
        "nobody watches yet: {body}"
    );
    assert_eq!(app.broadcasts("lobby").await, []);

    // A player asks for the playlist: the pull starts and the stream follows.
    assert!(app.text("/hls/lobby/master.m3u8").await.is_none());
    app.decodes("lobby").await;
    let state = app.get_auth_json("/channels/lobby/ingest", &s.access).await;
    assert_eq!(state["pull_state"]["state"], "live", "{state}");
}
