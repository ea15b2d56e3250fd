//! Clips and sprite sheets for real: 1 s MPEG-TS segments made by ffmpeg (as the live ladder
//! makes them), cut with `cut_clip`, previewed with `make_sprite`, checked with ffprobe.
//!
//! Needs `ffmpeg` and `ffprobe` in PATH; fails (never skips) without them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use streamhall_media::clip::{ClipError, cut_clip};
use streamhall_media::hls::parse_media_playlist;
use streamhall_media::sprite::{MAX_SPRITE_TILES, make_sprite};

fn tool(name: &str) -> Command {
    let ok = Command::new(name)
        .arg("-version")
        .output()
        .map(|o| o.status.success());
    assert!(
        matches!(ok, Ok(true)),
        "`{name}` is required for this test and was not found in PATH (apt-get install ffmpeg)"
    );
    Command::new(name)
}

fn ffmpeg() -> PathBuf {
    tool("ffmpeg");
    tool("ffprobe");
    PathBuf::from("ffmpeg")
}

/// One encoder run: `seconds` of 320x180p30 H.264 (1 s GOP) + AAC as 1 s HLS segments
/// `{name}-{n}.ts`; returns them in playlist order. Each run's timestamps start over, so two
/// runs back to back have a discontinuity between them.
fn encode_run(dir: &Path, name: &str, seconds: u32, pattern: &str) -> Vec<PathBuf> {
    let playlist = dir.join(format!("{name}.m3u8"));
    let out = tool("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("{pattern}=size=320x180:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0"])
        .args([
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_list_size",
            "0",
        ])
        .arg("-hls_segment_filename")
        .arg(dir.join(format!("{name}-%d.ts")))
        .arg(&playlist)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "making segments failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pl = parse_media_playlist(&std::fs::read_to_string(&playlist).unwrap()).unwrap();
    assert_eq!(pl.entries.len(), seconds as usize, "{pl:?}");
    pl.entries.iter().map(|e| dir.join(&e.uri)).collect()
}

fn probe(path: &Path, entries: &str) -> String {
    let out = tool("ffprobe")
        .args(["-v", "error", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Decodes the whole file; returns what ffmpeg complained about (nothing when it is sound).
fn decode_errors(path: &Path) -> String {
    let out = tool("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "decoding {} failed", path.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_15_second_clip_out_of_25_seconds_of_segments() {
    let ffmpeg = ffmpeg();
    let tmp = tempfile::tempdir().unwrap();
    let segments = encode_run(tmp.path(), "live", 25, "testsrc2");
    let out = tmp.path().join("clip");
    let cut = cut_clip(&ffmpeg, &segments, 5.5, 15.0, &out).await.unwrap();
    eprintln!("{cut:?}");

    // From the keyframe at 5 s to 20.5 s: never shorter, at most one GOP longer.
    assert!(
        cut.duration >= 14.95 && cut.duration <= 16.05,
        "{}",
        cut.duration
    );
    assert_eq!(cut.mp4, out.join("clip.mp4"));
    assert_eq!(
        probe(&cut.mp4, "stream=codec_name")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["h264", "aac"]
    );
    // Faststart: the index comes before the media (Chromium plays it while downloading).
    let mp4 = std::fs::read(&cut.mp4).unwrap();
    let at = |tag: &[u8]| mp4.windows(4).position(|w| w == tag).unwrap();
    assert!(at(b"moov") < at(b"mdat"));
    assert_eq!(decode_errors(&cut.mp4), "");
    // It starts with the picture at 5 s (testsrc2 draws a different one every frame).
    let first = frame_md5(&cut.mp4);
    let source_at_5 = frame_md5(&segments[5]);
    assert_eq!(first, source_at_5, "the clip starts at the keyframe at 5 s");

    // The HLS copy: our VOD playlist over 0.ts, 1.ts, ... adding up to the clip.
    let text = std::fs::read_to_string(&cut.hls_playlist).unwrap();
    assert!(
        text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n"),
        "{text}"
    );
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    let pl = parse_media_playlist(&text).unwrap();
    let total: f64 = pl.entries.iter().map(|e| e.duration).sum();
    assert!(
        (total - cut.duration).abs() < 0.1,
        "{total} vs {}",
        cut.duration
    );
    let uris: Vec<PathBuf> = pl.entries.iter().map(|e| out.join(&e.uri)).collect();
    assert_eq!(uris, cut.hls_segments);
    assert_eq!(cut.hls_segments[0], out.join("0.ts"));
    for s in &cut.hls_segments {
        assert!(std::fs::metadata(s).unwrap().len() > 0, "{}", s.display());
    }
    assert_eq!(decode_errors(&cut.hls_playlist), "");

    assert_eq!(probe(&cut.thumb, "stream=width").trim(), "320");
    // Nothing else left behind.
    let mut want: Vec<String> = (0..cut.hls_segments.len())
        .map(|n| format!("{n}.ts"))
        .chain(["clip.mp4", "index.m3u8", "thumb.jpg"].map(String::from))
        .collect();
    want.sort();
    assert_eq!(names(&out), want);
}

/// md5 of the first decoded video frame of `path`.
fn frame_md5(path: &Path) -> String {
    let out = tool("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-frames:v", "1", "-f", "md5", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_across_a_discontinuity_still_cuts_and_decodes() {
    let ffmpeg = ffmpeg();
    let tmp = tempfile::tempdir().unwrap();
    // The streamer reconnected after 13 s: a second encoder run, timestamps from 0 again.
    let mut segments = encode_run(tmp.path(), "first", 13, "testsrc2");
    segments.extend(encode_run(tmp.path(), "second", 12, "smptebars"));
    let out = tmp.path().join("clip");
    let cut = cut_clip(&ffmpeg, &segments, 8.0, 10.0, &out).await.unwrap();
    eprintln!("{cut:?}");
    // From the keyframe at or before 8 s to 18 s of the concatenation: the jump back in
    // timestamps is re-based, not kept nor turned into a gap.
    assert!(
        cut.duration >= 9.95 && cut.duration <= 11.05,
        "{}",
        cut.duration
    );
    assert_eq!(decode_errors(&cut.mp4), "");
    assert_eq!(decode_errors(&cut.hls_playlist), "");
    // The second half is the second run.
    let last = frame_md5(&cut.hls_segments[cut.hls_segments.len() - 1]);
    assert!(
        segments[13..].iter().any(|s| frame_md5(s) == last),
        "the clip's last segment starts with a keyframe of the second run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sprite_sheet_and_vtt_cover_the_recording() {
    let ffmpeg = ffmpeg();
    let tmp = tempfile::tempdir().unwrap();
    let mut segments = encode_run(tmp.path(), "first", 13, "testsrc2");
    segments.extend(encode_run(tmp.path(), "second", 12, "smptebars"));
    let out = tmp.path().join("vod");

    let sprite = make_sprite(&ffmpeg, &segments, 2.0, &out).await.unwrap();
    eprintln!("{}", sprite.vtt);
    assert_eq!((sprite.interval, sprite.tiles), (2.0, 13));
    assert_eq!(sprite.jpg, out.join("sprite.jpg"));
    // 10 columns, 2 rows of 160x90.
    assert_eq!(
        probe(&sprite.jpg, "stream=codec_name,width,height").trim(),
        "mjpeg,1600,180"
    );
    let sheet = cues(&sprite.vtt);
    assert_eq!(sheet.len(), 13);
    assert_eq!(sheet[0].0, 0.0);
    for pair in sheet.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "cues are contiguous");
    }
    let end = sheet[sheet.len() - 1].1;
    assert!((end - 25.0).abs() < 0.1, "the last cue ends at {end}");
    assert!(sprite.vtt.contains("\nsprite.jpg#xywh=0,0,160,90\n"));
    assert!(sprite.vtt.ends_with("\nsprite.jpg#xywh=320,90,160,90\n"));
    assert_eq!(names(&out), ["sprite.jpg"]);

    // Asked for more tiles than a sheet holds: the interval grows instead.
    let many = make_sprite(&ffmpeg, &segments, 0.05, &tmp.path().join("many"))
        .await
        .unwrap();
    assert!(
        many.tiles <= MAX_SPRITE_TILES && many.tiles > MAX_SPRITE_TILES - 10,
        "{}",
        many.tiles
    );
    assert!(many.interval > 0.06, "{}", many.interval);
    assert_eq!(probe(&many.jpg, "stream=width,height").trim(), "1600,3600");
    let many_cues = cues(&many.vtt);
    assert_eq!(many_cues.len(), many.tiles as usize);
    assert!((many_cues[many_cues.len() - 1].1 - 25.0).abs() < 0.1);
}

/// (start, end) seconds of every cue.
fn cues(vtt: &str) -> Vec<(f64, f64)> {
    assert!(vtt.starts_with("WEBVTT\n"));
    let secs = |t: &str| {
        let (hms, ms) = t.split_once('.').unwrap();
        let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        p[0] * 3600.0 + p[1] * 60.0 + p[2] + ms.parse::<f64>().unwrap() / 1000.0
    };
    vtt.lines()
        .filter_map(|l| l.split_once(" --> "))
        .map(|(a, b)| (secs(a), secs(b)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_give_errors() {
    let ffmpeg = ffmpeg();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let segments = encode_run(tmp.path(), "live", 3, "testsrc2");

    assert!(matches!(
        cut_clip(&ffmpeg, &[], 0.0, 5.0, &out).await,
        Err(ClipError::NoInputs)
    ));
    assert!(matches!(
        make_sprite(&ffmpeg, &[], 2.0, &out).await,
        Err(ClipError::NoInputs)
    ));
    let missing = vec![segments[0].clone(), tmp.path().join("gone.ts")];
    let err = cut_clip(&ffmpeg, &missing, 0.0, 5.0, &out)
        .await
        .unwrap_err();
    assert!(err.to_string().ends_with("gone.ts: missing"), "{err}");
    let err = make_sprite(&ffmpeg, &missing, 2.0, &out).await.unwrap_err();
    assert!(matches!(err, ClipError::Input { .. }), "{err}");

    // Past the end, or nonsense numbers.
    let err = cut_clip(&ffmpeg, &segments, 10.0, 5.0, &out)
        .await
        .unwrap_err();
    assert!(matches!(err, ClipError::Range(_)), "{err}");
    assert!(err.to_string().contains("past the end"), "{err}");
    for (start, duration) in [(-1.0, 5.0), (0.0, 0.0), (f64::NAN, 1.0)] {
        assert!(matches!(
            cut_clip(&ffmpeg, &segments, start, duration, &out).await,
            Err(ClipError::Range(_))
        ));
    }
    assert!(matches!(
        make_sprite(&ffmpeg, &segments, 0.0, &out).await,
        Err(ClipError::Range(_))
    ));

    // Not MPEG-TS: ffmpeg's complaint comes back.
    let junk = tmp.path().join("junk.ts");
    std::fs::write(&junk, b"this is not a transport stream").unwrap();
    let err = cut_clip(&ffmpeg, std::slice::from_ref(&junk), 0.0, 5.0, &out)
        .await
        .unwrap_err();
    match &err {
        ClipError::Failed { stderr_tail, .. } => assert!(!stderr_tail.is_empty()),
        other => panic!("{other}"),
    }
    eprintln!("junk: {err}");
    let err = make_sprite(&ffmpeg, &[junk], 2.0, &out).await.unwrap_err();
    assert!(matches!(err, ClipError::Failed { .. }), "{err}");

    let err = cut_clip(Path::new("/nonexistent/ffmpeg"), &segments, 0.0, 1.0, &out)
        .await
        .unwrap_err();
    assert!(matches!(err, ClipError::Spawn { .. }), "{err}");
    // The scratch files went away with the failures.
    assert!(
        names(&out).iter().all(|n| !n.ends_with(".txt")),
        "{:?}",
        names(&out)
    );
}
