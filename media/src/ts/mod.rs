//! MPEG-TS demuxer (ISO 13818-1) for the SRT ingest: an encoder's transport stream of H.264
//! and AAC (ADTS) in, FLV tags out exactly as an RTMP encoder would send them, so everything
//! after the ingest (ffmpeg's stdin, the sequence header parsers, ingest statistics) is the
//! same for both protocols.
//!
//! Bytes in, any split -> 188-byte packets (resync on 0x47) -> PAT -> PMT picks the first
//! H.264 and the first AAC stream -> PES reassembly per PID -> access units:
//!
//! - video: Annex B -> AVCC ([`crate::flv::annexb_to_avcc`]), in-band SPS/PPS -> a sequence
//!   header tag whenever they change, FLV timestamp = DTS, CompositionTime = PTS - DTS;
//! - audio: every ADTS frame -> one raw AAC tag, AudioSpecificConfig -> a sequence header
//!   tag whenever it changes.
//!
//! Timestamps are milliseconds from the first DTS of the stream, one origin for both tracks.
//! Tags come out in decode order across the two tracks: muxers send audio up to ~0.7 s behind
//! video (ffmpeg's default max_delay), so a finished tag waits until the other track has come
//! as far, for at most [`MAX_LAG_MS`] and [`MAX_HELD_TAGS`].
//!
//! What the streamer sees when their stream cannot be used: [`TsError::UnsupportedCodec`] for
//! video that is not H.264 (the caller refuses the publish with it); audio that is not AAC is
//! left out with a warning in the log and the broadcast goes on without sound. Damage in
//! transit (lost packets, oversize or malformed PES) drops whole access units, never emits a
//! corrupt one, and is counted in [`TsStats`].
//!
//! This file holds the demuxer's state, its public face and the packet layer (sync, PIDs,
//! continuity); `program` follows the PAT and PMT to pick the tracks, `es` turns each track's
//! PES packets into FLV tags, and `track` holds a track's state and lets finished tags out in
//! decode order. `psi`, `pes` and `adts` parse the formats themselves.

mod adts;
mod es;
mod pes;
mod program;
mod psi;
mod track;

#[cfg(test)]
mod ffmpeg_tests;
#[cfg(test)]
mod tests;

use tracing::warn;

use crate::flv::FlvTag;
use es::AvcParameters;
use pes::Clock;
use psi::SectionBuffer;
use track::{Continuation, Continuity, Media, Track};

pub use pes::MAX_PES_LEN;

/// Length of a transport packet.
pub const PACKET_LEN: usize = 188;
const SYNC_BYTE: u8 = 0x47;
const PID_PAT: u16 = 0x0000;

/// Finished tags held back for decode order, both tracks together. Past this the oldest go out
/// regardless: order matters less than memory.
pub const MAX_HELD_TAGS: usize = 512;

/// How far one track's tags wait for the other. A track that falls further behind has stalled
/// (or its muxer interleaves badly): the other one goes on without it, out of order.
pub const MAX_LAG_MS: u32 = 1000;

/// Why a transport stream cannot be ingested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// The program's video is not H.264. Reported once per demuxer.
    #[error("video codec {0} is not supported, send H.264")]
    UnsupportedCodec(&'static str),
    /// The program has neither H.264 video nor AAC audio, nor any video we could name.
    #[error("the stream has no H.264 video and no AAC audio")]
    NoUsableStream,
}

/// What the demuxer has seen and thrown away, for the ingest's statistics and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TsStats {
    /// Transport packets read.
    pub packets: u64,
    /// Bytes skipped while looking for packet sync (garbage, or a cut packet).
    pub skipped_bytes: u64,
    /// Packets flagged with transport_error_indicator, ignored.
    pub error_packets: u64,
    /// Continuity counter gaps on PSI, the video or the audio PID.
    pub discontinuities: u64,
    /// PES packets dropped: cut by a gap, larger than [`MAX_PES_LEN`], shorter than their
    /// announced length, or with an unusable header.
    pub dropped_pes: u64,
    /// Video access units dropped because no SPS and PPS had come yet.
    pub frames_before_parameter_sets: u64,
    /// ADTS frames dropped: malformed, cut short, or holding several raw data blocks.
    pub dropped_audio_frames: u64,
}

/// Turns an MPEG-TS byte stream into FLV tags. See the module documentation.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    /// Bytes not yet read as packets: less than a packet, or one waiting for the next sync
    /// byte to confirm its end.
    buf: Vec<u8>,
    pat: SectionBuffer,
    pat_continuity: Continuity,
    pmt_pid: Option<u16>,
    pmt: SectionBuffer,
    pmt_continuity: Continuity,
    pmt_version: Option<u8>,
    video: Option<Track>,
    audio: Option<Track>,
    clock: Clock,
    avc: AvcParameters,
    aac_config: Option<[u8; 2]>,
    reported_codec: bool,
    warned_audio: bool,
    /// Held tags of a track the PMT removed, to go out before anything else.
    orphaned: Vec<FlvTag>,
    /// An error found while reading a push, returned at its end.
    error: Option<TsError>,
    stats: TsStats,
}

impl TsDemuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes as they arrive, split anywhere, and appends the FLV tags that became
    /// complete to `out`, in decode order. Garbage between packets is skipped. The last packet
    /// is read when the next byte confirms its end, so an error or a tag can surface one push
    /// later than its bytes. An error is returned once, after the whole of `data` has been
    /// read; demuxing can go on after it.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<FlvTag>) -> Result<(), TsError> {
        self.buf.extend_from_slice(data);
        self.read_packets(false, out);
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// End of stream: reads the last packet (it had no next sync byte to confirm it), finishes
    /// the access units being collected and lets out every held tag.
    pub fn finish(&mut self, out: &mut Vec<FlvTag>) {
        self.read_packets(true, out);
        self.stats.skipped_bytes += self.buf.len() as u64;
        self.buf.clear();
        for media in [Media::Video, Media::Audio] {
            let Some(track) = self.track_mut(media) else {
                continue;
            };
            track.collecting_ms = None;
            match track.pes.finish() {
                Ok(Some(pes)) => self.on_pes(media, &pes),
                Ok(None) => {}
                Err(_) => self.stats.dropped_pes += 1,
            }
        }
        self.release(true, out);
        if let Some(e) = self.error.take() {
            warn!(error = %e, "ts: error at the end of the stream");
        }
    }

    /// Counters of what was read and dropped so far.
    pub fn stats(&self) -> TsStats {
        self.stats
    }

    /// The PMT has named an H.264 stream.
    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// The PMT has named an AAC stream.
    pub fn has_audio(&self) -> bool {
        self.audio.is_some()
    }

    /// Reads every packet in `buf` that starts with 0x47 and is followed by another 0x47 (or
    /// ends the stream). Checking the next sync byte keeps a packet cut short in transit from
    /// being read with the start of the next one as its tail; the price is that the last
    /// packet of a push waits for the first byte of the next.
    fn read_packets(&mut self, at_end: bool, out: &mut Vec<FlvTag>) {
        let buf = std::mem::take(&mut self.buf);
        let mut pos = 0;
        while buf.len() - pos >= PACKET_LEN {
            if buf[pos] == SYNC_BYTE {
                let confirmed = match buf.get(pos + PACKET_LEN) {
                    Some(&next) => next == SYNC_BYTE,
                    None if at_end => true,
                    None => break,
                };
                if confirmed {
                    self.on_packet(&buf[pos..pos + PACKET_LEN]);
                    // After every packet, so the order of tags never depends on the splits.
                    self.release(false, out);
                    pos += PACKET_LEN;
                    continue;
                }
            }
            self.stats.skipped_bytes += 1;
            pos += 1;
        }
        self.buf = buf;
        self.buf.drain(..pos);
    }

    fn on_packet(&mut self, p: &[u8]) {
        self.stats.packets += 1;
        if p[1] & 0x80 != 0 {
            self.stats.error_packets += 1;
            return;
        }
        let unit_start = p[1] & 0x40 != 0;
        let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
        let adaptation = p[3] & 0x20 != 0;
        let has_payload = p[3] & 0x10 != 0;
        let cc = p[3] & 0x0F;
        let mut offset = 4;
        let mut discontinuity_indicator = false;
        if adaptation {
            let len = usize::from(p[4]);
            discontinuity_indicator = len > 0 && p[5] & 0x80 != 0;
            offset = 5 + len;
        }
        if !has_payload || offset >= PACKET_LEN {
            // Adaptation field only (or one too long to leave a payload): nothing to demux,
            // and the continuity counter does not move.
            return;
        }
        let payload = &p[offset..];

        if pid == PID_PAT {
            if self.pat_continuity.check(cc, discontinuity_indicator) == Continuation::Gap {
                self.stats.discontinuities += 1;
                self.pat.reset();
            }
            for section in self.pat.push(payload, unit_start) {
                self.on_pat(&section);
            }
        } else if Some(pid) == self.pmt_pid {
            if self.pmt_continuity.check(cc, discontinuity_indicator) == Continuation::Gap {
                self.stats.discontinuities += 1;
                self.pmt.reset();
            }
            for section in self.pmt.push(payload, unit_start) {
                self.on_pmt(&section);
            }
        } else if let Some(media) = self.media_of(pid) {
            self.on_es_packet(media, payload, unit_start, cc, discontinuity_indicator);
        }
    }

    fn media_of(&self, pid: u16) -> Option<Media> {
        if self.video.as_ref().is_some_and(|t| t.pid == pid) {
            Some(Media::Video)
        } else if self.audio.as_ref().is_some_and(|t| t.pid == pid) {
            Some(Media::Audio)
        } else {
            None
        }
    }

    fn track_mut(&mut self, media: Media) -> Option<&mut Track> {
        match media {
            Media::Video => self.video.as_mut(),
            Media::Audio => self.audio.as_mut(),
        }
    }
}
