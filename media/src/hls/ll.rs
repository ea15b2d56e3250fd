//! The low-latency window of one stream: fMP4 parts of a few hundred milliseconds grouped into
//! segments, and the LL-HLS media playlists over them (`EXT-X-PART`, `EXT-X-PRELOAD-HINT`,
//! `EXT-X-SERVER-CONTROL`, `EXT-X-RENDITION-REPORT`).
//!
//! Parts come from ffmpeg's fragmented MP4 ([`crate::fmp4`]); a segment closes when a part
//! that begins with a keyframe arrives and the open one is at least 90% of the segment target,
//! so transcoded renditions (a keyframe every segment) get segments of the target length and a
//! copied source gets one per GOP.
//!
//! Names, relative to `/hls/{channel}/{rendition}/`:
//! - `ll.m3u8`: the media playlist (blocking reload with `_HLS_msn` / `_HLS_part`);
//! - `init-{n}.mp4`: the init segment of one ffmpeg run (`EXT-X-MAP`);
//! - `p-{n}.m4s`: part `n`, numbered across the broadcast, so the preload hint always names
//!   the part that will come next, whichever segment it ends up in;
//! - `s-{msn}.m4s`: segment `msn`, its parts concatenated, for players without LL-HLS.
//!
//! Numbers start at the broadcast's first sequence number (its start time in milliseconds, as
//! the MPEG-TS window), so names never repeat across broadcasts and are cached as immutable.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, SecondsFormat, Utc};

/// `#EXT-X-VERSION`: 9 for `EXT-X-SKIP`-free LL-HLS with parts and `EXT-X-MAP` per run.
const HLS_VERSION: u32 = 9;

/// Segments retained beyond those listed, for players that fetched an older playlist.
const RETAINED: usize = 3;

/// One part as stored.
#[derive(Debug, Clone)]
struct Part {
    number: u64,
    duration: f64,
    independent: bool,
    data: Bytes,
}

#[derive(Debug, Clone)]
struct Segment {
    msn: u64,
    pdt: SystemTime,
    duration: f64,
    discontinuity: bool,
    init: u64,
    parts: Vec<Part>,
    /// The parts concatenated, once the segment is closed.
    data: Bytes,
}

/// What a blocking playlist request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// The playlist holds what was asked for (or the broadcast ended): answer now.
    Ready,
    /// Not produced yet: wait for the next change.
    Wait,
    /// Further ahead than a server may be asked to wait for: 400.
    TooFar,
    /// No such rendition (or nothing from it yet).
    Unknown,
}

/// A part or segment lookup.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(Bytes),
    /// The next part (the preload hint): it will exist shortly.
    Pending,
    Missing,
}

#[derive(Debug)]
struct Rendition {
    name: String,
    inits: VecDeque<(u64, Bytes)>,
    segments: VecDeque<Segment>,
    open: Option<Segment>,
    next_msn: u64,
    next_part: u64,
    /// Discontinuities among the segments dropped from the front.
    discontinuity_sequence: u64,
    discontinuity_pending: bool,
    target_duration: u32,
    playlist: Bytes,
}

/// The low-latency window of every rendition of one stream.
#[derive(Debug)]
pub struct LlWindow {
    renditions: Vec<Rendition>,
    part_target: f64,
    segment_target: f64,
    window: usize,
    first_number: u64,
    ended: bool,
    /// The run whose fMP4 output broke, and why: low latency is off until a later run.
    failure: Option<(u64, String)>,
}

impl LlWindow {
    /// `part_target` and `segment_target` in seconds; `window` segments per playlist; numbers
    /// start at `first_number`.
    pub fn new(part_target: f64, segment_target: f64, window: usize, first_number: u64) -> Self {
        Self {
            renditions: Vec::new(),
            part_target,
            segment_target,
            window: window.max(2),
            first_number,
            ended: false,
            failure: None,
        }
    }

    /// The longest `#EXT-X-TARGETDURATION` of the renditions (the segment target before any).
    pub fn target_duration(&self) -> u32 {
        self.renditions
            .iter()
            .map(|r| r.target_duration)
            .max()
            .unwrap_or(self.segment_target.ceil().max(1.0) as u32)
    }

    fn find(&self, name: &str) -> Option<&Rendition> {
        self.renditions.iter().find(|r| r.name == name)
    }

    fn find_mut(&mut self, name: &str) -> &mut Rendition {
        let i = match self.renditions.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                self.renditions.push(Rendition {
                    name: name.to_owned(),
                    inits: VecDeque::new(),
                    segments: VecDeque::new(),
                    open: None,
                    next_msn: self.first_number,
                    next_part: self.first_number,
                    discontinuity_sequence: 0,
                    discontinuity_pending: false,
                    target_duration: self.segment_target.ceil().max(1.0) as u32,
                    playlist: Bytes::new(),
                });
                self.renditions.len() - 1
            }
        };
        &mut self.renditions[i]
    }

    /// A new ffmpeg run's init segment for `rendition`: what follows is a discontinuity.
    /// `run` numbers the runs of the broadcast from 1.
    pub fn set_init(&mut self, rendition: &str, run: u64, data: Bytes) {
        if self
            .failure
            .as_ref()
            .is_some_and(|(failed, _)| run > *failed)
        {
            self.failure = None;
        }
        let n = self.first_number + run;
        let r = self.find_mut(rendition);
        r.close_open();
        if !r.segments.is_empty() {
            r.discontinuity_pending = true;
        }
        if r.inits.back().map(|(i, _)| *i) != Some(n) {
            r.inits.push_back((n, data));
        }
    }

    /// Low latency is off for the rest of run `run`: a rendition's fMP4 output broke, so the
    /// renditions would no longer line up. Nothing is listed (`has` is false, playlists and
    /// blocking requests are not found) until a later run's init segment; numbering goes on
    /// from where it stopped, so no name is ever reused for other media.
    pub fn fail(&mut self, run: u64, reason: String) {
        for r in &mut self.renditions {
            r.close_open();
            r.playlist = Bytes::new();
        }
        self.failure = Some((run, reason));
    }

    /// Why low latency is off, if it is (see [`fail`](Self::fail)).
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_ref().map(|(_, why)| why.as_str())
    }

    /// Every rendition's next segment follows an interruption (a new ffmpeg run, a reconnect).
    pub fn mark_discontinuity(&mut self) {
        let (part_target, window, ended) = (self.part_target, self.window, self.ended);
        let reports = self.reports();
        for r in &mut self.renditions {
            r.close_open();
            if !r.segments.is_empty() {
                r.discontinuity_pending = true;
            }
            r.render(part_target, window, ended, &reports);
        }
    }

    /// Appends a part; returns its number, or `None` when it cannot be used (no init segment
    /// yet, a stream that ended, or a first part that does not start with a keyframe).
    pub fn push_part(
        &mut self,
        rendition: &str,
        duration: f64,
        independent: bool,
        pdt: SystemTime,
        data: Bytes,
    ) -> Option<u64> {
        if self.ended || self.failure.is_some() {
            return None;
        }
        let (segment_target, window) = (self.segment_target, self.window);
        let r = self.find_mut(rendition);
        let init = r.inits.back()?.0;
        let close = r
            .open
            .as_ref()
            .is_some_and(|s| independent && s.duration >= segment_target * 0.9);
        if close {
            r.close_open();
        }
        if r.open.is_none() {
            if !independent {
                return None;
            }
            r.open = Some(Segment {
                msn: r.next_msn,
                pdt,
                duration: 0.0,
                discontinuity: std::mem::take(&mut r.discontinuity_pending),
                init,
                parts: Vec::new(),
                data: Bytes::new(),
            });
            r.next_msn += 1;
        }
        let number = r.next_part;
        r.next_part += 1;
        if let Some(open) = r.open.as_mut() {
            open.duration += duration;
            open.parts.push(Part {
                number,
                duration,
                independent,
                data,
            });
        }
        r.trim(window);
        let reports = self.reports();
        let (part_target, ended) = (self.part_target, self.ended);
        if let Some(r) = self.renditions.iter_mut().find(|r| r.name == rendition) {
            r.render(part_target, window, ended, &reports);
        }
        Some(number)
    }

    /// The broadcast is over: the open segments close and the playlists end.
    pub fn end(&mut self) {
        self.ended = true;
        let reports = self.reports();
        for r in &mut self.renditions {
            r.close_open();
            r.render(self.part_target, self.window, true, &reports);
        }
    }

    /// Renditions with something to play.
    pub fn has(&self, rendition: &str) -> bool {
        self.playlist(rendition).is_some()
    }

    /// `ll.m3u8`, as rendered at the last change.
    pub fn playlist(&self, rendition: &str) -> Option<Bytes> {
        if self.failure.is_some() {
            return None;
        }
        self.find(rendition)
            .map(|r| r.playlist.clone())
            .filter(|p| !p.is_empty())
    }

    /// Whether the playlist already holds segment `msn` (complete) or, with `part`, that part
    /// of it (RFC 8216bis §6.2.5.2).
    pub fn readiness(&self, rendition: &str, msn: u64, part: Option<u64>) -> Readiness {
        let Some(r) = self
            .find(rendition)
            .filter(|r| !r.playlist.is_empty() && self.failure.is_none())
        else {
            return Readiness::Unknown;
        };
        // The segment being produced (or the next one, between segments).
        let current = r.open.as_ref().map_or(r.next_msn, |s| s.msn);
        if msn > current + 2 {
            return Readiness::TooFar;
        }
        if self.ended || msn < current {
            return Readiness::Ready;
        }
        match (part, r.open.as_ref()) {
            (Some(p), Some(open)) if msn == open.msn && (p as usize) < open.parts.len() => {
                Readiness::Ready
            }
            _ => Readiness::Wait,
        }
    }

    /// The init segment of a run, by name (`init-{n}.mp4`).
    pub fn init(&self, rendition: &str, name: &str) -> Option<Bytes> {
        let n = number(name, "init-", ".mp4")?;
        let r = self.find(rendition)?;
        r.inits
            .iter()
            .find(|(i, _)| *i == n)
            .map(|(_, d)| d.clone())
    }

    /// A part (`p-{n}.m4s`): `Pending` for the one the preload hint names.
    pub fn part(&self, rendition: &str, name: &str) -> Lookup {
        let (Some(n), Some(r)) = (number(name, "p-", ".m4s"), self.find(rendition)) else {
            return Lookup::Missing;
        };
        if self.failure.is_some() {
            return Lookup::Missing;
        }
        if n == r.next_part && !self.ended {
            return Lookup::Pending;
        }
        r.segments
            .iter()
            .chain(r.open.as_ref())
            .flat_map(|s| &s.parts)
            .find(|p| p.number == n)
            .map_or(Lookup::Missing, |p| Lookup::Found(p.data.clone()))
    }

    /// A complete segment (`s-{msn}.m4s`).
    pub fn segment(&self, rendition: &str, name: &str) -> Option<Bytes> {
        let n = number(name, "s-", ".m4s")?;
        let r = self.find(rendition)?;
        r.segments
            .iter()
            .find(|s| s.msn == n)
            .map(|s| s.data.clone())
    }

    /// (rendition, last msn, last part index) of every rendition with parts.
    fn reports(&self) -> Vec<(String, u64, u64)> {
        self.renditions
            .iter()
            .filter_map(|r| {
                let (msn, part) = match &r.open {
                    Some(s) if !s.parts.is_empty() => (s.msn, s.parts.len() as u64 - 1),
                    _ => {
                        let s = r.segments.back()?;
                        (s.msn, s.parts.len().saturating_sub(1) as u64)
                    }
                };
                Some((r.name.clone(), msn, part))
            })
            .collect()
    }
}

/// The number in `{prefix}{n}{suffix}`, canonical spelling only.
fn number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty()
        || (digits.len() > 1 && digits.starts_with('0'))
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

impl Rendition {
    fn close_open(&mut self) {
        let Some(mut s) = self.open.take() else {
            return;
        };
        let mut data = BytesMut::with_capacity(s.parts.iter().map(|p| p.data.len()).sum());
        for p in &s.parts {
            data.extend_from_slice(&p.data);
        }
        s.data = data.freeze();
        self.target_duration = self.target_duration.max(s.duration.round().max(1.0) as u32);
        self.segments.push_back(s);
    }

    fn trim(&mut self, window: usize) {
        while self.segments.len() > window + RETAINED {
            if let Some(s) = self.segments.pop_front()
                && s.discontinuity
            {
                self.discontinuity_sequence += 1;
            }
        }
        // Init segments no retained segment refers to.
        let oldest = self.segments.front().or(self.open.as_ref()).map(|s| s.init);
        while self.inits.len() > 1 && oldest.is_some_and(|o| self.inits[0].0 < o) {
            self.inits.pop_front();
        }
    }

    fn render(
        &mut self,
        part_target: f64,
        window: usize,
        ended: bool,
        reports: &[(String, u64, u64)],
    ) {
        let listed = self.segments.len().saturating_sub(window);
        let visible: Vec<&Segment> = self
            .segments
            .iter()
            .skip(listed)
            .chain(self.open.as_ref())
            .collect();
        let Some(first) = visible.first() else {
            self.playlist = Bytes::new();
            return;
        };
        let dropped_discontinuities = self
            .segments
            .iter()
            .take(listed)
            .filter(|s| s.discontinuity)
            .count() as u64;
        let mut p = String::with_capacity(512 + 200 * visible.len());
        let _ = write!(
            p,
            "#EXTM3U\n#EXT-X-VERSION:{HLS_VERSION}\n#EXT-X-TARGETDURATION:{}\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}\n\
             #EXT-X-PART-INF:PART-TARGET={part_target:.3}\n\
             #EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n",
            self.target_duration,
            part_target * 3.0,
            first.msn,
            self.discontinuity_sequence + dropped_discontinuities,
        );
        // Parts are listed for the last three target durations only.
        let edge = visible.iter().map(|s| s.duration).sum::<f64>();
        let parts_from = edge - 3.0 * f64::from(self.target_duration);
        let mut at = 0.0;
        let mut map = None;
        for s in &visible {
            if s.discontinuity && map.is_some() {
                p.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(s.init) {
                let _ = writeln!(p, "#EXT-X-MAP:URI=\"init-{}.mp4\"", s.init);
                map = Some(s.init);
            }
            let pdt = DateTime::<Utc>::from(s.pdt).to_rfc3339_opts(SecondsFormat::Millis, true);
            let _ = writeln!(p, "#EXT-X-PROGRAM-DATE-TIME:{pdt}");
            if at + s.duration >= parts_from {
                for part in &s.parts {
                    let _ = write!(
                        p,
                        "#EXT-X-PART:DURATION={:.5},URI=\"p-{}.m4s\"",
                        part.duration, part.number
                    );
                    if part.independent {
                        p.push_str(",INDEPENDENT=YES");
                    }
                    p.push('\n');
                }
            }
            at += s.duration;
            let open = self.open.as_ref().is_some_and(|o| o.msn == s.msn);
            if !open {
                let _ = write!(p, "#EXTINF:{:.5},\ns-{}.m4s\n", s.duration, s.msn);
            }
        }
        if ended {
            p.push_str("#EXT-X-ENDLIST\n");
        } else {
            let _ = writeln!(
                p,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p-{}.m4s\"",
                self.next_part
            );
            for (name, msn, part) in reports.iter().filter(|r| r.0 != self.name) {
                let _ = writeln!(
                    p,
                    "#EXT-X-RENDITION-REPORT:URI=\"../{name}/ll.m3u8\",LAST-MSN={msn},LAST-PART={part}"
                );
            }
        }
        self.playlist = Bytes::from(p);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn part(w: &mut LlWindow, r: &str, independent: bool) -> Option<u64> {
        w.push_part(
            r,
            0.333,
            independent,
            SystemTime::UNIX_EPOCH,
            Bytes::from_static(b"part"),
        )
    }

    fn text(w: &LlWindow, r: &str) -> String {
        String::from_utf8(w.playlist(r).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn parts_group_into_segments_at_keyframes_with_a_hint_for_the_next() {
        let mut w = LlWindow::new(0.333, 1.0, 10, 1000);
        assert_eq!(part(&mut w, "360p", true), None, "no init yet");
        w.set_init("360p", 1, Bytes::from_static(b"init"));
        assert_eq!(
            part(&mut w, "360p", false),
            None,
            "must start at a keyframe"
        );
        for i in 0..7 {
            part(&mut w, "360p", i % 3 == 0).unwrap();
        }
        let p = text(&w, "360p");
        assert!(p.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.999\n"));
        assert!(p.contains("#EXT-X-PART-INF:PART-TARGET=0.333\n"));
        assert!(p.contains("#EXT-X-MAP:URI=\"init-1001.mp4\"\n"));
        assert!(p.contains("#EXT-X-PART:DURATION=0.33300,URI=\"p-1000.m4s\",INDEPENDENT=YES\n"));
        assert!(p.contains("#EXT-X-PART:DURATION=0.33300,URI=\"p-1001.m4s\"\n"));
        assert!(p.contains("#EXTINF:0.99900,\ns-1000.m4s\n"));
        assert!(p.contains("s-1001.m4s"));
        assert!(
            !p.contains("s-1002.m4s"),
            "the open segment has parts, no URI"
        );
        assert!(p.ends_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p-1007.m4s\"\n"));
        assert_eq!(w.part("360p", "p-1007.m4s"), Lookup::Pending);
        assert_eq!(
            w.part("360p", "p-1006.m4s"),
            Lookup::Found(Bytes::from_static(b"part"))
        );
        assert_eq!(w.part("360p", "p-01006.m4s"), Lookup::Missing);
        assert_eq!(w.segment("360p", "s-1000.m4s").unwrap().len(), 12);
        assert_eq!(w.init("360p", "init-1001.mp4").unwrap().len(), 4);
        // Open segment 1002 has one part (index 0).
        assert_eq!(w.readiness("360p", 1002, Some(0)), Readiness::Ready);
        assert_eq!(w.readiness("360p", 1002, Some(1)), Readiness::Wait);
        assert_eq!(w.readiness("360p", 1002, None), Readiness::Wait);
        assert_eq!(w.readiness("360p", 1001, None), Readiness::Ready);
        assert_eq!(w.readiness("360p", 1004, Some(0)), Readiness::Wait);
        assert_eq!(w.readiness("360p", 1005, Some(0)), Readiness::TooFar);
        assert_eq!(w.readiness("720p", 1000, None), Readiness::Unknown);
        w.end();
        let p = text(&w, "360p");
        assert!(p.ends_with("s-1002.m4s\n#EXT-X-ENDLIST\n"));
        assert_eq!(w.readiness("360p", 1003, Some(0)), Readiness::Ready);
    }

    #[test]
    fn a_failure_lists_nothing_until_the_next_run_which_goes_on_numbering() {
        let mut w = LlWindow::new(0.333, 1.0, 10, 1000);
        w.set_init("360p", 1, Bytes::from_static(b"init"));
        for i in 0..4 {
            part(&mut w, "360p", i % 3 == 0).unwrap();
        }
        assert!(w.has("360p"));
        w.fail(1, "box `moof` is malformed".into());
        w.set_init("720p", 1, Bytes::from_static(b"init"));
        assert!(
            w.failure().is_some(),
            "another rendition of the failed run changes nothing"
        );
        assert_eq!(w.failure(), Some("box `moof` is malformed"));
        assert!(!w.has("360p"));
        assert_eq!(w.playlist("360p"), None);
        assert_eq!(w.readiness("360p", 1001, Some(0)), Readiness::Unknown);
        assert_eq!(
            w.part("360p", "p-1004.m4s"),
            Lookup::Missing,
            "no hint to wait on"
        );
        assert_eq!(
            part(&mut w, "360p", true),
            None,
            "the rest of the run is ignored"
        );
        // The next run: listed again once it has a part, numbers going on, a discontinuity.
        w.set_init("360p", 2, Bytes::from_static(b"init2"));
        assert_eq!(w.failure(), None);
        assert!(!w.has("360p"), "nothing of the new run yet");
        assert_eq!(part(&mut w, "360p", true), Some(1004));
        let p = text(&w, "360p");
        assert!(
            p.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1002.mp4\""),
            "{p}"
        );
        assert!(p.contains("p-1004.m4s"));
    }

    #[test]
    fn a_new_run_is_a_discontinuity_with_its_own_map_and_reports_name_the_others() {
        let mut w = LlWindow::new(0.5, 1.0, 3, 0);
        w.set_init("a", 1, Bytes::from_static(b"i1"));
        w.set_init("b", 1, Bytes::from_static(b"i1"));
        for i in 0..4 {
            part(&mut w, "a", i % 2 == 0);
            part(&mut w, "b", i % 2 == 0);
        }
        w.mark_discontinuity();
        w.set_init("a", 2, Bytes::from_static(b"i2"));
        part(&mut w, "a", true);
        let p = text(&w, "a");
        assert!(
            p.contains("s-0.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n"),
            "{p}"
        );
        assert!(
            p.contains("#EXT-X-RENDITION-REPORT:URI=\"../b/ll.m3u8\",LAST-MSN=0,LAST-PART=3\n")
        );
        // The window slides; the dropped discontinuity is counted.
        for i in 0..40 {
            part(&mut w, "a", i % 2 == 0);
        }
        let p = text(&w, "a");
        assert!(p.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{p}");
        assert!(!p.contains("init-1.mp4"));
        assert!(
            w.init("a", "init-1.mp4").is_none(),
            "an unused init is dropped"
        );
    }
}
