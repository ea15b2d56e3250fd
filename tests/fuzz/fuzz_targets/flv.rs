//! FLV tags as the ingest hands them on: the first byte picks the tag kind, the rest is the
//! tag body. Classification, encoding, the AVC/AAC sequence headers and Annex B conversion.
#![no_main]

use bytes::{Bytes, BytesMut};
use streamhall_media::flv::{self, FlvTag, TagKind};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let kind = match kind % 3 {
        0 => TagKind::Audio,
        1 => TagKind::Video,
        _ => TagKind::Script,
    };
    let tag = FlvTag {
        kind,
        timestamp_ms: u32::from(kind as u8) << 24,
        data: Bytes::copy_from_slice(body),
    };
    let _ = tag.is_video_keyframe();
    let _ = tag.is_sequence_header();
    let mut out = BytesMut::new();
    tag.encode(&mut out);
    assert_eq!(out.len(), 11 + body.len().min(flv::MAX_TAG_DATA_LEN) + 4);
    if let Ok(v) = flv::parse_avc_sequence_header(body) {
        assert!(v.codec.starts_with("avc1."));
    }
    if let Ok(a) = flv::parse_aac_sequence_header(body) {
        assert!(a.codec.starts_with("mp4a.40."));
    }
    let au = flv::annexb_to_avcc(body);
    assert!(au.data.len() <= body.len() + 4 * (body.len() / 3 + 1));
    let _ = flv::avc_record_from_parameter_sets(&au.sps, &au.pps);
});
