//! streamhall-media: everything that touches bytes of audio and video, with no actors.
//!
//! - [`rtmp`]: the RTMP server (handshake, chunk stream, AMF0, publish) that turns an encoder's
//!   push into FLV tags.
//! - [`flv`]: FLV tags for ffmpeg's stdin, codec info from sequence headers, ingest statistics.
//! - [`transcode`]: the ABR ladder, the ffmpeg argv, and the process behind a trait.
//! - [`hls`]: the in-memory live window of segments and the playlists rendered from it.

pub mod flv;
pub mod hls;
pub mod objects;
pub mod rtmp;
pub mod transcode;
