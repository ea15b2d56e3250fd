//! A track's state (its PID, continuity counter, PES being collected, finished tags held) and
//! the release of held tags in decode order across the video and the audio track.

use std::collections::VecDeque;

use tracing::debug;

use super::pes::PesAssembler;
use super::{MAX_HELD_TAGS, MAX_LAG_MS, TsDemuxer};
use crate::flv::FlvTag;

/// Which elementary stream a PID carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    Video,
    Audio,
}

impl Media {
    fn other(self) -> Media {
        match self {
            Media::Video => Media::Audio,
            Media::Audio => Media::Video,
        }
    }
}

/// One elementary stream being demuxed.
#[derive(Debug)]
pub(super) struct Track {
    pub(super) pid: u16,
    pub(super) continuity: Continuity,
    pub(super) pes: PesAssembler,
    /// The DTS (ms) of the PES being collected, when its header has been read.
    pub(super) collecting_ms: Option<u32>,
    /// The timestamp of the last tag this track produced.
    latest_ms: Option<u32>,
    /// The other track stopped waiting for this one to start: it is listed but silent.
    silent: bool,
    /// Finished tags waiting for decode order.
    pub(super) held: VecDeque<FlvTag>,
}

impl Track {
    pub(super) fn hold(&mut self, tags: Vec<FlvTag>) {
        if let Some(last) = tags.last() {
            self.latest_ms = Some(last.timestamp_ms);
        }
        self.held.extend(tags);
    }

    /// How far this track has come: the other track's tags up to here may go out.
    fn frontier(&self) -> Frontier {
        match self.collecting_ms.or(self.latest_ms) {
            Some(ms) => Frontier::At(ms),
            None if self.silent => Frontier::Silent,
            None => Frontier::NotStarted,
        }
    }

    pub(super) fn new(pid: u16) -> Self {
        Self {
            pid,
            continuity: Continuity::default(),
            pes: PesAssembler::default(),
            collecting_ms: None,
            latest_ms: None,
            silent: false,
            held: VecDeque::new(),
        }
    }
}

/// How far a track has come, for decode order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frontier {
    /// The earliest timestamp it may still produce: the DTS of the PES it is collecting, else
    /// the last tag it produced.
    At(u32),
    /// Listed in the PMT but nothing has come yet. Muxers start audio late (ffmpeg: ~0.3 s
    /// after video), so it is waited for, up to [`MAX_LAG_MS`].
    NotStarted,
    /// Absent, or listed but silent for longer than [`MAX_LAG_MS`]: not waited for.
    Silent,
}

/// The continuity_counter of one PID.
#[derive(Debug, Default)]
pub(super) struct Continuity {
    last: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Continuation {
    InOrder,
    /// The same counter again: a repeated packet, whose payload we already have.
    Duplicate,
    /// Packets were lost.
    Gap,
}

impl Continuity {
    /// Checks the counter of a packet that has a payload (others do not increment it).
    pub(super) fn check(&mut self, cc: u8, discontinuity_indicator: bool) -> Continuation {
        let result = match self.last {
            None => Continuation::InOrder,
            Some(_) if discontinuity_indicator => Continuation::InOrder,
            Some(last) if cc == last => Continuation::Duplicate,
            Some(last) if cc == (last + 1) & 0x0F => Continuation::InOrder,
            Some(_) => Continuation::Gap,
        };
        self.last = Some(cc);
        result
    }
}

impl TsDemuxer {
    /// Lets out held tags in decode order: the earliest head of the two queues, once the other
    /// track has come as far (see [`Track::frontier`]), or has fallen [`MAX_LAG_MS`]
    /// behind, or too many tags are held. `drain` lets everything out (end of stream).
    pub(super) fn release(&mut self, drain: bool, out: &mut Vec<FlvTag>) {
        out.append(&mut self.orphaned);
        loop {
            let video_next = self.video.as_ref().and_then(|t| t.held.front());
            let audio_next = self.audio.as_ref().and_then(|t| t.held.front());
            let (media, ts) = match (video_next, audio_next) {
                (None, None) => return,
                (Some(v), None) => (Media::Video, v.timestamp_ms),
                (None, Some(a)) => (Media::Audio, a.timestamp_ms),
                (Some(v), Some(a)) if v.timestamp_ms <= a.timestamp_ms => {
                    (Media::Video, v.timestamp_ms)
                }
                (Some(_), Some(a)) => (Media::Audio, a.timestamp_ms),
            };
            let held = self.video.as_ref().map_or(0, |t| t.held.len())
                + self.audio.as_ref().map_or(0, |t| t.held.len());
            let newest = self
                .track_mut(media)
                .and_then(|t| t.held.back())
                .map_or(ts, |t| t.timestamp_ms);
            let lagging = newest.saturating_sub(ts) > MAX_LAG_MS;
            let other = self.track_mut(media.other());
            let go = drain
                || held > MAX_HELD_TAGS
                || match other.as_ref().map_or(Frontier::Silent, |t| t.frontier()) {
                    Frontier::At(f) => f >= ts || lagging,
                    Frontier::Silent => true,
                    Frontier::NotStarted => {
                        if lagging && let Some(other) = other {
                            debug!("ts: a listed stream has sent nothing, not waiting for it");
                            other.silent = true;
                        }
                        lagging
                    }
                };
            if !go {
                return;
            }
            if let Some(tag) = self.track_mut(media).and_then(|t| t.held.pop_front()) {
                out.push(tag);
            }
        }
    }
}
