//! ffmpeg's fragmented MP4 stream: top-level boxes, `moov` (parse_init) and `moof`
//! (parse_fragment), fed in two pieces split where the first byte says.
#![no_main]

use streamhall_media::fmp4::Fmp4Reader;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (a, b) = rest.split_at(usize::from(split).min(rest.len()));
    let mut reader = Fmp4Reader::new();
    if reader.push(a).is_ok() {
        let _ = reader.push(b);
    }
    let _ = streamhall_media::fmp4::parse_init(rest);
});
