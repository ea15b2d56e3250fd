//! Recorded video on object storage: the segment file names a VOD is stored under, and the
//! playlists served for it.
//!
//! A recording keeps the live window's segments as they were: key
//! `vod/{vid}/{rendition}/{seq:016}_{duration_ms}.ts` (`..._d.ts` when a discontinuity precedes
//! the segment). The name carries everything a playlist needs, so a listing of the prefix is
//! enough to rebuild [`render_vod_playlist`], and zero padding keeps key order = `seq` order.
//!
//! - [`render_vod_playlist`] / [`render_vod_master`]: the finished VOD (`index.m3u8`, `master.m3u8`).
//! - The live DVR playlist over recorded segments is rendered by the recorder
//!   (`streamhall_actors::recording`), which knows which segments were lost.
//!
//! Conventions follow the live playlists of [`crate::hls::window`]: version 3, `#EXTINF` with
//! three decimals, `#EXT-X-TARGETDURATION` = the largest rounded `#EXTINF`.

use std::fmt::Write as _;

use crate::transcode::PlannedRendition;

/// `#EXT-X-VERSION`, as for the live playlists: decimal `#EXTINF` is the newest feature used.
const HLS_VERSION: u32 = 3;

/// Digits of the zero-padded sequence number in a segment file name.
const SEQ_DIGITS: usize = 16;

/// One recorded segment of one rendition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VodSegment {
    /// The live window's sequence number (increasing per rendition, unique per broadcast).
    pub seq: u64,
    /// Seconds; stored in the file name to the millisecond.
    pub duration: f64,
    /// Preceded by `#EXT-X-DISCONTINUITY`: the source or ffmpeg was interrupted before it.
    pub discontinuity: bool,
}

/// The object file name of `s`: `{seq:016}_{duration_ms}.ts`, or `{seq:016}_{duration_ms}_d.ts`
/// when a discontinuity precedes it. A negative or non-finite duration is stored as 0.
pub fn segment_file_name(s: &VodSegment) -> String {
    let mark = if s.discontinuity { "_d" } else { "" };
    format!(
        "{:0width$}_{}{mark}.ts",
        s.seq,
        duration_ms(s.duration),
        width = SEQ_DIGITS
    )
}

/// The segment a name from [`segment_file_name`] describes; `None` for any other spelling
/// (another padding, a sign, leading zeros in the duration, another suffix), so a stray key
/// in a listing is skipped rather than played.
pub fn parse_segment_file_name(name: &str) -> Option<VodSegment> {
    let stem = name.strip_suffix(".ts")?;
    let (stem, discontinuity) = match stem.strip_suffix("_d") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (seq, ms) = stem.split_once('_')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(seq) || !all_digits(ms) {
        return None;
    }
    let s = VodSegment {
        seq: seq.parse().ok()?,
        duration: ms.parse::<u64>().ok()? as f64 / 1000.0,
        discontinuity,
    };
    // Only the canonical spelling round-trips.
    (segment_file_name(&s) == name).then_some(s)
}

fn duration_ms(duration: f64) -> u64 {
    if duration.is_finite() && duration > 0.0 {
        (duration * 1000.0).round() as u64
    } else {
        0
    }
}

/// Total length of a recording in seconds.
pub fn vod_duration(segments: &[VodSegment]) -> f64 {
    segments.iter().map(|s| s.duration).sum()
}

/// `{rendition}/index.m3u8` of a finished VOD: the segments in order, URIs
/// [`segment_file_name`] (the playlist sits beside the segments).
pub fn render_vod_playlist(segments: &[VodSegment]) -> String {
    render_vod_playlist_with(segments, segment_file_name)
}

/// [`render_vod_playlist`] with other URIs (a clip's `0.ts`, `1.ts`, ...).
///
/// `#EXT-X-PLAYLIST-TYPE:VOD`, `#EXT-X-MEDIA-SEQUENCE:0`, `#EXT-X-DISCONTINUITY` before every
/// flagged segment but the first (nothing precedes it to be discontinuous with), and
/// `#EXT-X-ENDLIST`.
pub fn render_vod_playlist_with(
    segments: &[VodSegment],
    uri: impl Fn(&VodSegment) -> String,
) -> String {
    let mut p = String::with_capacity(160 + 48 * segments.len());
    let _ = write!(
        p,
        "#EXTM3U\n#EXT-X-VERSION:{HLS_VERSION}\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        target_duration(segments.iter())
    );
    for (i, s) in segments.iter().enumerate() {
        if s.discontinuity && i > 0 {
            p.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = write!(p, "#EXTINF:{:.3},\n{}\n", s.duration, uri(s));
    }
    p.push_str("#EXT-X-ENDLIST\n");
    p
}

/// RFC 8216 §4.3.3.1: every `#EXTINF` rounded to the nearest integer is at most the target
/// duration. Rounding (not ceil) keeps 1.001 s segments at 1, as the live playlists do.
fn target_duration<'a>(segments: impl Iterator<Item = &'a VodSegment>) -> u32 {
    segments
        .map(|s| {
            if s.duration.is_finite() {
                s.duration.max(0.0).round() as u32
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0)
        .max(1)
}

/// One rendition of a VOD as its master playlist lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VodRendition {
    /// Directory name: the media playlist is `{name}/index.m3u8`.
    pub name: String,
    /// 0 x 0 for audio only: no `RESOLUTION`.
    pub width: u32,
    pub height: u32,
    /// Peak bits per second (`BANDWIDTH`).
    pub bandwidth: u64,
    /// RFC 6381 codecs (`CODECS`), e.g. `avc1.64001F,mp4a.40.2`.
    pub codecs: String,
}

impl From<&PlannedRendition> for VodRendition {
    /// What the live master said about the rendition while it was recorded.
    fn from(p: &PlannedRendition) -> Self {
        Self {
            name: p.name.clone(),
            width: p.width,
            height: p.height,
            bandwidth: p.peak_bandwidth_bps(),
            codecs: p.codecs.clone(),
        }
    }
}

/// `master.m3u8` of a VOD: one `#EXT-X-STREAM-INF` per rendition, highest bandwidth first
/// (ties: taller first), attributes spelled as in the live master.
pub fn render_vod_master(renditions: &[VodRendition]) -> String {
    let mut sorted: Vec<&VodRendition> = renditions.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse((r.bandwidth, r.height)));
    let mut m = String::with_capacity(64 + 160 * sorted.len());
    let _ = write!(
        m,
        "#EXTM3U\n#EXT-X-VERSION:{HLS_VERSION}\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    for r in sorted {
        let _ = write!(m, "#EXT-X-STREAM-INF:BANDWIDTH={}", r.bandwidth);
        if r.width > 0 && r.height > 0 {
            let _ = write!(m, ",RESOLUTION={}x{}", r.width, r.height);
        }
        let _ = write!(
            m,
            ",CODECS=\"{}\",NAME=\"{}\"\n{}/index.m3u8\n",
            r.codecs, r.name, r.name
        );
    }
    m
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::transcode::{LadderConfig, SourceInfo, plan_ladder};

    fn seg(seq: u64, duration: f64, discontinuity: bool) -> VodSegment {
        VodSegment {
            seq,
            duration,
            discontinuity,
        }
    }

    #[test]
    fn file_names_round_trip() {
        let s = seg(1_733_000_000_123, 1.001, false);
        assert_eq!(segment_file_name(&s), "0001733000000123_1001.ts");
        assert_eq!(parse_segment_file_name("0001733000000123_1001.ts"), Some(s));
        let d = seg(7, 0.5, true);
        assert_eq!(segment_file_name(&d), "0000000000000007_500_d.ts");
        assert_eq!(
            parse_segment_file_name("0000000000000007_500_d.ts"),
            Some(d)
        );
        // Past 16 digits the number just grows (and still sorts after shorter ones).
        let big = seg(u64::MAX, 0.0, false);
        assert_eq!(segment_file_name(&big), "18446744073709551615_0.ts");
        assert_eq!(parse_segment_file_name(&segment_file_name(&big)), Some(big));
        // Durations are kept to the millisecond; nonsense is stored as 0.
        assert_eq!(
            segment_file_name(&seg(1, 2.0004, false)),
            "0000000000000001_2000.ts"
        );
        assert_eq!(
            segment_file_name(&seg(1, f64::NAN, false)),
            "0000000000000001_0.ts"
        );
        assert_eq!(
            segment_file_name(&seg(1, -1.0, true)),
            "0000000000000001_0_d.ts"
        );
        for ms in [0_u64, 1, 999, 1000, 1001, 33_333, 8_000_000] {
            let s = seg(42, ms as f64 / 1000.0, ms % 2 == 0);
            let name = segment_file_name(&s);
            assert_eq!(parse_segment_file_name(&name), Some(s), "{name}");
        }
    }

    #[test]
    fn anything_else_is_not_a_segment() {
        for bad in [
            "",
            ".ts",
            "index.m3u8",
            "thumb.jpg",
            "seg-1.ts",
            "1_1000.ts",                 // not padded
            "000000000000001_1000.ts",   // 15 digits
            "00000000000000001_1000.ts", // 17 digits with a leading zero
            "0000000000000001_01000.ts", // leading zero in the duration
            "0000000000000001_+1000.ts",
            "0000000000000001_-1.ts",
            "+000000000000001_1000.ts",
            "0000000000000001_1000",
            "0000000000000001_1000.mp4",
            "0000000000000001_1000_x.ts",
            "0000000000000001_1000_D.ts",
            "0000000000000001_1000_d_d.ts",
            "0000000000000001__d.ts",
            "0000000000000001_1000.ts.tmp",
            "0000000000000001_1_000.ts",
            "0000000000000001_1.5.ts",
            "99999999999999999999_1000.ts", // past u64
            "vod/abc/360p/0000000000000001_1000.ts",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn vod_playlist() {
        let segments = [
            seg(100, 1.0, true),
            seg(101, 1.001, false),
            seg(102, 0.4, true),
            seg(103, 2.5, false),
        ];
        assert_eq!(
            render_vod_playlist(&segments),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:3\n\
             #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXTINF:1.000,\n0000000000000100_1000_d.ts\n\
             #EXTINF:1.001,\n0000000000000101_1001.ts\n\
             #EXT-X-DISCONTINUITY\n#EXTINF:0.400,\n0000000000000102_400_d.ts\n\
             #EXTINF:2.500,\n0000000000000103_2500.ts\n\
             #EXT-X-ENDLIST\n"
        );
        assert!((vod_duration(&segments) - 4.901).abs() < 1e-9);
        // Rounded, not ceiled; at least 1 even when empty.
        let short = [seg(0, 1.02, false), seg(1, 0.2, false)];
        assert!(render_vod_playlist(&short).contains("#EXT-X-TARGETDURATION:1\n"));
        let empty = render_vod_playlist(&[]);
        assert!(empty.contains("#EXT-X-TARGETDURATION:1\n") && empty.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(vod_duration(&[]), 0.0);
        // The parser reads it back (what the watcher's parser knows of it).
        let parsed = crate::hls::parse_media_playlist(&render_vod_playlist(&segments)).unwrap();
        assert!(parsed.ended);
        assert_eq!(parsed.target_duration, Some(3));
        let back: Vec<_> = parsed
            .entries
            .iter()
            .map(|e| parse_segment_file_name(&e.uri).unwrap())
            .collect();
        assert_eq!(back, segments);
    }

    #[test]
    fn vod_playlist_with_other_uris() {
        let segments = [seg(0, 1.0, false), seg(1, 0.5, false)];
        let p = render_vod_playlist_with(&segments, |s| format!("{}.ts", s.seq));
        assert!(
            p.contains("#EXTINF:1.000,\n0.ts\n#EXTINF:0.500,\n1.ts\n#EXT-X-ENDLIST\n"),
            "{p}"
        );
    }

    #[test]
    fn master_highest_first_like_the_live_master() {
        let plan = plan_ladder(
            &LadderConfig::default(),
            &SourceInfo {
                width: 1280,
                height: 720,
                fps: Some(30.0),
                video_bitrate_kbps: Some(4500),
                audio: true,
                audio_aac: true,
                video_codec: Some("avc1.64001F".into()),
            },
        );
        // Given lowest first: the master still starts with the source.
        let renditions: Vec<VodRendition> = plan.iter().rev().map(VodRendition::from).collect();
        let m = render_vod_master(&renditions);
        let first = &plan[0];
        assert_eq!(
            m.lines().take(5).collect::<Vec<_>>(),
            [
                "#EXTM3U",
                "#EXT-X-VERSION:3",
                "#EXT-X-INDEPENDENT-SEGMENTS",
                &format!(
                    "#EXT-X-STREAM-INF:BANDWIDTH={},RESOLUTION=1280x720,\
                     CODECS=\"avc1.64001F,mp4a.40.2\",NAME=\"source\"",
                    first.peak_bandwidth_bps()
                ),
                "source/index.m3u8",
            ]
        );
        let uris: Vec<_> = m.lines().filter(|l| !l.starts_with('#')).collect();
        let want: Vec<_> = plan
            .iter()
            .map(|p| format!("{}/index.m3u8", p.name))
            .collect();
        assert_eq!(uris, want);

        let audio = VodRendition {
            name: "audio".into(),
            width: 0,
            height: 0,
            bandwidth: 128_000,
            codecs: "mp4a.40.2".into(),
        };
        let tie = VodRendition {
            name: "tall".into(),
            width: 640,
            height: 360,
            bandwidth: 128_000,
            codecs: "avc1.64001E".into(),
        };
        assert_eq!(
            render_vod_master(&[audio, tie]),
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=128000,RESOLUTION=640x360,CODECS=\"avc1.64001E\",\
             NAME=\"tall\"\ntall/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=128000,CODECS=\"mp4a.40.2\",NAME=\"audio\"\n\
             audio/index.m3u8\n"
        );
    }
}
