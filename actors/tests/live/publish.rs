//! Publishing through the IngestGate with the fake transcoder.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use streamhall_actors::{BusEvent, StreamStatus};
use streamhall_entities::{Broadcast, Channel, broadcast, channel};
use streamhall_media::rtmp::PublishRejected;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(10);

#[actix_web::test]
async fn a_publish_goes_live_and_feeds_ffmpeg() {
    let t = spawn_live().await;
    let mut bus = t.live.bus.subscribe();

    assert_eq!(
        t.publish("live_wrong").await.unwrap_err(),
        PublishRejected::BadKey
    );
    let grant = t.publish(KEY).await.unwrap();
    let rows = t.broadcasts().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].title, "Speedrun night");
    assert!(rows[0].ended_at.is_none());
    // A publisher is not video: starting, not live, nobody told.
    assert!(!t.is_live().await);
    let h = t.stream_health().await.unwrap();
    assert_eq!(h.status, StreamStatus::Starting);
    assert!(
        h.problem
            .unwrap()
            .contains("waiting for video from your encoder")
    );
    assert!(bus.try_recv().is_err());

    send_stream(&grant, 0, 2).await;
    let proc = eventually("ffmpeg spawned", WAIT, || async { t.fake.last() }).await;
    // A 720p source: source, 480p, 360p; never a second 720p copy.
    assert_eq!(renditions_of(&proc), ["source", "480p", "360p"]);
    proc.write_segment("source", 1.0, b"s0").unwrap();
    proc.write_segment("480p", 1.0, b"a0").unwrap();
    // Two of three: not live, no master playlist yet (players read it once: it must list
    // every rendition that will play).
    eventually("two renditions in the window", WAIT, || async {
        t.live
            .hls
            .media_playlist(SLUG, "480p")
            .filter(|p| String::from_utf8_lossy(p).contains(".ts"))
    })
    .await;
    assert!(t.live.hls.master(SLUG).is_none());
    assert!(!t.is_live().await && bus.try_recv().is_err());
    assert_eq!(
        t.stream_health().await.unwrap().status,
        StreamStatus::Starting
    );
    proc.write_segment("360p", 1.0, b"b0").unwrap();
    match tokio::time::timeout(WAIT, bus.recv())
        .await
        .unwrap()
        .unwrap()
    {
        BusEvent::StreamWentLive {
            slug,
            broadcast_id,
            title,
            ..
        } => {
            assert_eq!(
                (slug.as_str(), broadcast_id, title.as_str()),
                (SLUG, rows[0].id, "Speedrun night")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(t.is_live().await, "marked live before the bus hears of it");
    let row = &t.broadcasts().await[0];
    assert!(row.went_live_at.is_some() && row.failure.is_none());
    let argv: Vec<String> = proc
        .argv()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(argv.windows(2).any(|w| w == ["-i", "pipe:0"]), "{argv:?}");
    assert!(argv.windows(2).any(|w| w == ["-g", "30"]), "{argv:?}");
    assert!(proc.cwd().starts_with(t.dir.path().join("work").join(SLUG)));
    // File header, then the sequence headers, then frames.
    let bytes = eventually("frames written", WAIT, || async {
        let b = proc.bytes_written();
        (b.len() > 13 + 43 + 4 + 30 * 69).then_some(b)
    })
    .await;
    assert!(starts_with_flv_header(&bytes));
    assert_eq!(bytes[13], 9, "first tag is video (the AVC sequence header)");

    let info = eventually("live info", WAIT, || async {
        t.live
            .hls
            .live_info(SLUG)
            .filter(|i| !i.renditions.is_empty())
    })
    .await;
    assert_eq!(info.broadcast_id, rows[0].id);
    let names: Vec<_> = info.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["source", "480p", "360p"]);
    assert_eq!(info.status, StreamStatus::Live);
    let master = String::from_utf8(t.live.hls.master(SLUG).unwrap().to_vec()).unwrap();
    assert!(master.contains("360p/index.m3u8"), "{master}");

    let h = t.stream_health().await.unwrap();
    assert_eq!(h.broadcast_id, rows[0].id);
    assert_eq!((h.status, h.problem.as_deref()), (StreamStatus::Live, None));
    assert_eq!(h.actor.state, "live");
    assert!(
        h.renditions
            .iter()
            .all(|r| r.state == streamhall_actors::RenditionState::Ok),
        "{:?}",
        h.renditions
    );
    assert_eq!(h.ffmpeg_pid, Some(proc.pid()));
    let ingest = h.ingest.unwrap();
    assert_eq!(ingest.video.unwrap().width, 1280);
    assert_eq!(h.children.len(), 4);
    assert!(
        h.children.iter().all(|c| c.state == "running"),
        "{:?}",
        h.children
    );
    // The tree serializes for the dashboard.
    let json = serde_json::to_value(t.live.health().await).unwrap();
    assert_eq!(json["streams"][0]["children"][1]["kind"], "transcode");
}

#[actix_web::test]
async fn ffmpeg_crashing_is_restarted_with_the_headers_again() {
    let t = spawn_live().await;
    let grant = t.publish(KEY).await.unwrap();
    send_stream(&grant, 0, 1).await;
    let first = eventually("ffmpeg spawned", WAIT, || async { t.fake.last() }).await;
    first.crash(1);
    // Keep publishing while it restarts; the new run must start at a keyframe.
    let feeder = {
        let sink = grant.sink.clone();
        tokio::spawn(async move {
            for i in 30..30 * 20u32 {
                if sink.send(frame(i * 1000 / 30, i % 30 == 0)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let second = eventually("ffmpeg restarted", Duration::from_secs(3), || async {
        let all = t.fake.spawned();
        (all.len() >= 2).then(|| all[1].clone())
    })
    .await;
    let bytes = eventually("headers re-sent", WAIT, || async {
        let b = second.bytes_written();
        (b.len() > 13 + 43 + 15 + 20).then_some(b)
    })
    .await;
    assert!(starts_with_flv_header(&bytes));
    // Video sequence header, AAC config, then the first frame is a keyframe.
    let mut at = 13;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let len = u32::from_be_bytes([0, bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        kinds.push((bytes[at], bytes[at + 11], bytes[at + 12]));
        at += 11 + len + 4;
    }
    assert_eq!(kinds, [(9, 0x17, 0), (8, 0xAF, 0), (9, 0x17, 1)]);

    let h = t.stream_health().await.unwrap();
    let transcode = h.children.iter().find(|c| c.kind == "transcode").unwrap();
    assert_eq!(transcode.restarts, 1, "{transcode:?}");
    assert!(
        transcode.last_error.as_deref().unwrap().contains("code 1"),
        "{transcode:?}"
    );
    assert_eq!(h.ffmpeg_pid, Some(second.pid()));
    assert_eq!(t.broadcasts().await.len(), 1, "the broadcast continues");
    feeder.abort();
}

#[actix_web::test]
async fn replacement_and_grace_keep_the_broadcast_then_it_ends() {
    let t = spawn_live().await;
    let mut bus = t.live.bus.subscribe();
    let a = t.publish(KEY).await.unwrap();
    t.go_live(&a).await;
    let id = t.broadcasts().await[0].id;

    // OBS reconnects over a half-open socket: the new connection replaces the old one.
    let b = t.publish(KEY).await.unwrap();
    assert!(a.kick.is_cancelled(), "the old publisher is kicked");
    assert!(!b.kick.is_cancelled());
    send_stream(&b, 0, 1).await;
    assert_eq!(t.broadcasts().await.len(), 1);
    assert_eq!(t.live.hls.live_info(SLUG).unwrap().broadcast_id, id);

    // The publisher drops; it comes back within the grace window.
    drop(b);
    eventually("grace", WAIT, || async {
        t.stream_health()
            .await
            .filter(|h| !h.publisher_connected && h.actor.state == "grace")
    })
    .await;
    let c = t.publish(KEY).await.unwrap();
    send_stream(&c, 0, 1).await;
    let rows = t.broadcasts().await;
    assert_eq!(rows.len(), 1, "same broadcast after a reconnect");
    assert!(rows[0].ended_at.is_none());
    let h = t.stream_health().await.unwrap();
    assert!(h.publisher_connected);
    assert_eq!(h.broadcast_id, id);

    // Gone for longer than the grace window: the broadcast ends.
    drop(c);
    let ended = eventually("broadcast closed", WAIT, || async {
        t.broadcasts()
            .await
            .into_iter()
            .find(|b| b.ended_at.is_some())
    })
    .await;
    assert_eq!(ended.id, id);
    assert!(!t.is_live().await);
    let offline = tokio::time::timeout(WAIT, async {
        loop {
            if let BusEvent::StreamWentOffline { broadcast_id, .. } = bus.recv().await.unwrap() {
                return broadcast_id;
            }
        }
    })
    .await
    .expect("StreamWentOffline within the deadline");
    assert_eq!(offline, id);
    // Ended playlists stay for a moment, then go.
    if let Some(info) = t.live.hls.live_info(SLUG) {
        assert!(info.ended);
    }
    eventually("HLS entry dropped", WAIT, || async {
        t.live.hls.live_info(SLUG).is_none().then_some(())
    })
    .await;
    assert!(t.live.health().await.streams.is_empty());
    // The work dir is gone.
    assert!(
        !t.dir
            .path()
            .join("work")
            .join(SLUG)
            .join(id.to_string())
            .exists()
    );

    // The next publish is a new broadcast.
    let d = t.publish(KEY).await.unwrap();
    t.go_live(&d).await;
    let rows = t.broadcasts().await;
    assert_eq!(rows.len(), 2);
}

#[actix_web::test]
async fn stop_stream_ends_at_once_and_shutdown_closes_everything() {
    let t = spawn_live().await;
    let a = t.publish(KEY).await.unwrap();
    let proc = t.go_live(&a).await;

    assert!(t.live.stop_stream(SLUG).await);
    assert!(a.kick.is_cancelled());
    let rows = t.broadcasts().await;
    assert!(
        rows[0].ended_at.is_some(),
        "closed before stop_stream returns"
    );
    assert!(!t.is_live().await);
    assert!(t.live.hls.live_info(SLUG).unwrap().ended);
    let playlist = t.live.hls.media_playlist(SLUG, "360p").unwrap();
    assert!(String::from_utf8_lossy(&playlist).ends_with("#EXT-X-ENDLIST\n"));
    eventually("ffmpeg killed", WAIT, || async { proc.exit_status() }).await;
    assert!(!t.live.stop_stream(SLUG).await || t.live.hls.live_info(SLUG).is_some());

    let b = t.publish(KEY).await.unwrap();
    t.go_live(&b).await;
    t.live.shutdown().await;
    assert!(t.broadcasts().await.iter().all(|b| b.ended_at.is_some()));
    assert!(!t.is_live().await);
    assert!(b.kick.is_cancelled());
    assert_eq!(t.publish(KEY).await.unwrap_err(), PublishRejected::Busy);
}

#[actix_web::test]
async fn startup_closes_what_a_crash_left_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let ch = create_channel(&db).await;
    let mut active: channel::ActiveModel = ch.clone().into();
    active.is_live = Set(true);
    active.update(&db).await.unwrap();
    broadcast::ActiveModel {
        channel_id: Set(ch.id),
        started_at: Set(Utc::now()),
        ended_at: Set(None),
        title: Set("crashed".into()),
        peak_viewers: Set(0),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let cfg = test_config(&dir);
    let stale = cfg.work_dir.join(SLUG).join("41").join("run-1");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("seg-3.ts"), b"x").unwrap();
    let keep = cfg.work_dir.join("not-ours.txt");
    std::fs::write(&keep, b"x").unwrap();
    let _live = streamhall_actors::Live::start(
        db.clone(),
        cfg,
        std::sync::Arc::new(streamhall_media::transcode::FakeTranscoder::new()),
        std::sync::Arc::new(streamhall_media::objects::FsObjectStore::new(
            dir.path().join("o"),
        )),
        None,
    )
    .await
    .unwrap();
    let b = Broadcast::find().all(&db).await.unwrap();
    assert!(b[0].ended_at.is_some());
    assert!(
        !Channel::find_by_id(ch.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap()
            .is_live
    );
    assert!(
        !dir.path().join("work").join(SLUG).exists(),
        "stale work dirs removed"
    );
    assert!(keep.exists());
}

#[actix_web::test]
async fn viewers_are_counted_and_the_peak_saved_at_the_end() {
    let t = spawn_live().await;
    let a = t.publish(KEY).await.unwrap();
    send_stream(&a, 0, 1).await;
    for v in ["v1", "v2", "v3"] {
        t.live.presence.touch(SLUG, v);
    }
    assert_eq!(t.live.presence.count(SLUG), 3);
    eventually("peak tracked", WAIT, || async {
        (t.live.presence.peak(SLUG) == Some(3)).then_some(())
    })
    .await;
    // Saved while live (it rose), not only at the end.
    eventually("peak saved", WAIT, || async {
        (t.broadcasts().await[0].peak_viewers == 3).then_some(())
    })
    .await;
    t.live.presence.touch(SLUG, "v4");
    assert!(t.live.stop_stream(SLUG).await);
    assert_eq!(
        t.broadcasts().await[0].peak_viewers,
        4,
        "the final peak at the end"
    );
}

#[actix_web::test]
async fn a_long_keyframe_interval_is_a_warning_in_health() {
    let t = spawn_live().await;
    let g = t.publish(KEY).await.unwrap();
    for e in headers() {
        g.sink.send(e).await.unwrap();
    }
    // OBS "Simple" output: a keyframe every 8 s.
    for i in 0..17 * 30u32 {
        g.sink
            .send(frame(i * 1000 / 30, i % 240 == 0))
            .await
            .unwrap();
    }
    let h = eventually("warning", WAIT, || async {
        t.stream_health().await.filter(|h| !h.warnings.is_empty())
    })
    .await;
    assert!(h.warnings[0].contains("8.0 s"), "{:?}", h.warnings);
    assert_eq!(h.ingest.unwrap().keyframe_interval_s, Some(8.0));
}

/// A transcoder whose stdin never accepts a byte: ffmpeg hung.
struct StuckTranscoder;

struct StuckProcess {
    killed: tokio::sync::watch::Sender<bool>,
    progress: tokio::sync::watch::Sender<streamhall_media::transcode::Progress>,
}

struct StuckStdin;

impl tokio::io::AsyncWrite for StuckStdin {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Pending
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}

impl streamhall_media::transcode::Transcoder for StuckTranscoder {
    fn spawn(
        &self,
        _: Vec<std::ffi::OsString>,
        _: &std::path::Path,
    ) -> std::io::Result<Box<dyn streamhall_media::transcode::TranscodeProcess>> {
        Ok(Box::new(StuckProcess {
            killed: tokio::sync::watch::channel(false).0,
            progress: tokio::sync::watch::channel(Default::default()).0,
        }))
    }
}

impl streamhall_media::transcode::TranscodeProcess for StuckProcess {
    fn pid(&self) -> Option<u32> {
        None
    }
    fn take_stdin(&mut self) -> Option<streamhall_media::transcode::StdinWriter> {
        Some(Box::new(StuckStdin))
    }
    fn progress(&self) -> tokio::sync::watch::Receiver<streamhall_media::transcode::Progress> {
        self.progress.subscribe()
    }
    fn stderr_tail(&self) -> Vec<String> {
        Vec::new()
    }
    fn kill(&mut self) -> std::io::Result<()> {
        self.killed.send_replace(true);
        Ok(())
    }
    fn wait(&mut self) -> streamhall_media::transcode::ProcessWait<'_> {
        let mut rx = self.killed.subscribe();
        Box::pin(async move {
            let _ = rx.wait_for(|k| *k).await;
            Ok(std::os::unix::process::ExitStatusExt::from_raw(9))
        })
    }
}

#[actix_web::test]
async fn a_hung_ffmpeg_never_blocks_the_publisher_and_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(&dir);
    let t = spawn_live_with(dir, cfg, Some(std::sync::Arc::new(StuckTranscoder))).await;
    let g = t.publish(KEY).await.unwrap();
    // 100 s of video: far more than the queue holds. Every send completes.
    tokio::time::timeout(Duration::from_secs(30), async {
        for e in headers() {
            g.sink.send(e).await.unwrap();
        }
        for i in 0..3000u32 {
            g.sink
                .send(frame(i * 1000 / 30, i % 30 == 0))
                .await
                .unwrap();
        }
    })
    .await
    .expect("the publisher was blocked by a hung ffmpeg");
    // Everything sent is either waiting in the bounded queue or counted as dropped.
    let h = eventually("every frame accounted for", WAIT, || async {
        t.stream_health().await.filter(|h| {
            let queued = h.queued as u64;
            h.dropped_frames + queued >= 3000
        })
    })
    .await;
    let queue = h.queued;
    assert!(queue <= 2048, "bounded: {queue}");
    assert!(h.dropped_frames >= 3000 - 2048, "{}", h.dropped_frames);
    assert!(
        t.live.stop_stream(SLUG).await,
        "a hung ffmpeg does not block the end either"
    );
}

#[actix_web::test]
async fn an_ffmpeg_that_does_not_start_is_retried_with_backoff() {
    let t = spawn_live().await;
    t.fake.fail_next_spawns(2);
    let started = std::time::Instant::now();
    let g = t.publish(KEY).await.unwrap();
    send_stream(&g, 0, 2).await;
    eventually("ffmpeg spawned at the third attempt", WAIT, || async {
        t.fake.last()
    })
    .await;
    // 500 ms, then 1 s.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let h = t.stream_health().await.unwrap();
    let transcode = h.children.iter().find(|c| c.kind == "transcode").unwrap();
    assert_eq!(transcode.restarts, 2);
    assert!(
        transcode
            .last_error
            .as_deref()
            .unwrap()
            .contains("did not start"),
        "{transcode:?}"
    );
    assert_eq!(transcode.state, "running");
}

#[actix_web::test]
async fn a_transcoder_that_keeps_failing_is_failed_never_announced_and_recovers() {
    let t = spawn_live().await;
    let mut bus = t.live.bus.subscribe();
    let g = t.publish(KEY).await.unwrap();
    send_stream(&g, 0, 1).await;
    // Every run dies at once, as ffmpeg does with a codec it lacks.
    let mut seen = 0;
    let h = eventually("failed", Duration::from_secs(20), || {
        let crashed = t.fake.spawned();
        for p in crashed.iter().skip(seen) {
            p.write_stderr("Unknown encoder 'libx264'");
            p.crash(1);
        }
        seen = crashed.len();
        async {
            t.stream_health()
                .await
                .filter(|h| h.status == StreamStatus::Failed)
        }
    })
    .await;
    let problem = h.problem.unwrap();
    assert_eq!(
        problem,
        "Viewers cannot see your stream: the transcoder keeps failing: ffmpeg exited with code 1: \
         Unknown encoder 'libx264'"
    );
    assert_eq!(h.actor.state, "failed");
    assert_eq!(h.actor.last_error.as_deref(), Some(problem.as_str()));
    assert!(h.transcoder_restarts >= 3, "{}", h.transcoder_restarts);
    assert!(h.transcoder_last_error.unwrap().contains("Unknown encoder"));
    // Nobody was told; the channel is not listed; viewers get their own words.
    assert!(!t.is_live().await);
    assert!(bus.try_recv().is_err(), "no StreamWentLive without video");
    let info = t.live.hls.live_info(SLUG).unwrap();
    assert_eq!(info.status, StreamStatus::Failed);
    assert!(info.viewer_problem.unwrap().contains("technical problems"));
    assert!(t.live.hls.master(SLUG).is_none(), "nothing to play");
    let row = eventually("failure recorded", WAIT, || async {
        t.broadcasts().await.pop().filter(|b| b.failure.is_some())
    })
    .await;
    assert_eq!(row.failure.as_deref(), Some(problem.as_str()));
    assert!(row.went_live_at.is_none());

    // The transcoder is still retried; once a run produces, the stream is announced.
    let next = eventually("retried", Duration::from_secs(20), || async {
        t.fake.last().filter(|p| p.exit_status().is_none())
    })
    .await;
    send_frames(&g, 1000, 1).await;
    for r in renditions_of(&next) {
        next.write_segment(&r, 1.0, b"ts").unwrap();
    }
    eventually("live after recovering", WAIT, || async {
        t.is_live().await.then_some(())
    })
    .await;
    assert!(matches!(
        tokio::time::timeout(WAIT, bus.recv())
            .await
            .unwrap()
            .unwrap(),
        BusEvent::StreamWentLive { .. }
    ));
    let h = t.stream_health().await.unwrap();
    assert_eq!((h.status, h.problem), (StreamStatus::Live, None));
}

#[actix_web::test]
async fn a_rendition_that_produces_nothing_is_left_out_and_the_rest_go_live() {
    let t = spawn_live().await;
    let g = t.publish(KEY).await.unwrap();
    send_stream(&g, 0, 1).await;
    let proc = eventually("ffmpeg spawned", WAIT, || async { t.fake.last() }).await;
    proc.write_segment("source", 1.0, b"s").unwrap();
    proc.write_segment("480p", 1.0, b"a").unwrap();
    // 360p never comes: after the grace (10 s) the others are announced without it.
    let started = std::time::Instant::now();
    eventually("live without 360p", Duration::from_secs(20), || async {
        t.is_live().await.then_some(())
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    let master = String::from_utf8(t.live.hls.master(SLUG).unwrap().to_vec()).unwrap();
    assert!(
        master.contains("480p/index.m3u8") && !master.contains("360p"),
        "{master}"
    );
    let names: Vec<_> = t
        .live
        .hls
        .live_info(SLUG)
        .unwrap()
        .renditions
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["source", "480p"]);
    let h = t.stream_health().await.unwrap();
    assert!(
        h.warnings
            .iter()
            .any(|w| w.starts_with("360p is not producing")),
        "{:?}",
        h.warnings
    );
    let failed: Vec<_> = h
        .renditions
        .iter()
        .filter(|r| r.state == streamhall_actors::RenditionState::Failed)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(failed, ["360p"]);
}

#[actix_web::test]
async fn a_broken_low_latency_output_turns_it_off_with_a_warning_and_mpegts_goes_on() {
    let t = spawn_live().await;
    let g = t.publish(KEY).await.unwrap();
    let proc = t.go_live(&g).await;
    // The sockets ffmpeg's tee writes fragmented MP4 to, one per rendition.
    let sockets: Vec<String> = proc
        .argv()
        .iter()
        .filter_map(|a| {
            let a = a.to_string_lossy();
            a.split_once("]unix:").map(|(_, path)| path.to_owned())
        })
        .collect();
    assert!(!sockets.is_empty(), "low latency is on by default");
    // What arrives is not fragmented MP4: a box of size 0.
    let mut s = tokio::net::UnixStream::connect(&sockets[0]).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut s, &[0, 0, 0, 0, b'f', b't', b'y', b'p'])
        .await
        .unwrap();
    let h = eventually("the warning", WAIT, || async {
        t.stream_health().await.filter(|h| {
            h.warnings
                .iter()
                .any(|w| w.starts_with("Low latency is off"))
        })
    })
    .await;
    let w = h
        .warnings
        .iter()
        .find(|w| w.starts_with("Low latency is off"))
        .unwrap();
    assert!(w.contains("unreadable"), "{w}");
    assert!(!t.live.hls.has_low_latency(SLUG));
    // The MPEG-TS side goes on: the broadcast stays live and new segments are taken.
    let before = h.segments_produced;
    for r in renditions_of(&proc) {
        proc.write_segment(&r, 1.0, b"segment").unwrap();
    }
    let h = eventually("more segments", WAIT, || async {
        t.stream_health()
            .await
            .filter(|h| h.segments_produced > before)
    })
    .await;
    assert_eq!(h.status, StreamStatus::Live);
    assert!(t.is_live().await);
}
