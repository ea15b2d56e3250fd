//! The configured ladder, what we know about the source, and the plan for one ffmpeg run.

use std::collections::HashSet;
use std::path::PathBuf;

/// One configured transcoded rendition, e.g. 720p30 at 3000 kb/s.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rendition {
    /// Directory and URL component, e.g. `"720p"`: ASCII letters, digits, `_` and `-` only.
    pub name: String,
    /// Output height in pixels (even); the width follows the source aspect ratio.
    pub height: u32,
    pub video_bitrate_kbps: u32,
    /// Frame rate cap; a faster source is reduced to this.
    #[serde(default = "default_max_fps")]
    pub max_fps: u32,
    #[serde(default = "default_audio_kbps")]
    pub audio_bitrate_kbps: u32,
}

fn default_max_fps() -> u32 {
    30
}

fn default_audio_kbps() -> u32 {
    128
}

impl Rendition {
    pub fn new(name: &str, height: u32, video_bitrate_kbps: u32) -> Self {
        Self {
            name: name.to_owned(),
            height,
            video_bitrate_kbps,
            max_fps: default_max_fps(),
            audio_bitrate_kbps: default_audio_kbps(),
        }
    }
}

/// The ABR ladder as configured for the whole server (the `[live.ladder]` config section).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LadderConfig {
    /// Transcoded renditions; those taller than the source are skipped.
    pub renditions: Vec<Rendition>,
    /// Add a `source` rendition whose video is the input copied (no re-encode).
    pub passthrough: bool,
    /// Target segment length, 1..=6 s; transcoded renditions get a keyframe every this many seconds.
    pub segment_seconds: u32,
    /// ffmpeg encoder name: `libx264`, or a hardware one such as `h264_nvenc` / `h264_vaapi`.
    pub video_encoder: String,
    /// x264 `-preset`; only used with `libx264`.
    pub x264_preset: String,
    /// Device for `h264_vaapi` (`-vaapi_device`); ignored by other encoders.
    pub vaapi_device: PathBuf,
    /// The ffmpeg binary (a bare name is looked up in `PATH`).
    pub ffmpeg_path: PathBuf,
    /// Entries in ffmpeg's own playlist: only the watcher reads it, so it just needs to cover
    /// how far the watcher can fall behind.
    pub ffmpeg_list_size: u32,
    /// When ffmpeg stays below real time (and its input backs up) for 15 s, drop the highest
    /// transcoded rendition, then the next, and tell the streamer. `false` pins the ladder.
    pub adaptive: bool,
    /// Low-latency HLS beside the MPEG-TS playlists: every rendition also as fMP4 parts of
    /// `part_ms`, served as `/hls/{channel}/ll.m3u8`.
    pub low_latency: bool,
    /// LL-HLS part target in milliseconds, 200..=1000 (hls.js is unstable below 200).
    pub part_ms: u32,
}

impl Default for LadderConfig {
    fn default() -> Self {
        Self {
            renditions: vec![
                Rendition::new("720p", 720, 3000),
                Rendition::new("480p", 480, 1400),
                Rendition::new("360p", 360, 800),
            ],
            passthrough: true,
            segment_seconds: 1,
            video_encoder: "libx264".to_owned(),
            x264_preset: "veryfast".to_owned(),
            vaapi_device: PathBuf::from("/dev/dri/renderD128"),
            ffmpeg_path: PathBuf::from("ffmpeg"),
            ffmpeg_list_size: 6,
            adaptive: true,
            low_latency: true,
            part_ms: 333,
        }
    }
}

/// Why a [`LadderConfig`] was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LadderError {
    #[error("segment_seconds must be within 1..=6, got {0}")]
    SegmentSeconds(u32),
    #[error("part_ms must be within 200..=1000, got {0}")]
    PartMs(u32),
    #[error("the ladder is empty: no renditions and passthrough off")]
    Empty,
    #[error("rendition name {0:?} must be 1-32 ASCII letters, digits, '_' or '-'")]
    BadName(String),
    #[error("rendition name {0:?} is used twice (\"source\" is reserved for passthrough)")]
    DuplicateName(String),
    #[error("rendition {name}: {what}")]
    BadRendition { name: String, what: &'static str },
    #[error("ffmpeg_list_size must be within 2..=100, got {0}")]
    ListSize(u32),
    #[error("video encoder {0:?} is not a plain encoder name")]
    BadEncoder(String),
}

/// Name of the passthrough rendition.
pub const SOURCE_NAME: &str = "source";

impl LadderConfig {
    /// Checks everything [`build_argv`](super::build_argv) relies on (names become directory
    /// names and URL components).
    pub fn validate(&self) -> Result<(), LadderError> {
        if !(1..=6).contains(&self.segment_seconds) {
            return Err(LadderError::SegmentSeconds(self.segment_seconds));
        }
        if !(200..=1000).contains(&self.part_ms) {
            return Err(LadderError::PartMs(self.part_ms));
        }
        if self.renditions.is_empty() && !self.passthrough {
            return Err(LadderError::Empty);
        }
        if !(2..=100).contains(&self.ffmpeg_list_size) {
            return Err(LadderError::ListSize(self.ffmpeg_list_size));
        }
        if !is_plain_name(&self.video_encoder) {
            return Err(LadderError::BadEncoder(self.video_encoder.clone()));
        }
        let mut seen = HashSet::new();
        for r in &self.renditions {
            if !is_plain_name(&r.name) {
                return Err(LadderError::BadName(r.name.clone()));
            }
            if r.name == SOURCE_NAME || !seen.insert(r.name.as_str()) {
                return Err(LadderError::DuplicateName(r.name.clone()));
            }
            let bad = |what| LadderError::BadRendition {
                name: r.name.clone(),
                what,
            };
            if r.height < 2 || r.height % 2 != 0 || r.height > 4320 {
                return Err(bad("height must be even and within 2..=4320"));
            }
            if r.video_bitrate_kbps == 0 || r.audio_bitrate_kbps == 0 {
                return Err(bad("bitrates must be positive"));
            }
            if !(1..=240).contains(&r.max_fps) {
                return Err(bad("max_fps must be within 1..=240"));
            }
        }
        Ok(())
    }
}

fn is_plain_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What ingest knows about the incoming stream (from the FLV sequence headers / metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub width: u32,
    pub height: u32,
    pub fps: Option<f64>,
    pub video_bitrate_kbps: Option<u32>,
    /// The source carries an audio track.
    pub audio: bool,
    /// The source audio is AAC, so every rendition copies it instead of re-encoding.
    pub audio_aac: bool,
    /// RFC 6381 codec of the source video (`avc1.PPCCLL` from the avcC record), for the
    /// passthrough rendition's `CODECS=`; when unknown we declare H.264 High at the level the
    /// resolution needs.
    pub video_codec: Option<String>,
}

/// One rendition as it will be produced for this source.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRendition {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Average video bitrate (the encoder's `-b:v`; for passthrough, the source's).
    pub video_bitrate_kbps: u32,
    /// Output frame rate; 0.0 when unknown (passthrough of a source without metadata).
    pub fps: f64,
    /// RFC 6381 codecs for the master playlist's `CODECS=`.
    pub codecs: String,
    /// Video is the input copied (passthrough), not encoded.
    pub copy: bool,
    /// `Some(n)`: an `fps=n` filter caps the frame rate (source faster than n, or unknown).
    pub fps_cap: Option<u32>,
    /// Audio is mapped into this rendition.
    pub audio: bool,
    /// Audio is copied (source is AAC) rather than encoded.
    pub audio_copy: bool,
    /// Audio bitrate when encoded, and the estimate used for `BANDWIDTH` when copied.
    pub audio_bitrate_kbps: u32,
}

impl PlannedRendition {
    /// Peak bits per second for `BANDWIDTH=`: the VBV ceiling of the video (`-maxrate` equals
    /// `-b:v` with a one-second buffer, so a segment can burst to about 1.5x), audio, and ~5%
    /// MPEG-TS overhead. Passthrough assumes a 1.5x peak over the source's average.
    pub fn peak_bandwidth_bps(&self) -> u64 {
        let audio = if self.audio {
            u64::from(self.audio_bitrate_kbps)
        } else {
            0
        };
        let video = u64::from(self.video_bitrate_kbps) * 3 / 2;
        (video + audio) * 1050
    }

    /// Average bits per second for `AVERAGE-BANDWIDTH=`.
    pub fn average_bandwidth_bps(&self) -> u64 {
        let audio = if self.audio {
            u64::from(self.audio_bitrate_kbps)
        } else {
            0
        };
        (u64::from(self.video_bitrate_kbps) + audio) * 1050
    }
}

/// Bitrate assumed for a passthrough source that did not announce one.
fn guess_source_kbps(height: u32) -> u32 {
    match height {
        0..=360 => 1000,
        361..=480 => 2000,
        481..=720 => 4500,
        721..=1080 => 6000,
        _ => 12000,
    }
}

/// The smallest H.264 `level_idc` (e.g. 31 for 3.1) whose frame-size and macroblock-rate
/// limits fit `width`x`height` at `fps` (ITU-T H.264 Table A-1).
pub fn h264_level_idc(width: u32, height: u32, fps: f64) -> u8 {
    const LEVELS: [(u8, u64, u64); 9] = [
        (30, 1_620, 40_500),
        (31, 3_600, 108_000),
        (32, 5_120, 216_000),
        (40, 8_192, 245_760),
        (42, 8_704, 522_240),
        (50, 22_080, 589_824),
        (51, 36_864, 983_040),
        (52, 36_864, 2_073_600),
        (62, 139_264, 16_711_680),
    ];
    let mbs = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
    let fps = if fps > 0.0 { fps } else { 30.0 };
    let mbps = (mbs as f64 * fps).ceil() as u64;
    LEVELS
        .iter()
        .find(|(_, fs, rate)| mbs <= *fs && mbps <= *rate)
        .map_or(62, |(idc, _, _)| *idc)
}

const AAC_LC: &str = "mp4a.40.2";

fn codecs(video: String, audio: bool) -> String {
    if audio {
        format!("{video},{AAC_LC}")
    } else {
        video
    }
}

/// Plans the renditions for `src`: `source` first (when passthrough is on), then the configured
/// renditions in configured order, keeping only those shorter than the source (with
/// passthrough: a 720p source gets `source`, 480p, 360p, never a second 720p copy) or no taller
/// than it (without). Renditions named in `dropped` are left out (the stream took them out to
/// keep up). Widths keep the source aspect ratio, rounded to even. A source of unknown size (0)
/// gets passthrough only.
pub fn plan_ladder(cfg: &LadderConfig, src: &SourceInfo) -> Vec<PlannedRendition> {
    plan_ladder_without(cfg, src, &[])
}

/// [`plan_ladder`] without the renditions named in `dropped`.
pub fn plan_ladder_without(
    cfg: &LadderConfig,
    src: &SourceInfo,
    dropped: &[String],
) -> Vec<PlannedRendition> {
    let mut plan = Vec::with_capacity(cfg.renditions.len() + 1);
    let top_audio_kbps = cfg
        .renditions
        .iter()
        .map(|r| r.audio_bitrate_kbps)
        .max()
        .unwrap_or(128);
    if cfg.passthrough {
        let fps = src.fps.unwrap_or(0.0);
        let video = src.video_codec.clone().unwrap_or_else(|| {
            format!(
                "avc1.6400{:02X}",
                h264_level_idc(src.width, src.height, fps)
            )
        });
        plan.push(PlannedRendition {
            name: SOURCE_NAME.to_owned(),
            width: src.width,
            height: src.height,
            video_bitrate_kbps: src
                .video_bitrate_kbps
                .unwrap_or_else(|| guess_source_kbps(src.height)),
            fps,
            codecs: codecs(video, src.audio),
            copy: true,
            fps_cap: None,
            audio: src.audio,
            audio_copy: src.audio_aac,
            audio_bitrate_kbps: top_audio_kbps,
        });
    }
    if src.width == 0 || src.height == 0 {
        return plan;
    }
    let fits = |r: &&Rendition| {
        let shorter = r.height < src.height || (!cfg.passthrough && r.height == src.height);
        shorter && !dropped.contains(&r.name)
    };
    for r in cfg.renditions.iter().filter(fits) {
        let exact_width = f64::from(src.width) * f64::from(r.height) / f64::from(src.height);
        let width = ((exact_width / 2.0).round() as u32 * 2).max(2);
        let max_fps = f64::from(r.max_fps);
        let (fps, fps_cap) = match src.fps {
            Some(f) if f > 0.0 && f <= max_fps + 0.01 => (f, None),
            _ => (max_fps, Some(r.max_fps)),
        };
        let video_bitrate_kbps = match src.video_bitrate_kbps {
            Some(b) if b > 0 => r.video_bitrate_kbps.min(b),
            _ => r.video_bitrate_kbps,
        };
        let level = h264_level_idc(width, r.height, fps);
        plan.push(PlannedRendition {
            name: r.name.clone(),
            width,
            height: r.height,
            video_bitrate_kbps,
            fps,
            codecs: codecs(format!("avc1.6400{level:02X}"), src.audio),
            copy: false,
            fps_cap,
            audio: src.audio,
            audio_copy: src.audio_aac,
            audio_bitrate_kbps: r.audio_bitrate_kbps,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn src(width: u32, height: u32, fps: Option<f64>) -> SourceInfo {
        SourceInfo {
            width,
            height,
            fps,
            video_bitrate_kbps: None,
            audio: true,
            audio_aac: true,
            video_codec: None,
        }
    }

    fn names(plan: &[PlannedRendition]) -> Vec<&str> {
        plan.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn source_720p_gets_no_second_720p_copy() {
        let plan = plan_ladder(&LadderConfig::default(), &src(1280, 720, Some(30.0)));
        assert_eq!(names(&plan), ["source", "480p", "360p"]);
        let dims: Vec<_> = plan.iter().map(|p| (p.width, p.height)).collect();
        assert_eq!(dims, [(1280, 720), (854, 480), (640, 360)]);
        // Without passthrough, the 720p rendition is the only 720p one: kept.
        let cfg = LadderConfig {
            passthrough: false,
            ..LadderConfig::default()
        };
        let plan = plan_ladder(&cfg, &src(1280, 720, Some(30.0)));
        assert_eq!(names(&plan), ["720p", "480p", "360p"]);
    }

    #[test]
    fn dropped_renditions_are_left_out() {
        let src = src(1920, 1080, Some(30.0));
        let plan = plan_ladder_without(&LadderConfig::default(), &src, &["720p".to_owned()]);
        assert_eq!(names(&plan), ["source", "480p", "360p"]);
    }

    #[test]
    fn source_1080p_gets_the_whole_default_ladder() {
        let plan = plan_ladder(&LadderConfig::default(), &src(1920, 1080, Some(30.0)));
        assert_eq!(names(&plan), ["source", "720p", "480p", "360p"]);
        let dims: Vec<_> = plan.iter().map(|p| (p.width, p.height)).collect();
        assert_eq!(dims, [(1920, 1080), (1280, 720), (854, 480), (640, 360)]);
        assert!(plan[0].copy && plan[1..].iter().all(|p| !p.copy));
        // 30 fps source under a 30 fps cap: no fps filter.
        assert!(plan.iter().all(|p| p.fps_cap.is_none()));
        assert_eq!(plan[1].codecs, "avc1.64001F,mp4a.40.2");
        // 854x480@30 is 48,600 MB/s: above level 3.0's 40,500.
        assert_eq!(plan[2].codecs, "avc1.64001F,mp4a.40.2");
        assert_eq!(plan[3].codecs, "avc1.64001E,mp4a.40.2");
    }

    #[test]
    fn source_480p_skips_taller_and_same_size_renditions() {
        let plan = plan_ladder(&LadderConfig::default(), &src(854, 480, Some(30.0)));
        assert_eq!(names(&plan), ["source", "360p"]);
    }

    #[test]
    fn source_smaller_than_every_rendition_is_passthrough_only() {
        let plan = plan_ladder(&LadderConfig::default(), &src(426, 240, Some(30.0)));
        assert_eq!(names(&plan), ["source"]);
        let cfg = LadderConfig {
            passthrough: false,
            ..LadderConfig::default()
        };
        assert!(plan_ladder(&cfg, &src(426, 240, Some(30.0))).is_empty());
    }

    #[test]
    fn odd_sizes_keep_aspect_with_even_widths() {
        let plan = plan_ladder(&LadderConfig::default(), &src(1366, 767, Some(30.0)));
        assert_eq!(names(&plan), ["source", "720p", "480p", "360p"]);
        // 1366 * 720 / 767 = 1282.3 -> 1282; 1366 * 480 / 767 = 854.8 -> 854; 641.1 -> 642.
        let widths: Vec<_> = plan[1..].iter().map(|p| p.width).collect();
        assert_eq!(widths, [1282, 854, 642]);
        assert!(plan.iter().skip(1).all(|p| p.width % 2 == 0));
        // Portrait 720x1280: a 720-line rendition is 406 wide (405.0 rounded to even).
        // (Heights are lines: a portrait source is taller than every rendition.)
        let portrait = plan_ladder(&LadderConfig::default(), &src(720, 1280, Some(30.0)));
        assert_eq!((portrait[1].width, portrait[1].height), (406, 720));
        // 853x481 keeps 480p (below the source height).
        let odd = plan_ladder(&LadderConfig::default(), &src(853, 481, Some(25.0)));
        assert_eq!(names(&odd), ["source", "480p", "360p"]);
        assert_eq!(odd[1].width, 852);
    }

    #[test]
    fn fast_or_unknown_frame_rates_are_capped() {
        let plan = plan_ladder(&LadderConfig::default(), &src(1920, 1080, Some(60.0)));
        assert_eq!(plan[0].fps, 60.0);
        assert!(
            plan[1..]
                .iter()
                .all(|p| p.fps_cap == Some(30) && p.fps == 30.0)
        );
        let plan = plan_ladder(&LadderConfig::default(), &src(1920, 1080, None));
        assert_eq!(plan[0].fps, 0.0);
        assert!(plan[1..].iter().all(|p| p.fps_cap == Some(30)));
        let plan = plan_ladder(&LadderConfig::default(), &src(1920, 1080, Some(29.97)));
        assert!(
            plan[1..]
                .iter()
                .all(|p| p.fps_cap.is_none() && p.fps == 29.97)
        );
    }

    #[test]
    fn source_codec_bitrate_and_audio_flow_into_the_plan() {
        let info = SourceInfo {
            video_bitrate_kbps: Some(2000),
            audio_aac: false,
            video_codec: Some("avc1.42C01F".into()),
            ..src(1280, 720, Some(30.0))
        };
        let plan = plan_ladder(&LadderConfig::default(), &info);
        assert_eq!(plan[0].codecs, "avc1.42C01F,mp4a.40.2");
        assert_eq!(plan[0].video_bitrate_kbps, 2000);
        // No rendition asks for more than the source has.
        assert_eq!(plan[1].video_bitrate_kbps, 1400);
        let capped = plan_ladder(
            &LadderConfig::default(),
            &SourceInfo {
                video_bitrate_kbps: Some(1000),
                ..info.clone()
            },
        );
        assert_eq!(capped[1].video_bitrate_kbps, 1000);
        assert!(plan.iter().all(|p| p.audio && !p.audio_copy));
        let silent = plan_ladder(
            &LadderConfig::default(),
            &SourceInfo {
                audio: false,
                ..info
            },
        );
        assert!(
            silent
                .iter()
                .all(|p| !p.audio && !p.codecs.contains("mp4a"))
        );
    }

    #[test]
    fn levels_follow_table_a1() {
        assert_eq!(h264_level_idc(640, 360, 30.0), 30);
        assert_eq!(h264_level_idc(1280, 720, 30.0), 31);
        assert_eq!(h264_level_idc(1280, 720, 60.0), 32);
        assert_eq!(h264_level_idc(1920, 1080, 30.0), 40);
        assert_eq!(h264_level_idc(1920, 1080, 60.0), 42);
        assert_eq!(h264_level_idc(3840, 2160, 30.0), 51);
    }

    #[test]
    fn validate_rejects_what_argv_cannot_use() {
        assert_eq!(LadderConfig::default().validate(), Ok(()));
        let with = |f: &dyn Fn(&mut LadderConfig)| {
            let mut c = LadderConfig::default();
            f(&mut c);
            c.validate()
        };
        assert_eq!(
            with(&|c| c.segment_seconds = 0),
            Err(LadderError::SegmentSeconds(0))
        );
        assert_eq!(
            with(&|c| c.segment_seconds = 7),
            Err(LadderError::SegmentSeconds(7))
        );
        assert_eq!(with(&|c| c.segment_seconds = 6), Ok(()));
        assert!(matches!(
            with(&|c| c.renditions[0].name = "../x".into()),
            Err(LadderError::BadName(_))
        ));
        assert!(matches!(
            with(&|c| c.renditions[1].name = "720p".into()),
            Err(LadderError::DuplicateName(_))
        ));
        assert!(matches!(
            with(&|c| c.renditions[0].name = "source".into()),
            Err(LadderError::DuplicateName(_))
        ));
        assert!(matches!(
            with(&|c| c.renditions[0].height = 721),
            Err(LadderError::BadRendition { .. })
        ));
        assert!(matches!(
            with(&|c| c.renditions[0].video_bitrate_kbps = 0),
            Err(LadderError::BadRendition { .. })
        ));
        assert!(matches!(
            with(&|c| c.video_encoder = "libx264 -y".into()),
            Err(LadderError::BadEncoder(_))
        ));
        assert_eq!(
            with(&|c| {
                c.renditions.clear();
                c.passthrough = false;
            }),
            Err(LadderError::Empty)
        );
    }
}
