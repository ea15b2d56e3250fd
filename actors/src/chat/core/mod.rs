//! [`RoomCore`]: everything a chat room decides, without actors, sockets or a database, so it
//! can be tested directly. The [`ChatRoom`](super::room::ChatRoom) actor feeds it events and
//! carries out what it returns.
//!
//! - Members are bounded, transport-neutral queues ([`MemberHandle`]). Frames are serialized
//!   once per tick and shared ([`Batch`]); a member whose queue is full is kicked (its
//!   [`MemberHandle::kick`] token is cancelled), never waited for.
//! - Messages are delivered strictly in id order. Ids come from the database, so messages
//!   committed on another node can arrive out of order; they wait in `reorder` until the gap
//!   closes (or the actor fills it from the database).
//! - The ring keeps the newest `ring_capacity` messages, contiguous up to `head`, so a resume
//!   is answered from memory.
//!
//! The methods are grouped by what they are about: [`members`] (joining, history, resume and
//! fan-out), [`send`] (posting: checks, batches for the database, delivery in id order),
//! [`moderation`] (deletions, bans, modes put in force; who may do them is
//! [`policy`](super::policy)'s).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::protocol::{ChatMessage, ChatRole, ChatUser, RejectCode, RoomMode, ServerMsg};
use super::queue::{QueueSender, TrySendError};
use super::text::{self, TextError};

pub mod members;
pub mod moderation;
pub mod send;

/// A session's id, unique in the process.
pub type SessionId = u64;

/// Frames for one member, serialized once and shared by every member.
#[derive(Debug)]
pub struct Batch {
    pub frames: Vec<ByteString>,
    /// The highest message id among the frames, if any: the session remembers it so it can
    /// resume without a gap if its room restarts.
    pub max_id: Option<i64>,
    /// The frames as the transport puts them on the wire, made once by the first member's
    /// connection that writes them and shared by the others (the room does not know the
    /// transport: WebSocket framing is the HTTP layer's).
    pub encoded: OnceLock<Bytes>,
}

impl Batch {
    pub fn new(frames: Vec<ByteString>, max_id: Option<i64>) -> Self {
        Self {
            frames,
            max_id,
            encoded: OnceLock::new(),
        }
    }
}

/// What a room sends a member.
#[derive(Debug, Clone)]
pub enum Outbound {
    Batch(Arc<Batch>),
}

/// The room's end of a member: a bounded queue, and a token the room cancels to kick it.
pub struct MemberHandle {
    pub tx: QueueSender<Outbound>,
    pub kick: CancellationToken,
}

/// Who joined, as the HTTP layer authenticated them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinUser {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
}

struct Member {
    handle: MemberHandle,
    user: Option<JoinUser>,
    /// Every message id from here up is (or will be) delivered on this connection.
    known_from: i64,
}

/// A message in the ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub msg: ChatMessage,
    /// The sender's idempotency key (never sent to other clients).
    pub client_id: Option<String>,
    pub deleted: bool,
}

/// A ban or timeout in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanState {
    /// `None`: until unbanned.
    pub until: Option<DateTime<Utc>>,
}

/// Limits a room enforces.
#[derive(Debug, Clone)]
pub struct RoomLimits {
    pub ring_capacity: usize,
    pub history_on_join: usize,
    pub resume_max: usize,
    pub rate_window: Duration,
    pub rate_messages: u32,
    pub rate_messages_moderator: u32,
    /// Messages accepted but not yet stored, at most.
    pub max_pending: usize,
    /// Messages per database transaction, at most.
    pub batch_max: usize,
    /// Out-of-order messages held, at most, before the gap is filled from the database.
    pub max_reorder: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        Self {
            ring_capacity: 500,
            history_on_join: 50,
            resume_max: 500,
            rate_window: Duration::from_secs(30),
            rate_messages: 20,
            rate_messages_moderator: 100,
            max_pending: 2000,
            batch_max: 200,
            max_reorder: 10_000,
        }
    }
}

/// The room's durable state, as loaded from the database when it starts.
#[derive(Debug, Clone, Default)]
pub struct RoomState {
    pub mode: RoomMode,
    pub blocked_terms: Vec<String>,
    pub moderators: HashSet<i64>,
    pub bans: HashMap<i64, BanState>,
    /// The newest message id.
    pub head: i64,
    /// The newest messages, oldest first, ending at `head`.
    pub recent: Vec<StoredMessage>,
}

/// A refusal, as `rejected` carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    fn retry_after(mut self, d: Duration) -> Self {
        self.retry_after_ms = Some(d.as_millis().max(1) as u64);
        self
    }

    pub fn into_msg(self, action: &str, client_id: Option<String>) -> ServerMsg {
        ServerMsg::Rejected {
            client_id,
            action: action.to_owned(),
            code: self.code,
            message: self.message,
            retry_after_ms: self.retry_after_ms,
        }
    }
}

/// A message accepted and waiting to be stored.
#[derive(Debug, Clone)]
pub struct PendingSend {
    pub user_id: i64,
    pub username: String,
    pub role: ChatRole,
    pub text: String,
    pub client_id: String,
    /// Sessions to `ack` (a retry from a new connection attaches here).
    pub reply_to: Vec<SessionId>,
}

/// What to do with a `send`.
#[derive(Debug, PartialEq)]
pub enum SendDecision {
    /// Queued for the next batch.
    Queued,
    /// A retry of a stored message: acked again with its id.
    AlreadyStored(i64),
    /// A retry of a message waiting to be stored: it will be acked with the first.
    Attached,
    Rejected(Rejection),
    /// Followers-only mode and the sender's follow is not known (or stale): read it with
    /// [`RoomCore::set_follow`], then check again.
    NeedsFollow,
}

#[derive(Debug, Default)]
struct UserActivity {
    window_start: Option<Instant>,
    count: u32,
    last_sent: Option<Instant>,
}

/// Counters for the health tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomCounters {
    pub delivered_frames: u64,
    pub kicked: u64,
    pub messages: u64,
    pub rejected: u64,
}

/// Everything a chat room decides.
pub struct RoomCore {
    pub channel_id: i64,
    pub slug: String,
    pub owner_id: i64,
    limits: RoomLimits,
    mode: RoomMode,
    blocked_terms: Vec<String>,
    /// The same, normalised (see [`text::normalize`]).
    blocked_normalized: Vec<String>,
    moderators: HashSet<i64>,
    bans: HashMap<i64, BanState>,
    members: HashMap<SessionId, Member>,
    ring: VecDeque<StoredMessage>,
    /// Newest message delivered.
    head: i64,
    reorder: BTreeMap<i64, StoredMessage>,
    /// When the oldest gap in `reorder` was first seen.
    gap_since: Option<Instant>,
    /// Deletions of messages not delivered yet (they arrived from another node first).
    early_deletes: HashSet<i64>,
    /// (user, client_id) -> id, for messages in the ring.
    stored_keys: HashMap<(i64, String), i64>,
    pending: VecDeque<PendingSend>,
    in_flight: Vec<PendingSend>,
    pending_keys: HashSet<(i64, String)>,
    activity: HashMap<i64, UserActivity>,
    /// When users followed the channel (`None`: they do not), as read from the database at
    /// `Instant`; used by followers-only mode and trusted for [`FOLLOW_FRESH`].
    follows: HashMap<i64, (Option<DateTime<Utc>>, Instant)>,
    outbox: Vec<ByteString>,
    outbox_max_id: Option<i64>,
    /// Replies to single members (`ack`, `rejected`, `pong`), sent with the next flush.
    replies: HashMap<SessionId, Vec<ByteString>>,
    pub counters: RoomCounters,
}

/// How long a follow read from the database is trusted by followers-only mode (a follow or
/// unfollow on another node is seen within this).
pub const FOLLOW_FRESH: Duration = Duration::from_secs(15);
/// How long "does not follow" is trusted.
pub const NOT_FOLLOWING_FRESH: Duration = Duration::from_secs(2);
/// Follows remembered per room, at most.
const MAX_FOLLOWS_CACHED: usize = 50_000;

fn frame(msg: &ServerMsg) -> ByteString {
    // Serializing these types cannot fail: no maps with non-string keys, no custom Serialize.
    ByteString::from(serde_json::to_string(msg).unwrap_or_default())
}

impl RoomCore {
    pub fn new(
        channel_id: i64,
        slug: String,
        owner_id: i64,
        state: RoomState,
        limits: RoomLimits,
    ) -> Self {
        let mut core = Self {
            channel_id,
            slug,
            owner_id,
            mode: state.mode,
            blocked_terms: Vec::new(),
            blocked_normalized: Vec::new(),
            moderators: state.moderators,
            bans: state.bans,
            members: HashMap::new(),
            // Grows with the messages (up to `ring_capacity`): an idle room reserves nothing.
            ring: VecDeque::new(),
            head: state.head,
            reorder: BTreeMap::new(),
            gap_since: None,
            early_deletes: HashSet::new(),
            stored_keys: HashMap::new(),
            pending: VecDeque::new(),
            in_flight: Vec::new(),
            pending_keys: HashSet::new(),
            activity: HashMap::new(),
            follows: HashMap::new(),
            outbox: Vec::new(),
            outbox_max_id: None,
            replies: HashMap::new(),
            counters: RoomCounters::default(),
            limits,
        };
        core.set_blocked_terms(state.blocked_terms);
        for m in state.recent {
            core.push_ring(m);
        }
        core
    }

    pub fn head(&self) -> i64 {
        self.head
    }

    pub fn mode(&self) -> RoomMode {
        self.mode
    }

    /// Records whether `user` follows the channel, and since when (read at `now`).
    pub fn set_follow(&mut self, user: i64, followed_at: Option<DateTime<Utc>>, now: Instant) {
        if self.follows.len() >= MAX_FOLLOWS_CACHED {
            self.follows
                .retain(|_, (_, at)| now.saturating_duration_since(*at) <= FOLLOW_FRESH);
            if self.follows.len() >= MAX_FOLLOWS_CACHED {
                self.follows.clear();
            }
        }
        self.follows.insert(user, (followed_at, now));
    }

    /// Forget what is known about `user`'s follow (they followed or unfollowed).
    pub fn forget_follow(&mut self, user: i64) {
        self.follows.remove(&user);
    }

    pub fn members(&self) -> usize {
        self.members.len()
    }

    pub fn pending(&self) -> usize {
        self.pending.len() + self.in_flight.len()
    }

    pub fn blocked_terms(&self) -> &[String] {
        &self.blocked_terms
    }

    pub fn set_blocked_terms(&mut self, terms: Vec<String>) {
        self.blocked_normalized = terms.iter().map(|t| text::normalize(t)).collect();
        self.blocked_terms = terms;
    }

    pub fn set_moderators(&mut self, moderators: HashSet<i64>) {
        self.moderators = moderators;
    }

    /// Replaces moderation state after a reload from the database.
    pub fn reload(&mut self, state: RoomState) {
        self.mode = state.mode;
        self.set_blocked_terms(state.blocked_terms);
        self.moderators = state.moderators;
        self.bans = state.bans;
    }

    pub fn role_of(&self, user_id: i64, is_admin: bool) -> ChatRole {
        if is_admin {
            ChatRole::Admin
        } else if user_id == self.owner_id {
            ChatRole::Owner
        } else if self.moderators.contains(&user_id) {
            ChatRole::Moderator
        } else {
            ChatRole::Viewer
        }
    }

    fn push_ring(&mut self, m: StoredMessage) {
        if self.ring.len() >= self.limits.ring_capacity
            && let Some(old) = self.ring.pop_front()
            && let Some(cid) = old.client_id
        {
            self.stored_keys.remove(&(old.msg.user_id, cid));
        }
        if let Some(cid) = &m.client_id {
            self.stored_keys
                .insert((m.msg.user_id, cid.clone()), m.msg.id);
        }
        self.ring.push_back(m);
    }

    fn ring_first(&self) -> i64 {
        self.ring.front().map_or(self.head + 1, |m| m.msg.id)
    }
}

#[cfg(test)]
mod tests;
