//! Building FLV tags from elementary streams, for ingests that do not speak RTMP: the SRT
//! ingest (MPEG-TS demuxed by [`crate::ts`]) and the RTSP puller (AVCC frames from `retina`).
//! Every tag comes out byte for byte as an RTMP encoder would send it, so the rest of the
//! pipeline ([`FlvTag::encode`] into ffmpeg, [`super::parse_avc_sequence_header`]) cannot tell.
//!
//! - H.264: [`avc_sequence_header`] around an AVCDecoderConfigurationRecord (ISO 14496-15
//!   5.3.3.1, built by [`avc_record_from_parameter_sets`]) and [`avc_frame`] around
//!   4-byte length-prefixed NAL units ([`annexb_to_avcc`] converts a start-code stream).
//! - AAC: [`aac_sequence_header`] around the AudioSpecificConfig and [`aac_frame`] around one
//!   raw_data_block.

use bytes::{BufMut, BytesMut};

use super::{FlvError, FlvTag, SOUND_FORMAT_AAC, TagKind, VIDEO_CODEC_AVC};

/// FrameType 1 (keyframe) in the high nibble of the video tag header.
const FRAME_KEY: u8 = 0x10;
/// FrameType 2 (inter frame).
const FRAME_INTER: u8 = 0x20;
const AVC_PACKET_SEQUENCE_HEADER: u8 = 0;
const AVC_PACKET_NALU: u8 = 1;

/// SoundFormat AAC, then the flags FLV requires for AAC whatever the real stream is:
/// 44 kHz (3), 16-bit (1), stereo (1). The AudioSpecificConfig says what the stream really is.
const AAC_TAG_HEADER: u8 = (SOUND_FORMAT_AAC << 4) | (3 << 2) | (1 << 1) | 1;
const AAC_PACKET_SEQUENCE_HEADER: u8 = 0;
const AAC_PACKET_RAW: u8 = 1;

/// NAL unit types that [`annexb_to_avcc`] handles specially (H.264 table 7-1).
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

/// An AVC sequence header tag (`0x17 0x00`, composition time 0) carrying `avcc_record`.
pub fn avc_sequence_header(avcc_record: &[u8], timestamp_ms: u32) -> FlvTag {
    video_tag(
        FRAME_KEY | VIDEO_CODEC_AVC,
        AVC_PACKET_SEQUENCE_HEADER,
        0,
        avcc_record,
        timestamp_ms,
    )
}

/// An AVC video tag carrying one access unit of 4-byte length-prefixed NAL units.
///
/// `timestamp_ms` is the decode time; `cts_ms` is presentation minus decode time (B-frames),
/// clamped to FLV's signed 24-bit CompositionTime.
pub fn avc_frame(avcc_data: &[u8], keyframe: bool, timestamp_ms: u32, cts_ms: i32) -> FlvTag {
    let frame_type = if keyframe { FRAME_KEY } else { FRAME_INTER };
    video_tag(
        frame_type | VIDEO_CODEC_AVC,
        AVC_PACKET_NALU,
        cts_ms,
        avcc_data,
        timestamp_ms,
    )
}

fn video_tag(first: u8, packet_type: u8, cts_ms: i32, body: &[u8], timestamp_ms: u32) -> FlvTag {
    let cts = cts_ms.clamp(-0x80_0000, 0x7F_FFFF);
    let mut data = BytesMut::with_capacity(5 + body.len());
    data.put_u8(first);
    data.put_u8(packet_type);
    // Two's complement in 24 bits: the low three bytes of the i32.
    data.put_slice(&cts.to_be_bytes()[1..]);
    data.put_slice(body);
    FlvTag {
        kind: TagKind::Video,
        timestamp_ms,
        data: data.freeze(),
    }
}

/// An AAC sequence header tag (`0xAF 0x00`) carrying the AudioSpecificConfig `asc`.
pub fn aac_sequence_header(asc: &[u8], timestamp_ms: u32) -> FlvTag {
    audio_tag(AAC_PACKET_SEQUENCE_HEADER, asc, timestamp_ms)
}

/// An AAC audio tag (`0xAF 0x01`) carrying one raw AAC frame (no ADTS header).
pub fn aac_frame(raw: &[u8], timestamp_ms: u32) -> FlvTag {
    audio_tag(AAC_PACKET_RAW, raw, timestamp_ms)
}

fn audio_tag(packet_type: u8, body: &[u8], timestamp_ms: u32) -> FlvTag {
    let mut data = BytesMut::with_capacity(2 + body.len());
    data.put_u8(AAC_TAG_HEADER);
    data.put_u8(packet_type);
    data.put_slice(body);
    FlvTag {
        kind: TagKind::Audio,
        timestamp_ms,
        data: data.freeze(),
    }
}

/// Builds an AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1) from SPS and PPS NAL units
/// (header byte included, no start code): profile, compatibility and level are the first
/// SPS's, NAL unit lengths are 4 bytes (lengthSizeMinusOne = 3). For the High profiles the
/// record ends with chroma format and bit depths read from the SPS, as ffmpeg writes it.
///
/// FlvError has no PPS-specific variant; a missing or malformed PPS is reported as
/// [`FlvError::BadSps`] with a message saying so.
pub fn avc_record_from_parameter_sets(sps: &[&[u8]], pps: &[&[u8]]) -> Result<Vec<u8>, FlvError> {
    let first = sps.first().ok_or(FlvError::NoSps)?;
    for s in sps {
        if s.len() < 4 || s[0] & 0x1F != NAL_SPS {
            return Err(FlvError::BadSps("not an SPS NAL unit"));
        }
    }
    if pps.is_empty() {
        return Err(FlvError::BadSps("no PPS to go with the SPS"));
    }
    if pps.iter().any(|p| p.len() < 2 || p[0] & 0x1F != NAL_PPS) {
        return Err(FlvError::BadSps("not a PPS NAL unit"));
    }
    // numOfSequenceParameterSets is 5 bits, numOfPictureParameterSets 8 bits.
    if sps.len() > 31 || pps.len() > 255 {
        return Err(FlvError::BadSps("too many parameter sets"));
    }
    let extension = sps_chroma_info(first)?;

    let total: usize = sps.iter().chain(pps).map(|n| 2 + n.len()).sum();
    let mut out = Vec::with_capacity(7 + total + 4);
    out.push(1); // configurationVersion
    out.extend_from_slice(&first[1..4]); // profile, compatibility, level
    out.push(0xFC | 3); // reserved '111111', lengthSizeMinusOne
    out.push(0xE0 | sps.len() as u8); // reserved '111', numOfSequenceParameterSets
    for s in sps {
        put_parameter_set(&mut out, s)?;
    }
    out.push(pps.len() as u8);
    for p in pps {
        put_parameter_set(&mut out, p)?;
    }
    if let Some(c) = extension {
        out.push(0xFC | c.chroma_format_idc);
        out.push(0xF8 | c.bit_depth_luma_minus8);
        out.push(0xF8 | c.bit_depth_chroma_minus8);
        out.push(0); // numOfSequenceParameterSetExt
    }
    Ok(out)
}

fn put_parameter_set(out: &mut Vec<u8>, nal: &[u8]) -> Result<(), FlvError> {
    let len = u16::try_from(nal.len()).map_err(|_| FlvError::BadSps("parameter set too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(nal);
    Ok(())
}

/// The fields the record's High-profile extension repeats from the SPS.
struct ChromaInfo {
    chroma_format_idc: u8,
    bit_depth_luma_minus8: u8,
    bit_depth_chroma_minus8: u8,
}

/// H.264 7.3.2.1.1 up to bit_depth_chroma_minus8, for the profiles whose SPS carries them
/// (and whose avcC record repeats them); `None` for Baseline, Main and Extended.
fn sps_chroma_info(sps: &[u8]) -> Result<Option<ChromaInfo>, FlvError> {
    let profile_idc = sps[1];
    if !matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        return Ok(None);
    }
    // profile, constraints and level are 3 bytes; the fields we need fit in a few more.
    let rbsp = unescape_prefix(&sps[4..], 16);
    let mut r = ExpGolomb {
        data: &rbsp,
        pos: 0,
    };
    r.ue()?; // seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc > 3 {
        return Err(FlvError::BadSps("chroma_format_idc"));
    }
    if chroma_format_idc == 3 {
        r.bit()?; // separate_colour_plane_flag
    }
    let luma = r.ue()?;
    let chroma = r.ue()?;
    if luma > 6 || chroma > 6 {
        return Err(FlvError::BadSps("bit depth"));
    }
    Ok(Some(ChromaInfo {
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma_minus8: luma as u8,
        bit_depth_chroma_minus8: chroma as u8,
    }))
}

/// The first `limit` RBSP bytes of a NAL unit body (emulation prevention bytes removed).
fn unescape_prefix(data: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut zeros = 0;
    for &b in data {
        if out.len() == limit {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Just enough of a bit reader for the few exp-Golomb fields at the start of an SPS.
struct ExpGolomb<'a> {
    data: &'a [u8],
    pos: usize,
}

impl ExpGolomb<'_> {
    fn bit(&mut self) -> Result<u32, FlvError> {
        let byte = *self.data.get(self.pos / 8).ok_or(FlvError::Truncated)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(bit))
    }

    fn ue(&mut self) -> Result<u32, FlvError> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(FlvError::BadSps("exp-Golomb code too long"));
            }
        }
        let mut rest = 0u64;
        for _ in 0..zeros {
            rest = (rest << 1) | u64::from(self.bit()?);
        }
        u32::try_from((1u64 << zeros) - 1 + rest)
            .map_err(|_| FlvError::BadSps("exp-Golomb overflow"))
    }
}

/// One access unit converted by [`annexb_to_avcc`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvccAccessUnit<'a> {
    /// The NAL units with 4-byte big-endian length prefixes, without access unit delimiters
    /// and parameter sets. Empty when the access unit held nothing else.
    pub data: Vec<u8>,
    /// The access unit holds an IDR slice (NAL type 5).
    pub keyframe: bool,
    /// In-band SPS NAL units (type 7), in stream order, for the sequence header.
    pub sps: Vec<&'a [u8]>,
    /// In-band PPS NAL units (type 8), in stream order.
    pub pps: Vec<&'a [u8]>,
}

/// Splits an Annex B access unit (3- and 4-byte start codes) into NAL units and re-frames them
/// with 4-byte length prefixes. Access unit delimiters are dropped; SPS and PPS are taken out
/// of the frame body and returned on their own, since FLV carries them in the sequence header.
/// Bytes before the first start code are not a NAL unit and are ignored.
pub fn annexb_to_avcc(annexb: &[u8]) -> AvccAccessUnit<'_> {
    let mut au = AvccAccessUnit {
        data: Vec::with_capacity(annexb.len() + 16),
        ..AvccAccessUnit::default()
    };
    for nal in annexb_nal_units(annexb) {
        match nal[0] & 0x1F {
            NAL_AUD => {}
            NAL_SPS => au.sps.push(nal),
            NAL_PPS => au.pps.push(nal),
            kind => {
                au.keyframe |= kind == NAL_IDR;
                // A NAL unit longer than 4 GiB cannot be in memory next to its copy.
                au.data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                au.data.extend_from_slice(nal);
            }
        }
    }
    au
}

/// The non-empty NAL units of an Annex B stream, without start codes or trailing zero bytes
/// (a NAL unit never ends in 0x00, so trailing zeros belong to the next start code).
fn annexb_nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = match find_start_code(data) {
        Some((_, end)) => &data[end..],
        None => &data[data.len()..],
    };
    std::iter::from_fn(move || {
        while !rest.is_empty() {
            let (nal, next) = match find_start_code(rest) {
                Some((start, end)) => (&rest[..start], &rest[end..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let trimmed = match nal.iter().rposition(|&b| b != 0) {
                Some(last) => &nal[..=last],
                None => continue,
            };
            return Some(trimmed);
        }
        None
    })
}

/// The position of the first `00 00 01` and the index just after it.
fn find_start_code(data: &[u8]) -> Option<(usize, usize)> {
    data.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|i| (i, i + 3))
}

/// The 2-byte AudioSpecificConfig (ISO 14496-3 1.6.2.1) of a plain AAC stream:
/// audioObjectType (5 bits), samplingFrequencyIndex (4), channelConfiguration (4), then
/// frameLengthFlag, dependsOnCoreCoder and extensionFlag all 0.
pub fn aac_audio_specific_config(
    object_type: u8,
    sampling_index: u8,
    channel_config: u8,
) -> [u8; 2] {
    let bits = (u16::from(object_type & 0x1F) << 11)
        | (u16::from(sampling_index & 0x0F) << 7)
        | (u16::from(channel_config & 0x0F) << 3);
    bits.to_be_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::flv::{AudioInfo, VideoInfo, parse_aac_sequence_header, parse_avc_sequence_header};

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // The SPS and PPS inside the sequence headers libx264 wrote for 720p (codec.rs tests).
    const SPS_HIGH_720P: &str = "6764001facd9405005bb0110000003001000000303c0f1831960";
    const PPS_HIGH: &str = "68ef8fcb";
    const HEADER_HIGH_720P: &str = "17000000000164001fffe1001a6764001facd9405005bb0110000003001000000303c0f183196001000468ef8fcbfdf8f800";
    const SPS_BASELINE_720P: &str = "6742c01fda014016ec0440000003004000000f03c60ca8";
    const PPS_BASELINE: &str = "68ce0fc8";
    const HEADER_BASELINE_720P: &str =
        "17000000000142c01fffe100176742c01fda014016ec0440000003004000000f03c60ca801000468ce0fc8";

    #[test]
    fn record_matches_what_ffmpeg_writes() {
        let sps = hex(SPS_HIGH_720P);
        let pps = hex(PPS_HIGH);
        let record = avc_record_from_parameter_sets(&[&sps], &[&pps]).unwrap();
        let tag = avc_sequence_header(&record, 0);
        assert_eq!(tag.data[..], hex(HEADER_HIGH_720P)[..]);

        let sps = hex(SPS_BASELINE_720P);
        let pps = hex(PPS_BASELINE);
        let record = avc_record_from_parameter_sets(&[&sps], &[&pps]).unwrap();
        let tag = avc_sequence_header(&record, 0);
        assert_eq!(tag.data[..], hex(HEADER_BASELINE_720P)[..]);
    }

    #[test]
    fn sequence_header_round_trips_through_the_parser() {
        let sps = hex(SPS_HIGH_720P);
        let pps = hex(PPS_HIGH);
        let record = avc_record_from_parameter_sets(&[&sps], &[&pps]).unwrap();
        let tag = avc_sequence_header(&record, 1234);
        assert_eq!(tag.kind, TagKind::Video);
        assert_eq!(tag.timestamp_ms, 1234);
        assert!(tag.is_sequence_header());
        assert!(!tag.is_video_keyframe());
        assert_eq!(
            parse_avc_sequence_header(&tag.data).unwrap(),
            VideoInfo {
                codec: "avc1.64001f".into(),
                width: 1280,
                height: 720
            }
        );
    }

    #[test]
    fn record_errors() {
        let sps = hex(SPS_HIGH_720P);
        let pps = hex(PPS_HIGH);
        assert_eq!(
            avc_record_from_parameter_sets(&[], &[&pps]),
            Err(FlvError::NoSps)
        );
        assert!(avc_record_from_parameter_sets(&[&sps], &[]).is_err());
        // A PPS given as the SPS, and the other way round.
        assert!(avc_record_from_parameter_sets(&[&pps], &[&sps]).is_err());
        assert!(avc_record_from_parameter_sets(&[&sps[..3]], &[&pps]).is_err());
        // High profile with the SPS cut right after the level: no chroma fields to read.
        assert!(avc_record_from_parameter_sets(&[&sps[..4]], &[&pps]).is_err());
    }

    #[test]
    fn frames_carry_keyframe_flag_and_signed_cts() {
        let key = avc_frame(&[0, 0, 0, 1, 0x65], true, 40, 80);
        assert_eq!(&key.data[..], &[0x17, 1, 0, 0, 80, 0, 0, 0, 1, 0x65]);
        assert!(key.is_video_keyframe());
        assert!(!key.is_sequence_header());
        assert_eq!(key.timestamp_ms, 40);

        let inter = avc_frame(&[0, 0, 0, 1, 0x41], false, 73, -33);
        assert_eq!(&inter.data[..5], &[0x27, 1, 0xFF, 0xFF, 0xDF]);
        assert!(!inter.is_video_keyframe());

        // Out of the 24-bit range: clamped, not wrapped.
        let far = avc_frame(&[], false, 0, 0x0100_0000);
        assert_eq!(&far.data[2..5], &[0x7F, 0xFF, 0xFF]);
        let far = avc_frame(&[], false, 0, -0x0100_0000);
        assert_eq!(&far.data[2..5], &[0x80, 0, 0]);
    }

    #[test]
    fn aac_tags_round_trip() {
        // AAC-LC (2), 44.1 kHz (index 4), stereo.
        let asc = aac_audio_specific_config(2, 4, 2);
        assert_eq!(asc, [0x12, 0x10]);
        let tag = aac_sequence_header(&asc, 0);
        assert_eq!(&tag.data[..], &[0xAF, 0, 0x12, 0x10]);
        assert!(tag.is_sequence_header());
        assert_eq!(
            parse_aac_sequence_header(&tag.data).unwrap(),
            AudioInfo {
                codec: "mp4a.40.2".into(),
                sample_rate: 44100,
                channels: 2
            }
        );
        // 48 kHz mono, as in codec.rs's ffmpeg sample.
        assert_eq!(aac_audio_specific_config(2, 3, 1), [0x11, 0x88]);

        let frame = aac_frame(&[0x21, 0x10], 23);
        assert_eq!(&frame.data[..], &[0xAF, 1, 0x21, 0x10]);
        assert_eq!(frame.kind, TagKind::Audio);
        assert_eq!(frame.timestamp_ms, 23);
        assert!(!frame.is_sequence_header());
        assert!(frame.is_audio_frame());
    }

    #[test]
    fn annexb_is_split_on_both_start_code_lengths() {
        let sps = hex(SPS_BASELINE_720P);
        let pps = hex(PPS_BASELINE);
        let mut annexb = vec![0, 0, 0, 1, 0x09, 0xF0]; // AUD
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(&sps);
        annexb.extend_from_slice(&[0, 0, 1]);
        annexb.extend_from_slice(&pps);
        annexb.extend_from_slice(&[0, 0, 1, 0x06, 0x05, 0x01, 0x80]); // SEI
        // IDR slice with an emulation prevention byte, then trailing zeros and a 4-byte code.
        annexb.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88, 0, 0, 3, 1, 0x80, 0, 0]);
        annexb.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x99]);

        let au = annexb_to_avcc(&annexb);
        assert!(au.keyframe);
        assert_eq!(au.sps, vec![&sps[..]]);
        assert_eq!(au.pps, vec![&pps[..]]);
        assert_eq!(
            au.data,
            vec![
                0, 0, 0, 4, 0x06, 0x05, 0x01, 0x80, //
                0, 0, 0, 7, 0x65, 0x88, 0, 0, 3, 1, 0x80, //
                0, 0, 0, 2, 0x65, 0x99,
            ]
        );

        let record = avc_record_from_parameter_sets(&au.sps, &au.pps).unwrap();
        let header = avc_sequence_header(&record, 0);
        assert_eq!(header.data[..], hex(HEADER_BASELINE_720P)[..]);
        let frame = avc_frame(&au.data, au.keyframe, 0, 0);
        assert!(frame.is_video_keyframe());
    }

    #[test]
    fn non_idr_and_empty_access_units() {
        let au = annexb_to_avcc(&[0xAA, 0, 0, 1, 0x41, 0x9A, 0, 0, 1, 0x09, 0x10]);
        assert!(!au.keyframe);
        assert!(au.sps.is_empty() && au.pps.is_empty());
        assert_eq!(au.data, vec![0, 0, 0, 2, 0x41, 0x9A]);

        assert_eq!(annexb_to_avcc(&[]), AvccAccessUnit::default());
        assert_eq!(annexb_to_avcc(&[0, 0, 0, 1]).data, Vec::<u8>::new());
        assert_eq!(annexb_to_avcc(&[1, 2, 3]).data, Vec::<u8>::new());
    }
}
