//! What a chat room and its directory share: the settings, the dependencies the directory
//! hands each room, the counters a room keeps for the health tree, and the exit report a room
//! sends its parent. Below both, so neither imports the other for them.

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use sea_orm::DatabaseConnection;

use super::cluster::ChatCluster;
use super::core::RoomLimits;
use crate::presence::PresenceHandle;
use crate::stats::{ActorStats, CountedRecipient, DeadLetters};

/// Settings of the chat side.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub limits: RoomLimits,
    /// Batches queued for one session before it counts as a slow consumer.
    pub session_queue: usize,
    pub room_mailbox: usize,
    /// A room with no members stops after this long.
    pub idle_timeout: Duration,
    /// Messages older than this are deleted (hourly).
    pub retention: Duration,
    /// An id gap is filled from the database after this long.
    pub gap_patience: Duration,
    pub viewer_count_every: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            limits: RoomLimits::default(),
            session_queue: 256,
            room_mailbox: 4096,
            idle_timeout: Duration::from_secs(60),
            retention: Duration::from_secs(30 * 24 * 3600),
            gap_patience: Duration::from_millis(300),
            viewer_count_every: Duration::from_secs(5),
        }
    }
}

/// Counters a room keeps current for the health tree, read without a mailbox round trip.
#[derive(Debug)]
pub struct RoomStats {
    pub members: AtomicUsize,
    pub pending: AtomicUsize,
    pub delivered: AtomicU64,
    pub kicked: AtomicU64,
    pub messages: AtomicU64,
    pub rejected: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// The room actor's mailbox counters.
    pub actor: Arc<ActorStats>,
}

impl RoomStats {
    pub(crate) fn new(dead_letters: DeadLetters) -> Self {
        Self {
            members: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            kicked: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            last_error: Mutex::new(None),
            actor: ActorStats::new("chat_room", dead_letters),
        }
    }
}

pub(crate) struct ChatDeps {
    pub cfg: ChatConfig,
    pub db: DatabaseConnection,
    pub cluster: Option<ChatCluster>,
    pub presence: PresenceHandle,
    pub directory: CountedRecipient<RoomStopped>,
    pub dead_letters: DeadLetters,
}

/// A room stopped; `error` is set if it failed rather than went idle.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomStopped {
    pub channel_id: i64,
    pub generation: u64,
    pub error: Option<String>,
}
