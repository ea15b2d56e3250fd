//! The live window of one stream: the last segments of every rendition, in memory, and the
//! playlists viewers fetch, rendered once per change and served as cheap `Bytes` clones.
//!
//! URLs are relative: the master at `/hls/{channel}/master.m3u8` names `{rendition}/index.m3u8`,
//! which names `seg-{seq}.ts` beside it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};

use super::sealed::{SEALED_MAX, SealedFile, SealedSlot};

use crate::transcode::PlannedRendition;

/// Segments listed in each media playlist unless configured otherwise.
pub const DEFAULT_WINDOW: usize = 10;

/// Segments kept (and served) after they leave the playlist, for players that fetched the
/// playlist just before (RFC 8216 §6.2.2: keep them available for a while).
pub const RETAINED_AFTER_WINDOW: usize = 3;

/// `#EXT-X-VERSION`: 3 is the lowest that allows decimal `#EXTINF`, the only newer feature used.
const HLS_VERSION: u32 = 3;

/// One segment as viewers get it.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRef {
    /// Our sequence number; the segment is served as `seg-{seq}.ts`.
    pub seq: u64,
    pub duration: f64,
    /// Wall-clock time of the segment's first frame (from the ingest clock).
    pub program_date_time: SystemTime,
    /// Preceded by `#EXT-X-DISCONTINUITY`: the source or ffmpeg was interrupted before it.
    pub discontinuity: bool,
    pub data: Bytes,
    /// `data` in a sealed memory file, made when first sent from one.
    pub sealed: SealedSlot,
}

/// The file name viewers use for segment `seq`.
pub fn segment_name(seq: u64) -> String {
    format!("seg-{seq}.ts")
}

/// The sequence number in a name [`segment_name`] made; `None` for any other spelling.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".ts")?;
    // Only the canonical spelling: no sign, no leading zeros.
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Per-rendition counters for health reporting.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionStats {
    pub name: String,
    /// In the current ladder.
    pub active: bool,
    /// Listed in the master playlist: active, has a segment, not marked failed.
    pub listed: bool,
    /// Marked failed by the stream ([`LiveWindow::set_failed`]).
    pub failed: bool,
    pub segments_produced: u64,
    /// `#EXT-X-MEDIA-SEQUENCE` of the current playlist.
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub target_duration: u32,
    pub last_segment_duration: Option<f64>,
    pub last_segment_age: Option<Duration>,
    /// Segments and bytes held in memory, including the few retained after the playlist.
    pub segments_held: usize,
    pub bytes_held: usize,
}

/// A snapshot of the whole window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStats {
    pub renditions: Vec<RenditionStats>,
    pub ended: bool,
}

struct RenditionWindow {
    plan: PlannedRendition,
    active: bool,
    /// The stream judged it broken (no segments while others have them): left out of the
    /// master playlist until it produces again.
    failed: bool,
    /// The playlist's segments are the last `window` of these; the older ones are retained.
    segments: VecDeque<SegmentRef>,
    next_seq: u64,
    pending_discontinuity: bool,
    /// Discontinuities on segments dropped from `segments` entirely.
    discontinuities_dropped: u64,
    target_duration: u32,
    produced: u64,
    last_push: Option<Instant>,
    playlist: Bytes,
}

/// All renditions of one stream. Not synchronised: the owner (the stream's segment task)
/// wraps it as it sees fit.
pub struct LiveWindow {
    renditions: Vec<RenditionWindow>,
    window: usize,
    target_duration_hint: u32,
    ended: bool,
    master: Bytes,
    /// Sequence number of each rendition's first segment.
    first_sequence: u64,
}

impl LiveWindow {
    /// `window` segments per media playlist (at least 1); `target_duration_hint` is the first
    /// `#EXT-X-TARGETDURATION` (normally the segment length), raised by longer segments.
    pub fn new(
        renditions: Vec<PlannedRendition>,
        window: usize,
        target_duration_hint: u32,
    ) -> Self {
        let mut w = Self {
            renditions: Vec::with_capacity(renditions.len()),
            window: window.max(1),
            target_duration_hint: target_duration_hint.max(1),
            ended: false,
            master: Bytes::new(),
            first_sequence: 0,
        };
        w.set_renditions(renditions);
        w
    }

    /// Like [`LiveWindow::new`], numbering segments from `first_sequence`. A broadcast that
    /// starts at a number no earlier broadcast of the channel reached (e.g. its start time in
    /// seconds times 1000) gets segment URLs that never repeat, so they can be cached as
    /// immutable.
    pub fn starting_at(
        renditions: Vec<PlannedRendition>,
        window: usize,
        target_duration_hint: u32,
        first_sequence: u64,
    ) -> Self {
        let mut w = Self::new(Vec::new(), window, target_duration_hint);
        w.first_sequence = first_sequence;
        w.set_renditions(renditions);
        w
    }

    /// Appends a finished segment; returns its sequence number, or `None` when the rendition
    /// is unknown or not in the current ladder, or the stream has ended.
    pub fn push_segment(
        &mut self,
        rendition: &str,
        duration: f64,
        program_date_time: SystemTime,
        data: Bytes,
    ) -> Option<u64> {
        if self.ended {
            return None;
        }
        let keep = self.window + RETAINED_AFTER_WINDOW;
        let r = self
            .renditions
            .iter_mut()
            .find(|r| r.active && r.plan.name == rendition)?;
        let duration = if duration.is_finite() {
            duration.max(0.0)
        } else {
            0.0
        };
        let seq = r.next_seq;
        r.segments.push_back(SegmentRef {
            seq,
            duration,
            program_date_time,
            discontinuity: std::mem::take(&mut r.pending_discontinuity),
            data,
            sealed: SealedSlot::default(),
        });
        while r.segments.len() > keep {
            if let Some(old) = r.segments.pop_front() {
                r.discontinuities_dropped += u64::from(old.discontinuity);
            }
        }
        r.next_seq += 1;
        r.produced += 1;
        r.last_push = Some(Instant::now());
        // The first segment, or one from a rendition judged failed: the master changes.
        let relist = r.produced == 1 || std::mem::take(&mut r.failed);
        // RFC 8216 §4.3.3.1: each EXTINF rounded to the nearest integer must not exceed the
        // target duration. Rounding (not ceil) keeps 1.001 s segments at TARGETDURATION:1,
        // which keeps players' live-edge distance (a multiple of it) short. Never decreases.
        r.target_duration = r.target_duration.max(duration.round() as u32);
        r.render(self.window, false);
        if relist {
            self.render_master();
        }
        Some(seq)
    }

    /// Marks renditions as failed (left out of the master playlist) or working again; every
    /// rendition not named is working. Returns whether the master changed. A failed
    /// rendition's own playlist stays servable for players already on it.
    pub fn set_failed(&mut self, failed: &[&str]) -> bool {
        let mut changed = false;
        for r in &mut self.renditions {
            let f = failed.contains(&r.plan.name.as_str());
            changed |= r.failed != f;
            r.failed = f;
        }
        if changed {
            self.render_master();
        }
        changed
    }

    /// Renditions the master playlist lists: in the ladder, with a segment, not failed.
    pub fn has_listed(&self) -> bool {
        self.renditions.iter().any(RenditionWindow::listed)
    }

    /// The next segment of every rendition that has produced one is preceded by
    /// `#EXT-X-DISCONTINUITY` (source interrupted, ffmpeg restarted).
    pub fn mark_discontinuity(&mut self) {
        for r in &mut self.renditions {
            if r.produced > 0 {
                r.pending_discontinuity = true;
            }
        }
    }

    /// Adopts a new ladder (a reconnect may bring another resolution). Renditions present in
    /// both keep their segments, sequence numbers and target duration, and take the new
    /// attributes. New ones start at sequence 0. Dropped ones leave the master playlist; their
    /// media playlists get `#EXT-X-ENDLIST` (players on them stop instead of stalling) and
    /// their segments stay servable; they come back with their numbering if re-added.
    pub fn set_renditions(&mut self, renditions: Vec<PlannedRendition>) {
        let order: Vec<String> = renditions.iter().map(|p| p.name.clone()).collect();
        let was_active: Vec<bool> = self.renditions.iter().map(|r| r.active).collect();
        for r in &mut self.renditions {
            r.active = false;
        }
        for plan in renditions {
            match self
                .renditions
                .iter()
                .position(|r| r.plan.name == plan.name)
            {
                Some(i) => {
                    let r = &mut self.renditions[i];
                    // A retired rendition coming back has a gap in its timeline.
                    if !was_active.get(i).copied().unwrap_or(true) && r.produced > 0 {
                        r.pending_discontinuity = true;
                    }
                    r.plan = plan;
                    r.active = true;
                }
                None => self.renditions.push(RenditionWindow {
                    plan,
                    active: true,
                    failed: false,
                    segments: VecDeque::with_capacity(self.window + RETAINED_AFTER_WINDOW),
                    next_seq: self.first_sequence,
                    pending_discontinuity: false,
                    discontinuities_dropped: 0,
                    target_duration: self.target_duration_hint,
                    produced: 0,
                    last_push: None,
                    playlist: Bytes::new(),
                }),
            }
        }
        // Master order follows the new plan; retired renditions go last.
        self.renditions
            .sort_by_key(|r| (!r.active, order.iter().position(|n| *n == r.plan.name)));
        for r in &mut self.renditions {
            r.render(self.window, self.ended);
        }
        self.render_master();
    }

    /// The broadcast is over: every media playlist ends with `#EXT-X-ENDLIST`.
    pub fn end(&mut self) {
        self.ended = true;
        for r in &mut self.renditions {
            r.render(self.window, true);
        }
    }

    /// `master.m3u8`: one `#EXT-X-STREAM-INF` per rendition of the current ladder that has
    /// segments and is not failed, plan order (players never get a rendition with nothing to
    /// play). Empty until one has.
    pub fn master_playlist(&self) -> Bytes {
        self.master.clone()
    }

    /// `{rendition}/index.m3u8`; `None` for a rendition never in the ladder.
    pub fn media_playlist(&self, rendition: &str) -> Option<Bytes> {
        self.find(rendition).map(|r| r.playlist.clone())
    }

    /// A segment by the name the playlist gives it (`seg-{seq}.ts`); `None` when unknown or
    /// already dropped.
    pub fn segment(&self, rendition: &str, name: &str) -> Option<Bytes> {
        let seq = parse_segment_name(name)?;
        let r = self.find(rendition)?;
        let first = r.segments.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        r.segments.get(i).map(|s| s.data.clone())
    }

    /// A segment as [`segment`](Self::segment) finds it, with its sealed file (made now if it was
    /// not yet; `None` if it cannot be), for a server that sends it with `sendfile`.
    pub fn sealed_segment(
        &self,
        rendition: &str,
        name: &str,
    ) -> Option<(Bytes, Option<Arc<SealedFile>>)> {
        let seq = parse_segment_name(name)?;
        let r = self.find(rendition)?;
        let first = r.segments.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        let s = r.segments.get(i)?;
        let sealed = (s.data.len() <= SEALED_MAX)
            .then(|| s.sealed.get_or_seal(&s.data))
            .flatten();
        Some((s.data.clone(), sealed))
    }

    /// The newest segment of a rendition.
    pub fn last_segment(&self, rendition: &str) -> Option<&SegmentRef> {
        self.find(rendition)?.segments.back()
    }

    pub fn snapshot(&self) -> WindowStats {
        let now = Instant::now();
        WindowStats {
            renditions: self
                .renditions
                .iter()
                .map(|r| {
                    let (media_sequence, discontinuity_sequence, _) = r.visible(self.window);
                    RenditionStats {
                        name: r.plan.name.clone(),
                        active: r.active,
                        listed: r.listed(),
                        failed: r.failed,
                        segments_produced: r.produced,
                        media_sequence,
                        discontinuity_sequence,
                        target_duration: r.target_duration,
                        last_segment_duration: r.segments.back().map(|s| s.duration),
                        last_segment_age: r.last_push.map(|t| now.saturating_duration_since(t)),
                        segments_held: r.segments.len(),
                        bytes_held: r.segments.iter().map(|s| s.data.len()).sum(),
                    }
                })
                .collect(),
            ended: self.ended,
        }
    }

    fn find(&self, rendition: &str) -> Option<&RenditionWindow> {
        self.renditions.iter().find(|r| r.plan.name == rendition)
    }

    fn render_master(&mut self) {
        if !self.has_listed() {
            self.master = Bytes::new();
            return;
        }
        let mut m = String::with_capacity(512);
        let _ = write!(
            m,
            "#EXTM3U\n#EXT-X-VERSION:{HLS_VERSION}\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        );
        for r in self.renditions.iter().filter(|r| r.listed()) {
            let p = &r.plan;
            let _ = write!(
                m,
                "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={}",
                p.peak_bandwidth_bps(),
                p.average_bandwidth_bps()
            );
            if p.width > 0 && p.height > 0 {
                let _ = write!(m, ",RESOLUTION={}x{}", p.width, p.height);
            }
            let _ = write!(m, ",CODECS=\"{}\"", p.codecs);
            if p.fps > 0.0 {
                let _ = write!(m, ",FRAME-RATE={:.3}", p.fps);
            }
            let _ = write!(m, ",NAME=\"{}\"\n{}/index.m3u8\n", p.name, p.name);
        }
        self.master = Bytes::from(m);
    }
}

impl RenditionWindow {
    fn listed(&self) -> bool {
        self.active && self.produced > 0 && !self.failed
    }

    /// (media sequence, discontinuity sequence, index of the first listed segment).
    fn visible(&self, window: usize) -> (u64, u64, usize) {
        let skip = self.segments.len().saturating_sub(window);
        let hidden = self
            .segments
            .iter()
            .take(skip)
            .filter(|s| s.discontinuity)
            .count() as u64;
        let media_sequence = self.segments.get(skip).map_or(self.next_seq, |s| s.seq);
        (media_sequence, self.discontinuities_dropped + hidden, skip)
    }

    fn render(&mut self, window: usize, stream_ended: bool) {
        let (media_sequence, discontinuity_sequence, skip) = self.visible(window);
        let mut p = String::with_capacity(256 + 110 * window);
        let _ = write!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:{HLS_VERSION}\n#EXT-X-TARGETDURATION:{}\n\
             #EXT-X-MEDIA-SEQUENCE:{media_sequence}\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n",
            self.target_duration
        );
        for s in self.segments.iter().skip(skip) {
            if s.discontinuity {
                p.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let pdt = DateTime::<Utc>::from(s.program_date_time)
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            let _ = write!(
                p,
                "#EXT-X-PROGRAM-DATE-TIME:{pdt}\n#EXTINF:{:.3},\n{}\n",
                s.duration,
                segment_name(s.seq)
            );
        }
        if stream_ended || !self.active {
            p.push_str("#EXT-X-ENDLIST\n");
        }
        self.playlist = Bytes::from(p);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::transcode::{LadderConfig, SourceInfo, plan_ladder};

    fn plan(width: u32, height: u32) -> Vec<PlannedRendition> {
        plan_ladder(
            &LadderConfig::default(),
            &SourceInfo {
                width,
                height,
                fps: Some(30.0),
                video_bitrate_kbps: Some(4500),
                audio: true,
                audio_aac: true,
                video_codec: Some("avc1.64001F".into()),
            },
        )
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn text(b: Option<Bytes>) -> String {
        String::from_utf8(b.unwrap().to_vec()).unwrap()
    }

    fn uris(playlist: &str) -> Vec<&str> {
        playlist.lines().filter(|l| !l.starts_with('#')).collect()
    }

    fn tag<'a>(playlist: &'a str, name: &str) -> &'a str {
        playlist
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
            .unwrap_or_else(|| panic!("{name} missing in\n{playlist}"))
    }

    #[test]
    fn master_lists_the_plan_with_attributes() {
        let mut w = LiveWindow::new(plan(1920, 1080), 10, 1);
        assert!(w.master_playlist().is_empty(), "nothing to play yet");
        for name in ["source", "720p", "480p", "360p"] {
            w.push_segment(name, 1.0, at(0), Bytes::new());
        }
        let master = text(Some(w.master_playlist()));
        let expected = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
            #EXT-X-STREAM-INF:BANDWIDTH=7221900,AVERAGE-BANDWIDTH=4859400,RESOLUTION=1920x1080,\
            CODECS=\"avc1.64001F,mp4a.40.2\",FRAME-RATE=30.000,NAME=\"source\"\nsource/index.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=4859400,AVERAGE-BANDWIDTH=3284400,RESOLUTION=1280x720,\
            CODECS=\"avc1.64001F,mp4a.40.2\",FRAME-RATE=30.000,NAME=\"720p\"\n720p/index.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=2339400,AVERAGE-BANDWIDTH=1604400,RESOLUTION=854x480,\
            CODECS=\"avc1.64001F,mp4a.40.2\",FRAME-RATE=30.000,NAME=\"480p\"\n480p/index.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=1394400,AVERAGE-BANDWIDTH=974400,RESOLUTION=640x360,\
            CODECS=\"avc1.64001E,mp4a.40.2\",FRAME-RATE=30.000,NAME=\"360p\"\n360p/index.m3u8\n";
        assert_eq!(master, expected);
        // Served from the cache: the same allocation every time.
        assert_eq!(w.master_playlist().as_ptr(), w.master_playlist().as_ptr());
    }

    #[test]
    fn media_playlist_numbers_segments_and_dates_them() {
        let mut w = LiveWindow::new(plan(1920, 1080), 10, 1);
        let empty = text(w.media_playlist("720p"));
        assert_eq!(tag(&empty, "#EXT-X-MEDIA-SEQUENCE"), "0");
        assert!(uris(&empty).is_empty() && !empty.contains("ENDLIST"));
        assert_eq!(
            w.push_segment("720p", 1.0, at(0), Bytes::from_static(b"a")),
            Some(0)
        );
        assert_eq!(
            w.push_segment("720p", 1.0, at(1), Bytes::from_static(b"b")),
            Some(1)
        );
        assert_eq!(w.push_segment("nope", 1.0, at(1), Bytes::new()), None);
        let p = text(w.media_playlist("720p"));
        assert_eq!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z\n#EXTINF:1.000,\nseg-0.ts\n\
             #EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:21.000Z\n#EXTINF:1.000,\nseg-1.ts\n"
        );
        assert_eq!(w.segment("720p", "seg-1.ts").unwrap(), "b");
        assert_eq!(w.segment("480p", "seg-1.ts"), None);
        for bad in [
            "seg-2.ts",
            "seg-01.ts",
            "seg-+1.ts",
            "seg-.ts",
            "seg-1.mp4",
            "../seg-1.ts",
        ] {
            assert_eq!(w.segment("720p", bad), None, "{bad}");
        }
        assert_eq!(w.media_playlist("1080p"), None);
    }

    #[test]
    fn segments_up_to_the_limit_are_sealed_once_larger_ones_never() {
        let mut w = LiveWindow::new(plan(1920, 1080), 10, 1);
        w.push_segment("720p", 1.0, at(0), Bytes::from(vec![7u8; 1000]));
        w.push_segment("720p", 1.0, at(1), Bytes::from(vec![8u8; SEALED_MAX + 1]));
        let (bytes, file) = w.sealed_segment("720p", "seg-0.ts").unwrap();
        assert_eq!(bytes, vec![7u8; 1000]);
        let file = file.expect("a small segment is sealed");
        assert_eq!(file.len(), 1000);
        // The same file for every request of the segment.
        let again = w.sealed_segment("720p", "seg-0.ts").unwrap().1.unwrap();
        assert!(Arc::ptr_eq(&file, &again));
        let (bytes, file) = w.sealed_segment("720p", "seg-1.ts").unwrap();
        assert_eq!(bytes.len(), SEALED_MAX + 1);
        assert!(file.is_none(), "a large segment goes out from its bytes");
        assert!(w.sealed_segment("720p", "seg-2.ts").is_none());
    }

    #[test]
    fn numbering_can_start_anywhere_and_discontinuities_still_need_a_segment() {
        let mut w = LiveWindow::starting_at(plan(1920, 1080), 3, 1, 1_795_000_000_000);
        w.mark_discontinuity();
        w.push_segment("360p", 1.0, at(0), Bytes::from_static(b"a"));
        let p = text(w.media_playlist("360p"));
        assert_eq!(tag(&p, "#EXT-X-MEDIA-SEQUENCE"), "1795000000000");
        assert_eq!(uris(&p), ["seg-1795000000000.ts"]);
        assert!(
            !p.contains("#EXT-X-DISCONTINUITY\n"),
            "nothing was interrupted yet: {p}"
        );
        w.mark_discontinuity();
        w.push_segment("360p", 1.0, at(1), Bytes::from_static(b"b"));
        let p = text(w.media_playlist("360p"));
        assert!(
            p.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"),
            "{p}"
        );
        assert_eq!(
            w.segment("360p", "seg-1795000000001.ts").unwrap(),
            Bytes::from_static(b"b")
        );
    }

    #[test]
    fn eviction_moves_the_media_sequence_and_retains_a_few() {
        let mut w = LiveWindow::new(plan(1920, 1080), 3, 1);
        for i in 0..10 {
            w.push_segment("360p", 1.0, at(i), Bytes::from(vec![i as u8; 10]));
        }
        let p = text(w.media_playlist("360p"));
        assert_eq!(tag(&p, "#EXT-X-MEDIA-SEQUENCE"), "7");
        assert_eq!(uris(&p), ["seg-7.ts", "seg-8.ts", "seg-9.ts"]);
        // Out of the playlist but still served for a moment, then gone.
        assert_eq!(w.segment("360p", "seg-4.ts").unwrap()[0], 4);
        assert_eq!(w.segment("360p", "seg-3.ts"), None);
        let s = w.snapshot();
        let r = s.renditions.iter().find(|r| r.name == "360p").unwrap();
        assert_eq!(
            (r.segments_produced, r.segments_held, r.bytes_held),
            (10, 6, 60)
        );
        assert!(r.last_segment_age.unwrap() < Duration::from_secs(5));
        let untouched = s.renditions.iter().find(|r| r.name == "480p").unwrap();
        assert_eq!(
            (untouched.segments_produced, untouched.last_segment_age),
            (0, None)
        );
    }

    #[test]
    fn discontinuities_are_tagged_and_counted_once_evicted() {
        let mut w = LiveWindow::new(plan(1920, 1080), 2, 1);
        // Before anything was produced a discontinuity is meaningless.
        w.mark_discontinuity();
        w.push_segment("720p", 1.0, at(0), Bytes::new());
        w.push_segment("720p", 1.0, at(1), Bytes::new());
        w.mark_discontinuity();
        w.push_segment("720p", 1.0, at(10), Bytes::new());
        w.push_segment("720p", 1.0, at(11), Bytes::new());
        let p = text(w.media_playlist("720p"));
        assert_eq!(tag(&p, "#EXT-X-DISCONTINUITY-SEQUENCE"), "0");
        assert_eq!(p.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert!(p.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:30.000Z\n#EXTINF:1.000,\nseg-2.ts"));
        w.push_segment("720p", 1.0, at(12), Bytes::new());
        let p = text(w.media_playlist("720p"));
        assert_eq!(uris(&p), ["seg-3.ts", "seg-4.ts"]);
        assert_eq!(tag(&p, "#EXT-X-DISCONTINUITY-SEQUENCE"), "1");
        assert!(!p.contains("#EXT-X-DISCONTINUITY\n"));
        // Keeps counting after the segment leaves memory altogether.
        for i in 0..6 {
            w.push_segment("720p", 1.0, at(13 + i), Bytes::new());
        }
        assert_eq!(
            tag(
                &text(w.media_playlist("720p")),
                "#EXT-X-DISCONTINUITY-SEQUENCE"
            ),
            "1"
        );
        // Renditions that had produced nothing get no tag.
        w.push_segment("480p", 1.0, at(20), Bytes::new());
        assert!(!text(w.media_playlist("480p")).contains("#EXT-X-DISCONTINUITY\n"));
    }

    #[test]
    fn target_duration_rounds_and_never_decreases() {
        let mut w = LiveWindow::new(plan(1920, 1080), 2, 1);
        w.push_segment("source", 1.02, at(0), Bytes::new());
        assert_eq!(
            tag(&text(w.media_playlist("source")), "#EXT-X-TARGETDURATION"),
            "1"
        );
        w.push_segment("source", 8.0, at(1), Bytes::new());
        assert_eq!(
            tag(&text(w.media_playlist("source")), "#EXT-X-TARGETDURATION"),
            "8"
        );
        for i in 0..5 {
            w.push_segment("source", 1.0, at(9 + i), Bytes::new());
        }
        let p = text(w.media_playlist("source"));
        assert!(!p.contains("#EXTINF:8.000"));
        assert_eq!(tag(&p, "#EXT-X-TARGETDURATION"), "8");
        // The hint is a floor; other renditions are independent.
        let w2 = LiveWindow::new(plan(1920, 1080), 2, 4);
        assert_eq!(
            tag(&text(w2.media_playlist("720p")), "#EXT-X-TARGETDURATION"),
            "4"
        );
        assert_eq!(w.snapshot().renditions[1].target_duration, 1);
    }

    #[test]
    fn master_lists_only_renditions_with_segments_and_not_failed() {
        let mut w = LiveWindow::new(plan(1920, 1080), 5, 1);
        assert!(!w.has_listed() && w.master_playlist().is_empty());
        w.push_segment("480p", 1.0, at(0), Bytes::new());
        assert_eq!(uris(&text(Some(w.master_playlist()))), ["480p/index.m3u8"]);
        w.push_segment("source", 1.0, at(0), Bytes::new());
        assert_eq!(
            uris(&text(Some(w.master_playlist()))),
            ["source/index.m3u8", "480p/index.m3u8"]
        );
        // 360p never produced and 480p is judged failed: only the source is left.
        assert!(w.set_failed(&["480p", "360p"]));
        assert!(
            !w.set_failed(&["480p", "360p"]),
            "no change the second time"
        );
        assert_eq!(
            uris(&text(Some(w.master_playlist()))),
            ["source/index.m3u8"]
        );
        let stats = w.snapshot();
        assert!(
            stats
                .renditions
                .iter()
                .any(|r| r.name == "480p" && r.failed && !r.listed)
        );
        // A failed rendition that produces again is listed again, and its playlist kept working.
        assert!(text(w.media_playlist("480p")).contains("seg-0.ts"));
        w.push_segment("480p", 1.0, at(1), Bytes::new());
        assert_eq!(
            uris(&text(Some(w.master_playlist()))),
            ["source/index.m3u8", "480p/index.m3u8"]
        );
    }

    #[test]
    fn end_appends_endlist_everywhere_and_stops_pushes() {
        let mut w = LiveWindow::new(plan(1920, 1080), 5, 1);
        w.push_segment("720p", 1.0, at(0), Bytes::new());
        w.end();
        for name in ["source", "720p", "480p", "360p"] {
            assert!(
                text(w.media_playlist(name)).ends_with("#EXT-X-ENDLIST\n"),
                "{name}"
            );
        }
        assert_eq!(w.push_segment("720p", 1.0, at(1), Bytes::new()), None);
        assert!(w.snapshot().ended);
    }

    #[test]
    fn a_new_ladder_keeps_numbering_and_retires_what_left() {
        let mut w = LiveWindow::new(plan(1920, 1080), 5, 1);
        for i in 0..3 {
            w.push_segment("source", 1.0, at(i), Bytes::new());
            w.push_segment("720p", 1.0, at(i), Bytes::new());
        }
        assert!(text(Some(w.master_playlist())).contains("RESOLUTION=1920x1080"));
        w.mark_discontinuity();
        // The streamer reconnects at 480p: 720p leaves the ladder (and 360p is listed once it
        // has a segment).
        w.set_renditions(plan(854, 480));
        let master = text(Some(w.master_playlist()));
        assert!(!master.contains("720p") && master.contains("RESOLUTION=854x480"));
        assert_eq!(uris(&master), ["source/index.m3u8"]);
        w.push_segment("360p", 1.0, at(5), Bytes::new());
        assert_eq!(
            uris(&text(Some(w.master_playlist()))),
            ["source/index.m3u8", "360p/index.m3u8"]
        );
        assert_eq!(w.push_segment("source", 1.0, at(5), Bytes::new()), Some(3));
        let p = text(w.media_playlist("source"));
        assert!(p.contains("#EXT-X-DISCONTINUITY\n") && !p.contains("ENDLIST"));
        let old = text(w.media_playlist("720p"));
        assert!(old.ends_with("#EXT-X-ENDLIST\n") && uris(&old).len() == 3);
        assert!(w.segment("720p", "seg-2.ts").is_some());
        assert_eq!(w.push_segment("720p", 1.0, at(5), Bytes::new()), None);
        // Back to 1080p: 720p resumes its numbering after a discontinuity.
        w.set_renditions(plan(1920, 1080));
        assert_eq!(w.push_segment("720p", 1.0, at(9), Bytes::new()), Some(3));
        let p = text(w.media_playlist("720p"));
        assert!(
            p.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:29.000Z")
        );
        assert!(!p.contains("ENDLIST"));
        assert_eq!(uris(&text(Some(w.master_playlist())))[1], "720p/index.m3u8");
    }
}
