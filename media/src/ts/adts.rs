//! ADTS (ISO 14496-3 1.A.2): the self-framing AAC syntax MPEG-TS carries (stream_type 0x0F).
//! Each frame has a 7-byte header (9 with a CRC) and, as encoders write it for TS, one
//! raw_data_block of 1024 samples.

/// Sampling frequencies by samplingFrequencyIndex; 13 and 14 are reserved, 15 is not allowed
/// in ADTS.
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Samples in one AAC raw_data_block.
pub(super) const SAMPLES_PER_FRAME: u64 = 1024;

/// The fields of an ADTS header that matter for FLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AdtsHeader {
    /// MPEG-4 audio object type: the ADTS profile + 1 (2 = AAC-LC).
    pub(super) object_type: u8,
    pub(super) sampling_index: u8,
    pub(super) sample_rate: u32,
    /// 0 means the layout is in a program config element inside the raw data.
    pub(super) channel_config: u8,
    /// Header length: 7, or 9 with the CRC (protection_absent = 0).
    pub(super) header_len: usize,
    /// The whole frame, header included.
    pub(super) frame_len: usize,
    /// number_of_raw_data_blocks_in_frame + 1. FLV wants one block per tag; encoders writing
    /// TS put one in each frame.
    pub(super) raw_blocks: u8,
}

/// Why ADTS data cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AdtsError {
    /// No 0xFFF syncword or layer not 0: not ADTS, or we lost the frame boundary.
    NoSync,
    /// The frame is longer than the bytes left.
    Truncated,
    /// A reserved sampling frequency index or a frame length shorter than its header.
    Malformed,
}

impl AdtsHeader {
    /// Parses the header at the start of `data` and checks that the whole frame is there.
    pub(super) fn parse(data: &[u8]) -> Result<AdtsHeader, AdtsError> {
        if data.len() < 7 {
            return Err(if data.is_empty() || data[0] == 0xFF {
                AdtsError::Truncated
            } else {
                AdtsError::NoSync
            });
        }
        // syncword (12) ID (1) layer (2) protection_absent (1)
        if data[0] != 0xFF || data[1] & 0xF6 != 0xF0 {
            return Err(AdtsError::NoSync);
        }
        let protection_absent = data[1] & 0x01 != 0;
        // profile (2) sampling_frequency_index (4) private_bit (1) channel_configuration (3)
        // original_copy (1) home (1) copyright bits (2) aac_frame_length (13)
        // adts_buffer_fullness (11) number_of_raw_data_blocks_in_frame (2)
        let profile = data[2] >> 6;
        let sampling_index = (data[2] >> 2) & 0x0F;
        let channel_config = ((data[2] & 0x01) << 2) | (data[3] >> 6);
        let frame_len = (usize::from(data[3] & 0x03) << 11)
            | (usize::from(data[4]) << 3)
            | usize::from(data[5] >> 5);
        let blocks = data[6] & 0x03;
        let header_len = if protection_absent { 7 } else { 9 };
        let sample_rate = *SAMPLE_RATES
            .get(usize::from(sampling_index))
            .ok_or(AdtsError::Malformed)?;
        if frame_len < header_len {
            return Err(AdtsError::Malformed);
        }
        if data.len() < frame_len {
            return Err(AdtsError::Truncated);
        }
        Ok(AdtsHeader {
            object_type: profile + 1,
            sampling_index,
            sample_rate,
            channel_config,
            header_len,
            frame_len,
            raw_blocks: blocks + 1,
        })
    }
}

#[cfg(test)]
pub(super) fn adts_frame(
    profile: u8,
    sampling_index: u8,
    channels: u8,
    crc: bool,
    raw: &[u8],
) -> Vec<u8> {
    let header_len = if crc { 9 } else { 7 };
    let len = header_len + raw.len();
    let mut out = vec![
        0xFF,
        0xF0 | u8::from(!crc),
        (profile << 6) | (sampling_index << 2) | (channels >> 2),
        ((channels & 3) << 6) | ((len >> 11) as u8 & 0x03),
        (len >> 3) as u8,
        ((len as u8 & 0x07) << 5) | 0x1F,
        0xFC,
    ];
    if crc {
        out.extend_from_slice(&[0x12, 0x34]);
    }
    out.extend_from_slice(raw);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn header_fields() {
        // What ffmpeg's aac encoder writes: AAC-LC (profile 1), 44.1 kHz, stereo, no CRC.
        let frame = adts_frame(1, 4, 2, false, &[0x21, 0x10, 0x05]);
        let h = AdtsHeader::parse(&frame).unwrap();
        assert_eq!(
            h,
            AdtsHeader {
                object_type: 2,
                sampling_index: 4,
                sample_rate: 44100,
                channel_config: 2,
                header_len: 7,
                frame_len: 10,
                raw_blocks: 1,
            }
        );
        // Six channels use the bit that straddles bytes 2 and 3; a CRC makes the header 9.
        let frame = adts_frame(1, 3, 6, true, &[0; 300]);
        let h = AdtsHeader::parse(&frame).unwrap();
        assert_eq!(
            (h.channel_config, h.header_len, h.frame_len, h.sample_rate),
            (6, 9, 309, 48000)
        );
    }

    #[test]
    fn bad_headers() {
        let frame = adts_frame(1, 4, 2, false, &[1, 2, 3]);
        assert_eq!(AdtsHeader::parse(&frame[..9]), Err(AdtsError::Truncated));
        assert_eq!(AdtsHeader::parse(&frame[..3]), Err(AdtsError::Truncated));
        assert_eq!(AdtsHeader::parse(&[0x47; 10]), Err(AdtsError::NoSync));
        let mut layer = frame.clone();
        layer[1] |= 0x02;
        assert_eq!(AdtsHeader::parse(&layer), Err(AdtsError::NoSync));
        let reserved_rate = adts_frame(1, 13, 2, false, &[1]);
        assert_eq!(AdtsHeader::parse(&reserved_rate), Err(AdtsError::Malformed));
        let mut blocks = frame.clone();
        blocks[6] |= 0x01;
        assert_eq!(AdtsHeader::parse(&blocks).unwrap().raw_blocks, 2);
        let mut short = frame;
        short[4] = 0;
        short[5] &= 0x1F; // frame length 0
        assert_eq!(AdtsHeader::parse(&short), Err(AdtsError::Malformed));
    }
}
