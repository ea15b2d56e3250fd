//! FLV: tags as they come out of the RTMP ingest and go into ffmpeg's stdin, codec info
//! from sequence headers ([`parse_avc_sequence_header`], [`parse_aac_sequence_header`]), and
//! rolling ingest statistics ([`IngestStats`]).

mod codec;
mod mux;
mod stats;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

pub use codec::{AudioInfo, VideoInfo, parse_aac_sequence_header, parse_avc_sequence_header};
pub use mux::{
    AvccAccessUnit, aac_audio_specific_config, aac_frame, aac_sequence_header, annexb_to_avcc,
    avc_frame, avc_record_from_parameter_sets, avc_sequence_header,
};
pub use stats::{IngestSnapshot, IngestStats};

/// Why a sequence header could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    #[error("tag data ends early")]
    Truncated,
    #[error("not an AVC sequence header")]
    NotAvcSequenceHeader,
    #[error("not an AAC sequence header")]
    NotAacSequenceHeader,
    #[error("no SPS in the AVC decoder configuration record")]
    NoSps,
    #[error("malformed SPS: {0}")]
    BadSps(&'static str),
    #[error("malformed AAC AudioSpecificConfig: {0}")]
    BadAudioConfig(&'static str),
}

/// The three kinds of FLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TagKind {
    Audio,
    Video,
    Script,
}

impl TagKind {
    /// The FLV `TagType` byte.
    pub fn type_byte(self) -> u8 {
        match self {
            TagKind::Audio => 8,
            TagKind::Video => 9,
            TagKind::Script => 18,
        }
    }
}

/// One FLV tag: the tag body exactly as RTMP carries it (audio/video tag header included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub kind: TagKind,
    pub timestamp_ms: u32,
    pub data: Bytes,
}

/// Largest tag body FLV can describe (24-bit DataSize).
pub const MAX_TAG_DATA_LEN: usize = 0xFF_FFFF;

const SOUND_FORMAT_AAC: u8 = 10;
const VIDEO_CODEC_AVC: u8 = 7;

impl FlvTag {
    /// Appends the tag (11-byte header, body, PreviousTagSize) to `out`.
    ///
    /// A body longer than [`MAX_TAG_DATA_LEN`] cannot be described by FLV and is cut to that
    /// length; tags from the RTMP ingest never are (the 24-bit RTMP message length bounds them).
    pub fn encode(&self, out: &mut BytesMut) {
        let data = &self.data[..self.data.len().min(MAX_TAG_DATA_LEN)];
        // Lossless: bounded by MAX_TAG_DATA_LEN above.
        let len = data.len() as u32;
        out.reserve(11 + data.len() + 4);
        out.put_u8(self.kind.type_byte());
        put_u24(out, len);
        put_u24(out, self.timestamp_ms & 0xFF_FFFF);
        out.put_u8((self.timestamp_ms >> 24) as u8);
        put_u24(out, 0);
        out.put_slice(data);
        out.put_u32(11 + len);
    }

    /// A video frame that can start decoding (frame type 1), not counting sequence headers and
    /// end-of-sequence markers. Understands the legacy AVC header and the Enhanced RTMP one.
    pub fn is_video_keyframe(&self) -> bool {
        match self.video_header() {
            Some(h) => h.frame_type == 1 && h.is_coded_frame,
            None => false,
        }
    }

    /// An AVC/Enhanced-RTMP video sequence header or an AAC AudioSpecificConfig.
    pub fn is_sequence_header(&self) -> bool {
        match self.kind {
            TagKind::Video => self.video_header().is_some_and(|h| h.is_sequence_header),
            TagKind::Audio => {
                self.data.len() >= 2 && self.data[0] >> 4 == SOUND_FORMAT_AAC && self.data[1] == 0
            }
            TagKind::Script => false,
        }
    }

    /// A video tag that carries a picture (not a sequence header or end of sequence).
    pub(crate) fn is_video_frame(&self) -> bool {
        self.video_header().is_some_and(|h| h.is_coded_frame)
    }

    /// An audio tag that carries samples (not an AAC sequence header).
    pub(crate) fn is_audio_frame(&self) -> bool {
        self.kind == TagKind::Audio && !self.data.is_empty() && !self.is_sequence_header()
    }

    fn video_header(&self) -> Option<VideoHeader> {
        if self.kind != TagKind::Video {
            return None;
        }
        let first = *self.data.first()?;
        if first & 0x80 != 0 {
            // Enhanced RTMP: IsExHeader | FrameType(3) | PacketType(4), then a FourCC.
            let packet_type = first & 0x0F;
            return Some(VideoHeader {
                frame_type: (first >> 4) & 0x07,
                // 0 SequenceStart, 1 CodedFrames, 2 SequenceEnd, 3 CodedFramesX, 5 MPEG2TSSequenceStart.
                is_sequence_header: packet_type == 0 || packet_type == 5,
                is_coded_frame: packet_type == 1 || packet_type == 3,
            });
        }
        let frame_type = first >> 4;
        let codec = first & 0x0F;
        if codec == VIDEO_CODEC_AVC || codec == 12 {
            // AVC (and the de-facto HEVC id 12): AVCPacketType 0 header, 1 NALUs, 2 end.
            let packet_type = *self.data.get(1)?;
            return Some(VideoHeader {
                frame_type,
                is_sequence_header: packet_type == 0,
                is_coded_frame: packet_type == 1,
            });
        }
        // Frame type 5 is "video info/command frame", not a picture.
        Some(VideoHeader {
            frame_type,
            is_sequence_header: false,
            is_coded_frame: frame_type != 5,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct VideoHeader {
    frame_type: u8,
    is_sequence_header: bool,
    is_coded_frame: bool,
}

fn put_u24(out: &mut BytesMut, v: u32) {
    out.put_u8((v >> 16) as u8);
    out.put_u8((v >> 8) as u8);
    out.put_u8(v as u8);
}

/// The 9-byte FLV version 1 file header followed by PreviousTagSize0 (four zero bytes).
pub fn file_header(has_audio: bool, has_video: bool) -> Bytes {
    let mut flags = 0u8;
    if has_audio {
        flags |= 0x04;
    }
    if has_video {
        flags |= 0x01;
    }
    let mut out = BytesMut::with_capacity(13);
    out.put_slice(b"FLV");
    out.put_u8(1);
    out.put_u8(flags);
    out.put_u32(9);
    out.put_u32(0);
    out.freeze()
}

/// What the encoder announced in `@setDataFrame`/`onMetaData`. Encoders fill in what they like,
/// so every field is optional and advisory; [`IngestStats`] measures the real values.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamMetadata {
    pub width: Option<f64>,
    pub height: Option<f64>,
    pub framerate: Option<f64>,
    pub video_bitrate_kbps: Option<f64>,
    pub audio_bitrate_kbps: Option<f64>,
    pub encoder: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn file_header_bytes() {
        assert_eq!(
            &file_header(true, true)[..],
            b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"
        );
        assert_eq!(
            &file_header(false, true)[..],
            b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00"
        );
        assert_eq!(
            &file_header(true, false)[..],
            b"FLV\x01\x04\x00\x00\x00\x09\x00\x00\x00\x00"
        );
    }

    #[test]
    fn tag_encoding_bytes() {
        let tag = FlvTag {
            kind: TagKind::Video,
            timestamp_ms: 0x1234_5678,
            data: Bytes::from_static(&[0x27, 0x01, 0, 0, 0, 0xAA]),
        };
        let mut out = BytesMut::new();
        tag.encode(&mut out);
        assert_eq!(
            &out[..],
            &[
                9, 0, 0, 6, // type, DataSize
                0x34, 0x56, 0x78, 0x12, // Timestamp (lower 24 bits), TimestampExtended
                0, 0, 0, // StreamID
                0x27, 0x01, 0, 0, 0, 0xAA, // body
                0, 0, 0, 17, // PreviousTagSize = 11 + 6
            ]
        );

        let audio = FlvTag {
            kind: TagKind::Audio,
            timestamp_ms: 40,
            data: Bytes::from_static(b"\xAF\x01x"),
        };
        let mut out = BytesMut::new();
        audio.encode(&mut out);
        assert_eq!(
            &out[..],
            &[8, 0, 0, 3, 0, 0, 40, 0, 0, 0, 0, 0xAF, 1, b'x', 0, 0, 0, 14]
        );
    }

    fn video(data: &'static [u8]) -> FlvTag {
        FlvTag {
            kind: TagKind::Video,
            timestamp_ms: 0,
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn keyframe_and_sequence_header_flags() {
        let seq = video(&[0x17, 0x00, 0, 0, 0, 1]);
        assert!(seq.is_sequence_header());
        assert!(!seq.is_video_keyframe());
        assert!(!seq.is_video_frame());

        let key = video(&[0x17, 0x01, 0, 0, 0, 0]);
        assert!(key.is_video_keyframe());
        assert!(!key.is_sequence_header());
        assert!(key.is_video_frame());

        let inter = video(&[0x27, 0x01, 0, 0, 0, 0]);
        assert!(!inter.is_video_keyframe());
        assert!(inter.is_video_frame());

        // Enhanced RTMP: IsExHeader, keyframe, CodedFrames, 'hvc1'.
        let ex_key = video(&[0x80 | 0x10 | 0x01, b'h', b'v', b'c', b'1']);
        assert!(ex_key.is_video_keyframe());
        let ex_seq = video(&[0x80 | 0x10, b'h', b'v', b'c', b'1']);
        assert!(ex_seq.is_sequence_header());
        assert!(!ex_seq.is_video_keyframe());

        let aac_seq = FlvTag {
            kind: TagKind::Audio,
            timestamp_ms: 0,
            data: Bytes::from_static(&[0xAF, 0, 0x11, 0x90]),
        };
        assert!(aac_seq.is_sequence_header());
        assert!(!aac_seq.is_audio_frame());
        let aac_raw = FlvTag {
            kind: TagKind::Audio,
            timestamp_ms: 0,
            data: Bytes::from_static(&[0xAF, 1, 0x21]),
        };
        assert!(!aac_raw.is_sequence_header());
        assert!(aac_raw.is_audio_frame());

        assert!(!video(&[]).is_video_keyframe());
        assert!(!video(&[0x17]).is_sequence_header());
    }
}
