//! [`ChatDirectory`]: creates a [`ChatRoom`] per channel on first join, forgets it when it
//! stops (idle, or failed: the next join starts a fresh one and its sessions resume from the
//! last id they had), counts restarts for the health tree, and purges old messages.
//! [`ChatHandle`] is what HTTP holds.
//!
//! Parent: the [`Registry`](crate::Registry), seen through an [`ExitReport`]. Children: the
//! rooms, each holding a `CountedRecipient<RoomStopped>`. In: [`GetRoom`], [`ReloadRoom`],
//! [`RestartRoom`], [`CloseRoom`], [`GetChatHealth`], [`RoomStopped`]. Out: rooms started and
//! stopped, retention purges.
//!
//! Restart strategy. Rooms: one-for-one, on demand. A room that fails is forgotten and its
//! failure counted per channel; its sessions see their queue end and rejoin with backoff, and
//! the join starts a fresh room, which reloads its ring from the database, so they resume from
//! the last id they had. On demand rather than on a timer because a room exists only while
//! someone is in it (an idle room stops): the members' rejoin is the restart, and a room
//! nobody rejoins has no one to serve. The directory: restarted by the registry with backoff. It holds
//! nothing that must survive: when it goes (stopped, or dropped by a panic) it stops its rooms,
//! whose sessions rejoin through the [`ChatHandle`], which always sends to the current
//! directory ([`Current`]); joins during the backoff fail and are retried by the sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde::Serialize;

use super::cluster::{ChatCluster, RoomEvent};
use super::deps::{ChatConfig, ChatDeps, RoomStats, RoomStopped};
use super::room::{ChatRoom, Reload, RoomKey};
use super::store;
use crate::health::{ActorHealth, ActorNode};
use crate::locks::lock;
use crate::presence::PresenceHandle;
use crate::stats::{ActorStats, Current, DeadLetters, Mailbox};
use crate::supervision::ExitReport;

#[derive(Message)]
#[rtype(result = "Mailbox<ChatRoom>")]
pub struct GetRoom(pub RoomKey);

/// Forward to the room, if it runs here.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadRoom(pub i64);

#[derive(Message)]
#[rtype(result = "ChatHealth")]
pub struct GetChatHealth;

/// Admin: stop a room now; its sessions rejoin a fresh one and resume. `false` if the
/// channel's room does not run on this node.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct RestartRoom(pub i64);

/// Admin: stop a room for good on this node (its sessions are told the room closed and
/// rejoin later, which starts a fresh one). Not counted as a failure. `false` if not running.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct CloseRoom(pub i64);

/// One room in the health tree.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RoomHealth {
    pub actor: ActorHealth,
    pub channel_id: i64,
    pub slug: String,
    pub members: usize,
    /// Messages accepted and waiting to be stored.
    pub pending: usize,
    pub messages: u64,
    pub delivered_frames: u64,
    pub slow_consumers_closed: u64,
    pub rejected: u64,
}

/// The chat part of the health tree.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ChatHealth {
    pub directory: ActorHealth,
    pub rooms: Vec<RoomHealth>,
    /// `null` without Redis; otherwise `ok` or `degraded: ...`.
    pub redis: Option<String>,
}

struct Entry {
    addr: Mailbox<ChatRoom>,
    key: RoomKey,
    generation: u64,
    stats: Arc<RoomStats>,
    started: Instant,
}

pub struct ChatDirectory {
    /// What every room gets (the directory's own address included).
    deps: Arc<ChatDeps>,
    rooms: HashMap<i64, Entry>,
    /// Failed rooms per channel, and the last error, kept after the room is gone.
    restarts: HashMap<i64, (u32, Option<String>)>,
    next_generation: u64,
    started: Instant,
    stats: Arc<ActorStats>,
    exit: ExitReport,
}

/// What a directory needs to start, kept by the [`ChatHandle`] to start the next one.
#[derive(Clone)]
struct DirectorySpec {
    cfg: ChatConfig,
    db: DatabaseConnection,
    cluster: Option<ChatCluster>,
    presence: PresenceHandle,
    dead_letters: DeadLetters,
}

impl ChatDirectory {
    /// Starts a directory; rooms get its address to report that they stopped.
    fn start(spec: DirectorySpec, stats: Arc<ActorStats>, exit: ExitReport) -> Mailbox<Self> {
        let addr = Self::create(|ctx| Self {
            deps: Arc::new(ChatDeps {
                cfg: spec.cfg,
                db: spec.db,
                cluster: spec.cluster,
                presence: spec.presence,
                directory: Mailbox::new(ctx.address(), Arc::clone(&stats)).recipient(),
                dead_letters: spec.dead_letters,
            }),
            rooms: HashMap::new(),
            restarts: HashMap::new(),
            next_generation: 0,
            started: Instant::now(),
            stats: Arc::clone(&stats),
            exit,
        });
        Mailbox::new(addr, stats)
    }

    fn purge(&self, ctx: &mut Context<Self>) {
        let db = self.deps.db.clone();
        let Ok(retention) = chrono::Duration::from_std(self.deps.cfg.retention) else {
            return;
        };
        let cutoff = Utc::now() - retention;
        ctx.spawn(
            async move {
                match store::purge_before(&db, cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "chat: removed messages past retention"),
                    Err(e) => tracing::warn!(error = %e, "chat: retention purge failed"),
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for ChatDirectory {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.purge(ctx);
        ctx.run_interval(Duration::from_secs(3600), |act, ctx| act.purge(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.stats.stopped();
        self.exit.send(self.stats.exit_reason());
    }
}

/// However the directory goes, its rooms go with it: their sessions rejoin the next one.
impl Drop for ChatDirectory {
    fn drop(&mut self) {
        for e in self.rooms.values() {
            e.addr
                .do_send(super::room::Stop("the chat directory restarted".into()));
        }
    }
}

impl Handler<crate::supervision::StopService> for ChatDirectory {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::StopService, ctx: &mut Context<Self>) {
        let _h = self.stats.handling();
        tracing::warn!(reason = %msg.0, "chat directory stopping");
        self.exit.send(msg.0);
        ctx.stop();
    }
}

#[cfg(any(test, feature = "fault-injection"))]
impl Handler<crate::supervision::InjectFault> for ChatDirectory {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::InjectFault, ctx: &mut Context<Self>) {
        let _h = self.stats.handling();
        let reason = msg.reason_or_panic();
        tracing::warn!(%reason, "chat directory: injected fault");
        self.exit.send(reason);
        ctx.stop();
    }
}

/// Test builds only: fail the channel's room (as a crash, counted).
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Message)]
#[rtype(result = "bool")]
pub struct InjectRoomFault {
    pub channel_id: i64,
    /// The room's handler panics instead of the room stopping.
    pub panic: bool,
}

#[cfg(any(test, feature = "fault-injection"))]
impl Handler<InjectRoomFault> for ChatDirectory {
    type Result = bool;

    fn handle(&mut self, msg: InjectRoomFault, _: &mut Context<Self>) -> bool {
        let _h = self.stats.handling();
        match self.rooms.get(&msg.channel_id) {
            Some(e) if msg.panic => {
                e.addr
                    .do_send(crate::supervision::InjectFault::new("injected panic", true));
                true
            }
            Some(e) => {
                e.addr.do_send(super::room::Stop("injected fault".into()));
                true
            }
            None => false,
        }
    }
}

impl Handler<GetRoom> for ChatDirectory {
    type Result = MessageResult<GetRoom>;

    fn handle(&mut self, msg: GetRoom, _: &mut Context<Self>) -> Self::Result {
        let _h = self.stats.handling();
        let key = msg.0;
        if let Some(e) = self.rooms.get(&key.channel_id)
            && e.addr.connected()
        {
            return MessageResult(e.addr.clone());
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        let stats = Arc::new(RoomStats::new(self.deps.dead_letters.clone()));
        let addr = Mailbox::new(
            ChatRoom::new(key.clone(), generation, self.deps.clone(), stats.clone()).start(),
            Arc::clone(&stats.actor),
        );
        self.rooms.insert(
            key.channel_id,
            Entry {
                addr: addr.clone(),
                key,
                generation,
                stats,
                started: Instant::now(),
            },
        );
        MessageResult(addr)
    }
}

impl Handler<RoomStopped> for ChatDirectory {
    type Result = ();

    fn handle(&mut self, msg: RoomStopped, _: &mut Context<Self>) {
        let _h = self.stats.handling();
        if self
            .rooms
            .get(&msg.channel_id)
            .is_some_and(|e| e.generation == msg.generation)
            && let Some(e) = self.rooms.remove(&msg.channel_id)
        {
            e.stats.actor.stopped();
            // A failure of the current room (not of one already forgotten: closed, replaced).
            if let Some(error) = msg.error {
                let r = self.restarts.entry(msg.channel_id).or_default();
                r.0 += 1;
                r.1 = Some(error);
            }
        }
    }
}

impl Handler<ReloadRoom> for ChatDirectory {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: ReloadRoom, _: &mut Context<Self>) -> Self::Result {
        let _h = self.stats.handling();
        let room = self.rooms.get(&msg.0).map(|e| e.addr.clone());
        Box::pin(async move {
            if let Some(room) = room {
                let _ = room.send(Reload).await;
            }
        })
    }
}

impl Handler<RestartRoom> for ChatDirectory {
    type Result = bool;

    fn handle(&mut self, msg: RestartRoom, _: &mut Context<Self>) -> bool {
        let _h = self.stats.handling();
        match self.rooms.get(&msg.0) {
            Some(e) => {
                e.addr
                    .do_send(super::room::Stop("restarted by an administrator".into()));
                true
            }
            None => false,
        }
    }
}

impl Handler<CloseRoom> for ChatDirectory {
    type Result = bool;

    fn handle(&mut self, msg: CloseRoom, _: &mut Context<Self>) -> bool {
        let _h = self.stats.handling();
        // Forgotten first, so its stop report is stale and counts no failure.
        let Some(e) = self.rooms.remove(&msg.0) else {
            return false;
        };
        e.addr
            .do_send(super::room::Stop("closed by an administrator".into()));
        true
    }
}

impl Handler<GetChatHealth> for ChatDirectory {
    type Result = MessageResult<GetChatHealth>;

    fn handle(&mut self, _: GetChatHealth, _: &mut Context<Self>) -> Self::Result {
        let _h = self.stats.handling();
        let now = Instant::now();
        let mut rooms: Vec<RoomHealth> = self
            .rooms
            .values()
            .map(|e| {
                let (restarts, restart_error) = self
                    .restarts
                    .get(&e.key.channel_id)
                    .cloned()
                    .unwrap_or_default();
                let last_error = lock(&e.stats.last_error).clone().or(restart_error);
                RoomHealth {
                    actor: ActorHealth {
                        kind: "chat_room".into(),
                        id: e.key.slug.clone(),
                        state: if e.addr.connected() {
                            "running"
                        } else {
                            "stopped"
                        }
                        .into(),
                        uptime_s: e.started.elapsed().as_secs_f64(),
                        restarts,
                        last_error,
                        ..ActorHealth::default()
                    }
                    .with_stats(e.stats.actor.snapshot(now)),
                    channel_id: e.key.channel_id,
                    slug: e.key.slug.clone(),
                    members: e.stats.members.load(Ordering::Relaxed),
                    pending: e.stats.pending.load(Ordering::Relaxed),
                    messages: e.stats.messages.load(Ordering::Relaxed),
                    delivered_frames: e.stats.delivered.load(Ordering::Relaxed),
                    slow_consumers_closed: e.stats.kicked.load(Ordering::Relaxed),
                    rejected: e.stats.rejected.load(Ordering::Relaxed),
                }
            })
            .collect();
        rooms.sort_by(|a, b| a.slug.cmp(&b.slug));
        let redis = self.deps.cluster.as_ref().map(|c| {
            if c.healthy() {
                "ok".to_owned()
            } else {
                format!("degraded: {}", c.last_error().unwrap_or_default())
            }
        });
        let degraded = redis.as_deref().is_some_and(|r| r != "ok");
        MessageResult(ChatHealth {
            directory: ActorHealth {
                kind: "chat_directory".into(),
                id: "chat".into(),
                state: if degraded { "degraded" } else { "running" }.into(),
                uptime_s: self.started.elapsed().as_secs_f64(),
                // The directory's own restarts are the registry's to count (its slot).
                restarts: 0,
                last_error: redis.filter(|_| degraded),
                ..ActorHealth::default()
            }
            .with_stats(self.stats.snapshot(now)),
            rooms,
            redis: self.deps.cluster.as_ref().map(|c| {
                if c.healthy() {
                    "ok".into()
                } else {
                    "degraded".into()
                }
            }),
        })
    }
}

/// What the HTTP side holds. Sends go to the directory running now, so the handle outlives
/// the directory's restarts.
#[derive(Clone)]
pub struct ChatHandle {
    directory: Current<ChatDirectory>,
    spec: DirectorySpec,
    pub cluster: Option<ChatCluster>,
    pub cfg: ChatConfig,
}

impl ChatHandle {
    /// Starts the directory (and with Redis the cluster reader). Inside an actix System.
    pub(crate) fn start(
        cfg: ChatConfig,
        db: DatabaseConnection,
        presence: PresenceHandle,
        redis: Option<(deadpool_redis::Pool, String, String)>,
        stats: Arc<ActorStats>,
        exit: ExitReport,
    ) -> Self {
        let cluster =
            redis.map(|(pool, prefix, node_id)| ChatCluster::start(pool, prefix, node_id));
        let spec = DirectorySpec {
            cfg: cfg.clone(),
            db,
            cluster: cluster.clone(),
            presence,
            dead_letters: stats_dead_letters(&stats),
        };
        let directory = Current::new(ChatDirectory::start(spec.clone(), stats, exit));
        Self {
            directory,
            spec,
            cluster,
            cfg,
        }
    }

    /// The registry's restart: a fresh directory with no rooms (sessions rejoin it).
    pub(crate) fn restart(&self, stats: Arc<ActorStats>, exit: ExitReport) {
        self.directory
            .set(ChatDirectory::start(self.spec.clone(), stats, exit));
    }

    /// The directory running now.
    pub fn directory(&self) -> Mailbox<ChatDirectory> {
        self.directory.get()
    }

    /// The channel's room on this node, started if needed.
    pub async fn room(&self, key: RoomKey) -> Result<Mailbox<ChatRoom>, MailboxError> {
        self.directory.get().send(GetRoom(key)).await
    }

    /// Moderators or blocked terms changed: every node's room reloads them. Returns once
    /// this node's room (if it runs) has them.
    pub async fn settings_changed(&self, channel_id: i64) {
        if let Some(c) = &self.cluster {
            c.publish(channel_id, RoomEvent::Reload);
        }
        let _ = self.directory.get().send(ReloadRoom(channel_id)).await;
    }

    /// Admin: restart the channel's room on this node.
    pub async fn restart_room(&self, channel_id: i64) -> bool {
        self.directory
            .get()
            .send(RestartRoom(channel_id))
            .await
            .unwrap_or(false)
    }

    /// Admin: close the channel's room on this node.
    pub async fn close_room(&self, channel_id: i64) -> bool {
        self.directory
            .get()
            .send(CloseRoom(channel_id))
            .await
            .unwrap_or(false)
    }

    /// Test builds only: fail the channel's room.
    #[cfg(any(test, feature = "fault-injection"))]
    pub async fn inject_room_fault(&self, channel_id: i64, panic: bool) -> bool {
        self.directory
            .get()
            .send(InjectRoomFault { channel_id, panic })
            .await
            .unwrap_or(false)
    }

    /// With Redis configured and unreachable, chat across nodes is degraded.
    pub fn degraded(&self) -> bool {
        self.cluster.as_ref().is_some_and(|c| !c.healthy())
    }

    pub async fn health(&self) -> ChatHealth {
        match self.directory.get().send(GetChatHealth).await {
            Ok(h) => h,
            Err(e) => ChatHealth {
                directory: ActorHealth {
                    last_error: Some(e.to_string()),
                    ..ActorHealth::new("chat_directory", "chat", "restarting")
                },
                rooms: Vec::new(),
                redis: None,
            },
        }
    }
}

fn stats_dead_letters(stats: &ActorStats) -> DeadLetters {
    stats.dead_letters().clone()
}

impl ChatHealth {
    /// The directory and its rooms as nodes of the tree.
    pub fn node(&self) -> ActorNode {
        ActorNode {
            actor: self.directory.clone(),
            figures: Vec::new(),
            children: self
                .rooms
                .iter()
                .map(|r| {
                    ActorNode::leaf(r.actor.clone())
                        .figure("members", r.members as f64)
                        .figure("pending_writes", r.pending as f64)
                        .figure("messages", r.messages as f64)
                        .figure("rejected", r.rejected as f64)
                        .figure("slow_consumers_closed", r.slow_consumers_closed as f64)
                })
                .collect(),
        }
    }
}
