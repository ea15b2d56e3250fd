//! The media playlist parser (ffmpeg's HLS output, read by the watcher).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pl) = streamhall_media::hls::parse_media_playlist(text) {
        assert!(
            pl.entries
                .iter()
                .all(|e| e.duration.is_finite() && e.duration >= 0.0)
        );
    }
});
