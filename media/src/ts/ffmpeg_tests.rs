//! The demuxer on a transport stream from the real ffmpeg (libx264 with B-frames + AAC, as
//! OBS and `ffmpeg -f mpegts srt://...` send), and its FLV output decoded by the real ffmpeg.
//! Skips when ffmpeg is missing, unless CI=true.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use bytes::BytesMut;

use super::*;
use crate::flv::{TagKind, file_header, parse_aac_sequence_header, parse_avc_sequence_header};

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required when CI=true"
        );
        eprintln!("skipping: {tool} not found");
    }
    found
}

fn run(tool: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn encode_test_stream(dir: &Path) -> Vec<u8> {
    let ts = dir.join("in.ts");
    run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "30",
            "-bf",
            "2",
            "-c:a",
            "aac",
            "-f",
            "mpegts",
            ts.to_str().unwrap(),
        ],
    );
    std::fs::read(ts).unwrap()
}

#[test]
fn ffmpeg_transport_stream_becomes_decodable_flv() {
    if !have("ffmpeg") || !have("ffprobe") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = encode_test_stream(dir.path());

    // As SRT delivers it: 7 packets per datagram.
    let mut demuxer = TsDemuxer::new();
    let mut tags = Vec::new();
    for chunk in data.chunks(7 * PACKET_LEN) {
        demuxer.push(chunk, &mut tags).unwrap();
    }
    demuxer.finish(&mut tags);
    let stats = demuxer.stats();
    assert_eq!(stats.discontinuities, 0, "{stats:?}");
    assert_eq!(stats.dropped_pes, 0, "{stats:?}");
    assert_eq!(stats.skipped_bytes, 0, "{stats:?}");

    // Sequence headers come first on each track and describe the encode.
    let video_header = tags
        .iter()
        .find(|t| t.kind == TagKind::Video && t.is_sequence_header())
        .unwrap();
    let video = parse_avc_sequence_header(&video_header.data).unwrap();
    assert_eq!((video.width, video.height), (320, 240));
    assert!(video.codec.starts_with("avc1.64"), "{}", video.codec);
    let audio_header = tags
        .iter()
        .find(|t| t.kind == TagKind::Audio && t.is_sequence_header())
        .unwrap();
    let audio = parse_aac_sequence_header(&audio_header.data).unwrap();
    assert_eq!(audio.sample_rate, 48000);
    assert_eq!(audio.codec, "mp4a.40.2");
    let first_video = tags.iter().position(|t| t.kind == TagKind::Video).unwrap();
    assert!(tags[first_video].is_sequence_header());
    let first_audio = tags.iter().position(|t| t.kind == TagKind::Audio).unwrap();
    assert!(tags[first_audio].is_sequence_header());

    // Decode order overall, and ~30 fps video with a keyframe every second.
    let times: Vec<u32> = tags.iter().map(|t| t.timestamp_ms).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let frames: Vec<&FlvTag> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Video && !t.is_sequence_header())
        .collect();
    assert_eq!(frames.len(), 90);
    assert!(frames[0].is_video_keyframe());
    assert!(frames[0].timestamp_ms < 100, "{}", frames[0].timestamp_ms);
    let span = frames[89].timestamp_ms - frames[0].timestamp_ms;
    let fps = 89.0 * 1000.0 / f64::from(span);
    assert!((29.0..31.0).contains(&fps), "{fps} fps");
    let keyframes: Vec<u32> = frames
        .iter()
        .filter(|t| t.is_video_keyframe())
        .map(|t| t.timestamp_ms)
        .collect();
    assert_eq!(keyframes.len(), 3, "{keyframes:?}");
    for w in keyframes.windows(2) {
        assert!((w[1] - w[0]).abs_diff(1000) <= 40, "{keyframes:?}");
    }
    // B-frames: some frames are shown later than they are decoded.
    let cts = |t: &FlvTag| i32::from_be_bytes([0, t.data[2], t.data[3], t.data[4]]);
    assert!(frames.iter().any(|t| cts(t) > 0));

    let audio_frames = tags
        .iter()
        .filter(|t| t.kind == TagKind::Audio && !t.is_sequence_header())
        .count();
    // 3 s of 48 kHz in 1024-sample frames is 140.6.
    assert!((135..=145).contains(&audio_frames), "{audio_frames}");

    // The same tags as an FLV file decode cleanly.
    let mut flv = BytesMut::new();
    flv.extend_from_slice(&file_header(true, true));
    for tag in &tags {
        tag.encode(&mut flv);
    }
    let flv_path = dir.path().join("out.flv");
    std::fs::write(&flv_path, &flv).unwrap();
    let flv_path = flv_path.to_str().unwrap();

    let probe = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,width,height,sample_rate,nb_read_frames",
            "-of",
            "compact=p=0:nk=0",
            flv_path,
        ],
    );
    assert!(
        probe.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let report = String::from_utf8(probe.stdout).unwrap();
    let video_line = report
        .lines()
        .find(|l| l.contains("codec_name=h264"))
        .unwrap();
    assert!(video_line.contains("width=320|height=240"), "{report}");
    assert!(video_line.contains("nb_read_frames=90"), "{report}");
    let audio_line = report
        .lines()
        .find(|l| l.contains("codec_name=aac"))
        .unwrap();
    assert!(audio_line.contains("sample_rate=48000"), "{report}");

    let decode = run(
        "ffmpeg",
        &["-v", "error", "-i", flv_path, "-f", "null", "-"],
    );
    assert!(
        decode.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&decode.stderr)
    );
}
