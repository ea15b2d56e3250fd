//! What an HLS or VOD request carries: live segment names (`seg-N.ts`), recorded segment
//! object names, the `Range` header and the blocking-reload query. Only canonical names parse,
//! and they round-trip; a range is always inside the body.
#![no_main]

use streamhall_media::hls::{self, request};
use streamhall_media::vod;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let live = hls::parse_segment_name(text);
    if let Some(seq) = live {
        assert_eq!(hls::segment_name(seq), text);
    }
    let recorded = vod::parse_segment_file_name(text);
    if let Some(seg) = &recorded {
        assert_eq!(vod::segment_file_name(seg), text);
    }
    if live.is_some() || recorded.is_some() {
        assert!(!text.contains(['/', '\\', '\0', '%']) && !text.contains(".."));
    }
    // The body length comes from the text's own length, so every size gets tried.
    let len = (text.len() as u64).wrapping_mul(0x9E37_79B9) % 100_000;
    if let Some((start, end)) = request::parse_range(text, len) {
        assert!(
            start <= end && end < len,
            "{text:?} gave {start}-{end} of {len}"
        );
    }
    if let Some((msn, part)) = request::blocking_query(text) {
        assert!(part.is_none() || msn.is_some());
    }
});
