//! The MPEG-TS demuxer behind the SRT ingest, fed in pushes of a size the first byte picks.
#![no_main]

use streamhall_media::ts::TsDemuxer;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let mut demux = TsDemuxer::new();
    let mut out = Vec::new();
    for push in rest.chunks(usize::from(step) * 8 + 1) {
        let _ = demux.push(push, &mut out);
    }
    demux.finish(&mut out);
});
