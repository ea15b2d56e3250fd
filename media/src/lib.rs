//! streamhall-media: everything that touches bytes of audio and video, with no actors.
//!
//! - [`ingest`]: the seam every protocol feeds (publish decisions, events, failure limits).
//! - [`rtmp`]: the RTMP server (handshake, chunk stream, AMF0, publish) that turns an encoder's
//!   push into FLV tags.
//! - [`rtsp`]: pulling an RTSP camera (retina) into the same events.
//! - [`srt`]: the SRT listener: an encoder's MPEG-TS push, admitted by stream id and passphrase.
//! - [`ts`]: the MPEG-TS demuxer that turns an SRT push (H.264 + AAC) into FLV tags.
//! - [`flv`]: FLV tags for ffmpeg's stdin, codec info from sequence headers, ingest statistics.
//! - [`fmp4`]: ffmpeg's fragmented MP4 split into init segment and parts (low-latency HLS).
//! - [`transcode`]: the ABR ladder, the ffmpeg argv, and the process behind a trait.
//! - [`hls`]: the in-memory live window of segments and the playlists rendered from it.
//! - [`vod`]: recorded segments' object names and the VOD and DVR playlists over them.
//! - [`clip`]: clips cut from segments by stream copy (MP4, HLS copy, thumbnail).
//! - [`sprite`]: a recording's seek-preview sprite sheet and its WebVTT index.

pub mod clip;
pub mod flv;
pub mod fmp4;
pub mod hls;
pub mod ingest;
pub mod objects;
pub mod rtmp;
pub mod rtsp;
pub mod sprite;
pub mod srt;
pub mod transcode;
pub mod ts;
pub mod vod;
