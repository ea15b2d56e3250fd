//! Codec info from sequence headers: AVCDecoderConfigurationRecord -> SPS, and AAC
//! AudioSpecificConfig. Every read is bounds-checked: hostile headers give an error.

use serde::Serialize;

use super::{FlvError, SOUND_FORMAT_AAC, VIDEO_CODEC_AVC};

/// The video codec of a stream, as HLS playlists and browsers name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct VideoInfo {
    /// RFC 6381, e.g. `avc1.64001f`.
    pub codec: String,
    /// Display size, after SPS frame cropping.
    pub width: u32,
    pub height: u32,
}

/// The audio codec of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct AudioInfo {
    /// RFC 6381, e.g. `mp4a.40.2` (AAC-LC).
    pub codec: String,
    pub sample_rate: u32,
    /// 0 when the AAC config defers the layout to a program config element.
    pub channels: u8,
}

/// Parses an FLV video tag body holding an AVC sequence header (`0x17 0x00 ...`).
pub fn parse_avc_sequence_header(tag_data: &[u8]) -> Result<VideoInfo, FlvError> {
    if tag_data.len() < 5 || tag_data[0] & 0x0F != VIDEO_CODEC_AVC || tag_data[1] != 0 {
        return Err(FlvError::NotAvcSequenceHeader);
    }
    let record = &tag_data[5..];
    // configurationVersion, profile, compatibility, level, lengthSizeMinusOne, numOfSPS.
    if record.len() < 6 {
        return Err(FlvError::Truncated);
    }
    if record[5] & 0x1F == 0 {
        return Err(FlvError::NoSps);
    }
    let sps_len = usize::from(u16::from_be_bytes([
        *record.get(6).ok_or(FlvError::Truncated)?,
        *record.get(7).ok_or(FlvError::Truncated)?,
    ]));
    let sps = record.get(8..8 + sps_len).ok_or(FlvError::Truncated)?;
    let parsed = parse_sps(sps)?;
    Ok(VideoInfo {
        codec: format!(
            "avc1.{:02x}{:02x}{:02x}",
            parsed.profile_idc, parsed.constraints, parsed.level_idc
        ),
        width: parsed.width,
        height: parsed.height,
    })
}

#[derive(Debug, PartialEq, Eq)]
struct Sps {
    profile_idc: u8,
    constraints: u8,
    level_idc: u8,
    width: u32,
    height: u32,
}

/// H.264 7.3.2.1.1, up to the frame cropping fields.
fn parse_sps(nal: &[u8]) -> Result<Sps, FlvError> {
    let (&header, body) = nal.split_first().ok_or(FlvError::Truncated)?;
    if header & 0x1F != 7 {
        return Err(FlvError::BadSps("not an SPS NAL unit"));
    }
    let rbsp = strip_emulation_prevention(body);
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)? as u8;
    let constraints = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc > 3 {
            return Err(FlvError::BadSps("chroma_format_idc"));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?; // delta_pic_order_always_zero_flag
            r.se()?; // offset_for_non_ref_pic
            r.se()?; // offset_for_top_to_bottom_field
            let cycle = r.ue()?;
            if cycle > 255 {
                return Err(FlvError::BadSps("num_ref_frames_in_pic_order_cnt_cycle"));
            }
            for _ in 0..cycle {
                r.se()?;
            }
        }
        2 => {}
        _ => return Err(FlvError::BadSps("pic_order_cnt_type")),
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        crop_left = r.ue()?.into();
        crop_right = r.ue()?.into();
        crop_top = r.ue()?.into();
        crop_bottom = r.ue()?.into();
    }
    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let (crop_unit_x, crop_unit_y) = if separate_colour_plane || chroma_format_idc == 0 {
        (1, field_factor)
    } else {
        let sub_width = if chroma_format_idc == 3 { 1 } else { 2 };
        let sub_height = if chroma_format_idc == 1 { 2 } else { 1 };
        (sub_width, sub_height * field_factor)
    };
    let coded_width = width_mbs * 16;
    let coded_height = field_factor * height_map_units * 16;
    let width = coded_width
        .checked_sub(crop_unit_x * (crop_left + crop_right))
        .ok_or(FlvError::BadSps("cropping wider than the picture"))?;
    let height = coded_height
        .checked_sub(crop_unit_y * (crop_top + crop_bottom))
        .ok_or(FlvError::BadSps("cropping taller than the picture"))?;
    Ok(Sps {
        profile_idc,
        constraints,
        level_idc,
        width: u32::try_from(width).map_err(|_| FlvError::BadSps("width"))?,
        height: u32::try_from(height).map_err(|_| FlvError::BadSps("height"))?,
    })
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), FlvError> {
    let mut last = 8i64;
    let mut next = 8i64;
    for _ in 0..size {
        if next != 0 {
            let delta = i64::from(r.se()?);
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// Removes the `0x03` in every `00 00 03` sequence.
fn strip_emulation_prevention(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Result<bool, FlvError> {
        let byte = *self.data.get(self.pos / 8).ok_or(FlvError::Truncated)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Up to 32 bits, most significant first.
    fn bits(&mut self, n: u32) -> Result<u32, FlvError> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit()?);
        }
        Ok(v)
    }

    /// Exp-Golomb unsigned; values needing more than 32 bits are malformed.
    fn ue(&mut self) -> Result<u32, FlvError> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(FlvError::BadSps("exp-Golomb code too long"));
            }
        }
        let rest = u64::from(self.bits(zeros)?);
        u32::try_from((1u64 << zeros) - 1 + rest)
            .map_err(|_| FlvError::BadSps("exp-Golomb overflow"))
    }

    fn se(&mut self) -> Result<i32, FlvError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).map_err(|_| FlvError::BadSps("exp-Golomb overflow"))
    }
}

const AAC_SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Parses an FLV audio tag body holding an AAC sequence header (`0xAF 0x00 ASC...`).
pub fn parse_aac_sequence_header(tag_data: &[u8]) -> Result<AudioInfo, FlvError> {
    if tag_data.len() < 2 || tag_data[0] >> 4 != SOUND_FORMAT_AAC || tag_data[1] != 0 {
        return Err(FlvError::NotAacSequenceHeader);
    }
    let mut r = BitReader::new(&tag_data[2..]);
    let mut object_type = r.bits(5)?;
    if object_type == 31 {
        object_type = 32 + r.bits(6)?;
    }
    if object_type == 0 {
        return Err(FlvError::BadAudioConfig("audio object type 0"));
    }
    let index = r.bits(4)?;
    let sample_rate = if index == 15 {
        r.bits(24)?
    } else {
        *AAC_SAMPLE_RATES
            .get(index as usize)
            .ok_or(FlvError::BadAudioConfig(
                "reserved sampling frequency index",
            ))?
    };
    let channels = match r.bits(4)? {
        7 => 8,
        c @ 0..=6 => c as u8,
        _ => return Err(FlvError::BadAudioConfig("reserved channel configuration")),
    };
    Ok(AudioInfo {
        codec: format!("mp4a.40.{object_type}"),
        sample_rate,
        channels,
    })
}

/// Codec info for non-AAC audio, from the FLV audio tag header alone.
pub(crate) fn audio_info_from_tag_header(tag_data: &[u8]) -> Option<AudioInfo> {
    let first = *tag_data.first()?;
    let rate = match (first >> 2) & 3 {
        0 => 5512,
        1 => 11025,
        2 => 22050,
        _ => 44100,
    };
    let channels = if first & 1 == 1 { 2 } else { 1 };
    let codec = match first >> 4 {
        2 | 14 => "mp4a.6b",
        _ => return None,
    };
    Some(AudioInfo {
        codec: codec.to_owned(),
        sample_rate: rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Sequence headers as libx264 writes them into FLV (ffmpeg testsrc2 encodes).
    const X264_720P_BASELINE: &str =
        "17000000000142c01fffe100176742c01fda014016ec0440000003004000000f03c60ca801000468ce0fc8";
    const X264_720P_HIGH: &str = "17000000000164001fffe1001a6764001facd9405005bb0110000003001000000303c0f183196001000468ef8fcbfdf8f800";
    // 1920x1080 is coded as 1920x1088 with 8 lines cropped at the bottom.
    const X264_1080P_HIGH: &str = "170000000001640028ffe1001b67640028acd940780227e5c044000003000400000300f03c60c65801000468ef8fcbfdf8f800";
    const X264_1080P_BASELINE: &str = "17000000000142c028ffe100196742c028da01e0089f97011000000300100000030320f1832a01000468ce0fc8";

    #[test]
    fn sps_of_real_720p_headers() {
        let info = parse_avc_sequence_header(&hex(X264_720P_HIGH)).unwrap();
        assert_eq!(
            info,
            VideoInfo {
                codec: "avc1.64001f".into(),
                width: 1280,
                height: 720
            }
        );
        let info = parse_avc_sequence_header(&hex(X264_720P_BASELINE)).unwrap();
        assert_eq!(
            info,
            VideoInfo {
                codec: "avc1.42c01f".into(),
                width: 1280,
                height: 720
            }
        );
    }

    #[test]
    fn sps_of_real_cropped_1080p_headers() {
        let info = parse_avc_sequence_header(&hex(X264_1080P_HIGH)).unwrap();
        assert_eq!(
            info,
            VideoInfo {
                codec: "avc1.640028".into(),
                width: 1920,
                height: 1080
            }
        );
        let info = parse_avc_sequence_header(&hex(X264_1080P_BASELINE)).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
    }

    #[test]
    fn truncated_or_foreign_avc_headers_are_errors() {
        let full = hex(X264_1080P_HIGH);
        // The SPS ends at byte 5 + 8 + 27: every shorter prefix is an error, none panics.
        for len in 0..40 {
            assert!(
                parse_avc_sequence_header(&full[..len]).is_err(),
                "prefix {len} parsed"
            );
        }
        for len in 40..full.len() {
            assert!(parse_avc_sequence_header(&full[..len]).is_ok());
        }
        assert_eq!(
            parse_avc_sequence_header(&[0x17, 0x01, 0, 0, 0]),
            Err(FlvError::NotAvcSequenceHeader)
        );
        assert_eq!(
            parse_avc_sequence_header(&[0x12, 0x00, 0, 0, 0]),
            Err(FlvError::NotAvcSequenceHeader)
        );
        // No SPS at all.
        assert_eq!(
            parse_avc_sequence_header(&hex("1700000000016400280fe0")),
            Err(FlvError::NoSps)
        );
        // An exp-Golomb run of zeros longer than 32 bits.
        let bad = hex("1700000000016400280fe1000b6764002800000000000000");
        assert!(parse_avc_sequence_header(&bad).is_err());
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(
            strip_emulation_prevention(&[0, 0, 3, 1, 0, 0, 3, 0, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 0]
        );
    }

    #[test]
    fn aac_configs() {
        // AAC-LC, 48 kHz (index 3), stereo: 00010 0011 0010 -> 0x11 0x90.
        let info = parse_aac_sequence_header(&[0xAF, 0x00, 0x11, 0x90]).unwrap();
        assert_eq!(
            info,
            AudioInfo {
                codec: "mp4a.40.2".into(),
                sample_rate: 48000,
                channels: 2
            }
        );
        // What ffmpeg's aac encoder wrote for a mono 48 kHz and a mono 44.1 kHz sine.
        let info = parse_aac_sequence_header(&hex("af00118856e500")).unwrap();
        assert_eq!(
            info,
            AudioInfo {
                codec: "mp4a.40.2".into(),
                sample_rate: 48000,
                channels: 1
            }
        );
        let info = parse_aac_sequence_header(&hex("af00120856e500")).unwrap();
        assert_eq!(
            info,
            AudioInfo {
                codec: "mp4a.40.2".into(),
                sample_rate: 44100,
                channels: 1
            }
        );
        // HE-AAC (object type 5), 24 kHz, stereo.
        let info = parse_aac_sequence_header(&[0xAF, 0x00, 0x2B, 0x10]).unwrap();
        assert_eq!(info.codec, "mp4a.40.5");
        assert_eq!(info.sample_rate, 24000);
        // Explicit 24-bit sample rate (index 15).
        let info = parse_aac_sequence_header(&[0xAF, 0x00, 0x17, 0x80, 0x5D, 0xC0, 0x10]).unwrap();
        assert_eq!((info.sample_rate, info.channels), (48000, 2));

        assert_eq!(
            parse_aac_sequence_header(&[0xAF, 0x01, 0x11, 0x90]),
            Err(FlvError::NotAacSequenceHeader)
        );
        assert_eq!(
            parse_aac_sequence_header(&[0x2F, 0x00, 0x11, 0x90]),
            Err(FlvError::NotAacSequenceHeader)
        );
        assert_eq!(
            parse_aac_sequence_header(&[0xAF, 0x00, 0x11]),
            Err(FlvError::Truncated)
        );
        // Sampling frequency index 13 and channel configuration 8 are reserved.
        assert!(parse_aac_sequence_header(&[0xAF, 0x00, 0x16, 0x90]).is_err());
        assert!(parse_aac_sequence_header(&[0xAF, 0x00, 0x11, 0xC0]).is_err());
    }
}
