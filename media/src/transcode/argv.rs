//! The ffmpeg command line for one stream: FLV on stdin, one HLS output per rendition.
//!
//! One output per rendition (rather than a single HLS muxer with `-var_stream_map`): both give
//! the same segmentation (measured with ffmpeg 5.1: 1.000 s transcoded segments, the copied
//! source cut at its own keyframes), but per-output options need no stream specifiers, so each
//! rendition reads as one self-contained block and the golden files stay reviewable.
//!
//! Deliberately absent:
//! - `-fflags nobuffer`: ffmpeg then discards the packets it read while probing the input,
//!   which loses the first GOP of the copied source (8 s with OBS defaults; measured).
//! - `-tune zerolatency`: it turns off B-frames, lookahead and mb-tree. Measured on this
//!   ladder at real-time pace (720p/480p/360p, 2 cores): segments are ready 0.12 s after their
//!   last frame instead of 0.57 s, but SSIM drops by 1 dB at the same bitrate (roughly 20%
//!   more bits for the same picture). With 1 s segments and players sitting ~3 segments
//!   behind the edge, 0.45 s is not worth that. We take the free part instead:
//!   `sync-lookahead=0` (0.75 s -> 0.57 s, same SSIM, same CPU).
//! - `-flush_packets`: segments become visible only when renamed into place (`temp_file`),
//!   so flushing earlier buys nothing.
//! - A faster default than `veryfast` (`x264_preset` is configurable): `superfast` costs
//!   22-29% less CPU (five 720p channels at real time on 2 cores instead of four) but loses
//!   0.3-0.8 dB of SSIM at the same bitrate. `-threads 1` per encoder, chained scalers
//!   (720p -> 480p -> 360p) and a single decoder thread each saved 3% or less (PERFORMANCE.md).
//!
//! Low-latency HLS (`low_latency`, the default): each rendition is encoded once and muxed twice
//! through the `tee` muxer: the MPEG-TS HLS output as before, and fragmented MP4 with a fragment
//! every `part_ms` (and at every keyframe) written to a Unix socket the server listens on
//! ([`ll_socket_path`]); the server turns fragments into LL-HLS parts. `onfail=ignore`: a
//! socket that fails drops only the low-latency copy, the MPEG-TS playlists go on. The HLS
//! paths are relative to ffmpeg's working directory (the run's output directory), so nothing
//! in them needs the tee muxer's escaping; socket paths are checked plain ([`ll_socket_dir_ok`]).
//! `+global_header` puts the codec parameters in the MP4 init segment; the MPEG-TS muxer still
//! repeats them before every keyframe.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::ladder::{LadderConfig, PlannedRendition, h264_level_idc};

/// Where ffmpeg writes one rendition: `out_dir/{name}/`.
pub fn rendition_dir(out_dir: &Path, rendition: &str) -> PathBuf {
    out_dir.join(rendition)
}

/// ffmpeg's own playlist for one rendition, which the watcher reads.
pub fn playlist_path(out_dir: &Path, rendition: &str) -> PathBuf {
    rendition_dir(out_dir, rendition).join("index.m3u8")
}

/// ffmpeg's segment file name pattern; `%d` is ffmpeg's sequence number, restarting at 0 with
/// every ffmpeg run (viewers never see these names).
pub const SEGMENT_PATTERN: &str = "seg-%d.ts";

/// The Unix socket ffmpeg writes `rendition`'s fragmented MP4 to, in the run's socket
/// directory (kept short: socket paths are limited to 107 bytes).
pub fn ll_socket_path(dir: &Path, rendition: &str) -> PathBuf {
    dir.join(format!("{rendition}.sock"))
}

/// A socket directory usable in the tee muxer's arguments and short enough for socket paths
/// (rendition names are at most 32 bytes).
pub fn ll_socket_dir_ok(dir: &Path) -> bool {
    dir.to_str().is_some_and(|s| {
        s.len() <= 64
            && s.starts_with('/')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
    })
}

/// How the configured encoder is driven; only `libx264` is exercised by the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderFamily {
    X264,
    Nvenc,
    /// Needs frames uploaded to the GPU (`format=nv12,hwupload`) and `-vaapi_device`.
    Vaapi,
    /// Anything else (e.g. `h264_qsv`, `h264_v4l2m2m`): generic options only.
    Other,
}

impl EncoderFamily {
    pub fn of(encoder: &str) -> Self {
        match encoder {
            "libx264" => Self::X264,
            e if e.ends_with("_nvenc") => Self::Nvenc,
            e if e.ends_with("_vaapi") => Self::Vaapi,
            _ => Self::Other,
        }
    }
}

/// Builds the complete ffmpeg argument list (without the program name) for `plan`.
///
/// Call [`LadderConfig::validate`] first: names are used as directory names unchecked.
///
/// With `ll_sockets` (a directory [`ll_socket_dir_ok`] accepts), every rendition is also written
/// as fragmented MP4 to its [`ll_socket_path`] there; ffmpeg must then run in `out_dir`.
pub fn build_argv(
    cfg: &LadderConfig,
    plan: &[PlannedRendition],
    out_dir: &Path,
    ll_sockets: Option<&Path>,
) -> Vec<OsString> {
    let family = EncoderFamily::of(&cfg.video_encoder);
    let n = cfg.segment_seconds.max(1);
    let mut a = Args::default();

    a.push_all([
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-nostats",
    ]);
    // key=value progress blocks once a second on stdout (stdout carries nothing else).
    a.push_all(["-progress", "pipe:1", "-stats_period", "1"]);
    if family == EncoderFamily::Vaapi {
        a.push("-vaapi_device");
        a.push(cfg.vaapi_device.as_os_str());
    }
    // The stream's sequence headers come first, so a short probe finds every parameter;
    // ffmpeg's default (5 s of analysis, 5 MB) holds the first segments back by about a second.
    a.push_all(["-analyzeduration", "500000", "-probesize", "500000"]);
    a.push_all(["-f", "flv", "-i", "pipe:0"]);

    let encoded: Vec<&PlannedRendition> = plan.iter().filter(|p| !p.copy).collect();
    if !encoded.is_empty() {
        a.push("-filter_complex");
        a.push(filter_graph(&encoded, family));
    }

    let mut label = 0;
    for p in plan {
        if p.copy {
            a.push_all(["-map", "0:v:0", "-c:v", "copy"]);
        } else {
            a.push_all(["-map", &format!("[v{label}]")]);
            label += 1;
            push_video_encoder(&mut a, cfg, family, p, n);
        }
        if p.audio {
            a.push_all(["-map", "0:a:0?"]);
            if p.audio_copy {
                a.push_all(["-c:a", "copy"]);
            } else {
                let b = format!("{}k", p.audio_bitrate_kbps);
                a.push_all(["-c:a", "aac", "-b:a", &b, "-ac", "2"]);
            }
        }
        if let Some(sockets) = ll_sockets.filter(|d| ll_socket_dir_ok(d)) {
            let hls = format!(
                "[f=hls:hls_time={n}:hls_list_size={}:hls_flags=temp_file+independent_segments:\
                 hls_segment_type=mpegts:hls_segment_filename={name}/{SEGMENT_PATTERN}]{name}/index.m3u8",
                cfg.ffmpeg_list_size,
                name = p.name,
            );
            let fmp4 = format!(
                "[f=mp4:movflags=+empty_moov+default_base_moof+frag_keyframe+cmaf:\
                 frag_duration={}:onfail=ignore]unix:{}",
                cfg.part_ms * 1000,
                ll_socket_path(sockets, &p.name).display()
            );
            a.push_all(["-flags", "+global_header", "-f", "tee"]);
            a.push(format!("{hls}|{fmp4}"));
            continue;
        }
        let dir = rendition_dir(out_dir, &p.name);
        a.push_all(["-f", "hls", "-hls_time", &n.to_string()]);
        a.push_all(["-hls_list_size", &cfg.ffmpeg_list_size.to_string()]);
        a.push_all(["-hls_flags", "temp_file+independent_segments"]);
        a.push_all(["-hls_segment_type", "mpegts", "-hls_segment_filename"]);
        a.push(dir.join(SEGMENT_PATTERN).into_os_string());
        a.push(playlist_path(out_dir, &p.name).into_os_string());
    }
    a.0
}

/// `[0:v:0]split=3[s0][s1][s2];[s0]scale=1280:720,setsar=1[v0];...`: one decode, one branch per
/// encoded rendition, the frame rate capped before scaling.
fn filter_graph(encoded: &[&PlannedRendition], family: EncoderFamily) -> String {
    let mut g = String::new();
    let inputs: Vec<String> = if encoded.len() == 1 {
        vec!["0:v:0".to_owned()]
    } else {
        g.push_str(&format!("[0:v:0]split={}", encoded.len()));
        for i in 0..encoded.len() {
            g.push_str(&format!("[s{i}]"));
        }
        g.push(';');
        (0..encoded.len()).map(|i| format!("s{i}")).collect()
    };
    for (i, (p, input)) in encoded.iter().zip(&inputs).enumerate() {
        if i > 0 {
            g.push(';');
        }
        g.push_str(&format!("[{input}]"));
        if let Some(fps) = p.fps_cap {
            g.push_str(&format!("fps={fps},"));
        }
        // Square pixels: a source a pixel off 16:9 (854x480) would otherwise get a sample
        // aspect ratio like 641:640, and players show it 641 pixels wide.
        g.push_str(&format!("scale={}:{},setsar=1", p.width, p.height));
        if family == EncoderFamily::Vaapi {
            g.push_str(",format=nv12,hwupload");
        }
        g.push_str(&format!("[v{i}]"));
    }
    g
}

fn push_video_encoder(
    a: &mut Args,
    cfg: &LadderConfig,
    family: EncoderFamily,
    p: &PlannedRendition,
    n: u32,
) {
    a.push_all(["-c:v", &cfg.video_encoder]);
    let level = h264_level_idc(p.width, p.height, p.fps);
    let level = format!("{}.{}", level / 10, level % 10);
    match family {
        EncoderFamily::X264 => {
            a.push_all([
                "-preset",
                &cfg.x264_preset,
                "-profile:v",
                "high",
                "-level:v",
                &level,
            ]);
            // No extra buffer between the lookahead thread and the encoder: less delay, same
            // output (see the module notes).
            a.push_all(["-x264-params", "sync-lookahead=0"]);
        }
        EncoderFamily::Nvenc => {
            a.push_all(["-preset", "p4", "-profile:v", "high", "-level:v", &level]);
        }
        EncoderFamily::Vaapi => a.push_all(["-profile:v", "high", "-level:v", &level]),
        EncoderFamily::Other => a.push_all(["-profile:v", "high"]),
    }
    if family != EncoderFamily::Vaapi {
        a.push_all(["-pix_fmt", "yuv420p"]);
    }
    // A one-second VBV buffer at the average rate keeps every segment close to the average,
    // which is what the master playlist's BANDWIDTH promises.
    let rate = format!("{}k", p.video_bitrate_kbps);
    a.push_all(["-b:v", &rate, "-maxrate", &rate, "-bufsize", &rate]);
    // Keyframes exactly every `n` seconds of media time in every rendition, so segments are
    // `n` s and aligned across renditions whatever the source GOP; `-g` is the same interval
    // in frames, the fallback for encoders that ignore forced keyframes; no scene-cut extras.
    let gop = ((f64::from(n) * p.fps).round() as u32).max(1);
    a.push_all(["-g", &gop.to_string(), "-sc_threshold", "0"]);
    a.push_all(["-force_key_frames", &format!("expr:gte(t,n_forced*{n})")]);
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push(&mut self, s: impl Into<OsString>) {
        self.0.push(s.into());
    }

    fn push_all<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) {
        self.0.extend(items.into_iter().map(OsString::from));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::transcode::{SourceInfo, plan_ladder};

    fn info(width: u32, height: u32) -> SourceInfo {
        SourceInfo {
            width,
            height,
            fps: Some(30.0),
            video_bitrate_kbps: None,
            audio: false,
            audio_aac: false,
            video_codec: None,
        }
    }

    #[test]
    fn one_encoded_rendition_needs_no_split() {
        let cfg = LadderConfig {
            renditions: vec![crate::transcode::Rendition::new("360p", 360, 800)],
            passthrough: false,
            ..LadderConfig::default()
        };
        let plan = plan_ladder(&cfg, &info(1280, 720));
        let argv = build_argv(&cfg, &plan, Path::new("/o"), None);
        let graph = argv.iter().position(|a| a == "-filter_complex").unwrap() + 1;
        assert_eq!(argv[graph], "[0:v:0]scale=640:360,setsar=1[v0]");
        assert!(
            !argv.iter().any(|a| a == "0:a:0?"),
            "no audio mapped for a silent source"
        );
    }

    #[test]
    fn low_latency_tees_mpegts_and_fragmented_mp4_to_a_socket() {
        let cfg = LadderConfig::default();
        let plan = plan_ladder(&cfg, &info(1280, 720));
        let argv = build_argv(&cfg, &plan, Path::new("/o"), Some(Path::new("/tmp/sh-1/7")));
        let tees: Vec<&OsString> = argv
            .iter()
            .skip(1)
            .zip(&argv)
            .filter(|(_, prev)| *prev == "tee")
            .map(|(a, _)| a)
            .collect();
        assert_eq!(tees.len(), plan.len(), "one tee per rendition");
        assert_eq!(
            tees[1],
            "[f=hls:hls_time=1:hls_list_size=6:hls_flags=temp_file+independent_segments:\
             hls_segment_type=mpegts:hls_segment_filename=480p/seg-%d.ts]480p/index.m3u8|\
             [f=mp4:movflags=+empty_moov+default_base_moof+frag_keyframe+cmaf:\
             frag_duration=333000:onfail=ignore]unix:/tmp/sh-1/7/480p.sock"
        );
        assert_eq!(
            argv.iter().filter(|a| *a == "+global_header").count(),
            plan.len()
        );
        // A socket directory the tee syntax or socket paths cannot take: MPEG-TS only.
        let plain = build_argv(&cfg, &plan, Path::new("/o"), Some(Path::new("/tmp/a b:c")));
        assert!(!plain.iter().any(|a| a == "tee"));
        assert_eq!(plain, build_argv(&cfg, &plan, Path::new("/o"), None));
    }

    #[test]
    fn passthrough_only_has_no_filter_graph() {
        let cfg = LadderConfig {
            renditions: vec![],
            ..LadderConfig::default()
        };
        let plan = plan_ladder(&cfg, &info(1280, 720));
        let argv = build_argv(&cfg, &plan, Path::new("/o"), None);
        assert!(!argv.iter().any(|a| a == "-filter_complex"));
        assert!(argv.iter().any(|a| a == "copy"));
        assert_eq!(argv.last().unwrap(), "/o/source/index.m3u8");
    }

    #[test]
    fn vaapi_uploads_frames_and_names_its_device() {
        let cfg = LadderConfig {
            video_encoder: "h264_vaapi".into(),
            ..LadderConfig::default()
        };
        let plan = plan_ladder(&cfg, &info(1920, 1080));
        let argv = build_argv(&cfg, &plan, Path::new("/o"), None);
        let s: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            s.windows(2)
                .any(|w| w == ["-vaapi_device", "/dev/dri/renderD128"])
        );
        assert!(
            s.iter()
                .any(|a| a.contains("scale=640:360,setsar=1,format=nv12,hwupload[v2]"))
        );
        assert!(!s.iter().any(|a| a == "-preset" || a == "yuv420p"));
    }
}
