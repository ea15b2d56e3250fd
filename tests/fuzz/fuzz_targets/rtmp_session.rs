//! A whole RTMP connection after a valid handshake: chunks, control messages, commands,
//! publish, metadata and media.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streamhall_media::rtmp::fuzz::session(data));
