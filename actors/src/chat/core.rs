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

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytestring::ByteString;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::protocol::{ChatMessage, ChatRole, ChatUser, RejectCode, RoomMode, ServerMsg};
use super::text::{self, TextError};

/// A session's id, unique in the process.
pub type SessionId = u64;

/// Frames for one member, serialized once and shared by every member.
#[derive(Debug)]
pub struct Batch {
    pub frames: Vec<ByteString>,
    /// The highest message id among the frames, if any: the session remembers it so it can
    /// resume without a gap if its room restarts.
    pub max_id: Option<i64>,
}

/// What a room sends a member.
#[derive(Debug, Clone)]
pub enum Outbound {
    Batch(Arc<Batch>),
}

/// The room's end of a member: a bounded queue, and a token the room cancels to kick it.
pub struct MemberHandle {
    pub tx: mpsc::Sender<Outbound>,
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
            ring: VecDeque::with_capacity(limits.ring_capacity.min(4096)),
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

    fn send_to(&mut self, session: SessionId, frames: Vec<ByteString>, max_id: Option<i64>) {
        let batch = Outbound::Batch(Arc::new(Batch { frames, max_id }));
        let full = match self.members.get(&session) {
            Some(m) => match m.handle.tx.try_send(batch) {
                Ok(()) => false,
                Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.members.remove(&session);
                    false
                }
            },
            None => false,
        };
        if full {
            self.kick(session);
        }
    }

    /// Queues a frame for one member (`ack`, `rejected`, `pong`); it goes out with the next
    /// flush, after the broadcasts queued before it.
    pub fn reply(&mut self, session: SessionId, msg: &ServerMsg) {
        if self.members.contains_key(&session) {
            self.replies.entry(session).or_default().push(frame(msg));
        }
    }

    fn kick(&mut self, session: SessionId) {
        if let Some(m) = self.members.remove(&session) {
            m.handle.kick.cancel();
            self.counters.kicked += 1;
        }
    }

    /// Queues a frame for everyone; sent by [`RoomCore::flush`].
    fn broadcast(&mut self, msg: &ServerMsg) {
        self.outbox.push(frame(msg));
    }

    pub fn has_outbox(&self) -> bool {
        !self.outbox.is_empty() || !self.replies.is_empty()
    }

    /// Sends everything queued since the last flush to every member as one shared batch.
    /// Returns the sessions kicked for being too slow.
    pub fn flush(&mut self) -> Vec<SessionId> {
        let mut kicked = Vec::new();
        let mut closed = Vec::new();
        if !self.outbox.is_empty() {
            let batch = Arc::new(Batch {
                frames: std::mem::take(&mut self.outbox),
                max_id: self.outbox_max_id.take(),
            });
            let n = batch.frames.len() as u64;
            for (id, m) in &self.members {
                match m.handle.tx.try_send(Outbound::Batch(batch.clone())) {
                    Ok(()) => self.counters.delivered_frames += n,
                    Err(mpsc::error::TrySendError::Full(_)) => kicked.push(*id),
                    Err(mpsc::error::TrySendError::Closed(_)) => closed.push(*id),
                }
            }
        }
        for (id, frames) in std::mem::take(&mut self.replies) {
            let Some(m) = self.members.get(&id) else {
                continue;
            };
            let batch = Outbound::Batch(Arc::new(Batch {
                frames,
                max_id: None,
            }));
            match m.handle.tx.try_send(batch) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => kicked.push(id),
                Err(mpsc::error::TrySendError::Closed(_)) => closed.push(id),
            }
        }
        for id in closed {
            self.members.remove(&id);
        }
        kicked.sort_unstable();
        kicked.dedup();
        for id in &kicked {
            self.kick(*id);
        }
        kicked
    }

    /// A member joins: it gets `welcome` and `history` (the last few messages, or with
    /// `resume_from` exactly the ones after it), then every later broadcast.
    pub fn join(
        &mut self,
        session: SessionId,
        handle: MemberHandle,
        user: Option<JoinUser>,
        resume_from: Option<i64>,
    ) {
        // Whatever is queued is already in the ring: send it to those who were here, so the
        // newcomer does not get it twice.
        self.flush();
        let you = user.as_ref().map(|u| ChatUser {
            id: u.id,
            username: u.username.clone(),
            role: self.role_of(u.id, u.is_admin),
        });
        self.members.insert(
            session,
            Member {
                handle,
                user,
                known_from: self.head + 1,
            },
        );
        let welcome = frame(&ServerMsg::Welcome {
            channel: self.slug.clone(),
            you,
            mode: self.mode,
            last_id: self.head,
        });
        let (history, max_id) = match resume_from {
            Some(last_id) => self.missed_since(session, last_id),
            None => self.recent_history(session),
        };
        self.send_to(session, vec![welcome, history], max_id);
    }

    fn recent_history(&mut self, session: SessionId) -> (ByteString, Option<i64>) {
        let skip = self.ring.len().saturating_sub(self.limits.history_on_join);
        let window_start = self.ring.get(skip).map_or(self.head + 1, |m| m.msg.id);
        let messages: Vec<ChatMessage> = self
            .ring
            .iter()
            .skip(skip)
            .filter(|m| !m.deleted)
            .map(|m| m.msg.clone())
            .collect();
        if let Some(m) = self.members.get_mut(&session) {
            m.known_from = window_start;
        }
        let more = window_start > 1;
        let max_id = messages.last().map(|m| m.id);
        (frame(&ServerMsg::History { messages, more }), max_id)
    }

    /// The messages after `last_id` this connection has not been sent, newest
    /// `resume_max` of them.
    fn missed_since(&mut self, session: SessionId, last_id: i64) -> (ByteString, Option<i64>) {
        let Some(known_from) = self.members.get(&session).map(|m| m.known_from) else {
            return (
                frame(&ServerMsg::History {
                    messages: Vec::new(),
                    more: false,
                }),
                None,
            );
        };
        let upto = known_from - 1;
        let mut messages: Vec<ChatMessage> = self
            .ring
            .iter()
            .filter(|m| m.msg.id > last_id && m.msg.id <= upto && !m.deleted)
            .map(|m| m.msg.clone())
            .collect();
        let mut from = last_id + 1;
        if messages.len() > self.limits.resume_max {
            let cut = messages.len() - self.limits.resume_max;
            from = messages[cut].id;
            messages.drain(..cut);
        }
        let more = from < self.ring_first() && last_id < upto;
        let new_known = if more {
            self.ring_first().max(from)
        } else {
            from
        };
        if let Some(m) = self.members.get_mut(&session) {
            m.known_from = m.known_from.min(new_known.max(1));
        }
        let max_id = messages.last().map(|m| m.id);
        (frame(&ServerMsg::History { messages, more }), max_id)
    }

    /// `resume {last_id}` on an open connection.
    pub fn resume(&mut self, session: SessionId, last_id: i64) {
        let (history, max_id) = self.missed_since(session, last_id);
        self.send_to(session, vec![history], max_id);
    }

    pub fn leave(&mut self, session: SessionId) {
        self.members.remove(&session);
        self.replies.remove(&session);
    }

    pub fn member_user(&self, session: SessionId) -> Option<&JoinUser> {
        self.members.get(&session).and_then(|m| m.user.as_ref())
    }

    pub fn is_member(&self, session: SessionId) -> bool {
        self.members.contains_key(&session)
    }

    fn ban_of(&mut self, user_id: i64, now: DateTime<Utc>) -> Option<BanState> {
        let ban = *self.bans.get(&user_id)?;
        match ban.until {
            Some(until) if until <= now => {
                self.bans.remove(&user_id);
                None
            }
            _ => Some(ban),
        }
    }

    /// Decides a `send` from `user`. `now` drives rate limits, `wall` bans.
    pub fn check_send(
        &mut self,
        session: SessionId,
        user: &JoinUser,
        client_id: &str,
        raw_text: &str,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> SendDecision {
        let reject = |code, msg: &str| SendDecision::Rejected(Rejection::new(code, msg));
        if client_id.is_empty() || client_id.chars().count() > 64 {
            return reject(RejectCode::Invalid, "client_id must be 1 to 64 characters");
        }
        let key = (user.id, client_id.to_owned());
        if let Some(id) = self.stored_keys.get(&key) {
            return SendDecision::AlreadyStored(*id);
        }
        if self.pending_keys.contains(&key) {
            for p in self.pending.iter_mut().chain(self.in_flight.iter_mut()) {
                if p.user_id == user.id && p.client_id == client_id {
                    if !p.reply_to.contains(&session) {
                        p.reply_to.push(session);
                    }
                    return SendDecision::Attached;
                }
            }
        }
        let role = self.role_of(user.id, user.is_admin);
        if !role.can_moderate()
            && let Some(ban) = self.ban_of(user.id, wall)
        {
            self.counters.rejected += 1;
            return match ban.until {
                None => reject(RejectCode::Banned, "you are banned from this chat"),
                Some(until) => SendDecision::Rejected(
                    Rejection::new(
                        RejectCode::TimedOut,
                        format!(
                            "you are timed out for another {}",
                            text::duration_words(
                                (until - wall).num_seconds().max(1).unsigned_abs()
                            )
                        ),
                    )
                    .retry_after((until - wall).to_std().unwrap_or_default()),
                ),
            };
        }
        let text = match text::clean(raw_text) {
            Ok(t) => t,
            Err(TextError::Empty) => {
                self.counters.rejected += 1;
                return reject(RejectCode::Invalid, "the message is empty");
            }
            Err(TextError::TooLong(n)) => {
                self.counters.rejected += 1;
                return SendDecision::Rejected(Rejection::new(
                    RejectCode::Invalid,
                    format!(
                        "messages are at most {} characters; this one has {n}",
                        super::protocol::MAX_MESSAGE_CHARS
                    ),
                ));
            }
        };
        if !role.can_moderate() {
            if self.mode.emote_only && !text::is_emote_only(&text) {
                self.counters.rejected += 1;
                return reject(RejectCode::EmoteOnly, "the chat is in emote-only mode");
            }
            if let Some(minutes) = self.mode.followers_only {
                let Some((followed, read_at)) = self.follows.get(&user.id) else {
                    return SendDecision::NeedsFollow;
                };
                // "Not following" is re-read sooner: the user may have just clicked Follow.
                let fresh = if followed.is_some() {
                    FOLLOW_FRESH
                } else {
                    NOT_FOLLOWING_FRESH
                };
                if now.saturating_duration_since(*read_at) > fresh {
                    return SendDecision::NeedsFollow;
                }
                let Some(since) = followed else {
                    self.counters.rejected += 1;
                    return reject(
                        RejectCode::FollowersOnly,
                        "the chat is in followers-only mode: follow the channel to chat",
                    );
                };
                let need = chrono::Duration::minutes(i64::from(minutes));
                let age = wall - *since;
                if age < need {
                    self.counters.rejected += 1;
                    let wait = (need - age).to_std().unwrap_or_default();
                    return SendDecision::Rejected(
                        Rejection::new(
                            RejectCode::FollowersOnly,
                            format!(
                                "the chat is in followers-only mode: you can chat {} after following (in {})",
                                text::duration_words(u64::from(minutes) * 60),
                                text::duration_words(wait.as_secs().max(1))
                            ),
                        )
                        .retry_after(wait),
                    );
                }
            }
            // The term itself is not named: that would teach ways around it.
            if text::find_blocked(&text, &self.blocked_normalized).is_some() {
                self.counters.rejected += 1;
                return reject(
                    RejectCode::BlockedTerm,
                    "the message contains a term this channel blocks",
                );
            }
        }
        // Rate limit and slow mode, counted only for messages that get this far.
        let limit = if role.can_moderate() {
            self.limits.rate_messages_moderator
        } else {
            self.limits.rate_messages
        };
        let window = self.limits.rate_window;
        let slow = Duration::from_secs(u64::from(self.mode.slow_seconds));
        let act = self.activity.entry(user.id).or_default();
        if !role.can_moderate()
            && !slow.is_zero()
            && let Some(last) = act.last_sent
        {
            let since = now.saturating_duration_since(last);
            if since < slow {
                self.counters.rejected += 1;
                return SendDecision::Rejected(
                    Rejection::new(
                        RejectCode::SlowMode,
                        format!(
                            "slow mode: one message every {}",
                            text::duration_words(u64::from(self.mode.slow_seconds))
                        ),
                    )
                    .retry_after(slow - since),
                );
            }
        }
        match act.window_start {
            Some(start) if now.saturating_duration_since(start) < window => {
                if act.count >= limit {
                    let wait = window - now.saturating_duration_since(start);
                    self.counters.rejected += 1;
                    return SendDecision::Rejected(
                        Rejection::new(
                            RejectCode::RateLimited,
                            format!(
                                "at most {limit} messages per {}",
                                text::duration_words(window.as_secs())
                            ),
                        )
                        .retry_after(wait),
                    );
                }
            }
            _ => {
                act.window_start = Some(now);
                act.count = 0;
            }
        }
        if self.pending.len() + self.in_flight.len() >= self.limits.max_pending {
            self.counters.rejected += 1;
            return reject(
                RejectCode::Overloaded,
                "too many messages are waiting to be stored; try again shortly",
            );
        }
        act.count += 1;
        act.last_sent = Some(now);
        self.pending_keys.insert(key);
        self.pending.push_back(PendingSend {
            user_id: user.id,
            username: user.username.clone(),
            role,
            text,
            client_id: client_id.to_owned(),
            reply_to: vec![session],
        });
        SendDecision::Queued
    }

    /// Takes the next batch to store, unless one is being stored.
    pub fn take_batch(&mut self) -> Option<Vec<PendingSend>> {
        if !self.in_flight.is_empty() || self.pending.is_empty() {
            return None;
        }
        let n = self.pending.len().min(self.limits.batch_max);
        self.in_flight = self.pending.drain(..n).collect();
        Some(self.in_flight.clone())
    }

    /// The batch taken by [`RoomCore::take_batch`] was committed with ids
    /// `first_id..first_id+len`: ack each sender and deliver the messages in order.
    /// Returns the stored messages (to publish to other nodes).
    pub fn batch_committed(&mut self, first_id: i64, sent_at: DateTime<Utc>) -> Vec<StoredMessage> {
        let batch = std::mem::take(&mut self.in_flight);
        let mut stored = Vec::with_capacity(batch.len());
        for (i, p) in batch.into_iter().enumerate() {
            let id = first_id + i as i64;
            self.pending_keys.remove(&(p.user_id, p.client_id.clone()));
            let ack = ServerMsg::Ack {
                client_id: p.client_id.clone(),
                id,
            };
            for s in &p.reply_to {
                self.reply(*s, &ack);
            }
            let m = StoredMessage {
                msg: ChatMessage {
                    id,
                    user_id: p.user_id,
                    username: p.username,
                    role: p.role,
                    text: p.text,
                    sent_at,
                },
                client_id: Some(p.client_id),
                deleted: false,
            };
            stored.push(m.clone());
            self.accept(m, Instant::now());
        }
        stored
    }

    /// Storing the batch failed: every sender gets `rejected` with code `unavailable` and may
    /// retry with the same `client_id`. Nothing was delivered.
    pub fn batch_failed(&mut self, why: &str) {
        let batch = std::mem::take(&mut self.in_flight);
        for p in batch {
            self.pending_keys.remove(&(p.user_id, p.client_id.clone()));
            let msg = Rejection::new(
                RejectCode::Unavailable,
                format!("the message could not be stored ({why}); retry"),
            )
            .into_msg("send", Some(p.client_id.clone()));
            for s in &p.reply_to {
                self.reply(*s, &msg);
            }
            self.counters.rejected += 1;
        }
    }

    /// A stored message (from this node's batch, another node or the database), delivered in
    /// id order. Returns false if it was a duplicate.
    pub fn accept(&mut self, m: StoredMessage, now: Instant) -> bool {
        let id = m.msg.id;
        if id <= self.head || self.reorder.contains_key(&id) {
            return false;
        }
        self.reorder.insert(id, m);
        while let Some(entry) = self.reorder.first_entry() {
            if *entry.key() != self.head + 1 {
                break;
            }
            let mut m = entry.remove();
            self.head = m.msg.id;
            if self.early_deletes.remove(&m.msg.id) {
                m.deleted = true;
            }
            if !m.deleted {
                self.broadcast(&ServerMsg::Message(m.msg.clone()));
                self.outbox_max_id = Some(m.msg.id);
            }
            self.counters.messages += 1;
            self.push_ring(m);
        }
        if self.reorder.is_empty() {
            self.gap_since = None;
        } else if self.gap_since.is_none() {
            self.gap_since = Some(now);
        }
        true
    }

    /// A gap older than `patience` (or too many messages waiting behind one): the ids to load
    /// from the database, inclusive.
    pub fn gap_to_fill(&self, now: Instant, patience: Duration) -> Option<(i64, i64)> {
        let first_waiting = *self.reorder.keys().next()?;
        let overdue = self
            .gap_since
            .is_some_and(|t| now.saturating_duration_since(t) >= patience);
        (overdue || self.reorder.len() >= self.limits.max_reorder)
            .then_some((self.head + 1, first_waiting - 1))
    }

    /// Marks a message deleted (locally or from another node) and tells everyone.
    pub fn apply_deleted(&mut self, id: i64, by: &str) {
        if id > self.head {
            self.early_deletes.insert(id);
            if let Some(m) = self.reorder.get_mut(&id) {
                m.deleted = true;
            }
            return;
        }
        if let Some(m) = self.ring.iter_mut().find(|m| m.msg.id == id) {
            if m.deleted {
                return;
            }
            m.deleted = true;
        }
        self.broadcast(&ServerMsg::Deleted {
            id,
            by: by.to_owned(),
        });
    }

    /// The role a message's author had, if the message is in memory.
    pub fn message_author(&self, id: i64) -> Option<(i64, ChatRole, bool)> {
        self.ring
            .iter()
            .find(|m| m.msg.id == id)
            .map(|m| (m.msg.user_id, m.msg.role, m.deleted))
    }

    pub fn apply_ban(
        &mut self,
        user_id: i64,
        user: &str,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        by: &str,
        wall: DateTime<Utc>,
    ) {
        self.bans.insert(user_id, BanState { until });
        let msg = match until {
            Some(until) => ServerMsg::UserTimedOut {
                user: user.to_owned(),
                user_id,
                seconds: ((until - wall).num_milliseconds().max(0) + 999).div_euclid(1000) as u32,
                until,
                by: by.to_owned(),
            },
            None => ServerMsg::UserBanned {
                user: user.to_owned(),
                user_id,
                reason,
                by: by.to_owned(),
            },
        };
        self.broadcast(&msg);
    }

    pub fn apply_unban(&mut self, user_id: i64, user: &str, by: &str) {
        self.bans.remove(&user_id);
        self.broadcast(&ServerMsg::UserUnbanned {
            user: user.to_owned(),
            user_id,
            by: by.to_owned(),
        });
    }

    pub fn apply_mode(&mut self, mode: RoomMode) {
        self.mode = mode;
        self.broadcast(&ServerMsg::Mode(mode));
    }

    pub fn broadcast_viewer_count(&mut self, count: u64) {
        self.broadcast(&ServerMsg::ViewerCount { count });
    }

    /// Whether `actor` may moderate `target` (who has `target_role` here).
    pub fn may_act_on(actor: ChatRole, target: ChatRole) -> bool {
        match actor {
            ChatRole::Viewer => false,
            ChatRole::Moderator => target == ChatRole::Viewer,
            ChatRole::Owner => matches!(target, ChatRole::Viewer | ChatRole::Moderator),
            ChatRole::Admin => target != ChatRole::Admin,
        }
    }

    /// Forgets rate-limit state older than the window.
    pub fn prune(&mut self, now: Instant) {
        let keep = self
            .limits
            .rate_window
            .max(Duration::from_secs(u64::from(self.mode.slow_seconds)));
        self.activity.retain(|_, a| {
            a.last_sent
                .is_some_and(|t| now.saturating_duration_since(t) < keep)
        });
    }

    /// Every open session, for shutdown.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.members.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn msg(id: i64, user_id: i64, text: &str) -> StoredMessage {
        StoredMessage {
            msg: ChatMessage {
                id,
                user_id,
                username: format!("u{user_id}"),
                role: ChatRole::Viewer,
                text: text.into(),
                sent_at: DateTime::from_timestamp(1_700_000_000 + id, 0).unwrap(),
            },
            client_id: Some(format!("c{id}")),
            deleted: false,
        }
    }

    fn room_with(recent: Vec<StoredMessage>) -> RoomCore {
        let head = recent.last().map_or(0, |m| m.msg.id);
        RoomCore::new(
            1,
            "chan".into(),
            100,
            RoomState {
                head,
                recent,
                ..RoomState::default()
            },
            RoomLimits::default(),
        )
    }

    struct Client {
        rx: mpsc::Receiver<Outbound>,
        kick: CancellationToken,
    }

    impl Client {
        fn frames(&mut self) -> Vec<serde_json::Value> {
            let mut out = Vec::new();
            while let Ok(Outbound::Batch(b)) = self.rx.try_recv() {
                for f in &b.frames {
                    out.push(serde_json::from_str(f).unwrap());
                }
            }
            out
        }

        fn ids(&mut self) -> Vec<i64> {
            let mut ids = Vec::new();
            for f in self.frames() {
                match f["type"].as_str().unwrap() {
                    "message" => ids.push(f["id"].as_i64().unwrap()),
                    "history" => {
                        for m in f["messages"].as_array().unwrap() {
                            ids.push(m["id"].as_i64().unwrap());
                        }
                    }
                    _ => {}
                }
            }
            ids
        }
    }

    fn join(
        core: &mut RoomCore,
        session: SessionId,
        user: Option<JoinUser>,
        resume: Option<i64>,
        cap: usize,
    ) -> Client {
        let (tx, rx) = mpsc::channel(cap);
        let kick = CancellationToken::new();
        core.join(
            session,
            MemberHandle {
                tx,
                kick: kick.clone(),
            },
            user,
            resume,
        );
        Client { rx, kick }
    }

    fn viewer(id: i64) -> JoinUser {
        JoinUser {
            id,
            username: format!("u{id}"),
            is_admin: false,
        }
    }

    fn send(
        core: &mut RoomCore,
        s: SessionId,
        u: &JoinUser,
        cid: &str,
        text: &str,
        now: Instant,
    ) -> SendDecision {
        core.check_send(s, u, cid, text, now, Utc::now())
    }

    #[test]
    fn followers_only_asks_for_the_follow_then_holds_to_its_age() {
        let mut core = room_with(Vec::new());
        let alice = viewer(5);
        let _a = join(&mut core, 1, Some(alice.clone()), None, 64);
        let now = Instant::now();
        let wall = Utc::now();
        core.apply_mode(RoomMode {
            followers_only: Some(10),
            ..RoomMode::default()
        });
        // Not known yet: the room must read the follow first.
        assert_eq!(
            core.check_send(1, &alice, "k1", "hi", now, wall),
            SendDecision::NeedsFollow
        );
        core.set_follow(5, None, now);
        let r = core.check_send(1, &alice, "k1", "hi", now, wall);
        assert!(
            matches!(&r, SendDecision::Rejected(x) if x.code == RejectCode::FollowersOnly),
            "{r:?}"
        );
        // "Not following" is re-read after a short while (they may have just followed).
        assert_eq!(
            core.check_send(1, &alice, "k1", "hi", now + NOT_FOLLOWING_FRESH * 2, wall),
            SendDecision::NeedsFollow
        );
        // Followed 4 minutes ago, 10 needed: rejected with the wait.
        core.set_follow(5, Some(wall - chrono::Duration::minutes(4)), now);
        match core.check_send(1, &alice, "k1", "hi", now, wall) {
            SendDecision::Rejected(x) => {
                assert_eq!(x.code, RejectCode::FollowersOnly);
                let wait = x.retry_after_ms.unwrap();
                assert!((359_000..=360_000).contains(&wait), "{wait}");
                assert_eq!(
                    x.message,
                    "the chat is in followers-only mode: you can chat 10 minutes after following (in 6 minutes)"
                );
            }
            other => panic!("{other:?}"),
        }
        // Old enough.
        core.set_follow(5, Some(wall - chrono::Duration::minutes(11)), now);
        assert_eq!(
            core.check_send(1, &alice, "k1", "hi", now, wall),
            SendDecision::Queued
        );
        // Moderators and the owner are exempt without a lookup.
        let owner = viewer(100);
        let _o = join(&mut core, 2, Some(owner.clone()), None, 64);
        assert_eq!(
            core.check_send(2, &owner, "o1", "hi", now, wall),
            SendDecision::Queued
        );
    }

    #[test]
    fn join_gets_welcome_then_recent_history() {
        let mut core = room_with((1..=60).map(|i| msg(i, 5, "x")).collect());
        let mut c = join(&mut core, 1, None, None, 8);
        let frames = c.frames();
        assert_eq!(frames[0]["type"], "welcome");
        assert_eq!(frames[0]["last_id"], 60);
        assert_eq!(frames[0]["you"], serde_json::Value::Null);
        assert_eq!(frames[1]["type"], "history");
        let ids: Vec<i64> = frames[1]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, (11..=60).collect::<Vec<_>>());
        assert_eq!(frames[1]["more"], true);
    }

    #[test]
    fn send_is_delivered_only_after_commit_and_acked() {
        let mut core = room_with(Vec::new());
        let alice = viewer(5);
        let mut a = join(&mut core, 1, Some(alice.clone()), None, 8);
        let mut b = join(&mut core, 2, None, None, 8);
        a.frames();
        b.frames();
        let now = Instant::now();
        assert_eq!(
            send(&mut core, 1, &alice, "k1", " hello ", now),
            SendDecision::Queued
        );
        core.flush();
        assert!(
            b.frames().is_empty(),
            "nothing is delivered before the commit"
        );
        let batch = core.take_batch().unwrap();
        assert_eq!(batch.len(), 1);
        assert!(core.take_batch().is_none(), "one batch at a time");
        let stored = core.batch_committed(1, Utc::now());
        assert_eq!(stored[0].msg.text, "hello");
        core.flush();
        let fa = a.frames();
        assert!(
            fa.iter()
                .any(|f| f["type"] == "ack" && f["client_id"] == "k1" && f["id"] == 1)
        );
        assert_eq!(b.ids(), vec![1]);
        // A retry of a stored message is acked with the same id, not stored twice.
        assert_eq!(
            send(&mut core, 1, &alice, "k1", "hello", now),
            SendDecision::AlreadyStored(1)
        );
    }

    #[test]
    fn a_failed_batch_rejects_every_sender_and_delivers_nothing() {
        let mut core = room_with(Vec::new());
        let alice = viewer(5);
        let mut a = join(&mut core, 1, Some(alice.clone()), None, 8);
        a.frames();
        let now = Instant::now();
        send(&mut core, 1, &alice, "k1", "one", now);
        send(&mut core, 1, &alice, "k2", "two", now);
        core.take_batch().unwrap();
        // A retry while the first attempt is in flight attaches to it.
        assert_eq!(
            send(&mut core, 1, &alice, "k1", "one", now),
            SendDecision::Attached
        );
        core.batch_failed("database unavailable");
        core.flush();
        let f = a.frames();
        let rejected: Vec<_> = f.iter().filter(|f| f["type"] == "rejected").collect();
        assert_eq!(rejected.len(), 2);
        assert!(rejected.iter().all(|r| r["code"] == "unavailable"));
        assert!(!f.iter().any(|f| f["type"] == "message"));
        assert_eq!(core.head(), 0);
        // The retry after the failure is queued again.
        assert_eq!(
            send(&mut core, 1, &alice, "k1", "one", now),
            SendDecision::Queued
        );
    }

    #[test]
    fn pending_is_bounded_and_overflow_is_rejected() {
        let mut core = RoomCore::new(
            1,
            "c".into(),
            100,
            RoomState::default(),
            RoomLimits {
                max_pending: 3,
                rate_messages: 100,
                ..RoomLimits::default()
            },
        );
        let alice = viewer(5);
        let _a = join(&mut core, 1, Some(alice.clone()), None, 8);
        let now = Instant::now();
        for i in 0..3 {
            assert_eq!(
                send(&mut core, 1, &alice, &format!("k{i}"), "x", now),
                SendDecision::Queued
            );
        }
        match send(&mut core, 1, &alice, "k9", "x", now) {
            SendDecision::Rejected(r) => assert_eq!(r.code, RejectCode::Overloaded),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn out_of_order_messages_wait_for_the_gap() {
        let mut core = room_with(Vec::new());
        let mut c = join(&mut core, 1, None, None, 8);
        c.frames();
        let t0 = Instant::now();
        assert!(core.accept(msg(2, 5, "b"), t0));
        assert!(core.accept(msg(3, 5, "c"), t0));
        core.flush();
        assert!(c.ids().is_empty());
        assert_eq!(core.gap_to_fill(t0, Duration::from_millis(300)), None);
        assert_eq!(
            core.gap_to_fill(t0 + Duration::from_millis(300), Duration::from_millis(300)),
            Some((1, 1))
        );
        assert!(core.accept(msg(1, 5, "a"), t0));
        assert!(!core.accept(msg(2, 5, "b"), t0), "duplicates are dropped");
        core.flush();
        assert_eq!(c.ids(), vec![1, 2, 3]);
        assert_eq!(
            core.gap_to_fill(t0 + Duration::from_secs(9), Duration::from_millis(300)),
            None
        );
    }

    #[test]
    fn resume_sends_exactly_what_was_missed() {
        let mut core = room_with((1..=20).map(|i| msg(i, 5, "x")).collect());
        // A client that saw up to 12 reconnects.
        let mut c = join(&mut core, 1, None, Some(12), 8);
        assert_eq!(c.ids(), (13..=20).collect::<Vec<_>>());
        core.accept(msg(21, 5, "y"), Instant::now());
        core.flush();
        assert_eq!(c.ids(), vec![21]);
        // A resume on the open connection does not repeat anything it was sent.
        core.resume(1, 15);
        assert_eq!(c.ids(), Vec::<i64>::new());
        core.resume(1, 3);
        assert_eq!(c.ids(), (4..=12).collect::<Vec<_>>());
        core.resume(1, 0);
        assert_eq!(c.ids(), (1..=3).collect::<Vec<_>>());
    }

    #[test]
    fn resume_after_join_history_fills_only_older_messages() {
        let mut core = room_with((1..=100).map(|i| msg(i, 5, "x")).collect());
        let mut c = join(&mut core, 1, None, None, 8);
        assert_eq!(c.ids(), (51..=100).collect::<Vec<_>>());
        core.resume(1, 40);
        assert_eq!(c.ids(), (41..=50).collect::<Vec<_>>());
    }

    #[test]
    fn resume_past_the_ring_says_more() {
        let mut core = RoomCore::new(
            1,
            "c".into(),
            100,
            RoomState {
                head: 30,
                recent: (21..=30).map(|i| msg(i, 5, "x")).collect(),
                ..RoomState::default()
            },
            RoomLimits {
                ring_capacity: 10,
                ..RoomLimits::default()
            },
        );
        let mut c = join(&mut core, 1, None, Some(5), 8);
        let f = c.frames();
        assert_eq!(f[1]["more"], true);
        assert_eq!(f[1]["messages"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn deleted_messages_are_never_in_history() {
        let mut core = room_with((1..=5).map(|i| msg(i, 5, "x")).collect());
        core.apply_deleted(3, "mod");
        let mut c = join(&mut core, 1, None, Some(0), 8);
        assert_eq!(c.ids(), vec![1, 2, 4, 5]);
        // A delete that arrives before its message (from another node) still applies.
        core.apply_deleted(7, "mod");
        core.accept(msg(6, 5, "x"), Instant::now());
        core.accept(msg(7, 5, "x"), Instant::now());
        core.flush();
        assert_eq!(c.ids(), vec![6]);
    }

    #[test]
    fn a_full_queue_kicks_the_member_and_others_still_receive() {
        let mut core = room_with(Vec::new());
        let slow = join(&mut core, 1, None, None, 3);
        let mut fast = join(&mut core, 2, None, None, 64);
        // The slow one never reads; its queue (3) already holds the welcome batch.
        fast.frames();
        for i in 1..=5 {
            core.accept(msg(i, 5, "x"), Instant::now());
            core.flush();
        }
        assert!(slow.kick.is_cancelled(), "the slow consumer is kicked");
        assert!(!fast.kick.is_cancelled());
        assert_eq!(core.members(), 1);
        assert_eq!(fast.ids(), vec![1, 2, 3, 4, 5]);
        assert_eq!(core.counters.kicked, 1);
    }

    #[test]
    fn frames_are_serialized_once_and_shared() {
        let mut core = room_with(Vec::new());
        let mut a = join(&mut core, 1, None, None, 8);
        let mut b = join(&mut core, 2, None, None, 8);
        a.frames();
        b.frames();
        core.accept(msg(1, 5, "x"), Instant::now());
        core.flush();
        let (Ok(Outbound::Batch(x)), Ok(Outbound::Batch(y))) = (a.rx.try_recv(), b.rx.try_recv())
        else {
            panic!("both get the batch")
        };
        assert!(Arc::ptr_eq(&x, &y));
        assert_eq!(x.max_id, Some(1));
    }

    #[test]
    fn rate_limit_and_slow_mode() {
        let mut core = RoomCore::new(
            1,
            "c".into(),
            100,
            RoomState::default(),
            RoomLimits {
                rate_messages: 3,
                rate_window: Duration::from_secs(30),
                ..RoomLimits::default()
            },
        );
        let alice = viewer(5);
        let _a = join(&mut core, 1, Some(alice.clone()), None, 64);
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                send(&mut core, 1, &alice, &format!("k{i}"), "x", t0),
                SendDecision::Queued
            );
        }
        match send(
            &mut core,
            1,
            &alice,
            "k3",
            "x",
            t0 + Duration::from_secs(10),
        ) {
            SendDecision::Rejected(r) => {
                assert_eq!(r.code, RejectCode::RateLimited);
                assert_eq!(r.retry_after_ms, Some(20_000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            send(
                &mut core,
                1,
                &alice,
                "k4",
                "x",
                t0 + Duration::from_secs(31)
            ),
            SendDecision::Queued
        );

        core.apply_mode(RoomMode {
            slow_seconds: 10,
            ..RoomMode::default()
        });
        let bob = viewer(6);
        let _b = join(&mut core, 2, Some(bob.clone()), None, 64);
        let t1 = t0 + Duration::from_secs(100);
        assert_eq!(
            send(&mut core, 2, &bob, "b1", "x", t1),
            SendDecision::Queued
        );
        match send(&mut core, 2, &bob, "b2", "x", t1 + Duration::from_secs(4)) {
            SendDecision::Rejected(r) => {
                assert_eq!(r.code, RejectCode::SlowMode);
                assert_eq!(r.retry_after_ms, Some(6_000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            send(&mut core, 2, &bob, "b3", "x", t1 + Duration::from_secs(10)),
            SendDecision::Queued
        );
        // Moderators are exempt from slow mode.
        core.set_moderators([7].into());
        let m = viewer(7);
        let _m = join(&mut core, 3, Some(m.clone()), None, 64);
        assert_eq!(send(&mut core, 3, &m, "m1", "x", t1), SendDecision::Queued);
        assert_eq!(send(&mut core, 3, &m, "m2", "x", t1), SendDecision::Queued);
    }

    #[test]
    fn bans_timeouts_modes_and_terms_reject_viewers_only() {
        let mut core = room_with(Vec::new());
        let alice = viewer(5);
        let now = Instant::now();
        let wall = Utc::now();
        let _a = join(&mut core, 1, Some(alice.clone()), None, 64);
        core.apply_ban(
            5,
            "u5",
            Some(wall + chrono::Duration::seconds(60)),
            None,
            "mod",
            wall,
        );
        match core.check_send(1, &alice, "k", "hi", now, wall) {
            SendDecision::Rejected(r) => {
                assert_eq!(r.code, RejectCode::TimedOut);
                assert_eq!(r.retry_after_ms, Some(60_000));
                assert_eq!(r.message, "you are timed out for another 1 minute");
            }
            other => panic!("{other:?}"),
        }
        // The timeout expires.
        assert_eq!(
            core.check_send(
                1,
                &alice,
                "k",
                "hi",
                now,
                wall + chrono::Duration::seconds(61)
            ),
            SendDecision::Queued
        );
        core.apply_ban(5, "u5", None, Some("spam".into()), "mod", wall);
        assert!(matches!(
            core.check_send(1, &alice, "k2", "hi", now, wall),
            SendDecision::Rejected(Rejection {
                code: RejectCode::Banned,
                ..
            })
        ));
        core.apply_unban(5, "u5", "mod");

        core.apply_mode(RoomMode {
            emote_only: true,
            ..RoomMode::default()
        });
        assert!(matches!(
            core.check_send(1, &alice, "k3", "hi", now, wall),
            SendDecision::Rejected(Rejection {
                code: RejectCode::EmoteOnly,
                ..
            })
        ));
        assert_eq!(
            core.check_send(1, &alice, "k4", ":wave: :heart:", now, wall),
            SendDecision::Queued
        );
        core.apply_mode(RoomMode::default());

        core.set_blocked_terms(vec!["Forbidden".into()]);
        assert!(matches!(
            core.check_send(1, &alice, "k5", "so ＦＯＲＢＩＤＤＥＮ", now, wall),
            SendDecision::Rejected(Rejection {
                code: RejectCode::BlockedTerm,
                ..
            })
        ));
        // The owner is not held to the room's rules.
        let owner = viewer(100);
        let _o = join(&mut core, 2, Some(owner.clone()), None, 64);
        assert_eq!(
            core.check_send(2, &owner, "o1", "forbidden", now, wall),
            SendDecision::Queued
        );
    }

    #[test]
    fn who_may_moderate_whom() {
        use ChatRole::*;
        assert!(!RoomCore::may_act_on(Viewer, Viewer));
        assert!(RoomCore::may_act_on(Moderator, Viewer));
        assert!(!RoomCore::may_act_on(Moderator, Moderator));
        assert!(!RoomCore::may_act_on(Moderator, Owner));
        assert!(RoomCore::may_act_on(Owner, Moderator));
        assert!(!RoomCore::may_act_on(Owner, Admin));
        assert!(RoomCore::may_act_on(Admin, Owner));
        assert!(!RoomCore::may_act_on(Admin, Admin));
    }

    #[test]
    fn text_is_validated_before_queueing() {
        let mut core = room_with(Vec::new());
        let alice = viewer(5);
        let _a = join(&mut core, 1, Some(alice.clone()), None, 64);
        let now = Instant::now();
        assert!(matches!(
            send(&mut core, 1, &alice, "k", "   ", now),
            SendDecision::Rejected(Rejection {
                code: RejectCode::Invalid,
                ..
            })
        ));
        assert!(matches!(
            send(&mut core, 1, &alice, "k", &"x".repeat(501), now),
            SendDecision::Rejected(Rejection {
                code: RejectCode::Invalid,
                ..
            })
        ));
        assert!(matches!(
            send(&mut core, 1, &alice, "", "x", now),
            SendDecision::Rejected(Rejection {
                code: RejectCode::Invalid,
                ..
            })
        ));
        assert_eq!(
            send(&mut core, 1, &alice, "k", &"x".repeat(500), now),
            SendDecision::Queued
        );
    }
}
