//! Rolling ingest health, fed one tag at a time with its arrival time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::codec::{self, AudioInfo, VideoInfo};
use super::{FlvTag, TagKind};

/// Rates are averaged over this much arrival time.
const DEFAULT_WINDOW: Duration = Duration::from_secs(5);
/// Rates over less than this are not shown as such: the first second is averaged over a second.
const MIN_SPAN: Duration = Duration::from_secs(1);
/// Bound on remembered arrivals; a flood of tiny tags under-reports instead of growing memory.
const MAX_ARRIVALS: usize = 8192;
/// The keyframe interval is the mean gap between this many most recent keyframes.
const KEYFRAMES_KEPT: usize = 5;

/// Rolling statistics of one ingest: feed every tag to [`observe`](Self::observe), read
/// [`snapshot`](Self::snapshot) whenever. Bitrate and fps count arrivals over the last few
/// seconds of wall time (what the network delivers); the keyframe interval comes from the
/// keyframes' own timestamps.
#[derive(Debug, Clone)]
pub struct IngestStats {
    window: Duration,
    arrivals: VecDeque<Arrival>,
    first_seen: Option<Instant>,
    keyframe_timestamps: VecDeque<u32>,
    video: Option<VideoInfo>,
    audio: Option<AudioInfo>,
    video_frames: u64,
    audio_frames: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: Instant,
    bytes: usize,
    video_frame: bool,
}

/// A point-in-time view of [`IngestStats`].
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct IngestSnapshot {
    /// All tag bytes (audio, video, script) over the window, in kbit/s.
    pub bitrate_kbps: f64,
    /// Video frames (not sequence headers) per second over the window.
    pub fps: f64,
    /// Mean gap between the last keyframes' timestamps; `None` before the second keyframe.
    pub keyframe_interval_s: Option<f64>,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
    /// Totals since the start.
    pub video_frames: u64,
    pub audio_frames: u64,
    pub bytes: u64,
}

impl Default for IngestStats {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW)
    }
}

impl IngestStats {
    /// Statistics averaged over `window` (at least one second).
    pub fn new(window: Duration) -> Self {
        Self {
            window: window.max(MIN_SPAN),
            arrivals: VecDeque::new(),
            first_seen: None,
            keyframe_timestamps: VecDeque::with_capacity(KEYFRAMES_KEPT),
            video: None,
            audio: None,
            video_frames: 0,
            audio_frames: 0,
            bytes: 0,
        }
    }

    /// Accounts one tag that arrived at `now`.
    pub fn observe(&mut self, tag: &FlvTag, now: Instant) {
        self.first_seen.get_or_insert(now);
        self.bytes += tag.data.len() as u64;
        let video_frame = tag.is_video_frame();
        self.prune(now);
        if self.arrivals.len() >= MAX_ARRIVALS {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(Arrival {
            at: now,
            bytes: tag.data.len(),
            video_frame,
        });

        match tag.kind {
            TagKind::Video if tag.is_sequence_header() => {
                if let Ok(info) = codec::parse_avc_sequence_header(&tag.data) {
                    self.video = Some(info);
                }
            }
            TagKind::Video if video_frame => {
                self.video_frames += 1;
                if tag.is_video_keyframe() {
                    self.observe_keyframe(tag.timestamp_ms);
                }
            }
            TagKind::Audio if tag.is_sequence_header() => {
                if let Ok(info) = codec::parse_aac_sequence_header(&tag.data) {
                    self.audio = Some(info);
                }
            }
            TagKind::Audio if tag.is_audio_frame() => {
                self.audio_frames += 1;
                if self.audio.is_none() {
                    self.audio = codec::audio_info_from_tag_header(&tag.data);
                }
            }
            _ => {}
        }
    }

    fn observe_keyframe(&mut self, timestamp_ms: u32) {
        if self
            .keyframe_timestamps
            .back()
            .is_some_and(|&last| timestamp_ms <= last)
        {
            // Timestamps went back (the encoder restarted): older gaps mean nothing now.
            self.keyframe_timestamps.clear();
        }
        if self.keyframe_timestamps.len() == KEYFRAMES_KEPT {
            self.keyframe_timestamps.pop_front();
        }
        self.keyframe_timestamps.push_back(timestamp_ms);
    }

    fn prune(&mut self, now: Instant) {
        while let Some(a) = self.arrivals.front() {
            if now.saturating_duration_since(a.at) > self.window {
                self.arrivals.pop_front();
            } else {
                break;
            }
        }
    }

    /// The statistics as of `now`.
    pub fn snapshot(&self, now: Instant) -> IngestSnapshot {
        let (mut bytes, mut frames) = (0u64, 0u64);
        for a in &self.arrivals {
            if now.saturating_duration_since(a.at) <= self.window {
                bytes += a.bytes as u64;
                frames += u64::from(a.video_frame);
            }
        }
        let span = self
            .first_seen
            .map_or(MIN_SPAN, |first| {
                now.saturating_duration_since(first)
                    .clamp(MIN_SPAN, self.window)
            })
            .as_secs_f64();
        let keyframe_interval_s = match (
            self.keyframe_timestamps.front(),
            self.keyframe_timestamps.back(),
        ) {
            (Some(&first), Some(&last)) if self.keyframe_timestamps.len() >= 2 => {
                let gaps = (self.keyframe_timestamps.len() - 1) as f64;
                Some(f64::from(last - first) / 1000.0 / gaps)
            }
            _ => None,
        };
        IngestSnapshot {
            bitrate_kbps: bytes as f64 * 8.0 / 1000.0 / span,
            fps: frames as f64 / span,
            keyframe_interval_s,
            video: self.video.clone(),
            audio: self.audio.clone(),
            video_frames: self.video_frames,
            audio_frames: self.audio_frames,
            bytes: self.bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use bytes::Bytes;

    use super::*;

    const AVC_720P: [u8; 43] = [
        0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0x00, 0x17, 0x67, 0x42,
        0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00,
        0x00, 0x0f, 0x03, 0xc6, 0x0c, 0xa8, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8,
    ];

    fn tag(kind: TagKind, ts: u32, data: Vec<u8>) -> FlvTag {
        FlvTag {
            kind,
            timestamp_ms: ts,
            data: Bytes::from(data),
        }
    }

    fn frame(ts: u32, key: bool, len: usize) -> FlvTag {
        let mut data = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        data.resize(len, 0xAB);
        tag(TagKind::Video, ts, data)
    }

    #[test]
    fn thirty_fps_two_second_gop_at_one_megabit() {
        let start = Instant::now();
        let mut stats = IngestStats::default();
        stats.observe(&tag(TagKind::Video, 0, AVC_720P.to_vec()), start);
        stats.observe(&tag(TagKind::Audio, 0, vec![0xAF, 0x00, 0x11, 0x90]), start);
        // 10 s of 30 fps video, keyframe every 60 frames, 4166 bytes a frame (~1 Mbit/s),
        // plus 47 audio frames a second of 100 bytes.
        let mut now = start;
        for i in 0..300u32 {
            now = start + Duration::from_millis(u64::from(i) * 1000 / 30);
            stats.observe(&frame(i * 1000 / 30, i % 60 == 0, 4166), now);
            if i % 30 < 23 || i % 30 == 29 {
                let mut aac = vec![0xAF, 0x01];
                aac.resize(100, 0);
                stats.observe(&tag(TagKind::Audio, i * 1000 / 30, aac), now);
            }
        }
        let snap = stats.snapshot(now);
        assert!((snap.fps - 30.0).abs() < 1.0, "fps {}", snap.fps);
        let expected_kbps = (4166.0 * 30.0 + 24.0 * 100.0) * 8.0 / 1000.0;
        assert!(
            (snap.bitrate_kbps - expected_kbps).abs() / expected_kbps < 0.05,
            "bitrate {}",
            snap.bitrate_kbps
        );
        let interval = snap.keyframe_interval_s.unwrap();
        assert!(
            (interval - 2.0).abs() < 0.01,
            "keyframe interval {interval}"
        );
        assert_eq!(snap.video_frames, 300);
        assert_eq!(snap.audio_frames, 240);
        assert_eq!(
            snap.video,
            Some(VideoInfo {
                codec: "avc1.42c01f".into(),
                width: 1280,
                height: 720
            })
        );
        assert_eq!(
            snap.audio
                .as_ref()
                .map(|a| (a.codec.as_str(), a.sample_rate)),
            Some(("mp4a.40.2", 48000))
        );

        // Ten seconds of silence later the rates are zero; totals and codecs stay.
        let later = stats.snapshot(now + Duration::from_secs(10));
        assert_eq!((later.fps, later.bitrate_kbps), (0.0, 0.0));
        assert_eq!(later.video_frames, 300);
    }

    #[test]
    fn early_rates_are_averaged_over_at_least_a_second() {
        let start = Instant::now();
        let mut stats = IngestStats::default();
        stats.observe(&frame(0, true, 1000), start);
        stats.observe(&frame(33, false, 1000), start + Duration::from_millis(33));
        let snap = stats.snapshot(start + Duration::from_millis(40));
        assert_eq!(snap.fps, 2.0);
        assert_eq!(snap.bitrate_kbps, 16.0);
        assert_eq!(snap.keyframe_interval_s, None);
    }

    #[test]
    fn keyframe_interval_restarts_when_timestamps_go_back() {
        let now = Instant::now();
        let mut stats = IngestStats::default();
        for ts in [0, 4000, 8000, 500, 1500] {
            stats.observe(&frame(ts, true, 10), now);
        }
        assert_eq!(stats.snapshot(now).keyframe_interval_s, Some(1.0));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let now = Instant::now();
        let mut stats = IngestStats::default();
        for i in 0..(MAX_ARRIVALS as u32 * 3) {
            stats.observe(&frame(i, false, 6), now);
        }
        assert_eq!(stats.arrivals.len(), MAX_ARRIVALS);
        assert_eq!(stats.snapshot(now).video_frames, MAX_ARRIVALS as u64 * 3);
    }
}
