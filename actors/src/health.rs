//! The health tree the registry answers `GetHealth` with: serializable, one node per actor.

use serde::Serialize;
use streamhall_media::flv::IngestSnapshot;
use ts_rs::TS;

/// One actor as the admin dashboard shows it.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct ActorHealth {
    /// `registry`, `stream`, `ingest`, `transcode`, `segment`, `thumbnail`, `presence`.
    pub kind: String,
    pub id: String,
    /// `running`, `grace`, `ending`, `stopped`, ...
    pub state: String,
    pub uptime_s: f64,
    pub restarts: u32,
    pub last_error: Option<String>,
    /// Depth of the bounded queue the actor owns, where measurable.
    pub mailbox: Option<usize>,
}

/// One live stream with its four children.
#[derive(Debug, Clone, Serialize, TS)]
pub struct StreamHealth {
    pub actor: ActorHealth,
    pub channel_id: i64,
    pub slug: String,
    pub broadcast_id: i64,
    pub publisher_connected: bool,
    pub ingest: Option<IngestSnapshot>,
    /// Human-readable problems with the source (e.g. a long keyframe interval).
    pub warnings: Vec<String>,
    pub ffmpeg_pid: Option<u32>,
    /// ffmpeg CPU use over the last sample, in percent of one core.
    pub ffmpeg_cpu_percent: Option<f64>,
    /// ffmpeg's speed (1.0 = real time).
    pub ffmpeg_speed: Option<f64>,
    pub segments_produced: u64,
    /// Segments ffmpeg dropped from its list before they were collected (collector too slow).
    pub segments_lost: u64,
    /// Video frames dropped between ingest and ffmpeg: ffmpeg not keeping up, or restarting
    /// (the backlog is dropped and the new run starts at a keyframe).
    pub dropped_frames: u64,
    /// Audio frames dropped for the same reason.
    pub dropped_audio: u64,
    pub renditions: Vec<String>,
    pub viewers: u64,
    pub children: Vec<ActorHealth>,
}

/// The whole live tree.
#[derive(Debug, Clone, Serialize, TS)]
pub struct HealthTree {
    pub registry: ActorHealth,
    pub streams: Vec<StreamHealth>,
    pub presence: ActorHealth,
    /// Filled by [`crate::Live::health`]; the registry does not know about chat.
    pub chat: Option<crate::chat::ChatHealth>,
    /// Filled by [`crate::Live::health`].
    pub notifier: Option<crate::notify::NotifierHealth>,
}
