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

mod adts;
mod pes;
mod psi;

#[cfg(test)]
mod ffmpeg_tests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use tracing::{debug, warn};

use crate::flv::{
    FlvTag, aac_audio_specific_config, aac_frame, aac_sequence_header, annexb_to_avcc, avc_frame,
    avc_record_from_parameter_sets, avc_sequence_header,
};
use adts::{AdtsHeader, SAMPLES_PER_FRAME};
use pes::{Clock, PesAssembler, PesDrop, parse_pes_header};
use psi::{SectionBuffer, TABLE_PAT, TABLE_PMT, first_program_pmt_pid, parse_section, pmt_streams};

pub use pes::MAX_PES_LEN;

/// Length of a transport packet.
pub const PACKET_LEN: usize = 188;
const SYNC_BYTE: u8 = 0x47;
const PID_PAT: u16 = 0x0000;

const STREAM_TYPE_H264: u8 = 0x1B;
const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;

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

/// Which elementary stream a PID carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
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
struct Track {
    pid: u16,
    continuity: Continuity,
    pes: PesAssembler,
    /// The DTS (ms) of the PES being collected, when its header has been read.
    collecting_ms: Option<u32>,
    /// The timestamp of the last tag this track produced.
    latest_ms: Option<u32>,
    /// The other track stopped waiting for this one to start: it is listed but silent.
    silent: bool,
    /// Finished tags waiting for decode order.
    held: VecDeque<FlvTag>,
}

impl Track {
    fn hold(&mut self, tags: Vec<FlvTag>) {
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

    fn new(pid: u16) -> Self {
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
struct Continuity {
    last: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Continuation {
    InOrder,
    /// The same counter again: a repeated packet, whose payload we already have.
    Duplicate,
    /// Packets were lost.
    Gap,
}

impl Continuity {
    /// Checks the counter of a packet that has a payload (others do not increment it).
    fn check(&mut self, cc: u8, discontinuity_indicator: bool) -> Continuation {
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

/// The H.264 parameter sets in force and the record built from them.
#[derive(Debug, Default)]
struct AvcParameters {
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    /// The AVCDecoderConfigurationRecord last sent; `None` until SPS and PPS have come.
    record: Option<Vec<u8>>,
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

    fn on_pat(&mut self, section: &[u8]) {
        let Some(pat) = parse_section(section) else {
            return;
        };
        if pat.table_id != TABLE_PAT {
            return;
        }
        let Some(pid) = first_program_pmt_pid(pat.body) else {
            return;
        };
        if self.pmt_pid != Some(pid) {
            debug!(pmt_pid = pid, "ts: program map on a new PID");
            self.pmt_pid = Some(pid);
            self.pmt = SectionBuffer::default();
            self.pmt_continuity = Continuity::default();
            self.pmt_version = None;
        }
    }

    fn on_pmt(&mut self, section: &[u8]) {
        let Some(pmt) = parse_section(section) else {
            return;
        };
        if pmt.table_id != TABLE_PMT || self.pmt_version == Some(pmt.version) {
            return;
        }
        self.pmt_version = Some(pmt.version);
        let streams = pmt_streams(pmt.body);
        let video = streams.iter().find(|s| s.stream_type == STREAM_TYPE_H264);
        let audio = streams
            .iter()
            .find(|s| s.stream_type == STREAM_TYPE_AAC_ADTS);
        debug!(
            version = pmt.version,
            video_pid = video.map(|s| s.pid),
            audio_pid = audio.map(|s| s.pid),
            "ts: program map"
        );

        let other_video = streams
            .iter()
            .find_map(|s| other_video_codec(s.stream_type));
        if video.is_none() && !self.reported_codec {
            if let Some(name) = other_video {
                self.reported_codec = true;
                self.error.get_or_insert(TsError::UnsupportedCodec(name));
            } else if audio.is_none() {
                self.reported_codec = true;
                self.error.get_or_insert(TsError::NoUsableStream);
            }
        }
        if audio.is_none()
            && !self.warned_audio
            && let Some(name) = streams
                .iter()
                .find_map(|s| other_audio_codec(s.stream_type))
        {
            self.warned_audio = true;
            warn!(
                codec = name,
                "ts: audio codec not supported, going on without audio"
            );
        }

        let video_pid = video.map(|s| s.pid);
        let audio_pid = audio.map(|s| s.pid);
        if self.video.as_ref().map(|t| t.pid) != video_pid {
            self.replace_track(Media::Video, video_pid);
        }
        if self.audio.as_ref().map(|t| t.pid) != audio_pid {
            self.replace_track(Media::Audio, audio_pid);
        }
    }

    /// Follows a PMT that moved or removed a stream: the old PID's partial PES is dropped, its
    /// finished tags still go out.
    fn replace_track(&mut self, media: Media, pid: Option<u16>) {
        let new = pid.map(Track::new);
        let old = match media {
            Media::Video => std::mem::replace(&mut self.video, new),
            Media::Audio => std::mem::replace(&mut self.audio, new),
        };
        if let Some(old) = old {
            if old.pes.is_active() {
                self.stats.dropped_pes += 1;
            }
            match self.track_mut(media) {
                Some(track) => track.held = old.held,
                None => self.orphaned.extend(old.held),
            }
        }
    }

    fn on_es_packet(
        &mut self,
        media: Media,
        payload: &[u8],
        unit_start: bool,
        cc: u8,
        discontinuity_indicator: bool,
    ) {
        let Some(track) = self.track_mut(media) else {
            return;
        };
        let mut dropped = 0;
        let mut gap = false;
        match track.continuity.check(cc, discontinuity_indicator) {
            Continuation::Duplicate => return,
            Continuation::Gap => {
                gap = true;
                if track.pes.is_active() {
                    track.pes.abandon();
                    track.collecting_ms = None;
                    dropped += 1;
                }
            }
            Continuation::InOrder => {}
        }
        let events = track.pes.push(payload, unit_start);
        if events.dropped.is_some() {
            dropped += 1;
        }
        if matches!(events.dropped, Some(PesDrop::TooLarge)) {
            warn!(?media, max = MAX_PES_LEN, "ts: PES too large, dropped");
        }
        if !track.pes.is_active() || unit_start {
            track.collecting_ms = None;
        }
        // The header of a PES that starts here: its DTS is the stream's origin if it is the
        // first, and holds back the other track's later tags until this one is done.
        let started = if unit_start && track.pes.is_active() {
            parse_pes_header(track.pes.current()).ok()
        } else {
            None
        };

        if gap {
            self.stats.discontinuities += 1;
        }
        self.stats.dropped_pes += dropped;
        for pes in events.complete {
            self.on_pes(media, &pes);
        }
        if let Some(header) = started {
            self.clock.observe(header.dts);
            let ms = self.clock.millis(header.dts);
            if let Some(track) = self.track_mut(media) {
                track.collecting_ms = Some(ms);
            }
        }
    }

    fn on_pes(&mut self, media: Media, pes: &[u8]) {
        let Ok(header) = parse_pes_header(pes) else {
            self.stats.dropped_pes += 1;
            return;
        };
        let payload = &pes[header.payload_offset..];
        match media {
            Media::Video => self.on_video(header.dts, header.pts, payload),
            Media::Audio => self.on_audio(header.pts, payload),
        }
    }

    fn on_video(&mut self, dts: u64, pts: u64, payload: &[u8]) {
        let dts_ms = self.clock.millis(dts);
        let pts_ms = self.clock.millis(pts);
        // avc_frame clamps it further, to FLV's 24 bits.
        let cts_ms = (i64::from(pts_ms) - i64::from(dts_ms))
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        let au = annexb_to_avcc(payload);
        let mut tags = Vec::with_capacity(2);
        if let Some(record) = self.update_parameter_sets(&au.sps, &au.pps) {
            tags.push(avc_sequence_header(&record, dts_ms));
        }
        if !au.data.is_empty() {
            if self.avc.record.is_some() {
                tags.push(avc_frame(&au.data, au.keyframe, dts_ms, cts_ms));
            } else {
                self.stats.frames_before_parameter_sets += 1;
            }
        }
        if let Some(track) = self.video.as_mut() {
            track.hold(tags);
        }
    }

    /// Takes in the parameter sets of an access unit; returns a new record when they changed
    /// and a record can be built from them.
    fn update_parameter_sets(&mut self, sps: &[&[u8]], pps: &[&[u8]]) -> Option<Vec<u8>> {
        let changed = |held: &[Vec<u8>], new: &[&[u8]]| {
            !new.is_empty()
                && (held.len() != new.len() || held.iter().zip(new).any(|(a, b)| a[..] != b[..]))
        };
        let sps_changed = changed(&self.avc.sps, sps);
        let pps_changed = changed(&self.avc.pps, pps);
        if !sps_changed && !pps_changed {
            return None;
        }
        if sps_changed {
            self.avc.sps = sps.iter().map(|s| s.to_vec()).collect();
        }
        if pps_changed {
            self.avc.pps = pps.iter().map(|p| p.to_vec()).collect();
        }
        if self.avc.sps.is_empty() || self.avc.pps.is_empty() {
            return None;
        }
        let sps: Vec<&[u8]> = self.avc.sps.iter().map(Vec::as_slice).collect();
        let pps: Vec<&[u8]> = self.avc.pps.iter().map(Vec::as_slice).collect();
        match avc_record_from_parameter_sets(&sps, &pps) {
            Ok(record) if self.avc.record.as_ref() != Some(&record) => {
                self.avc.record = Some(record.clone());
                Some(record)
            }
            Ok(_) => None,
            Err(e) => {
                // Not retried until the encoder sends different parameter sets.
                warn!(error = %e, "ts: unusable H.264 parameter sets");
                None
            }
        }
    }

    fn on_audio(&mut self, pts: u64, mut payload: &[u8]) {
        let mut tags = Vec::new();
        let mut samples = 0u64;
        while !payload.is_empty() {
            let header = match AdtsHeader::parse(payload) {
                Ok(h) => h,
                Err(e) => {
                    // Without the frame boundary the rest of the PES cannot be read.
                    debug!(error = ?e, left = payload.len(), "ts: bad ADTS data, rest of PES dropped");
                    self.stats.dropped_audio_frames += 1;
                    break;
                }
            };
            let ticks = pts + samples * 90_000 / u64::from(header.sample_rate);
            samples += SAMPLES_PER_FRAME * u64::from(header.raw_blocks);
            let frame = &payload[header.header_len..header.frame_len];
            payload = &payload[header.frame_len..];
            if header.raw_blocks != 1 {
                self.stats.dropped_audio_frames += 1;
                continue;
            }
            let ms = self.clock.millis(ticks);
            let asc = aac_audio_specific_config(
                header.object_type,
                header.sampling_index,
                header.channel_config,
            );
            if self.aac_config != Some(asc) {
                self.aac_config = Some(asc);
                tags.push(aac_sequence_header(&asc, ms));
            }
            tags.push(aac_frame(frame, ms));
        }
        if let Some(track) = self.audio.as_mut() {
            track.hold(tags);
        }
    }

    /// Lets out held tags in decode order: the earliest head of the two queues, once the other
    /// track has come as far (see [`Track::frontier_ms`]), or has fallen [`MAX_LAG_MS`]
    /// behind, or too many tags are held. `drain` lets everything out (end of stream).
    fn release(&mut self, drain: bool, out: &mut Vec<FlvTag>) {
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

/// Video stream types we can name in the refusal.
fn other_video_codec(stream_type: u8) -> Option<&'static str> {
    Some(match stream_type {
        0x01 => "MPEG-1 video",
        0x02 => "MPEG-2 video",
        0x10 => "MPEG-4 Part 2 video",
        0x24 => "H.265 (HEVC)",
        0x33 => "H.266 (VVC)",
        0x42 => "AVS",
        0xEA => "VC-1",
        _ => return None,
    })
}

/// Audio stream types we can name in the warning.
fn other_audio_codec(stream_type: u8) -> Option<&'static str> {
    Some(match stream_type {
        0x03 => "MPEG-1 audio (MP2/MP3)",
        0x04 => "MPEG-2 audio (MP2/MP3)",
        0x11 => "AAC in LATM",
        0x81 => "AC-3",
        0x87 => "E-AC-3",
        _ => return None,
    })
}
