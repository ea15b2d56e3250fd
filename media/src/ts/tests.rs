//! The demuxer on hand-built transport streams.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::adts::adts_frame;
use super::pes::encode_timestamp;
use super::program::{STREAM_TYPE_AAC_ADTS, STREAM_TYPE_H264};
use super::psi::crc32_mpeg2;
use super::*;
use crate::flv::{TagKind, parse_aac_sequence_header, parse_avc_sequence_header};

const PMT_PID: u16 = 0x1000;
const VIDEO_PID: u16 = 0x100;
const AUDIO_PID: u16 = 0x101;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// libx264's 1280x720 Baseline parameter sets (the same as in flv/codec.rs's tests).
const SPS: &str = "6742c01fda014016ec0440000003004000000f03c60ca8";
const PPS: &str = "68ce0fc8";
// Another SPS: libx264's 1280x720 High profile.
const SPS_HIGH: &str = "6764001facd9405005bb0110000003001000000303c0f1831960";

/// Writes transport packets for one PID, counting continuity itself.
struct Muxer {
    cc: std::collections::HashMap<u16, u8>,
    out: Vec<u8>,
}

impl Muxer {
    fn new() -> Self {
        Self {
            cc: Default::default(),
            out: Vec::new(),
        }
    }

    /// One packet; a payload shorter than 184 bytes is padded with adaptation field stuffing.
    fn packet(&mut self, pid: u16, unit_start: bool, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() <= 184);
        let cc = self.cc.entry(pid).or_insert(15);
        *cc = (*cc + 1) & 0x0F;
        let mut p = vec![
            SYNC_BYTE,
            (u8::from(unit_start) << 6) | (pid >> 8) as u8,
            pid as u8,
            0x10 | *cc,
        ];
        if payload.len() < 184 {
            p[3] |= 0x20;
            let af_len = 183 - payload.len();
            p.push(af_len as u8);
            if af_len > 0 {
                p.push(0);
                p.resize(p.len() + af_len - 1, 0xFF);
            }
        }
        p.extend_from_slice(payload);
        assert_eq!(p.len(), PACKET_LEN);
        p
    }

    /// A PES (or PSI payload) cut into packets, the first flagged unit start.
    fn send(&mut self, pid: u16, data: &[u8]) -> Vec<Vec<u8>> {
        data.chunks(184)
            .enumerate()
            .map(|(i, chunk)| self.packet(pid, i == 0, chunk))
            .collect()
    }

    fn write(&mut self, pid: u16, data: &[u8]) {
        for p in self.send(pid, data) {
            self.out.extend_from_slice(&p);
        }
    }

    fn tables(&mut self, pmt_version: u8, streams: &[(u8, u16)]) {
        self.write(0, &psi(pat(PMT_PID)));
        self.write(PMT_PID, &psi(pmt(pmt_version, streams)));
    }
}

/// A section with its CRC, behind a pointer_field of 0.
fn psi(mut section: Vec<u8>) -> Vec<u8> {
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    let mut payload = vec![0];
    payload.extend_from_slice(&section);
    payload
}

fn section(table_id: u8, id: u16, version: u8, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = vec![
        table_id,
        0xB0 | (len >> 8) as u8,
        len as u8,
        (id >> 8) as u8,
        id as u8,
        0xC1 | (version << 1),
        0,
        0,
    ];
    s.extend_from_slice(body);
    s
}

fn pat(pmt_pid: u16) -> Vec<u8> {
    section(0, 1, 0, &[0, 1, 0xE0 | (pmt_pid >> 8) as u8, pmt_pid as u8])
}

fn pmt(version: u8, streams: &[(u8, u16)]) -> Vec<u8> {
    let mut body = vec![0xE1, 0x00, 0xF0, 0x00];
    for &(stream_type, pid) in streams {
        body.extend_from_slice(&[stream_type, 0xE0 | (pid >> 8) as u8, pid as u8, 0xF0, 0]);
    }
    section(2, 1, version, &body)
}

fn av_streams() -> Vec<(u8, u16)> {
    vec![
        (STREAM_TYPE_H264, VIDEO_PID),
        (STREAM_TYPE_AAC_ADTS, AUDIO_PID),
    ]
}

fn pes(stream_id: u8, pts: u64, dts: Option<u64>, data: &[u8], with_length: bool) -> Vec<u8> {
    let mut fields = Vec::new();
    let flags = match dts {
        Some(dts) => {
            fields.extend_from_slice(&encode_timestamp(3, pts));
            fields.extend_from_slice(&encode_timestamp(1, dts));
            0xC0
        }
        None => {
            fields.extend_from_slice(&encode_timestamp(2, pts));
            0x80
        }
    };
    let len = if with_length {
        3 + fields.len() + data.len()
    } else {
        0
    };
    let mut out = vec![
        0,
        0,
        1,
        stream_id,
        (len >> 8) as u8,
        len as u8,
        0x80,
        flags,
        fields.len() as u8,
    ];
    out.extend_from_slice(&fields);
    out.extend_from_slice(data);
    out
}

/// An Annex B access unit: AUD, then SPS + PPS when `key`, then a slice of `len` bytes of
/// `fill` and a stop bit.
fn access_unit(key: bool, len: usize, fill: u8) -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 0x09, 0xF0];
    if key {
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(&hex(SPS));
        au.extend_from_slice(&[0, 0, 0, 1]);
        au.extend_from_slice(&hex(PPS));
    }
    au.extend_from_slice(&[0, 0, 1, if key { 0x65 } else { 0x41 }]);
    au.resize(au.len() + len, fill);
    au.push(0x80);
    au
}

/// The AVCC body a demuxed [`access_unit`] must have.
fn avcc_slice(key: bool, len: usize, fill: u8) -> Vec<u8> {
    let mut out = ((len + 2) as u32).to_be_bytes().to_vec();
    out.push(if key { 0x65 } else { 0x41 });
    out.resize(out.len() + len, fill);
    out.push(0x80);
    out
}

const FRAME_TICKS: u64 = 3000; // 30 fps at 90 kHz

/// PAT, PMT and `n` video frames (a keyframe every 10, B-frame style PTS = DTS + 2 frames)
/// starting at DTS `start`, with a few ADTS frames per audio PES when `audio`.
fn stream(start: u64, n: u64, audio: bool) -> Vec<u8> {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    for i in 0..n {
        let dts = (start + i * FRAME_TICKS) & ((1 << 33) - 1);
        let pts = (dts + 2 * FRAME_TICKS) & ((1 << 33) - 1);
        let key = i % 10 == 0;
        m.write(
            VIDEO_PID,
            &pes(
                0xE0,
                pts,
                Some(dts),
                &access_unit(key, 300 + i as usize, i as u8),
                false,
            ),
        );
        if audio && i % 3 == 0 {
            let mut adts = Vec::new();
            for f in 0..2u8 {
                adts.extend_from_slice(&adts_frame(1, 3, 2, false, &[0x21, f, i as u8]));
            }
            m.write(AUDIO_PID, &pes(0xC0, dts, None, &adts, true));
        }
    }
    m.out
}

fn demux_all(data: &[u8]) -> (Vec<FlvTag>, TsDemuxer) {
    let mut d = TsDemuxer::new();
    let mut out = Vec::new();
    d.push(data, &mut out).unwrap();
    d.finish(&mut out);
    (out, d)
}

fn video_frames(tags: &[FlvTag]) -> Vec<&FlvTag> {
    tags.iter()
        .filter(|t| t.kind == TagKind::Video && !t.is_sequence_header())
        .collect()
}

#[test]
fn pat_pmt_and_a_keyframe() {
    let (tags, d) = demux_all(&stream(900_000, 2, false));
    assert!(d.has_video());
    assert!(d.has_audio());
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert!(tags[0].is_sequence_header());
    let info = parse_avc_sequence_header(&tags[0].data).unwrap();
    assert_eq!((info.width, info.height), (1280, 720));
    assert_eq!(info.codec, "avc1.42c01f");

    assert!(tags[1].is_video_keyframe());
    assert_eq!(tags[1].timestamp_ms, 0);
    // CompositionTime: PTS - DTS = 2 frames = 66 ms.
    assert_eq!(&tags[1].data[..5], &[0x17, 1, 0, 0, 66]);
    assert_eq!(tags[1].data[5..], avcc_slice(true, 300, 0)[..]);
    assert!(!tags[2].is_video_keyframe());
    assert_eq!(tags[2].timestamp_ms, 33);
    assert_eq!(tags[2].data[5..], avcc_slice(false, 301, 1)[..]);
    assert_eq!(d.stats().dropped_pes, 0);
    assert_eq!(d.stats().discontinuities, 0);
}

#[test]
fn nothing_before_the_program_tables() {
    let mut m = Muxer::new();
    // Video before any PAT/PMT: its PID means nothing yet.
    m.write(
        VIDEO_PID,
        &pes(0xE0, 0, None, &access_unit(true, 50, 0), false),
    );
    m.tables(0, &av_streams());
    let (tags, d) = demux_all(&m.out);
    assert!(tags.is_empty());
    assert!(d.has_video());
}

#[test]
fn pes_split_over_many_packets() {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    let big = access_unit(true, 5000, 0xAB);
    let packets = m.send(VIDEO_PID, &pes(0xE0, 0, None, &big, false));
    assert!(packets.len() > 25);
    for p in packets {
        m.out.extend_from_slice(&p);
    }
    let (tags, _) = demux_all(&m.out);
    let frames = video_frames(&tags);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].data[5..], avcc_slice(true, 5000, 0xAB)[..]);
}

#[test]
fn continuity_gap_drops_the_pes() {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    m.write(
        VIDEO_PID,
        &pes(0xE0, 0, None, &access_unit(true, 100, 0), false),
    );
    // Second frame: three packets, the middle one lost.
    let packets = m.send(
        VIDEO_PID,
        &pes(0xE0, FRAME_TICKS, None, &access_unit(false, 400, 1), false),
    );
    assert_eq!(packets.len(), 3);
    m.out.extend_from_slice(&packets[0]);
    m.out.extend_from_slice(&packets[2]);
    m.write(
        VIDEO_PID,
        &pes(
            0xE0,
            2 * FRAME_TICKS,
            None,
            &access_unit(false, 100, 2),
            false,
        ),
    );
    let (tags, d) = demux_all(&m.out);
    let frames = video_frames(&tags);
    let times: Vec<u32> = frames.iter().map(|t| t.timestamp_ms).collect();
    assert_eq!(
        times,
        vec![0, 66],
        "the damaged frame at 33 ms must not come out"
    );
    assert_eq!(frames[1].data[5..], avcc_slice(false, 100, 2)[..]);
    assert_eq!(d.stats().discontinuities, 1);
    assert_eq!(d.stats().dropped_pes, 1);
}

#[test]
fn duplicate_packet_is_ignored() {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    let packets = m.send(
        VIDEO_PID,
        &pes(0xE0, 0, None, &access_unit(true, 300, 7), false),
    );
    m.out.extend_from_slice(&packets[0]);
    m.out.extend_from_slice(&packets[0]);
    m.out.extend_from_slice(&packets[1]);
    let (tags, d) = demux_all(&m.out);
    let frames = video_frames(&tags);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].data[5..], avcc_slice(true, 300, 7)[..]);
    assert_eq!(d.stats().discontinuities, 0);
}

#[test]
fn pts_wraparound() {
    // Starts 10 frames before the 33-bit counter wraps.
    let start = (1 << 33) - 10 * FRAME_TICKS;
    let (tags, d) = demux_all(&stream(start, 30, true));
    let frames = video_frames(&tags);
    assert_eq!(frames.len(), 30);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(
            f.timestamp_ms,
            (i as u64 * FRAME_TICKS / 90) as u32,
            "frame {i}"
        );
        // PTS and DTS are each rounded down to the millisecond: CTS is 66 or 67.
        let cts = (i as u64 + 2) * FRAME_TICKS / 90 - i as u64 * FRAME_TICKS / 90;
        assert_eq!(&f.data[2..5], &[0, 0, cts as u8], "CTS of frame {i}");
    }
    let audio: Vec<u32> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Audio && !t.is_sequence_header())
        .map(|t| t.timestamp_ms)
        .collect();
    assert_eq!(audio.len(), 20);
    assert!(audio.windows(2).all(|w| w[0] < w[1]), "{audio:?}");
    // The last audio PES goes with frame 27 (900 ms); its second frame is 1024 samples later.
    assert_eq!(*audio.last().unwrap(), 900 + 21);
    assert_eq!(d.stats().dropped_pes, 0);
}

#[test]
fn audio_frames_get_their_own_timestamps_and_a_config() {
    let mut m = Muxer::new();
    m.tables(0, &[(STREAM_TYPE_AAC_ADTS, AUDIO_PID)]);
    let mut adts = Vec::new();
    for f in 0..3u8 {
        adts.extend_from_slice(&adts_frame(1, 3, 2, f == 1, &[0x21, f]));
    }
    m.write(AUDIO_PID, &pes(0xC0, 90_000, None, &adts, true));
    // 44.1 kHz mono from here on: a new AudioSpecificConfig.
    let more = adts_frame(1, 4, 1, false, &[0x21, 9]);
    m.write(AUDIO_PID, &pes(0xC0, 90_000 + 3 * 1920, None, &more, true));
    let (tags, d) = demux_all(&m.out);
    assert!(!d.has_video());

    let summary: Vec<(bool, u32, Vec<u8>)> = tags
        .iter()
        .map(|t| (t.is_sequence_header(), t.timestamp_ms, t.data[2..].to_vec()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (true, 0, vec![0x11, 0x90]),
            (false, 0, vec![0x21, 0]),
            // 1024 samples at 48 kHz = 21.33 ms; the CRC'd frame loses its 2 CRC bytes.
            (false, 21, vec![0x21, 1]),
            (false, 42, vec![0x21, 2]),
            (true, 64, vec![0x12, 0x08]),
            (false, 64, vec![0x21, 9]),
        ]
    );
    let info = parse_aac_sequence_header(&tags[0].data).unwrap();
    assert_eq!((info.sample_rate, info.channels), (48000, 2));
    let info = parse_aac_sequence_header(&tags[4].data).unwrap();
    assert_eq!((info.sample_rate, info.channels), (44100, 1));
    assert!(tags.iter().all(|t| t.data[0] == 0xAF));
}

#[test]
fn broken_adts_drops_the_rest_of_the_pes() {
    let mut m = Muxer::new();
    m.tables(0, &[(STREAM_TYPE_AAC_ADTS, AUDIO_PID)]);
    let mut adts = adts_frame(1, 3, 2, false, &[0x21, 0]);
    adts.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0]);
    adts.extend_from_slice(&adts_frame(1, 3, 2, false, &[0x21, 1]));
    m.write(AUDIO_PID, &pes(0xC0, 0, None, &adts, true));
    let (tags, d) = demux_all(&m.out);
    assert_eq!(tags.len(), 2); // config + the first frame
    assert_eq!(d.stats().dropped_audio_frames, 1);
}

#[test]
fn garbage_is_skipped_and_sync_found_again() {
    let clean = stream(0, 12, true);
    let (expected, _) = demux_all(&clean);

    let mut dirty = vec![0x47, 1, 2, 3, 0x47, 0x47, 9]; // junk, with sync bytes in it
    let mut packets_seen = 0;
    for (i, p) in clean.chunks(PACKET_LEN).enumerate() {
        // Garbage between packets 5 and 6, and packet 9 cut short: the 100 bytes left of it
        // must not be read as a packet with the start of packet 10 as its end.
        if i == 6 {
            dirty.extend_from_slice(&[0x47; 5]);
            dirty.extend_from_slice(&[0xAA; 300]);
        }
        if i == 9 {
            dirty.extend_from_slice(&p[..100]);
            continue;
        }
        dirty.extend_from_slice(p);
        packets_seen += 1;
    }
    let (tags, d) = demux_all(&dirty);
    assert_eq!(d.stats().packets, packets_seen);
    assert!(d.stats().skipped_bytes >= 300 + 100);
    // Everything but the access unit that lost packet 9 is there.
    assert!(
        tags.len() >= expected.len() - 2,
        "{} of {}",
        tags.len(),
        expected.len()
    );
    assert!(tags.iter().all(|t| expected.contains(t)));
}

#[test]
fn split_anywhere_gives_the_same_tags() {
    let data = stream(5_000, 40, true);
    let (whole, _) = demux_all(&data);
    assert!(whole.len() > 40);

    let mut d = TsDemuxer::new();
    let mut byte_by_byte = Vec::new();
    for b in &data {
        d.push(std::slice::from_ref(b), &mut byte_by_byte).unwrap();
    }
    d.finish(&mut byte_by_byte);
    assert_eq!(byte_by_byte, whole);

    // SRT-like 1316-byte payloads and odd sizes.
    for size in [1316, 7, 189, 1000] {
        let mut d = TsDemuxer::new();
        let mut out = Vec::new();
        for chunk in data.chunks(size) {
            d.push(chunk, &mut out).unwrap();
        }
        d.finish(&mut out);
        assert_eq!(out, whole, "chunks of {size}");
    }
}

#[test]
fn tags_come_out_in_decode_order() {
    let (tags, _) = demux_all(&stream(0, 60, true));
    let times: Vec<u32> = tags.iter().map(|t| t.timestamp_ms).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timestamps go back: {times:?}"
    );
    assert!(tags.iter().any(|t| t.kind == TagKind::Audio));
}

#[test]
fn late_audio_is_waited_for() {
    // As ffmpeg muxes: each audio PES goes out about 300 ms after the video of its time.
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    for i in 0..60u64 {
        m.write(
            VIDEO_PID,
            &pes(
                0xE0,
                i * FRAME_TICKS,
                None,
                &access_unit(i % 30 == 0, 20, 1),
                false,
            ),
        );
        if i >= 9 && i % 3 == 0 {
            let pts = (i - 9) * FRAME_TICKS;
            let adts = adts_frame(1, 3, 2, false, &[0x21, i as u8]);
            m.write(AUDIO_PID, &pes(0xC0, pts, None, &adts, true));
        }
    }
    let (tags, _) = demux_all(&m.out);
    let times: Vec<u32> = tags.iter().map(|t| t.timestamp_ms).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(tags.iter().filter(|t| t.kind == TagKind::Audio).count(), 18);
}

#[test]
fn a_silent_audio_pid_delays_video_by_a_bounded_time() {
    // The PMT lists audio that never comes: video waits MAX_LAG_MS once, then flows.
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    let tables_len = m.out.len();
    for i in 0..90u64 {
        m.write(
            VIDEO_PID,
            &pes(
                0xE0,
                i * FRAME_TICKS,
                None,
                &access_unit(i == 0, 20, 1),
                false,
            ),
        );
    }
    let mut d = TsDemuxer::new();
    let mut out = Vec::new();
    d.push(&m.out[..tables_len], &mut out).unwrap();
    // Each frame is one packet, pushed one at a time; note the push that lets tags out.
    let mut released_at = Vec::new();
    for (i, packet) in m.out[tables_len..].chunks(PACKET_LEN).enumerate() {
        let before = out.len();
        d.push(packet, &mut out).unwrap();
        released_at.extend(std::iter::repeat_n(i, out.len() - before));
    }
    // Frame 31 (1033 ms) is the first more than a second after frame 0: it completes when
    // frame 32 is read, which is when frame 33's packet confirms its end.
    assert_eq!(released_at.first(), Some(&33));
    // From then on nothing waits: all are out but frame 88 (being collected) and frame 89
    // (its packet not yet confirmed).
    assert_eq!(video_frames(&out).len(), 88);
    d.finish(&mut out);
    assert_eq!(video_frames(&out).len(), 90);
}

#[test]
fn hevc_is_refused_once() {
    let mut m = Muxer::new();
    m.tables(0, &[(0x24, VIDEO_PID), (STREAM_TYPE_AAC_ADTS, AUDIO_PID)]);
    let mut d = TsDemuxer::new();
    let mut out = Vec::new();
    // The PMT is the last packet: it is read when the next byte confirms its end.
    assert_eq!(d.push(&m.out, &mut out), Ok(()));
    assert_eq!(
        d.push(&[SYNC_BYTE], &mut out),
        Err(TsError::UnsupportedCodec("H.265 (HEVC)"))
    );
    assert!(!d.has_video());
    assert!(d.has_audio());
    // The PMT repeats (new version even): no second error.
    let mut m = Muxer::new();
    m.tables(1, &[(0x24, VIDEO_PID)]);
    assert_eq!(d.push(&m.out[1..], &mut out), Ok(()));
    assert_eq!(d.push(&m.out, &mut out), Ok(()));
    d.finish(&mut out);
    assert_eq!(
        TsError::UnsupportedCodec("H.265 (HEVC)").to_string(),
        "video codec H.265 (HEVC) is not supported, send H.264"
    );
}

#[test]
fn nothing_usable_is_an_error() {
    let mut m = Muxer::new();
    m.tables(0, &[(0x06, 0x200)]);
    m.tables(0, &[(0x06, 0x200)]);
    let mut d = TsDemuxer::new();
    assert_eq!(
        d.push(&m.out, &mut Vec::new()),
        Err(TsError::NoUsableStream)
    );
}

#[test]
fn other_audio_is_left_out() {
    let mut m = Muxer::new();
    m.tables(0, &[(STREAM_TYPE_H264, VIDEO_PID), (0x03, AUDIO_PID)]);
    m.write(
        VIDEO_PID,
        &pes(0xE0, 0, None, &access_unit(true, 10, 0), false),
    );
    m.write(AUDIO_PID, &pes(0xC0, 0, None, &[0xFF, 0xFD, 0x90, 0], true));
    let mut d = TsDemuxer::new();
    let mut out = Vec::new();
    d.push(&m.out, &mut out).unwrap();
    d.finish(&mut out);
    assert!(d.has_video());
    assert!(!d.has_audio());
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|t| t.kind == TagKind::Video));
}

#[test]
fn frames_before_parameter_sets_are_dropped() {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    m.write(
        VIDEO_PID,
        &pes(0xE0, 0, None, &access_unit(false, 10, 0), false),
    );
    m.write(
        VIDEO_PID,
        &pes(0xE0, FRAME_TICKS, None, &access_unit(false, 10, 1), false),
    );
    m.write(
        VIDEO_PID,
        &pes(
            0xE0,
            2 * FRAME_TICKS,
            None,
            &access_unit(true, 10, 2),
            false,
        ),
    );
    let (tags, d) = demux_all(&m.out);
    assert_eq!(tags.len(), 2);
    assert!(tags[0].is_sequence_header());
    assert!(tags[1].is_video_keyframe());
    assert_eq!(tags[1].timestamp_ms, 66);
    assert_eq!(d.stats().frames_before_parameter_sets, 2);
}

#[test]
fn new_parameter_sets_give_a_new_sequence_header() {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    for i in 0..3 {
        m.write(
            VIDEO_PID,
            &pes(
                0xE0,
                i * FRAME_TICKS,
                None,
                &access_unit(true, 10, 0),
                false,
            ),
        );
    }
    // The encoder switches profile mid-stream.
    let mut au = vec![0, 0, 0, 1];
    au.extend_from_slice(&hex(SPS_HIGH));
    au.extend_from_slice(&[0, 0, 0, 1]);
    au.extend_from_slice(&hex(PPS));
    au.extend_from_slice(&[0, 0, 1, 0x65, 1, 2, 3]);
    m.write(VIDEO_PID, &pes(0xE0, 3 * FRAME_TICKS, None, &au, false));
    let (tags, _) = demux_all(&m.out);
    let headers: Vec<(u32, String)> = tags
        .iter()
        .filter(|t| t.is_sequence_header())
        .map(|t| {
            (
                t.timestamp_ms,
                parse_avc_sequence_header(&t.data).unwrap().codec,
            )
        })
        .collect();
    assert_eq!(
        headers,
        vec![
            (0, "avc1.42c01f".to_owned()),
            (100, "avc1.64001f".to_owned())
        ]
    );
    assert_eq!(video_frames(&tags).len(), 4);
}

#[test]
fn pmt_version_change_is_followed() {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    m.write(
        VIDEO_PID,
        &pes(0xE0, 0, None, &access_unit(true, 10, 0), false),
    );
    m.write(
        VIDEO_PID,
        &pes(0xE0, FRAME_TICKS, None, &access_unit(false, 10, 1), false),
    );
    // Version 1 moves video to PID 0x200; the old PID's data is then ignored.
    m.tables(1, &[(STREAM_TYPE_H264, 0x200)]);
    m.write(
        VIDEO_PID,
        &pes(
            0xE0,
            2 * FRAME_TICKS,
            None,
            &access_unit(false, 10, 2),
            false,
        ),
    );
    m.write(
        0x200,
        &pes(
            0xE0,
            3 * FRAME_TICKS,
            None,
            &access_unit(true, 10, 3),
            false,
        ),
    );
    m.write(
        0x200,
        &pes(
            0xE0,
            4 * FRAME_TICKS,
            None,
            &access_unit(false, 10, 4),
            false,
        ),
    );
    let (tags, d) = demux_all(&m.out);
    let times: Vec<u32> = video_frames(&tags).iter().map(|t| t.timestamp_ms).collect();
    // Frame 1 was still being collected on the old PID when the PMT moved it: dropped.
    assert_eq!(times, vec![0, 100, 133]);
    assert_eq!(d.stats().dropped_pes, 1);
    assert!(!d.has_audio());
}

#[test]
fn oversized_pes_is_dropped() {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    let mut huge = access_unit(true, MAX_PES_LEN, 0x11);
    huge.truncate(MAX_PES_LEN + 1000);
    m.write(VIDEO_PID, &pes(0xE0, 0, None, &huge, false));
    m.write(
        VIDEO_PID,
        &pes(0xE0, FRAME_TICKS, None, &access_unit(true, 10, 1), false),
    );
    let (tags, d) = demux_all(&m.out);
    assert_eq!(d.stats().dropped_pes, 1);
    let frames = video_frames(&tags);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].timestamp_ms, 33);
}

#[test]
fn transport_errors_and_adaptation_only_packets() {
    let mut m = Muxer::new();
    m.tables(0, &av_streams());
    let packets = m.send(
        VIDEO_PID,
        &pes(0xE0, 0, None, &access_unit(true, 200, 5), false),
    );
    m.out.extend_from_slice(&packets[0]);
    // A PCR-only packet (adaptation field, no payload, counter not incremented).
    let mut pcr = vec![SYNC_BYTE, (VIDEO_PID >> 8) as u8, VIDEO_PID as u8, 0x20];
    pcr[3] |= packets[0][3] & 0x0F;
    pcr.push(183);
    pcr.push(0x10);
    pcr.resize(PACKET_LEN, 0xFF);
    m.out.extend_from_slice(&pcr);
    // A packet with transport_error_indicator: ignored entirely.
    let mut broken = packets[1].clone();
    broken[1] |= 0x80;
    m.out.extend_from_slice(&broken);
    m.out.extend_from_slice(&packets[1]);
    let (tags, d) = demux_all(&m.out);
    assert_eq!(video_frames(&tags).len(), 1);
    assert_eq!(
        video_frames(&tags)[0].data[5..],
        avcc_slice(true, 200, 5)[..]
    );
    assert_eq!(d.stats().error_packets, 1);
    assert_eq!(d.stats().discontinuities, 0);
}
