//! Low-latency HLS: a real `ffmpeg` pushes RTMP; the test reads `/hls/{slug}/ll.m3u8` as hls.js
//! would (blocking reloads, preload hints, parts), decodes parts with `ffprobe`, and plays the
//! same playlists with ffmpeg's HLS reader, which knows nothing of LL-HLS.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::{
    helpers::{Backend, eventually, key_of, poll_until, spawn_app},
    media_tools::{publish, require, variants},
};

/// One `#EXT-X-PART` of a playlist.
#[derive(Debug, Clone)]
struct Part {
    duration: f64,
    uri: String,
    independent: bool,
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') {
        return quoted.split('"').next();
    }
    rest.split(',').next()
}

fn parts(playlist: &str) -> Vec<Part> {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .map(|l| Part {
            duration: attr(l, "DURATION").unwrap().parse().unwrap(),
            uri: attr(l, "URI").unwrap().to_owned(),
            independent: l.contains("INDEPENDENT=YES"),
        })
        .collect()
}

/// (msn, part index) of the next part the playlist's producer will add.
fn next_part(playlist: &str) -> (u64, u64) {
    let media_sequence: u64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .unwrap()
        .parse()
        .unwrap();
    let complete = playlist
        .lines()
        .filter(|l| l.starts_with("#EXTINF:"))
        .count() as u64;
    let tail = playlist.rsplit("#EXTINF:").next().unwrap();
    let open_parts = tail
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .count() as u64;
    (media_sequence + complete, open_parts)
}

/// ffprobe on `data` (init + media): whether its first video packet is a keyframe and, when it
/// is, that it decodes to a key frame.
fn starts_with_a_keyframe(data: &[u8]) -> bool {
    require("ffprobe");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part.mp4");
    std::fs::write(&path, data).unwrap();
    let entries = |what: &str| {
        let out = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                what,
            ])
            .args(["-of", "csv=p=0", "-read_intervals", "%+#1"])
            .arg(&path)
            .output()
            .expect("run ffprobe");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().next().unwrap_or_default().to_owned()
    };
    let packet = entries("packet=flags");
    assert!(!packet.is_empty(), "ffprobe read no packet");
    if !packet.starts_with('K') {
        return false;
    }
    assert!(
        entries("frame=key_frame").starts_with('1'),
        "the keyframe decodes"
    );
    true
}

#[actix_web::test]
async fn low_latency_parts_blocking_reload_and_a_player_without_ll_hls() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.register("quick").await;
    let key = key_of(&app.create_channel(&s.access, "quick").await);
    let mut obs = publish(&app.rtmp_url(&key), 854, 480, 40);

    let master = poll_until(
        Duration::from_secs(30),
        "the LL master lists both",
        || async {
            app.text("/hls/quick/ll.m3u8")
                .await
                .filter(|m| variants(m).len() == 2)
        },
    )
    .await;
    assert_eq!(
        variants(&master),
        ["source/ll.m3u8", "360p/ll.m3u8"].map(|v| v.split('/').next().unwrap()),
        "{master}"
    );
    assert!(
        master.contains("source/ll.m3u8\n") && master.contains("360p/ll.m3u8\n"),
        "{master}"
    );
    // The MPEG-TS master stays for old players.
    assert_eq!(
        variants(&app.text("/hls/quick/master.m3u8").await.unwrap()),
        ["source", "360p"]
    );

    for rendition in ["source", "360p"] {
        let path = format!("/hls/quick/{rendition}/ll.m3u8");
        let playlist = poll_until(Duration::from_secs(20), "two LL segments", || async {
            app.text(&path)
                .await
                .filter(|p| p.matches("#EXTINF:").count() >= 2)
        })
        .await;
        for tag in [
            "#EXT-X-VERSION:9\n",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.999\n",
            "#EXT-X-PART-INF:PART-TARGET=0.333\n",
            "#EXT-X-MAP:URI=\"init-",
            "#EXT-X-PROGRAM-DATE-TIME:",
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p-",
            "#EXT-X-RENDITION-REPORT:URI=\"../",
        ] {
            assert!(
                playlist.contains(tag),
                "{rendition} lacks {tag}:\n{playlist}"
            );
        }
        let listed = parts(&playlist);
        assert!(listed.len() >= 3, "{playlist}");
        // Parts of about the target: ffmpeg cuts a fragment once 333 ms are reached, and at
        // every keyframe (the 1 s GOP), so none is longer than the target plus a frame.
        for p in &listed {
            assert!(
                p.duration > 0.0 && p.duration <= 0.333 + 0.034,
                "{rendition}: {p:?}"
            );
        }
        // A part that starts a segment begins with an IDR; one inside it does not.
        let init_uri = attr(
            playlist
                .lines()
                .find(|l| l.starts_with("#EXT-X-MAP:"))
                .unwrap(),
            "URI",
        )
        .unwrap()
        .to_owned();
        let init = app
            .bytes(&format!("/hls/quick/{rendition}/{init_uri}"))
            .await
            .expect("init segment");
        let idr = listed
            .iter()
            .find(|p| p.independent)
            .expect("an independent part");
        let inner = listed
            .iter()
            .find(|p| !p.independent)
            .expect("a dependent part");
        for (p, key) in [(idr, true), (inner, false)] {
            let media = app
                .bytes(&format!("/hls/quick/{rendition}/{}", p.uri))
                .await
                .expect("part");
            let data = [init.as_slice(), &media].concat();
            assert_eq!(starts_with_a_keyframe(&data), key, "{rendition} {p:?}");
        }

        // Blocking reloads for the next part, chained as a player does: each is answered once
        // that part exists, never with a stale playlist, so six of them span about six parts.
        let (mut msn, mut part) = next_part(&app.text(&path).await.unwrap());
        let mut fresh = String::new();
        let chain = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..6 {
            let asked = Instant::now();
            let res = app
                .client
                .get(format!("{}{path}?_HLS_msn={msn}&_HLS_part={part}", app.url))
                .send()
                .await
                .unwrap();
            waits.push(asked.elapsed());
            assert_eq!(res.status(), StatusCode::OK);
            fresh = res.text().await.unwrap();
            let next = next_part(&fresh);
            assert!(
                next > (msn, part),
                "the answer holds part {part} of {msn}:\n{fresh}"
            );
            (msn, part) = next;
        }
        let spent = chain.elapsed();
        eprintln!("{rendition}: six chained blocking reloads took {spent:?}: {waits:?}");
        // Parts that already exist are answered at once (ffmpeg may deliver a few in a burst
        // on a busy machine): at least the last ones must have been waited for.
        assert!(
            spent > Duration::from_millis(600) && spent < Duration::from_millis(3500),
            "{rendition}: six parts of 333 ms in {spent:?} ({waits:?})"
        );
        assert!(
            waits.iter().all(|w| *w < Duration::from_millis(900)),
            "{rendition}: no part took much longer than its target: {waits:?}"
        );
        let next_msn = msn;
        let hint_number = |p: &str| {
            let line = p
                .lines()
                .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))
                .unwrap();
            attr(line, "URI").unwrap().to_owned()
        };

        // The preload hint: the request is held until the part exists, then served.
        let hint = hint_number(&fresh);
        let asked = Instant::now();
        let media = app
            .bytes(&format!("/hls/quick/{rendition}/{hint}"))
            .await
            .expect("the hinted part");
        assert!(!media.is_empty() && asked.elapsed() < Duration::from_millis(900));
        assert!(
            parts(&app.text(&path).await.unwrap())
                .iter()
                .any(|p| p.uri == hint),
            "the hinted part is listed once produced"
        );

        // Too far ahead: 400, at once.
        let res = app
            .client
            .get(format!(
                "{}{path}?_HLS_msn={}&_HLS_part=0",
                app.url,
                next_msn + 10
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = app
            .client
            .get(format!("{}{path}?_HLS_part=1", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "a part without a segment"
        );
    }

    // A player without LL-HLS (ffmpeg's HLS reader) plays the same playlist from its segments.
    require("ffmpeg");
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(format!("{}/hls/quick/360p/ll.m3u8", app.url))
        .args(["-t", "2", "-f", "null", "-"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The end: ENDLIST, and a blocked request for what will never come answers at once.
    obs.kill().await.unwrap();
    eventually(Duration::from_secs(60), "the LL playlist ends", || async {
        app.text("/hls/quick/360p/ll.m3u8")
            .await
            .is_some_and(|p| p.contains("#EXT-X-ENDLIST"))
    })
    .await;
}
