//! Parsing the media playlists ffmpeg's HLS muxer writes (only what the watcher needs).

/// One `#EXTINF` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistEntry {
    pub duration: f64,
    pub uri: String,
}

/// A parsed media playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    /// `#EXT-X-MEDIA-SEQUENCE` (0 when absent): the sequence number of `entries[0]`.
    pub media_sequence: u64,
    pub target_duration: Option<u32>,
    pub entries: Vec<PlaylistEntry>,
    /// `#EXT-X-ENDLIST` seen.
    pub ended: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlaylistError {
    #[error("not an m3u8 playlist (no #EXTM3U header)")]
    NotM3u8,
    #[error("line {0}: bad {1}")]
    BadTag(usize, &'static str),
}

/// Parses a media playlist. A trailing `#EXTINF` without its URI (a playlist caught mid-write)
/// is dropped rather than reported.
pub fn parse_media_playlist(text: &str) -> Result<MediaPlaylist, PlaylistError> {
    let mut lines = text.lines().map(str::trim).enumerate();
    match lines.next() {
        Some((_, first)) if first.trim_start_matches('\u{feff}') == "#EXTM3U" => {}
        _ => return Err(PlaylistError::NotM3u8),
    }
    let mut pl = MediaPlaylist::default();
    let mut pending: Option<f64> = None;
    for (i, line) in lines {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or_default().trim();
            let d: f64 = d.parse().map_err(|_| PlaylistError::BadTag(n, "EXTINF"))?;
            if !d.is_finite() || d < 0.0 {
                return Err(PlaylistError::BadTag(n, "EXTINF"));
            }
            pending = Some(d);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            pl.media_sequence = v
                .trim()
                .parse()
                .map_err(|_| PlaylistError::BadTag(n, "EXT-X-MEDIA-SEQUENCE"))?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            pl.target_duration = Some(
                v.trim()
                    .parse()
                    .map_err(|_| PlaylistError::BadTag(n, "EXT-X-TARGETDURATION"))?,
            );
        } else if line == "#EXT-X-ENDLIST" {
            pl.ended = true;
        } else if line.starts_with('#') {
            // Other tags (VERSION, INDEPENDENT-SEGMENTS, DISCONTINUITY...) don't matter here.
        } else if let Some(duration) = pending.take() {
            pl.entries.push(PlaylistEntry {
                duration,
                uri: line.to_owned(),
            });
        }
    }
    Ok(pl)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Verbatim from ffmpeg 5.1 (`-hls_flags temp_file+independent_segments`).
    const FFMPEG: &str = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n\
        #EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXTINF:1.000000,\nseg-5.ts\n\
        #EXTINF:1.000000,\nseg-6.ts\n#EXTINF:0.033333,\nseg-7.ts\n#EXT-X-ENDLIST\n";

    #[test]
    fn parses_ffmpeg_output() {
        let pl = parse_media_playlist(FFMPEG).unwrap();
        assert_eq!(pl.media_sequence, 5);
        assert_eq!(pl.target_duration, Some(1));
        assert!(pl.ended);
        let got: Vec<_> = pl
            .entries
            .iter()
            .map(|e| (e.duration, e.uri.as_str()))
            .collect();
        assert_eq!(
            got,
            [(1.0, "seg-5.ts"), (1.0, "seg-6.ts"), (0.033333, "seg-7.ts")]
        );
    }

    #[test]
    fn live_playlist_without_sequence_or_end() {
        let pl = parse_media_playlist("#EXTM3U\r\n#EXTINF:8.000000,title\r\nseg-0.ts\r\n").unwrap();
        assert_eq!(pl.media_sequence, 0);
        assert!(!pl.ended);
        assert_eq!(
            pl.entries,
            [PlaylistEntry {
                duration: 8.0,
                uri: "seg-0.ts".into()
            }]
        );
    }

    #[test]
    fn truncated_entry_is_dropped() {
        let pl = parse_media_playlist("#EXTM3U\n#EXTINF:1.0,\nseg-0.ts\n#EXTINF:1.0,").unwrap();
        assert_eq!(pl.entries.len(), 1);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_media_playlist(""), Err(PlaylistError::NotM3u8));
        assert_eq!(
            parse_media_playlist("seg-0.ts\n"),
            Err(PlaylistError::NotM3u8)
        );
        assert_eq!(
            parse_media_playlist("#EXTM3U\n#EXTINF:abc,\nx.ts"),
            Err(PlaylistError::BadTag(2, "EXTINF"))
        );
        assert_eq!(
            parse_media_playlist("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-1\n"),
            Err(PlaylistError::BadTag(2, "EXT-X-MEDIA-SEQUENCE"))
        );
    }
}
