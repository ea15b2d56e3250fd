//! The transcoder for real: golden ffmpeg argv, then FLV made by ffmpeg fed through
//! `FfmpegTranscoder`, collected by `OutputWatcher` into a `LiveWindow`, checked with ffprobe.
//!
//! Needs `ffmpeg` and `ffprobe` in PATH; fails (never skips) without them.
//! `STREAMHALL_BLESS=1 cargo test -p streamhall-media --test transcode` rewrites the golden files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use streamhall_media::hls::{LiveWindow, OutputWatcher};
use streamhall_media::transcode::{
    FfmpegTranscoder, LadderConfig, PlannedRendition, SourceInfo, Transcoder, build_argv,
    plan_ladder, process_cpu_seconds,
};
use tokio::io::AsyncWriteExt;

// ---------------------------------------------------------------------------------------------
// Golden argv

fn golden(name: &str, argv: &[OsString]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let mut text = String::new();
    for a in argv {
        text.push_str(a.to_str().expect("argv is UTF-8"));
        text.push('\n');
    }
    if std::env::var_os("STREAMHALL_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (STREAMHALL_BLESS=1 writes it)", path.display()));
    assert_eq!(text, want, "argv differs from {}", path.display());
}

const OUT_DIR: &str = "/var/lib/streamhall/live/stream-1";

#[test]
fn argv_720p30_source_default_ladder() {
    let cfg = LadderConfig::default();
    let src = SourceInfo {
        width: 1280,
        height: 720,
        fps: Some(30.0),
        video_bitrate_kbps: Some(4500),
        audio: true,
        audio_aac: true,
        video_codec: Some("avc1.64001F".into()),
    };
    let plan = plan_ladder(&cfg, &src);
    golden(
        "argv_720p30.txt",
        &build_argv(&cfg, &plan, Path::new(OUT_DIR), None),
    );
}

#[test]
fn argv_1080p60_source_non_aac_audio() {
    let cfg = LadderConfig {
        segment_seconds: 2,
        ..LadderConfig::default()
    };
    let src = SourceInfo {
        width: 1920,
        height: 1080,
        fps: Some(60.0),
        video_bitrate_kbps: None,
        audio: true,
        audio_aac: false,
        video_codec: None,
    };
    let plan = plan_ladder(&cfg, &src);
    golden(
        "argv_1080p60.txt",
        &build_argv(&cfg, &plan, Path::new(OUT_DIR), None),
    );
}

// ---------------------------------------------------------------------------------------------
// Real ffmpeg

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

/// An FLV like OBS sends: 720p30 H.264 with keyframes every `gop` frames, AAC audio.
fn make_flv(dir: &Path, seconds: u32, gop: u32) -> PathBuf {
    let path = dir.join(format!("src-{seconds}s-g{gop}.flv"));
    let out = tool("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", &gop.to_string(), "-c:a", "aac", "-f", "flv"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "making the FLV failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn source_720p30() -> SourceInfo {
    SourceInfo {
        width: 1280,
        height: 720,
        fps: Some(30.0),
        video_bitrate_kbps: None,
        audio: true,
        audio_aac: true,
        video_codec: None,
    }
}

struct Run {
    /// (rendition, seq, duration) in the order the window got them.
    pushed: Vec<(String, u64, f64)>,
    cpu_seconds: f64,
    wall: Duration,
}

/// One ffmpeg run: feeds `flv` as fast as ffmpeg takes it, polls the watcher every 50 ms into
/// `window` until ffmpeg has exited and the last segments are in.
async fn transcode(
    cfg: &LadderConfig,
    plan: &[PlannedRendition],
    out_dir: &Path,
    flv: &Path,
    watcher: &mut OutputWatcher,
    window: &mut LiveWindow,
) -> Run {
    let started = Instant::now();
    let argv = build_argv(cfg, plan, out_dir, None);
    let mut proc = FfmpegTranscoder::new(&cfg.ffmpeg_path)
        .spawn(argv, out_dir)
        .unwrap();
    let pid = proc.pid().unwrap();
    let mut stdin = proc.take_stdin().unwrap();
    let bytes = std::fs::read(flv).unwrap();
    let feeder = tokio::spawn(async move {
        for chunk in bytes.chunks(64 * 1024) {
            stdin.write_all(chunk).await?;
        }
        stdin.shutdown().await
    });

    let deadline = started + Duration::from_secs(180);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut pushed = Vec::new();
    let mut cpu_seconds = 0.0;
    let mut collect = |watcher: &mut OutputWatcher, window: &mut LiveWindow| {
        for s in watcher.poll().unwrap() {
            let seq = window
                .push_segment(&s.rendition, s.duration, SystemTime::now(), s.data)
                .unwrap();
            pushed.push((s.rendition, seq, s.duration));
        }
    };
    let status = loop {
        assert!(
            Instant::now() < deadline,
            "ffmpeg still running: {:?}",
            proc.stderr_tail()
        );
        tokio::select! {
            status = proc.wait() => break status.unwrap(),
            _ = tick.tick() => {
                if let Some(cpu) = process_cpu_seconds(pid) {
                    cpu_seconds = cpu;
                }
                collect(watcher, window);
            }
        }
    };
    assert!(
        status.success(),
        "ffmpeg failed ({status}): {:?}",
        proc.stderr_tail()
    );
    // Progress came through `-progress pipe:1`, ending with `progress=end`.
    let progress = proc.progress().borrow().clone();
    assert!(progress.ended && progress.frame >= 100, "{progress:?}");
    eprintln!(
        "last progress: {progress:?}; stderr: {:?}",
        proc.stderr_tail()
    );
    feeder.await.unwrap().unwrap();
    // ffmpeg wrote its last segments before exiting.
    collect(watcher, window);
    Run {
        pushed,
        cpu_seconds,
        wall: started.elapsed(),
    }
}

fn durations(run: &Run, rendition: &str) -> Vec<f64> {
    run.pushed
        .iter()
        .filter(|p| p.0 == rendition)
        .map(|p| p.2)
        .collect()
}

fn seqs(run: &Run, rendition: &str) -> Vec<u64> {
    run.pushed
        .iter()
        .filter(|p| p.0 == rendition)
        .map(|p| p.1)
        .collect()
}

/// Width and height of the first video stream of `data`, via ffprobe on a temp file.
fn probe_resolution(dir: &Path, name: &str, data: &Bytes) -> (u32, u32) {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    let out = tool("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // MPEG-TS lists the stream under its program too: the first line is enough.
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let (w, h) = first
        .trim()
        .split_once(',')
        .unwrap_or_else(|| panic!("ffprobe said {text:?}"));
    (w.parse().unwrap(), h.parse().unwrap())
}

/// Writes the window as a web server would serve it and lets ffprobe read it through the
/// master playlist: every variant must parse and decode.
fn probe_window_via_master(dir: &Path, window: &LiveWindow, plan: &[PlannedRendition]) -> String {
    let root = dir.join("served");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("master.m3u8"), window.master_playlist()).unwrap();
    for p in plan {
        let rdir = root.join(&p.name);
        std::fs::create_dir_all(&rdir).unwrap();
        let playlist = window.media_playlist(&p.name).unwrap();
        let text = String::from_utf8(playlist.to_vec()).unwrap();
        for uri in text.lines().filter(|l| !l.starts_with('#')) {
            std::fs::write(rdir.join(uri), window.segment(&p.name, uri).unwrap()).unwrap();
        }
        std::fs::write(rdir.join("index.m3u8"), playlist).unwrap();
    }
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "compact",
        ])
        .arg(root.join("master.m3u8"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe master: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ladder_from_flv_then_a_restart_continues_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let flv = make_flv(tmp.path(), 5, 60);
    let cfg = LadderConfig::default();
    cfg.validate().unwrap();
    let plan = plan_ladder(&cfg, &source_720p30());
    let names: Vec<&str> = plan.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["source", "480p", "360p"], "no second 720p copy");
    let out_dir = tmp.path().join("work");
    let mut watcher = OutputWatcher::new(&out_dir, &plan).unwrap();
    let mut window = LiveWindow::new(plan.clone(), 10, cfg.segment_seconds);

    let first = transcode(&cfg, &plan, &out_dir, &flv, &mut watcher, &mut window).await;
    eprintln!(
        "ladder on 5 s of 720p30: {:.2} CPU s ({:.2} CPU s per media s), {:.2} s wall",
        first.cpu_seconds,
        first.cpu_seconds / 5.0,
        first.wall.as_secs_f64()
    );
    for p in &plan {
        let d = durations(&first, &p.name);
        eprintln!("{}: {} segments {:?}", p.name, d.len(), d);
        assert!(!d.is_empty(), "{} produced no segment", p.name);
        // Decodes at the planned size.
        let data = window.segment(&p.name, "seg-0.ts").unwrap();
        let probed = probe_resolution(tmp.path(), &format!("{}-0.ts", p.name), &data);
        assert_eq!(probed, (p.width, p.height), "{}", p.name);
        assert_eq!(
            seqs(&first, &p.name),
            (0..d.len() as u64).collect::<Vec<_>>()
        );
    }
    // Transcoded renditions: 1 s segments (the last may be short), aligned across renditions.
    let reference = durations(&first, "480p");
    assert!(reference.len() >= 5, "{reference:?}");
    for d in &reference[..reference.len() - 1] {
        assert!(
            (d - 1.0).abs() < 0.05,
            "480p segment of {d} s: {reference:?}"
        );
    }
    assert_eq!(
        durations(&first, "360p"),
        reference,
        "360p not aligned with 480p"
    );
    // The copied source follows the source GOP (2 s).
    let source = durations(&first, "source");
    assert!((source[0] - 2.0).abs() < 0.05, "{source:?}");

    // The source drops and comes back: a new ffmpeg into the same directory and window.
    let produced = reference.len() as u64;
    window.mark_discontinuity();
    watcher.restart(&plan).unwrap();
    let second = transcode(&cfg, &plan, &out_dir, &flv, &mut watcher, &mut window).await;
    let again = seqs(&second, "480p");
    assert_eq!(
        again.first(),
        Some(&produced),
        "sequence continues after the restart"
    );
    assert_eq!(
        again,
        (produced..produced + again.len() as u64).collect::<Vec<_>>()
    );
    let playlist = String::from_utf8(window.media_playlist("480p").unwrap().to_vec()).unwrap();
    let marker = "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:";
    let at = playlist
        .find(marker)
        .unwrap_or_else(|| panic!("no discontinuity in\n{playlist}"));
    let after = playlist[at..]
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap();
    assert_eq!(after, format!("seg-{produced}.ts"), "{playlist}");
    assert_eq!(
        playlist.matches("#EXT-X-DISCONTINUITY\n").count(),
        1,
        "{playlist}"
    );
    let source_seqs = seqs(&second, "source");
    assert_eq!(source_seqs.first(), Some(&(source.len() as u64)));

    // ffprobe reads the whole thing through our master playlist.
    let probed = probe_window_via_master(tmp.path(), &window, &plan);
    for p in &plan {
        assert!(
            probed.contains(&format!("width={}|height={}", p.width, p.height)),
            "{probed}"
        );
    }
    // Nothing left behind on disk but ffmpeg's playlists.
    for p in &plan {
        let left: Vec<_> = std::fs::read_dir(out_dir.join(&p.name))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [OsString::from("index.m3u8")], "{}", p.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_8_second_source_gop_still_gives_1_second_transcoded_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let flv = make_flv(tmp.path(), 10, 240);
    let cfg = LadderConfig::default();
    let plan = plan_ladder(&cfg, &source_720p30());
    let out_dir = tmp.path().join("work");
    let mut watcher = OutputWatcher::new(&out_dir, &plan).unwrap();
    let mut window = LiveWindow::new(plan.clone(), 10, cfg.segment_seconds);
    let run = transcode(&cfg, &plan, &out_dir, &flv, &mut watcher, &mut window).await;

    let source = durations(&run, "source");
    eprintln!("source: {source:?}");
    assert!(
        (source[0] - 8.0).abs() < 0.05,
        "source follows its 8 s GOP: {source:?}"
    );
    let reference = durations(&run, "480p");
    eprintln!("480p: {reference:?}");
    assert!(reference.len() >= 9, "{reference:?}");
    for d in &reference[..reference.len() - 1] {
        assert!(
            (d - 1.0).abs() < 0.05,
            "480p segment of {d} s: {reference:?}"
        );
    }
    assert_eq!(
        durations(&run, "360p"),
        reference,
        "360p not aligned with 480p"
    );
    let source_playlist =
        String::from_utf8(window.media_playlist("source").unwrap().to_vec()).unwrap();
    assert!(
        source_playlist.contains("#EXT-X-TARGETDURATION:8\n"),
        "{source_playlist}"
    );
    let p480 = String::from_utf8(window.media_playlist("480p").unwrap().to_vec()).unwrap();
    assert!(p480.contains("#EXT-X-TARGETDURATION:1\n"), "{p480}");
    // Every transcoded segment starts with a keyframe (independent segments).
    let data = window.segment("360p", "seg-3.ts").unwrap();
    let path = tmp.path().join("360p-3.ts");
    std::fs::write(&path, &data).unwrap();
    let out = tool("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=flags",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    let flags = String::from_utf8(out.stdout).unwrap();
    assert!(
        flags.lines().next().unwrap_or_default().starts_with('K'),
        "{flags}"
    );
    assert_eq!(
        flags.lines().filter(|l| l.starts_with('K')).count(),
        1,
        "{flags}"
    );
}
