//! AMF0 (RTMP commands and `onMetaData`): decoding, and re-encoding what decoded.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamhall_media::rtmp::fuzz::amf0(data));
