//! The recorder's playlists and gaps on hand-built segment indexes.

use super::reads::render_dvr_playlist;
use super::upload::mark_gaps;
use super::*;

fn entry(seq: u64, at: Location, disc: bool) -> Entry {
    Entry {
        seg: VodSegment {
            seq,
            duration: 1.0,
            discontinuity: disc,
        },
        pdt: SystemTime::UNIX_EPOCH + Duration::from_secs(seq),
        size: 10,
        at,
        produced: Instant::now(),
    }
}

#[test]
fn dvr_playlist_lists_the_window_with_gaps_and_discontinuities() {
    let entries = vec![
        entry(10, Location::Stored, false),
        entry(11, Location::Stored, true),
        entry(12, Location::Lost, false),
        entry(13, Location::Spool, false),
        entry(14, Location::Spool, true),
    ];
    let p = render_dvr_playlist(&entries, Duration::from_secs(3), false);
    assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:12\n"), "{p}");
    // The discontinuity before 11 is behind the window.
    assert!(p.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{p}");
    assert!(p.contains("#EXT-X-GAP\n#EXTINF:1.000,\nseg-12.ts\n"), "{p}");
    assert!(
        p.contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"),
        "{p}"
    );
    assert!(!p.contains("ENDLIST"));
    let ended = render_dvr_playlist(&entries, Duration::from_secs(60), true);
    assert!(ended.contains("#EXT-X-MEDIA-SEQUENCE:10\n"));
    assert!(ended.ends_with("#EXT-X-ENDLIST\n"));
}

#[test]
fn a_segment_after_a_dropped_one_starts_a_discontinuity_in_the_vod() {
    let entries = vec![
        entry(1, Location::Stored, false),
        entry(2, Location::Lost, false),
        entry(3, Location::Lost, false),
        entry(4, Location::Stored, false),
        entry(5, Location::Stored, false),
    ];
    assert_eq!(mark_gaps(&entries), vec![4]);
}
