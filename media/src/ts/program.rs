//! Following the program: the PAT names the PMT's PID, the PMT picks the first H.264 and the
//! first AAC stream (a track is replaced when the PMT moves or removes it), and other codecs are
//! named in the refusal or the warning.

use tracing::{debug, warn};

use super::psi::{
    SectionBuffer, TABLE_PAT, TABLE_PMT, first_program_pmt_pid, parse_section, pmt_streams,
};
use super::track::{Continuity, Media, Track};
use super::{TsDemuxer, TsError};

pub(super) const STREAM_TYPE_H264: u8 = 0x1B;
pub(super) const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;

impl TsDemuxer {
    pub(super) fn on_pat(&mut self, section: &[u8]) {
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

    pub(super) fn on_pmt(&mut self, section: &[u8]) {
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
