//! Real encoders and probes for the live tests: an `ffmpeg` publisher pushing a lavfi test
//! source over RTMP, and `ffprobe` to check what comes out. Missing tools fail the test.

use std::{process::Stdio, time::Duration};

use tokio::process::{Child, Command};

pub fn require(tool: &str) {
    let ok = std::process::Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{tool}` is required by the live tests (apt-get install ffmpeg; ./dev test does it)"
    );
}

/// Pushes `seconds` of a `width`x`height` 30 fps test picture with a 1 s GOP and a sine tone
/// to `url`, in real time.
pub fn publish(url: &str, width: u32, height: u32, seconds: u32) -> Child {
    publish_with_gop(url, width, height, seconds, 30)
}

/// Like [`publish`] with a keyframe every `gop` frames.
pub fn publish_with_gop(url: &str, width: u32, height: u32, seconds: u32, gop: u32) -> Child {
    encode_to(url, "flv", width, height, seconds, gop)
}

/// Like [`publish`] over SRT: MPEG-TS to an `srt://` URL (stream id and passphrase in it).
pub fn publish_srt(url: &str, width: u32, height: u32, seconds: u32) -> Child {
    encode_to(url, "mpegts", width, height, seconds, 30)
}

fn encode_to(url: &str, format: &str, width: u32, height: u32, seconds: u32, gop: u32) -> Child {
    require("ffmpeg");
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={width}x{height}:rate=30"),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
        ])
        .args([
            "-g",
            &gop.to_string(),
            "-keyint_min",
            &gop.to_string(),
            "-sc_threshold",
            "0",
        ])
        .args(["-b:v", "2500k", "-c:a", "aac", "-b:a", "128k"])
        .args(["-t", &seconds.to_string(), "-f", format, url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start ffmpeg")
}

/// Waits for a publisher to exit; returns whether it succeeded.
pub async fn exits(child: &mut Child, within: Duration) -> bool {
    match tokio::time::timeout(within, child.wait()).await {
        Ok(Ok(status)) => status.success(),
        Ok(Err(e)) => panic!("waiting for ffmpeg: {e}"),
        Err(_) => panic!("ffmpeg still running after {within:?}"),
    }
}

/// What `ffprobe` says about the first video stream of `data` (an MPEG-TS segment).
#[derive(Debug)]
pub struct Probe {
    pub video_codec: String,
    pub width: u64,
    pub height: u64,
    pub audio_codec: Option<String>,
}

pub fn probe(data: &[u8]) -> Probe {
    require("ffprobe");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("segment.ts");
    std::fs::write(&path, data).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams"])
        .arg(&path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    let audio = streams.iter().find(|s| s["codec_type"] == "audio");
    Probe {
        video_codec: video["codec_name"].as_str().unwrap_or_default().to_owned(),
        width: video["width"].as_u64().unwrap_or(0),
        height: video["height"].as_u64().unwrap_or(0),
        audio_codec: audio
            .and_then(|a| a["codec_name"].as_str())
            .map(str::to_owned),
    }
}

/// `(duration, uri)` of each segment in a media playlist.
pub fn segments(playlist: &str) -> Vec<(f64, String)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in playlist.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            duration = d
                .trim_end_matches(',')
                .split(',')
                .next()
                .and_then(|d| d.parse().ok());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            out.push((duration.take().unwrap_or(0.0), line.trim().to_owned()));
        }
    }
    out
}

/// The rendition names listed in a master playlist, in order.
pub fn variants(master: &str) -> Vec<String> {
    master
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('/').next().unwrap_or_default().to_owned())
        .collect()
}
