//! The RTMP chunk stream: reassembly under caps, the same whatever the read sizes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamhall_media::rtmp::fuzz::chunk_stream(data));
