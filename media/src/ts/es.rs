//! Elementary streams to FLV tags: transport packets of a track into PES packets (gaps and
//! oversize PES dropped and counted), H.264 access units into AVCC frames and sequence headers
//! when the parameter sets change, ADTS frames into raw AAC frames and sequence headers.

use tracing::{debug, warn};

use super::TsDemuxer;
use super::adts::{AdtsHeader, SAMPLES_PER_FRAME};
use super::pes::{MAX_PES_LEN, PesDrop, parse_pes_header};
use super::track::{Continuation, Media};
use crate::flv::{
    aac_audio_specific_config, aac_frame, aac_sequence_header, annexb_to_avcc, avc_frame,
    avc_record_from_parameter_sets, avc_sequence_header,
};

/// The H.264 parameter sets in force and the record built from them.
#[derive(Debug, Default)]
pub(super) struct AvcParameters {
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    /// The AVCDecoderConfigurationRecord last sent; `None` until SPS and PPS have come.
    record: Option<Vec<u8>>,
}

impl TsDemuxer {
    pub(super) fn on_es_packet(
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

    pub(super) fn on_pes(&mut self, media: Media, pes: &[u8]) {
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
}
