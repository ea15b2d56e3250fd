//! The RTMP handshake, server side.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamhall_media::rtmp::fuzz::handshake(data));
