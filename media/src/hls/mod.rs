//! HLS for viewers: the in-memory live window and the playlists rendered from it.
//!
//! ffmpeg writes segments into a working directory; [`OutputWatcher`] loads each finished one
//! and deletes the file; [`LiveWindow`] keeps the last few per rendition and renders our own
//! master and media playlists. Segment names (`seg-{seq}.ts`) and sequence numbers belong to
//! the window, so they stay monotonic across ffmpeg restarts and source reconnects.
//!
//! - [`m3u8`] parses ffmpeg's media playlists.
//! - [`window`] holds [`LiveWindow`], our playlists and [`WindowStats`].
//! - [`watcher`] holds [`OutputWatcher`].
//! - [`request`] reads a viewer's `Range` header and blocking-reload query.
//! - [`sealed`] holds [`SealedFile`]: a segment in a memory file the kernel sends from.
//! - [`ll`] holds [`LlWindow`]: low-latency HLS over fMP4 parts, beside the MPEG-TS window.

pub mod ll;
pub mod m3u8;
pub mod request;
pub mod sealed;
pub mod watcher;
pub mod window;

pub use ll::{LlWindow, Lookup, Readiness};
pub use m3u8::{MediaPlaylist, PlaylistEntry, PlaylistError, parse_media_playlist};
pub use sealed::SealedFile;
pub use watcher::{FinishedSegment, OutputWatcher};
pub use window::{
    DEFAULT_WINDOW, LiveWindow, RETAINED_AFTER_WINDOW, RenditionStats, SegmentRef, WindowStats,
    parse_segment_name, segment_name,
};
