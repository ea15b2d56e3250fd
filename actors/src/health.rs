//! The health tree the registry answers `GetHealth` with: serializable, one node per actor.

use serde::{Deserialize, Serialize};
use streamhall_media::flv::IngestSnapshot;
use streamhall_media::ingest::Protocol;
use ts_rs::TS;

/// One actor as the admin dashboard shows it: the same shape for every node of the tree.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, TS)]
pub struct ActorHealth {
    /// `registry`, `stream`, `ingest`, `transcode`, `segment`, `thumbnail`, `restream`,
    /// `presence`, `chat_directory`, `chat_room`, `notifier`.
    pub kind: String,
    pub id: String,
    /// `running`, `idle` (normal: nothing to do), `starting`, `restarting` (exited, restart
    /// scheduled), `failed`, `stopped` (done, normal); streams: `starting`, `live`, `failed`,
    /// `grace`, `ending`.
    pub state: String,
    pub uptime_s: f64,
    /// Restarts of this slot by its parent (across incarnations).
    pub restarts: u32,
    pub last_error: Option<String>,
    /// Messages sent to the actor and not handled yet (counted: actix exposes no queue
    /// length; every handle on an actor counts its sends); `None` only where the actor did
    /// not answer (unresponsive, restarting).
    pub mailbox: Option<usize>,
    /// Messages handled by this incarnation and its predecessors in the slot.
    pub messages: u64,
    /// Handled per second, over the last second or more.
    pub messages_per_s: f64,
    /// Handling time of the last one to two minutes, in ms (upper bound of a log2 bucket).
    pub handling_p50_ms: Option<f64>,
    pub handling_p99_ms: Option<f64>,
}

impl ActorHealth {
    /// A node with its identity and state; the rest zero until filled in.
    pub fn new(kind: &str, id: &str, state: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            id: id.to_owned(),
            state: state.to_owned(),
            ..Self::default()
        }
    }

    /// Fills in the counted figures.
    pub fn with_stats(mut self, s: crate::stats::StatsSnapshot) -> Self {
        self.mailbox = Some(s.mailbox);
        self.messages = s.messages;
        self.messages_per_s = s.messages_per_s;
        self.handling_p50_ms = s.handling_p50_ms;
        self.handling_p99_ms = s.handling_p99_ms;
        self
    }
}

/// A per-kind figure of a node (stream: bitrate, fps ...; room: members ...; notifier: jobs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, TS)]
pub struct Figure {
    pub name: String,
    pub value: f64,
}

/// One node of the supervision tree as the admin dashboard draws it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, TS)]
pub struct ActorNode {
    pub actor: ActorHealth,
    /// What matters for this kind, e.g. `bitrate_kbps`, `fps`, `members`, `pending_writes`.
    pub figures: Vec<Figure>,
    pub children: Vec<ActorNode>,
}

impl ActorNode {
    pub fn leaf(actor: ActorHealth) -> Self {
        Self {
            actor,
            figures: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn figure(mut self, name: &str, value: f64) -> Self {
        self.figures.push(Figure {
            name: name.to_owned(),
            value,
        });
        self
    }
}

pub use crate::stats::DeadLetterCount;

/// Another server's supervision tree, as it last wrote it (see [`crate::node_trees`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, TS)]
pub struct NodeTree {
    /// Its `cluster.node_id`.
    pub node: String,
    /// Seconds since it wrote this tree (it writes one every two seconds).
    pub age_s: f64,
    pub root: ActorNode,
    pub dead_letters: Vec<DeadLetterCount>,
}

/// Whether viewers can watch a channel, as every page shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum StreamStatus {
    /// No broadcast.
    #[default]
    Offline,
    /// A publisher is connected and no video exists yet: not listed, nobody notified.
    Starting,
    /// Viewers can watch: every working rendition has segments.
    Live,
    /// A publisher is connected but the server cannot produce video (the transcoder keeps
    /// failing, or nothing came out within the start deadline). Retried; may become live.
    Failed,
}

/// One rendition of the ladder as the streamer's dashboard shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RenditionState {
    /// No segment yet.
    Waiting,
    /// Producing segments; listed in the master playlist.
    Ok,
    /// Produced nothing (or stopped) while others work: left out of the master playlist.
    Failed,
    /// Taken out of the ladder because the machine could not keep up.
    Dropped,
}

#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct RenditionHealth {
    pub name: String,
    pub height: u32,
    pub state: RenditionState,
    pub segments: u64,
    /// Seconds since its newest segment.
    pub last_segment_age_s: Option<f64>,
}

/// Where one restream destination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RestreamState {
    /// Not pushing: the channel is not live, or the destination is disabled.
    Idle,
    /// ffmpeg is starting, connecting, or waiting for the source's headers.
    Connecting,
    /// The destination is taking the stream (ffmpeg reports media written).
    Live,
    /// The last attempt failed (see `last_error`); the next one is scheduled with backoff.
    Failed,
}

/// One restream destination of a live stream (the stream key is never part of it).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct RestreamHealth {
    /// The destination's id (`/api/v1/channels/{slug}/restreams/{id}`).
    pub id: i64,
    pub name: String,
    pub state: RestreamState,
    /// The last failure in ffmpeg's words, with the stream key scrubbed.
    pub last_error: Option<String>,
    /// Failed attempts so far in this broadcast.
    pub restarts: u32,
    /// Seconds in the current state.
    pub since_s: f64,
}

/// One live stream with its four children.
#[derive(Debug, Clone, Serialize, TS)]
pub struct StreamHealth {
    pub actor: ActorHealth,
    pub channel_id: i64,
    pub slug: String,
    pub broadcast_id: i64,
    pub status: StreamStatus,
    /// Why viewers cannot watch, in plain words for the streamer; `None` when they can.
    pub problem: Option<String>,
    pub publisher_connected: bool,
    /// How the publisher comes in (`rtmp`, `srt`, `rtsp`); `None` before the first.
    pub protocol: Option<Protocol>,
    pub ingest: Option<IngestSnapshot>,
    /// Human-readable problems that do not stop viewers from watching: a long keyframe
    /// interval, a server that cannot keep up, a rendition that fails or was dropped.
    pub warnings: Vec<String>,
    /// `waiting` (for the source's parameters), `starting`, `running`, `restarting`, `failed`
    /// (restarting again and again without producing), `stopped`.
    pub transcoder_state: String,
    pub transcoder_restarts: u32,
    pub transcoder_last_error: Option<String>,
    pub ffmpeg_pid: Option<u32>,
    /// ffmpeg CPU use over the last sample, in percent of one core.
    pub ffmpeg_cpu_percent: Option<f64>,
    /// ffmpeg's speed over the last few seconds (1.0 = real time).
    pub ffmpeg_speed: Option<f64>,
    pub segments_produced: u64,
    /// Segments ffmpeg dropped from its list before they were collected (collector too slow).
    pub segments_lost: u64,
    /// Video frames dropped between ingest and ffmpeg: ffmpeg not keeping up, or restarting
    /// (the backlog is dropped and the new run starts at a keyframe).
    pub dropped_frames: u64,
    /// Audio frames dropped for the same reason.
    pub dropped_audio: u64,
    /// Media waiting for ffmpeg in the bounded queue between ingest and the transcoder.
    pub queued: usize,
    pub renditions: Vec<RenditionHealth>,
    /// The broadcast's recording (or DVR copy): uploads, spool, lost segments.
    pub recording: Option<crate::recording::RecordingHealth>,
    pub viewers: u64,
    /// Where the stream is pushed on to (restreaming out), one entry per enabled destination.
    pub restreams: Vec<RestreamHealth>,
    pub children: Vec<ActorHealth>,
}
