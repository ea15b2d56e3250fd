//! Recording: every segment of a broadcast goes to the object store as it is produced, and at
//! the end the recording becomes a VOD (playlists with `EXT-X-ENDLIST`, thumbnail, seek
//! preview sprite, duration and size on the `videos` row).
//!
//! A [`Recorder`] belongs to one broadcast's [`StreamEntry`](crate::directory::StreamEntry).
//! The Segment actor hands it each finished segment ([`Recorder::push`]); the recorder writes
//! it to a spool file under `{spool_dir}/{video_id}/` and one upload task per recorder moves
//! spooled segments to `vod/{video_id}/{rendition}/{seq}_{ms}[_d].ts` (a few at a time, in
//! the order they were produced). While the store is down uploads are retried with backoff and
//! segments wait in the spool; when the spool is over its size, the oldest waiting segment of
//! a rendition other than the highest is dropped first (the highest goes last), counted in
//! `missing_segments`. The same index serves the live DVR window: a segment that has left the
//! in-memory live window is read from the spool or the store.
//!
//! Grace reconnects and ffmpeg restarts keep the same recorder (one recording; the live window
//! marks the discontinuity, which the segment's name carries). A node that stops uncleanly
//! leaves its spool and `recording` rows; [`recover`] finishes them at the next start from the
//! spool and the store listing alone.
//!
//! In parts: this module (settings, object names, the `videos` row), [`recorder`] (the
//! [`Recorder`]: spool, uploads, DVR index), [`finalise`] (a recording into a VOD) and
//! [`recovery`] (after a crash, and retention).

pub mod finalise;
pub mod recorder;
pub mod recovery;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use streamhall_entities::{Video, channel, video};
use streamhall_media::objects::{ObjectError, ObjectStore};
use streamhall_media::transcode::{FfmpegThumbnailer, PlannedRendition, Thumbnailer};
use streamhall_media::vod::{
    VodRendition, VodSegment, parse_segment_file_name, render_vod_master, render_vod_playlist,
    segment_file_name, vod_duration,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::locks::lock;

pub use recorder::{Recorder, RecordingHealth, SegmentSource, TailSegment};
pub(crate) use recovery::finish_orphans;
pub use recovery::{recover, retention_pass, spawn_retention};

/// How recordings are kept.
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    /// Segments waiting for the store, under `{spool_dir}/{video_id}/`.
    pub spool_dir: PathBuf,
    /// Bytes the spool of one recording may hold before segments are dropped.
    pub spool_limit: u64,
    /// How far back live viewers may rewind.
    pub dvr: Duration,
    /// Between passes of the retention job.
    pub retention_every: Duration,
    /// For the seek-preview sprite and clips.
    pub ffmpeg_path: PathBuf,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            spool_dir: std::env::temp_dir().join("streamhall-spool"),
            spool_limit: 2 << 30,
            dvr: Duration::from_secs(30 * 60),
            retention_every: Duration::from_secs(600),
            ffmpeg_path: PathBuf::from("ffmpeg"),
        }
    }
}

/// One rendition as stored in `videos.renditions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionMeta {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bandwidth: u64,
    /// RFC 6381, as the live master said.
    #[serde(default)]
    pub codecs: String,
}

impl From<&PlannedRendition> for RenditionMeta {
    fn from(p: &PlannedRendition) -> Self {
        Self {
            name: p.name.clone(),
            width: p.width,
            height: p.height,
            bandwidth: p.peak_bandwidth_bps(),
            codecs: VodRendition::from(p).codecs,
        }
    }
}

/// A chapter as stored in `videos.chapters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chapter {
    pub title: String,
    pub start: f64,
}

/// A subtitle track as stored in `videos.subtitles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subtitle {
    pub lang: String,
    pub label: String,
}

/// 32 lowercase hex characters from 122 random bits: ids of videos and clips.
pub fn new_media_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `vod/{id}/`.
pub fn vod_prefix(video_id: &str) -> String {
    format!("vod/{video_id}/")
}

/// Where a stored segment lives.
pub fn segment_key(video_id: &str, rendition: &str, seg: &VodSegment) -> String {
    format!("vod/{video_id}/{rendition}/{}", segment_file_name(seg))
}

// ---------------------------------------------------------------------------------------------
// The videos row

/// Creates the `recording` row of a new broadcast. A channel that does not keep recordings gets
/// a `dvr_only` one (never listed, deleted when the broadcast ends).
pub async fn open_video(
    db: &DatabaseConnection,
    ch: &channel::Model,
    broadcast_id: i64,
    node_id: &str,
) -> Result<video::Model, DbErr> {
    let now = Utc::now();
    let title = if ch.title.trim().is_empty() {
        format!("Broadcast of {}", now.format("%Y-%m-%d"))
    } else {
        ch.title.clone()
    };
    video::ActiveModel {
        id: Set(new_media_id()),
        channel_id: Set(ch.id),
        broadcast_id: Set(Some(broadcast_id)),
        title: Set(title.chars().take(140).collect()),
        description: Set(String::new()),
        visibility: Set("public".into()),
        status: Set("recording".into()),
        dvr_only: Set(!ch.record_vods),
        duration_secs: Set(0.0),
        size_bytes: Set(0),
        renditions: Set(serde_json::json!([])),
        chapters: Set(serde_json::json!([])),
        subtitles: Set(serde_json::json!([])),
        has_thumbnail: Set(false),
        has_sprite: Set(false),
        missing_segments: Set(0),
        view_count: Set(0),
        error: Set(None),
        node_id: Set(node_id.chars().take(64).collect()),
        created_at: Set(now),
        ended_at: Set(None),
        taken_down_at: Set(None),
        takedown_notice: Set(None),
        takedown_ref: Set(None),
    }
    .insert(db)
    .await
}

/// Removes every object under `vod/{id}/` and then the row. Returns the objects removed.
/// Clips cut from the video keep their own objects (their `video_id` becomes null).
pub async fn delete_video(
    db: &DatabaseConnection,
    store: &dyn ObjectStore,
    video_id: &str,
) -> anyhow::Result<u64> {
    let removed = store.delete_prefix(&vod_prefix(video_id)).await?;
    Video::delete_by_id(video_id.to_owned()).exec(db).await?;
    Ok(removed)
}
