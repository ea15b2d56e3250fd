//! One publisher's connection as the stream sees it: the bounded [`TagQueue`] between the
//! Ingest actor and ffmpeg's stdin, the cached sequence headers (re-sent to every new ffmpeg),
//! and the rolling [`IngestStats`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use streamhall_media::flv::{FlvTag, IngestSnapshot, IngestStats, StreamMetadata, TagKind};
use streamhall_media::ingest::IngestEvent;
use streamhall_media::transcode::SourceInfo;
use tokio::sync::Notify;

use crate::locks::lock;

/// Tags waiting for ffmpeg: about 25 s of 30 fps video with audio.
pub const QUEUE_TAGS: usize = 2048;
/// ...or this many bytes, whichever comes first.
pub const QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// After the video sequence header, how long to wait for the audio one before planning.
pub const AUDIO_HEADER_WAIT: Duration = Duration::from_millis(1500);
/// Without an announced frame rate and before a second of frames, plan anyway after this long.
pub const FPS_WAIT: Duration = Duration::from_secs(3);
/// Without any video sequence header, plan (passthrough only) after this long.
pub const SOURCE_INFO_TIMEOUT: Duration = Duration::from_secs(5);

/// A tag with the wall-clock time it arrived.
#[derive(Debug, Clone)]
pub struct QueuedTag {
    pub tag: FlvTag,
    pub arrived: SystemTime,
}

/// Bounded queue, one producer (ingest) and one consumer (the ffmpeg writer).
///
/// Drop policy when full (ffmpeg not keeping up): the tag is dropped and counted; after a
/// dropped video frame every video frame is dropped up to the next keyframe (a decoder cannot
/// use them), so ffmpeg sees a clean cut. Never blocks the producer.
#[derive(Debug, Default)]
pub struct TagQueue {
    inner: Mutex<QueueInner>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct QueueInner {
    tags: VecDeque<QueuedTag>,
    bytes: usize,
    closed: bool,
    skip_to_keyframe: bool,
    dropped_video: u64,
    dropped_audio: u64,
}

/// What [`TagQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    Dropped,
}

impl TagQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, tag: FlvTag, arrived: SystemTime) -> Pushed {
        let mut q = lock(&self.inner);
        if q.closed {
            return Pushed::Dropped;
        }
        let is_video_frame = tag.kind == TagKind::Video && !tag.is_sequence_header();
        let full = q.tags.len() >= QUEUE_TAGS || q.bytes + tag.data.len() > QUEUE_BYTES;
        if is_video_frame && q.skip_to_keyframe && (full || !tag.is_video_keyframe()) {
            q.dropped_video += 1;
            return Pushed::Dropped;
        }
        if full {
            match tag.kind {
                TagKind::Video if is_video_frame => {
                    q.skip_to_keyframe = true;
                    q.dropped_video += 1;
                    if q.dropped_video == 1 || q.dropped_video.is_multiple_of(100) {
                        tracing::warn!(
                            dropped_frames = q.dropped_video,
                            "ffmpeg too slow: dropping video up to the next keyframe"
                        );
                    }
                }
                TagKind::Audio => q.dropped_audio += 1,
                _ => {}
            }
            return Pushed::Dropped;
        }
        if is_video_frame {
            q.skip_to_keyframe = false;
        }
        q.bytes += tag.data.len();
        q.tags.push_back(QueuedTag { tag, arrived });
        drop(q);
        self.notify.notify_one();
        Pushed::Queued
    }

    fn try_pop(&self) -> Result<Option<QueuedTag>, ()> {
        let mut q = lock(&self.inner);
        match q.tags.pop_front() {
            Some(t) => {
                q.bytes -= t.tag.data.len();
                Ok(Some(t))
            }
            None if q.closed => Err(()),
            None => Ok(None),
        }
    }

    /// The next tag; `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<QueuedTag> {
        loop {
            match self.try_pop() {
                Ok(Some(t)) => return Some(t),
                Err(()) => return None,
                Ok(None) => self.notify.notified().await,
            }
        }
    }

    /// A new ffmpeg is about to read: forget the backlog and start again at a keyframe.
    pub fn resync(&self) {
        let mut q = lock(&self.inner);
        let dropped = q
            .tags
            .iter()
            .filter(|t| t.tag.kind == TagKind::Video)
            .count();
        q.dropped_video += dropped as u64;
        q.tags.clear();
        q.bytes = 0;
        q.skip_to_keyframe = true;
    }

    /// No more tags will come (the publisher left): the consumer drains what is queued.
    pub fn close(&self) {
        lock(&self.inner).closed = true;
        self.notify.notify_one();
    }

    pub fn depth(&self) -> usize {
        lock(&self.inner).tags.len()
    }

    /// (video frames, audio frames) dropped so far.
    pub fn dropped(&self) -> (u64, u64) {
        let q = lock(&self.inner);
        (q.dropped_video, q.dropped_audio)
    }
}

#[derive(Debug, Default)]
struct SessionState {
    stats: IngestStats,
    video_header: Option<FlvTag>,
    audio_header: Option<FlvTag>,
    audio_seen: bool,
    metadata: Option<StreamMetadata>,
    video_header_at: Option<Instant>,
    frames: FrameRate,
}

/// The frame rate from the frames' own timestamps (arrival times lie: encoders burst).
#[derive(Debug, Default)]
struct FrameRate {
    first_ts: Option<u32>,
    last_ts: u32,
    frames: u32,
}

/// Common rates a measurement is snapped to when within 3%.
const STANDARD_FPS: [f64; 9] = [23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0];

impl FrameRate {
    fn observe(&mut self, ts: u32) {
        match self.first_ts {
            None => self.first_ts = Some(ts),
            // Timestamps went back: start measuring again.
            Some(_) if ts < self.last_ts => {
                *self = Self::default();
                self.first_ts = Some(ts);
            }
            Some(_) => {}
        }
        self.last_ts = ts;
        self.frames = self.frames.saturating_add(1);
    }

    /// Frames per second once a second of media has been seen.
    fn fps(&self) -> Option<f64> {
        let span_ms = self.last_ts.checked_sub(self.first_ts?)?;
        if span_ms < 1000 || self.frames < 2 {
            return None;
        }
        let fps = f64::from(self.frames - 1) * 1000.0 / f64::from(span_ms);
        let snapped = STANDARD_FPS
            .iter()
            .copied()
            .min_by(|a, b| (a - fps).abs().total_cmp(&(b - fps).abs()))
            .filter(|s| (s - fps).abs() / s <= 0.03);
        Some(snapped.unwrap_or((fps * 100.0).round() / 100.0)).filter(|f| *f > 0.0 && *f <= 240.0)
    }
}

/// One publisher connection's data, shared by the Ingest actor (writer), the Transcode actor
/// (reader) and the stream (health).
#[derive(Debug)]
pub struct IngestSession {
    pub id: u64,
    pub queue: TagQueue,
    pub started: Instant,
    state: Mutex<SessionState>,
    /// Extra consumers of every tag (restream destinations, by destination id), each with its
    /// own bounded queue: a slow one drops in its own queue, never here.
    taps: Mutex<Vec<(i64, Arc<TagQueue>)>>,
}

impl IngestSession {
    pub fn new(id: u64, now: Instant) -> Self {
        Self {
            id,
            queue: TagQueue::new(),
            started: now,
            state: Mutex::new(SessionState::default()),
            taps: Mutex::new(Vec::new()),
        }
    }

    /// From now on every tag is also pushed to `queue` (replacing the tap `id` had).
    pub fn set_tap(&self, id: i64, queue: Arc<TagQueue>) {
        let mut taps = lock(&self.taps);
        taps.retain(|(t, _)| *t != id);
        taps.push((id, queue));
    }

    /// Stops feeding `queue` (if it is still a tap: a newer one for the same id stays).
    pub fn remove_tap(&self, queue: &Arc<TagQueue>) {
        lock(&self.taps).retain(|(_, q)| !Arc::ptr_eq(q, queue));
    }

    /// Accounts one event from the publisher and queues tags for ffmpeg.
    pub fn observe(&self, event: IngestEvent, now: Instant, wall: SystemTime) {
        match event {
            IngestEvent::Metadata(m) => lock(&self.state).metadata = Some(m),
            IngestEvent::Tag(tag) => {
                {
                    let mut s = lock(&self.state);
                    s.stats.observe(&tag, now);
                    if tag.is_sequence_header() {
                        match tag.kind {
                            TagKind::Video => {
                                s.video_header = Some(tag.clone());
                                s.video_header_at.get_or_insert(now);
                            }
                            TagKind::Audio => s.audio_header = Some(tag.clone()),
                            TagKind::Script => {}
                        }
                    } else if tag.kind == TagKind::Audio {
                        s.audio_seen = true;
                    } else if tag.kind == TagKind::Video {
                        s.frames.observe(tag.timestamp_ms);
                    }
                }
                for (_, tap) in lock(&self.taps).iter() {
                    tap.push(tag.clone(), wall);
                }
                self.queue.push(tag, wall);
            }
        }
    }

    /// The cached sequence headers, video first: what a new ffmpeg needs before any frame.
    pub fn headers(&self) -> Vec<FlvTag> {
        let s = lock(&self.state);
        s.video_header
            .iter()
            .chain(s.audio_header.iter())
            .cloned()
            .collect()
    }

    /// What is known about the source, once enough is known to plan the ladder: the video
    /// sequence header, the audio one (or [`AUDIO_HEADER_WAIT`] without it) and the frame rate
    /// (announced, or measured over a second of frame timestamps, or [`FPS_WAIT`] without it);
    /// or after [`SOURCE_INFO_TIMEOUT`] whatever there is.
    pub fn source_info(&self, now: Instant) -> Option<SourceInfo> {
        let s = lock(&self.state);
        let snap = s.stats.snapshot(now);
        let announced_fps = s
            .metadata
            .as_ref()
            .and_then(|m| m.framerate)
            .filter(|f| f.is_finite() && *f > 0.0 && *f <= 240.0);
        let fps = announced_fps.or_else(|| s.frames.fps());
        let ready = match s.video_header_at {
            Some(at) => {
                let waited = now.saturating_duration_since(at);
                (s.audio_header.is_some() || waited >= AUDIO_HEADER_WAIT)
                    && (fps.is_some() || waited >= FPS_WAIT)
            }
            None => false,
        } || now.saturating_duration_since(self.started) >= SOURCE_INFO_TIMEOUT;
        if !ready {
            return None;
        }
        let meta = s.metadata.clone().unwrap_or_default();
        let (width, height, codec) = match &snap.video {
            Some(v) => (v.width, v.height, Some(v.codec.clone())),
            None => (0, 0, None),
        };
        Some(SourceInfo {
            width,
            height,
            fps,
            video_bitrate_kbps: meta
                .video_bitrate_kbps
                .filter(|b| b.is_finite() && *b > 0.0 && *b < 1e6)
                .map(|b| b as u32),
            audio: s.audio_header.is_some() || s.audio_seen,
            audio_aac: s.audio_header.is_some(),
            video_codec: codec,
        })
    }

    pub fn snapshot(&self, now: Instant) -> IngestSnapshot {
        lock(&self.state).stats.snapshot(now)
    }
}

/// Warnings about the source for the dashboard.
pub fn source_warnings(snap: &IngestSnapshot) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(k) = snap.keyframe_interval_s
        && k > 2.0
    {
        w.push(format!(
            "keyframe interval is {k:.1} s: set it to 2 s or less in the encoder \
             (OBS: Output > Keyframe Interval) for lower latency; the source rendition's \
             segments are as long as it"
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use bytes::Bytes;

    use super::*;

    fn frame(ts: u32, key: bool) -> FlvTag {
        FlvTag {
            kind: TagKind::Video,
            timestamp_ms: ts,
            data: Bytes::from(vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, 9]),
        }
    }

    fn audio(ts: u32) -> FlvTag {
        FlvTag {
            kind: TagKind::Audio,
            timestamp_ms: ts,
            data: Bytes::from_static(&[0xAF, 1, 0x21]),
        }
    }

    #[test]
    fn full_queue_drops_video_up_to_the_next_keyframe() {
        let q = TagQueue::new();
        let now = SystemTime::now();
        for i in 0..QUEUE_TAGS as u32 {
            assert_eq!(q.push(frame(i, i == 0), now), Pushed::Queued);
        }
        assert_eq!(q.push(frame(9000, false), now), Pushed::Dropped);
        assert_eq!(q.push(audio(9000), now), Pushed::Dropped);
        // ffmpeg catches up a little...
        for _ in 0..10 {
            q.try_pop().unwrap().unwrap();
        }
        // ...but inter frames still wait for a keyframe; audio flows again.
        assert_eq!(q.push(frame(9033, false), now), Pushed::Dropped);
        assert_eq!(q.push(audio(9033), now), Pushed::Queued);
        assert_eq!(q.push(frame(9066, true), now), Pushed::Queued);
        assert_eq!(q.push(frame(9100, false), now), Pushed::Queued);
        assert_eq!(q.dropped(), (2, 1));
        assert_eq!(q.depth(), QUEUE_TAGS - 10 + 3);
    }

    #[tokio::test]
    async fn resync_restarts_at_a_keyframe_and_close_drains() {
        let q = TagQueue::new();
        let now = SystemTime::now();
        q.push(frame(0, true), now);
        q.push(frame(33, false), now);
        q.resync();
        assert_eq!(q.depth(), 0);
        q.push(frame(66, false), now);
        q.push(audio(66), now);
        q.push(frame(100, true), now);
        q.close();
        let got: Vec<u32> = [q.pop().await.unwrap(), q.pop().await.unwrap()]
            .iter()
            .map(|t| t.tag.timestamp_ms)
            .collect();
        assert_eq!(got, [66, 100]);
        assert!(q.pop().await.is_none());
        assert_eq!(q.push(frame(133, true), now), Pushed::Dropped);
    }

    #[test]
    fn long_keyframe_interval_warns() {
        let s = IngestSession::new(1, Instant::now());
        let t0 = Instant::now();
        for (i, ts) in [0u32, 8000, 16000].iter().enumerate() {
            s.observe(
                IngestEvent::Tag(frame(*ts, true)),
                t0 + Duration::from_secs(i as u64),
                SystemTime::now(),
            );
        }
        let w = source_warnings(&s.snapshot(t0 + Duration::from_secs(3)));
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("8.0 s"), "{w:?}");
    }

    #[test]
    fn frame_rate_comes_from_metadata_or_a_second_of_timestamps() {
        let t0 = Instant::now();
        let wall = SystemTime::now();
        let s = IngestSession::new(1, t0);
        s.observe(
            IngestEvent::Tag(FlvTag {
                kind: TagKind::Video,
                timestamp_ms: 0,
                data: Bytes::from_static(&[0x17, 0, 0, 0, 0]),
            }),
            t0,
            wall,
        );
        s.observe(
            IngestEvent::Tag(FlvTag {
                kind: TagKind::Audio,
                timestamp_ms: 0,
                data: Bytes::from_static(&[0xAF, 0, 0x11, 0x90]),
            }),
            t0,
            wall,
        );
        // A burst of 10 frames (a third of a second of media) says nothing about the rate yet.
        for i in 0..10 {
            s.observe(IngestEvent::Tag(frame(i * 1000 / 30, i == 0)), t0, wall);
        }
        assert!(s.source_info(t0).is_none());
        for i in 10..31 {
            s.observe(IngestEvent::Tag(frame(i * 1000 / 30, false)), t0, wall);
        }
        assert_eq!(s.source_info(t0).unwrap().fps, Some(30.0));

        let s = IngestSession::new(2, t0);
        s.observe(
            IngestEvent::Metadata(StreamMetadata {
                framerate: Some(59.94),
                ..StreamMetadata::default()
            }),
            t0,
            wall,
        );
        s.observe(
            IngestEvent::Tag(FlvTag {
                kind: TagKind::Video,
                timestamp_ms: 0,
                data: Bytes::from_static(&[0x17, 0, 0, 0, 0]),
            }),
            t0,
            wall,
        );
        assert!(s.source_info(t0).is_none(), "waiting for the audio header");
        let info = s.source_info(t0 + AUDIO_HEADER_WAIT).unwrap();
        assert_eq!((info.fps, info.audio), (Some(59.94), false));
    }

    #[test]
    fn source_info_waits_for_headers_or_a_timeout() {
        let t0 = Instant::now();
        let s = IngestSession::new(1, t0);
        assert!(s.source_info(t0).is_none());
        let info = s.source_info(t0 + SOURCE_INFO_TIMEOUT).unwrap();
        assert_eq!((info.width, info.height, info.audio), (0, 0, false));
    }
}
