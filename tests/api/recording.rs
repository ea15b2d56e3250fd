//! Recording end to end: a real `ffmpeg` pushes, the broadcast ends, and the VOD is played back
//! from the object store (the filesystem default, and S3 at `STREAMHALL_TEST_S3`), rewound
//! live through the DVR window, clipped, survives a store outage and a crash, and is deleted
//! down to its last object.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use streamhall::config::Config;
use streamhall_media::objects::{ObjectStore, ObjectsBackend, open_store};
use tokio::net::{TcpListener, TcpStream};

use crate::{
    helpers::{Backend, TestApp, poll_until, spawn_app_with},
    media_tools::{exits, probe, publish, segments, variants},
};

/// The S3-compatible server the test command started; with `CI=true` its absence fails.
pub(crate) fn s3_endpoint() -> Option<String> {
    match std::env::var("STREAMHALL_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "STREAMHALL_TEST_S3 is not set and CI=true: ./dev test starts moto_server and sets it"
            );
            eprintln!("STREAMHALL_TEST_S3 is not set: skipping the S3 half (./dev test sets it)");
            None
        }
    }
}

/// A fresh bucket on the test S3 server. moto accepts an unsigned `PUT /{bucket}`.
pub(crate) async fn fresh_bucket(endpoint: &str) -> String {
    let bucket = format!("rec-{}", uuid::Uuid::new_v4().simple());
    let res = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    bucket
}

fn use_s3(c: &mut Config, endpoint: &str, bucket: &str) {
    c.objects.backend = ObjectsBackend::S3;
    c.objects.s3.endpoint = endpoint.to_owned();
    c.objects.s3.bucket = bucket.to_owned();
    c.objects.s3.access_key = "test".into();
    c.objects.s3.secret_key = SecretString::from("test-secret");
}

/// Short grace, two renditions (a 480p source gives `source` and `360p`).
fn quick(c: &mut Config) {
    c.live.grace_secs = 2;
}

async fn store_of(app: &TestApp) -> Arc<dyn ObjectStore> {
    open_store(&app.config.objects, &app.config.data_dir)
        .await
        .expect("open the server's store")
}

impl TestApp {
    async fn videos(&self, slug: &str, token: &str) -> Vec<Value> {
        let body = self
            .get_auth_json(&format!("/channels/{slug}/videos"), token)
            .await;
        body["items"].as_array().cloned().unwrap_or_default()
    }

    async fn wait_ready_video(&self, slug: &str, token: &str, within: Duration) -> Value {
        poll_until(within, "the VOD to be ready", || async {
            let v = self.videos(slug, token).await.into_iter().next()?;
            assert_ne!(v["status"], "failed", "the recording failed: {v}");
            (v["status"] == "ready").then_some(v)
        })
        .await
    }

    async fn wait_ready_clip(&self, id: &str, within: Duration) -> Value {
        poll_until(within, "the clip to be ready", || async {
            let c = self.get_json(&format!("/clips/{id}")).await;
            assert_ne!(c["status"], "failed", "the clip failed: {c}");
            (c["status"] == "ready").then_some(c)
        })
        .await
    }

    async fn stream_key(&self, token: &str, slug: &str) -> String {
        self.create_channel(token, slug).await["stream_key"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The path part of an absolute URL the API returned.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/".into(), |i| rest[i..].to_owned())
}

/// Every segment of a playlist, fetched, must decode at `height`; returns their durations' sum.
async fn check_rendition(app: &TestApp, base: &str, playlist: &str, height: u64) -> f64 {
    let segs = segments(playlist);
    assert!(!segs.is_empty(), "{playlist}");
    // First, middle and last: each is a self-contained TS that decodes.
    for i in [0, segs.len() / 2, segs.len() - 1] {
        let data = app
            .bytes(&format!("{base}/{}", segs[i].1))
            .await
            .unwrap_or_else(|| panic!("segment {} of {base}", segs[i].1));
        let p = probe(&data);
        assert_eq!(
            (p.video_codec.as_str(), p.height),
            ("h264", height),
            "{base}: {p:?}"
        );
        assert_eq!(p.audio_codec.as_deref(), Some("aac"), "{base}: {p:?}");
    }
    segs.iter().map(|s| s.0).sum()
}

async fn a_broadcast_becomes_a_vod_that_plays_is_clipped_and_deleted(app: TestApp) {
    let s = app.register("vodder").await;
    let key = app.stream_key(&s.access, "vodder").await;
    let mut obs = publish(&app.rtmp_url(&key), 854, 480, 20);
    assert!(
        exits(&mut obs, Duration::from_secs(60)).await,
        "ffmpeg push failed"
    );

    let v = app
        .wait_ready_video("vodder", &s.access, Duration::from_secs(90))
        .await;
    let id = v["id"].as_str().unwrap().to_owned();
    let duration = v["duration_secs"].as_f64().unwrap();
    assert!(
        (duration - 20.0).abs() <= 1.5,
        "VOD lasts {duration} s: {v}"
    );
    assert_eq!(v["missing_segments"], 0, "{v}");

    // The master lists both renditions; each plays to an ENDLIST and decodes at its size.
    let master_path = path_of(v["playback_url"].as_str().unwrap());
    let master = app.text(&master_path).await.expect("VOD master");
    assert_eq!(variants(&master), ["source", "360p"], "{master}");
    for (name, height) in [("source", 480), ("360p", 360)] {
        let base = format!("/vod/{id}/{name}");
        let playlist = app
            .text(&format!("{base}/index.m3u8"))
            .await
            .expect("playlist");
        assert!(playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{playlist}");
        assert!(
            playlist.trim_end().ends_with("#EXT-X-ENDLIST"),
            "{playlist}"
        );
        let total = check_rendition(&app, &base, &playlist, height).await;
        assert!(
            (total - duration).abs() <= 1.5,
            "{name}: {total} s vs {duration} s"
        );
    }
    let thumb = app
        .bytes(&format!("/vod/{id}/thumb.jpg"))
        .await
        .expect("thumbnail");
    assert_eq!(&thumb[..2], &[0xFF, 0xD8], "a JPEG");
    let vtt = app
        .text(&format!("/vod/{id}/sprite.vtt"))
        .await
        .expect("sprite index");
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("sprite.jpg#xywh="),
        "{vtt}"
    );

    // A clip of 15 s from the VOD, within a GOP (1 s) of 15 s.
    let res = app
        .post_json(
            &format!("/videos/{id}/clips"),
            &json!({"start": 2.0, "end": 17.0, "title": "the good part"}),
            Some(&s.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let clip: Value = res.json().await.unwrap();
    let clip = app
        .wait_ready_clip(clip["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    let clip_len = clip["duration_secs"].as_f64().unwrap();
    assert!(
        (clip_len - 15.0).abs() <= 1.0,
        "clip lasts {clip_len} s: {clip}"
    );
    let mp4 = app
        .bytes(&path_of(clip["mp4_url"].as_str().unwrap()))
        .await
        .expect("clip mp4");
    let p = probe(&mp4);
    assert_eq!((p.video_codec.as_str(), p.height), ("h264", 480), "{p:?}");
    assert_eq!(p.audio_codec.as_deref(), Some("aac"), "{p:?}");

    // Delete: every object of the VOD goes (the clip keeps its own).
    let store = store_of(&app).await;
    assert!(!store.list(&format!("vod/{id}/")).await.unwrap().is_empty());
    let res = app
        .client
        .delete(app.api(&format!("/videos/{id}")))
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let left = store.list(&format!("vod/{id}/")).await.unwrap();
    assert!(left.is_empty(), "objects left after delete: {left:?}");
    assert!(app.text(&master_path).await.is_none());
    assert!(app.videos("vodder", &s.access).await.is_empty());
    let clip_id = clip["id"].as_str().unwrap();
    assert!(
        !store
            .list(&format!("clips/{clip_id}/"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[actix_web::test]
async fn a_vod_on_the_filesystem_store() {
    let app = spawn_app_with(Backend::Sqlite, quick).await;
    assert_eq!(app.config.objects.backend, ObjectsBackend::Fs);
    a_broadcast_becomes_a_vod_that_plays_is_clipped_and_deleted(app).await;
}

#[actix_web::test]
async fn a_vod_on_s3_with_postgres() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let bucket = fresh_bucket(&endpoint).await;
    let app = spawn_app_with(Backend::Postgres, |c| {
        quick(c);
        use_s3(c, &endpoint, &bucket);
    })
    .await;
    a_broadcast_becomes_a_vod_that_plays_is_clipped_and_deleted(app).await;
}

/// Viewers rewind past the live window, segments come from the recording, and a live clip of
/// the last 15 s is cut while the broadcast goes on.
#[actix_web::test]
async fn live_viewers_rewind_and_clip_the_last_seconds() {
    let app = spawn_app_with(Backend::Sqlite, quick).await;
    let s = app.register("rewinder").await;
    let key = app.stream_key(&s.access, "rewinder").await;
    let mut obs = publish(&app.rtmp_url(&key), 640, 360, 45);

    let ch = poll_until(
        Duration::from_secs(30),
        "the channel to be live",
        || async {
            let ch = app.channel("rewinder").await;
            (ch["is_live"] == true).then_some(ch)
        },
    )
    .await;
    assert_eq!(
        path_of(ch["live"]["dvr_url"].as_str().unwrap()),
        "/hls/rewinder/dvr.m3u8"
    );
    // The live window holds 10 segments; after 20 the DVR playlist holds them all.
    let dvr = poll_until(
        Duration::from_secs(40),
        "20 segments in the DVR window",
        || async {
            app.text("/hls/rewinder/source/dvr.m3u8")
                .await
                .filter(|p| segments(p).len() >= 20)
        },
    )
    .await;
    let live = app.text("/hls/rewinder/source/index.m3u8").await.unwrap();
    assert!(
        segments(&live).len() < segments(&dvr).len(),
        "{live}\n{dvr}"
    );
    let master = app
        .text("/hls/rewinder/dvr.m3u8")
        .await
        .expect("DVR master");
    assert!(master.contains("source/dvr.m3u8"), "{master}");
    // The oldest one has left the live window: it comes from the recording.
    let oldest = &segments(&dvr)[0].1;
    assert!(!live.contains(oldest.as_str()));
    let data = app
        .bytes(&format!("/hls/rewinder/source/{oldest}"))
        .await
        .expect("a rewound segment");
    assert_eq!(probe(&data).height, 360);

    let res = app
        .post_json(
            "/channels/rewinder/clips",
            &json!({"seconds": 15}),
            Some(&s.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let clip: Value = res.json().await.unwrap();
    let clip = app
        .wait_ready_clip(clip["id"].as_str().unwrap(), Duration::from_secs(60))
        .await;
    let len = clip["duration_secs"].as_f64().unwrap();
    assert!((len - 15.0).abs() <= 1.0, "clip lasts {len} s: {clip}");
    let p = probe(
        &app.bytes(&path_of(clip["mp4_url"].as_str().unwrap()))
            .await
            .unwrap(),
    );
    assert_eq!(p.height, 360);
    let listed = app.get_json("/channels/rewinder/clips").await;
    assert_eq!(listed["items"][0]["id"], clip["id"]);
    obs.kill().await.ok();
}

/// The transcoder killed mid-stream, then the publisher dropping and coming back within the
/// grace window: one recording, with a discontinuity at each interruption.
#[actix_web::test]
async fn a_transcoder_kill_and_a_grace_reconnect_stay_one_recording() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.live.grace_secs = 8).await;
    let s = app.register("dropper").await;
    let key = app.stream_key(&s.access, "dropper").await;
    let mut first = publish(&app.rtmp_url(&key), 640, 360, 12);
    let pid = poll_until(Duration::from_secs(30), "a live transcoder", || async {
        let tree = app.live.health().await;
        let st = tree.streams.first()?;
        (st.segments_produced >= 4)
            .then_some(st.ffmpeg_pid)
            .flatten()
    })
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(exits(&mut first, Duration::from_secs(30)).await);
    let mut second = publish(&app.rtmp_url(&key), 640, 360, 8);
    assert!(exits(&mut second, Duration::from_secs(30)).await);

    let v = app
        .wait_ready_video("dropper", &s.access, Duration::from_secs(60))
        .await;
    assert_eq!(app.videos("dropper", &s.access).await.len(), 1);
    let id = v["id"].as_str().unwrap();
    let playlist = app
        .text(&format!("/vod/{id}/source/index.m3u8"))
        .await
        .unwrap();
    let breaks = playlist.matches("#EXT-X-DISCONTINUITY").count();
    assert!(breaks >= 2, "one per interruption:\n{playlist}");
    // The restart loses what was in the dead ffmpeg; the rest of 20 s is there.
    let d = v["duration_secs"].as_f64().unwrap();
    assert!(d > 14.0 && d <= 21.0, "{d} s: {v}");
}

/// A channel that keeps no recordings: rewind while live, nothing afterwards.
#[actix_web::test]
async fn a_channel_without_recording_keeps_nothing() {
    let app = spawn_app_with(Backend::Sqlite, quick).await;
    let s = app.register("ephemeral").await;
    let key = app.stream_key(&s.access, "ephemeral").await;
    let res = app
        .client
        .patch(app.api("/channels/ephemeral"))
        .bearer_auth(&s.access)
        .json(&json!({"record_vods": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut obs = publish(&app.rtmp_url(&key), 640, 360, 6);
    assert!(exits(&mut obs, Duration::from_secs(30)).await);
    let store = store_of(&app).await;
    poll_until(
        Duration::from_secs(30),
        "the DVR copy to be removed",
        || async {
            let offline = app.channel("ephemeral").await["is_live"] == false;
            let left = store.list("vod/").await.unwrap();
            (offline && left.is_empty()).then_some(())
        },
    )
    .await;
    assert!(app.videos("ephemeral", &s.access).await.is_empty());
}

/// A TCP proxy that can be cut: connections are dropped while `down`.
struct Cuttable {
    addr: std::net::SocketAddr,
    down: Arc<AtomicBool>,
}

async fn cuttable_proxy(upstream: &str) -> Cuttable {
    let target = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&down);
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            if flag.load(Ordering::SeqCst) {
                continue;
            }
            let target = target.clone();
            let flag = Arc::clone(&flag);
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(&target).await else {
                    return;
                };
                let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                tokio::pin!(copy);
                // Cutting also ends the connections already open.
                loop {
                    tokio::select! {
                        _ = &mut copy => return,
                        () = tokio::time::sleep(Duration::from_millis(50)) => {
                            if flag.load(Ordering::SeqCst) { return; }
                        }
                    }
                }
            });
        }
    });
    Cuttable { addr, down }
}

/// The store is unreachable for 10 s mid-broadcast: segments wait in the spool, the streamer
/// and admins are told, and the VOD is complete afterwards.
#[actix_web::test]
async fn the_recording_survives_a_store_outage() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let bucket = fresh_bucket(&endpoint).await;
    let proxy = cuttable_proxy(&endpoint).await;
    let via = format!("http://{}", proxy.addr);
    let app = spawn_app_with(Backend::Sqlite, |c| {
        quick(c);
        use_s3(c, &via, &bucket);
    })
    .await;
    let s = app.register("outage").await;
    let key = app.stream_key(&s.access, "outage").await;
    let mut obs = publish(&app.rtmp_url(&key), 640, 360, 30);
    poll_until(
        Duration::from_secs(30),
        "the channel to be live",
        || async { (app.channel("outage").await["is_live"] == true).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.down.store(true, Ordering::SeqCst);
    let warning = poll_until(Duration::from_secs(10), "the outage in health", || async {
        let tree = app.live.health().await;
        let st = tree.streams.first()?;
        let rec = st.recording.as_ref()?;
        (rec.state == "store_unavailable").then(|| st.warnings.join(" | "))
    })
    .await;
    assert!(warning.contains("cannot reach object storage"), "{warning}");
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.down.store(false, Ordering::SeqCst);
    assert!(exits(&mut obs, Duration::from_secs(60)).await);

    let v = app
        .wait_ready_video("outage", &s.access, Duration::from_secs(90))
        .await;
    assert_eq!(v["missing_segments"], 0, "{v}");
    let id = v["id"].as_str().unwrap();
    let playlist = app
        .text(&format!("/vod/{id}/source/index.m3u8"))
        .await
        .unwrap();
    assert!(!playlist.contains("DISCONTINUITY"), "a gap: {playlist}");
    let total: f64 = segments(&playlist).iter().map(|s| s.0).sum();
    assert!((total - 30.0).abs() <= 1.5, "{total} s:\n{playlist}");
}

/// A node that stopped mid-broadcast left a `recording` row, segments in the store and one
/// still in its spool: the next start uploads the spool and finalises the VOD.
#[actix_web::test]
async fn the_next_start_finishes_a_recording_a_crash_left() {
    let app = spawn_app_with(Backend::Sqlite, quick).await;
    let s = app.register("crasher").await;
    let ch = app.create_channel(&s.access, "crasher").await;
    let channel_id = ch["channel"]["id"].as_i64().unwrap();

    // Three 1 s segments, as ffmpeg writes them for a rendition.
    let work = tempfile::tempdir().unwrap();
    crate::media_tools::require("ffmpeg");
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-sc_threshold",
            "0",
            "-c:a",
            "aac",
        ])
        .args([
            "-f",
            "segment",
            "-segment_time",
            "1",
            "-reset_timestamps",
            "0",
        ])
        .arg(work.path().join("%d.ts"))
        .status()
        .await
        .unwrap();
    assert!(status.success());

    let id = insert_video(
        &app,
        channel_id,
        "recording",
        chrono::Utc::now(),
        json!([{"name": "source", "width": 640, "height": 360, "bandwidth": 1_000_000}]),
    )
    .await;
    let store = store_of(&app).await;
    let spool = app.config.data_dir.join("spool").join(&id).join("source");
    std::fs::create_dir_all(&spool).unwrap();
    for i in 0..3u64 {
        let seg = streamhall_media::vod::VodSegment {
            seq: 100 + i,
            duration: 1.0,
            discontinuity: false,
        };
        let name = streamhall_media::vod::segment_file_name(&seg);
        let data = std::fs::read(work.path().join(format!("{i}.ts"))).unwrap();
        if i < 2 {
            store
                .put(&format!("vod/{id}/source/{name}"), data.into())
                .await
                .unwrap();
        } else {
            std::fs::write(spool.join(&name), data).unwrap();
        }
    }

    let again = crate::helpers::restart(&app).await;
    let v = again
        .wait_ready_video("crasher", &s.access, Duration::from_secs(60))
        .await;
    assert_eq!(v["id"], id.as_str());
    let d = v["duration_secs"].as_f64().unwrap();
    assert!((d - 3.0).abs() <= 0.5, "{d} s: {v}");
    let playlist = again
        .text(&format!("/vod/{id}/source/index.m3u8"))
        .await
        .unwrap();
    assert_eq!(segments(&playlist).len(), 3, "{playlist}");
    assert!(!spool.exists(), "the spool is emptied");
}

/// A channel that keeps VODs for a day: the retention pass deletes an older one, objects
/// first, and leaves a newer one alone.
#[actix_web::test]
async fn retention_deletes_expired_vods_and_their_objects() {
    use sea_orm::EntityTrait;
    use streamhall_entities::Video;

    let app = spawn_app_with(Backend::Sqlite, |c| c.recording.retention_check_secs = 1).await;
    let s = app.register("keeper").await;
    let ch = app.create_channel(&s.access, "keeper").await;
    let channel_id = ch["channel"]["id"].as_i64().unwrap();
    let res = app
        .client
        .patch(app.api("/channels/keeper"))
        .bearer_auth(&s.access)
        .json(&json!({"vod_retention_days": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let store = store_of(&app).await;
    let mut ids = Vec::new();
    for age_hours in [50, 2] {
        let created = chrono::Utc::now() - chrono::Duration::hours(age_hours);
        let id = insert_video(&app, channel_id, "ready", created, json!([])).await;
        store
            .put(&format!("vod/{id}/master.m3u8"), "x".into())
            .await
            .unwrap();
        ids.push(id);
    }
    poll_until(
        Duration::from_secs(20),
        "the expired VOD to be deleted",
        || async {
            let gone = Video::find_by_id(ids[0].clone())
                .one(&app.db)
                .await
                .unwrap()
                .is_none();
            gone.then_some(())
        },
    )
    .await;
    assert!(
        store
            .list(&format!("vod/{}/", ids[0]))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        Video::find_by_id(ids[1].clone())
            .one(&app.db)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.list(&format!("vod/{}/", ids[1])).await.unwrap().len(),
        1
    );
}

/// A `videos` row as the recorder leaves it, `status` at `created`.
async fn insert_video(
    app: &TestApp,
    channel_id: i64,
    status: &str,
    created: chrono::DateTime<chrono::Utc>,
    renditions: Value,
) -> String {
    use sea_orm::{ActiveModelTrait, Set};
    use streamhall_entities::video;

    let id = streamhall_actors::recording::new_media_id();
    video::ActiveModel {
        id: Set(id.clone()),
        channel_id: Set(channel_id),
        broadcast_id: Set(None),
        title: Set(format!("{status} since {created}")),
        description: Set(String::new()),
        visibility: Set("public".into()),
        status: Set(status.into()),
        dvr_only: Set(false),
        duration_secs: Set(0.0),
        size_bytes: Set(0),
        renditions: Set(renditions),
        chapters: Set(json!([])),
        subtitles: Set(json!([])),
        has_thumbnail: Set(false),
        has_sprite: Set(false),
        missing_segments: Set(0),
        view_count: Set(0),
        error: Set(None),
        node_id: Set("a-node-that-stopped".into()),
        created_at: Set(created),
        ended_at: Set(None),
        taken_down_at: Set(None),
        takedown_notice: Set(None),
        takedown_ref: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    id
}
