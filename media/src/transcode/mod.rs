//! The ABR ladder and the ffmpeg process that produces it.
//!
//! One ffmpeg per live stream reads FLV on stdin and writes every rendition as HLS (MPEG-TS
//! segments plus ffmpeg's own short playlist) into `out_dir/{rendition}/`; [`crate::hls`] picks
//! the finished segments up from there.
//!
//! - [`ladder`]: [`LadderConfig`] -> [`plan_ladder`] -> [`PlannedRendition`]s for one source.
//! - [`argv`]: [`build_argv`], the exact ffmpeg arguments (golden-tested).
//! - [`process`]: the [`Transcoder`] / [`TranscodeProcess`] traits and the real [`FfmpegTranscoder`].
//! - [`fake`]: [`FakeTranscoder`] for tests of the code that drives a transcoder.
//! - [`thumbnail`]: the [`Thumbnailer`] trait, the real [`FfmpegThumbnailer`] and a fake.
//! - [`progress`]: parsing ffmpeg's `-progress` output, and [`process_cpu_seconds`].

pub mod argv;
pub mod fake;
pub mod ladder;
pub mod process;
pub mod progress;
pub mod thumbnail;

pub use argv::{
    EncoderFamily, build_argv, ll_socket_dir_ok, ll_socket_path, playlist_path, rendition_dir,
};
pub use fake::{FakeProcessHandle, FakeTranscoder};
pub use ladder::{
    LadderConfig, LadderError, PlannedRendition, Rendition, SourceInfo, h264_level_idc,
    plan_ladder, plan_ladder_without,
};
pub use process::{FfmpegTranscoder, ProcessWait, StdinWriter, TranscodeProcess, Transcoder};
pub use progress::{Progress, ProgressParser, parse_proc_stat_cpu_ticks, process_cpu_seconds};
pub use thumbnail::{FakeThumbnailer, FfmpegThumbnailer, JpegFuture, Thumbnailer, thumbnail_argv};
