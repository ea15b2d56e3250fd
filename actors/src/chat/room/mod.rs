//! [`ChatRoom`]: one actor per channel per node. It owns a [`RoomCore`] and does the I/O the
//! core asks for: storing batches (one transaction at a time, so batches form while one is
//! committing), moderation writes (decided by [`policy`]), publishing to other nodes, closing
//! gaps from the database, and a flush of the shared outbox every [`FLUSH_EVERY`] at most.
//!
//! Parent: the [`ChatDirectory`](super::ChatDirectory), seen as a `Recipient<RoomStopped>`.
//! Children: none (sessions are members, reached through bounded queues, never addresses).
//! In: [`Join`], [`Leave`], [`Command`] (chat and moderation, from sockets and REST),
//! [`Reload`], [`Stop`], [`RemoteEvents`] (other nodes), its own 1 s tick (gaps, viewer
//! count, idle stop).
//! Out: frames to members (`try_send`), [`RoomEvent`]s to other nodes, rows through
//! [`store`], and `RoomStopped` to the directory when it stops.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use super::cluster::{RemoteEvents, RoomEvent};
use super::core::{JoinUser, MemberHandle, Rejection, RoomCore, SendDecision, SessionId};
use super::deps::{ChatDeps, RoomStats, RoomStopped};
use super::policy::{self, DeleteStep, Plan};
use super::protocol::{ChatRole, ClientMsg, RejectCode, RoomMode, ServerMsg};
use super::store;
use crate::locks::lock;
use crate::stats::Mailbox;

mod flush;
mod moderation;
mod writes;

pub use flush::FLUSH_EVERY;
use flush::flush_delay;

/// Which channel a room is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomKey {
    pub channel_id: i64,
    pub slug: String,
    pub owner_id: i64,
}

/// A session joins (its queue and kick token are the room's from now on).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    pub session: SessionId,
    pub handle: MemberHandle,
    pub user: Option<JoinUser>,
    pub resume_from: Option<i64>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub session: SessionId,
}

/// A request from a session (`session` set: replies go to its queue) or from REST (`user`
/// set: the result is the reply).
#[derive(Message)]
#[rtype(result = "Result<(), Rejection>")]
pub struct Command {
    pub session: Option<SessionId>,
    pub user: Option<JoinUser>,
    pub msg: ClientMsg,
}

/// Stop now, counted as a failure (`reason` becomes the last error).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop(pub String);

/// Read moderators and blocked terms again (changed over REST).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload;

pub struct ChatRoom {
    key: RoomKey,
    generation: u64,
    deps: Arc<ChatDeps>,
    stats: Arc<RoomStats>,
    core: Option<RoomCore>,
    flush_scheduled: bool,
    last_flush: Instant,
    writing: bool,
    /// A store failed and may have committed all the same: what the database holds past the
    /// head is read before the next write ([`RoomCore::settle_stored`]).
    unsure: bool,
    loading: bool,
    idle_since: Option<Instant>,
    last_viewers: Option<u64>,
    last_viewer_push: Option<Instant>,
    seen_epoch: u64,
    error: Option<String>,
}

impl ChatRoom {
    pub(crate) fn new(
        key: RoomKey,
        generation: u64,
        deps: Arc<ChatDeps>,
        stats: Arc<RoomStats>,
    ) -> Self {
        let seen_epoch = deps.cluster.as_ref().map_or(0, |c| c.epoch());
        Self {
            key,
            generation,
            deps,
            stats,
            core: None,
            flush_scheduled: false,
            last_flush: Instant::now(),
            writing: false,
            unsure: false,
            loading: false,
            idle_since: None,
            last_viewers: None,
            last_viewer_push: None,
            seen_epoch,
            error: None,
        }
    }

    fn update_stats(&self) {
        if let Some(core) = &self.core {
            self.stats.members.store(core.members(), Ordering::Relaxed);
            self.stats.pending.store(core.pending(), Ordering::Relaxed);
            self.stats
                .delivered
                .store(core.counters.delivered_frames, Ordering::Relaxed);
            self.stats
                .kicked
                .store(core.counters.kicked, Ordering::Relaxed);
            self.stats
                .messages
                .store(core.counters.messages, Ordering::Relaxed);
            self.stats
                .rejected
                .store(core.counters.rejected, Ordering::Relaxed);
        }
    }

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        let has = self.core.as_ref().is_some_and(RoomCore::has_outbox);
        if has && !self.flush_scheduled {
            self.flush_scheduled = true;
            // Zero when the room is quiet: still after the messages already in the mailbox, so
            // they go out together.
            let delay = flush_delay(self.last_flush.elapsed());
            ctx.run_later(delay, |act, _| {
                act.flush_scheduled = false;
                act.last_flush = Instant::now();
                if let Some(core) = act.core.as_mut() {
                    let kicked = core.flush();
                    if !kicked.is_empty() {
                        tracing::info!(channel = %act.key.slug, kicked = kicked.len(), "chat: closed slow consumers");
                    }
                }
                act.update_stats();
            });
        }
    }

    fn publish(&self, event: RoomEvent) {
        if let Some(cluster) = &self.deps.cluster {
            cluster.publish(self.key.channel_id, event);
        }
    }

    fn apply_remote(&mut self, event: RoomEvent, ctx: &mut Context<Self>) {
        let Some(core) = self.core.as_mut() else {
            return;
        };
        match event {
            RoomEvent::Message(m) => {
                core.accept(m, Instant::now());
            }
            RoomEvent::Deleted { id, by } => core.apply_deleted(id, &by),
            RoomEvent::Ban {
                user_id,
                user,
                until,
                reason,
                by,
            } => core.apply_ban(user_id, &user, until, reason, &by, Utc::now()),
            RoomEvent::Unban { user_id, user, by } => core.apply_unban(user_id, &user, &by),
            RoomEvent::Mode(mode) => core.apply_mode(mode),
            RoomEvent::Reload => self.reload(ctx),
        }
    }

    fn reload(&mut self, ctx: &mut Context<Self>) {
        ctx.spawn(self.reloaded());
    }

    /// Reads moderators, bans, modes and blocked terms again and puts them in force.
    fn reloaded(&self) -> impl ActorFuture<Self, Output = ()> + use<> {
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        async move { store::load_moderation(&db, channel_id).await }
            .into_actor(self)
            .map(|res, act: &mut Self, _| match res {
                Ok(state) => {
                    if let Some(core) = act.core.as_mut() {
                        core.reload(state);
                    }
                }
                Err(e) => {
                    *lock(&act.stats.last_error) = Some(format!("reloading settings: {e}"));
                }
            })
    }

    /// Loads `from..=to` from the database and delivers it (a gap, or other nodes' messages
    /// while Redis is away). One load at a time.
    fn fill(&mut self, from: i64, to: i64, ctx: &mut Context<Self>) {
        if self.loading {
            return;
        }
        self.loading = true;
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        ctx.spawn(
            async move { store::range(&db, channel_id, from, to).await }
                .into_actor(self)
                .map(|res, act, ctx| {
                    act.loading = false;
                    match res {
                        Ok(rows) => {
                            if let Some(core) = act.core.as_mut() {
                                let now = Instant::now();
                                for m in rows {
                                    core.accept(m, now);
                                }
                            }
                            act.schedule_flush(ctx);
                        }
                        Err(e) => {
                            *lock(&act.stats.last_error) = Some(format!("filling a gap: {e}"));
                        }
                    }
                }),
        );
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let Some(core) = self.core.as_mut() else {
            return;
        };
        core.prune(now);
        if let Some((from, to)) = core.gap_to_fill(now, self.deps.cfg.gap_patience) {
            self.fill(from, to, ctx);
        }
        // Without Redis between nodes, other nodes' messages come from the database.
        if let Some(cluster) = self.deps.cluster.clone() {
            let epoch = cluster.epoch();
            if !cluster.healthy() || epoch != self.seen_epoch {
                if epoch != self.seen_epoch {
                    self.seen_epoch = epoch;
                    self.reload(ctx);
                }
                if let Some(head) = self.core.as_ref().map(RoomCore::head) {
                    self.fill(head + 1, head + 500, ctx);
                }
            }
        }
        // Viewer count, when it changes.
        let due = self
            .last_viewer_push
            .is_none_or(|t| now.saturating_duration_since(t) >= self.deps.cfg.viewer_count_every);
        if due {
            let count = self.deps.presence.count(&self.key.slug);
            if self.last_viewers != Some(count) {
                self.last_viewers = Some(count);
                self.last_viewer_push = Some(now);
                if let Some(core) = self.core.as_mut() {
                    core.broadcast_viewer_count(count);
                }
            }
        }
        self.schedule_flush(ctx);
        // Idle: nobody here and nothing to store.
        let idle = self
            .core
            .as_ref()
            .is_some_and(|c| c.members() == 0 && c.pending() == 0)
            && !self.writing;
        if idle {
            let since = *self.idle_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= self.deps.cfg.idle_timeout {
                ctx.stop();
            }
        } else {
            self.idle_since = None;
        }
        self.update_stats();
    }
}

fn reject(
    code: RejectCode,
    message: impl Into<String>,
) -> ResponseActFuture<ChatRoom, Result<(), Rejection>> {
    Box::pin(fut::ready(Err(Rejection::new(code, message))))
}

fn unavailable(e: sea_orm::DbErr) -> Rejection {
    tracing::warn!(error = %e, "chat: a moderation read or write failed");
    Rejection::new(
        RejectCode::Unavailable,
        "the database is unavailable; retry",
    )
}

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.deps.cfg.room_mailbox);
        let deps = self.deps.clone();
        let channel_id = self.key.channel_id;
        let me =
            Mailbox::new(ctx.address(), Arc::clone(&self.stats.actor)).recipient::<RemoteEvents>();
        // Nothing else is handled until the room is loaded (joins wait in the mailbox).
        ctx.wait(
            async move {
                if let Some(cluster) = &deps.cluster {
                    cluster.subscribe(channel_id, me).await;
                }
                store::load_room(&deps.db, channel_id, deps.cfg.limits.ring_capacity).await
            }
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(state) => {
                    act.core = Some(RoomCore::new(
                        act.key.channel_id,
                        act.key.slug.clone(),
                        act.key.owner_id,
                        state,
                        act.deps.cfg.limits.clone(),
                    ));
                    act.update_stats();
                }
                Err(e) => {
                    tracing::warn!(channel = %act.key.slug, error = %e, "chat: loading the room failed");
                    act.error = Some(format!("loading: {e}"));
                    ctx.stop();
                }
            }),
        );
        ctx.run_interval(Duration::from_secs(1), |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(core) = self.core.as_mut() {
            core.flush();
        }
        if let Some(cluster) = &self.deps.cluster {
            cluster.unsubscribe(self.key.channel_id);
        }
        self.stats.members.store(0, Ordering::Relaxed);
        // actix runs `stopped()` also when a handler panicked (as the task is dropped).
        let error = self.error.take().or_else(|| {
            self.stats
                .actor
                .take_panicked()
                .then(|| "a handler panicked".to_owned())
        });
        self.deps.directory.do_send(RoomStopped {
            channel_id: self.key.channel_id,
            generation: self.generation,
            error,
        });
    }
}

/// Test builds only: the room fails, as a stop or as a handler that panics.
#[cfg(any(test, feature = "fault-injection"))]
impl Handler<crate::supervision::InjectFault> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::InjectFault, ctx: &mut Context<Self>) {
        let _h = self.stats.actor.handling();
        let reason = msg.reason_or_panic();
        self.error = Some(reason);
        ctx.stop();
    }
}

impl Handler<Join> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        let _h = self.stats.actor.handling();
        if let Some(core) = self.core.as_mut() {
            core.join(msg.session, msg.handle, msg.user, msg.resume_from);
            self.idle_since = None;
        }
        self.update_stats();
    }
}

impl Handler<Leave> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        let _h = self.stats.actor.handling();
        if let Some(core) = self.core.as_mut() {
            core.leave(msg.session);
        }
        self.update_stats();
    }
}

impl Handler<Command> for ChatRoom {
    type Result = ResponseActFuture<Self, Result<(), Rejection>>;

    fn handle(&mut self, cmd: Command, ctx: &mut Context<Self>) -> Self::Result {
        let _h = self.stats.actor.handling();
        let Some(core) = self.core.as_mut() else {
            return reject(RejectCode::Unavailable, "the room is starting");
        };
        let session = cmd.session;
        let user = match (session, cmd.user) {
            (_, Some(u)) => Some(u),
            (Some(s), None) => core.member_user(s).cloned(),
            (None, None) => None,
        };
        let action = cmd.msg.action();
        let client_id = match &cmd.msg {
            ClientMsg::Send { client_id, .. } => Some(client_id.clone()),
            _ => None,
        };
        let result: ResponseActFuture<Self, Result<(), Rejection>> = match cmd.msg {
            ClientMsg::Ping => {
                if let Some(s) = session {
                    core.reply(s, &ServerMsg::Pong);
                }
                Box::pin(fut::ready(Ok(())))
            }
            ClientMsg::Resume { last_id } => {
                if let Some(s) = session {
                    core.resume(s, last_id);
                }
                Box::pin(fut::ready(Ok(())))
            }
            ClientMsg::Send { client_id, text } => {
                let Some(user) = user else {
                    return self.finish(
                        session,
                        action,
                        Some(client_id),
                        reject(RejectCode::LoginRequired, "log in to chat"),
                    );
                };
                let decision = core.check_send(
                    session.unwrap_or(0),
                    &user,
                    &client_id,
                    &text,
                    Instant::now(),
                    Utc::now(),
                );
                match decision {
                    SendDecision::Queued => {
                        self.write_next(ctx);
                        self.update_stats();
                        Box::pin(fut::ready(Ok(())))
                    }
                    SendDecision::Attached => Box::pin(fut::ready(Ok(()))),
                    SendDecision::AlreadyStored(id) => {
                        if let Some(s) = session {
                            core.reply(
                                s,
                                &ServerMsg::Ack {
                                    client_id: client_id.clone(),
                                    id,
                                },
                            );
                        }
                        Box::pin(fut::ready(Ok(())))
                    }
                    SendDecision::Rejected(r) => Box::pin(fut::ready(Err(r))),
                    SendDecision::NeedsFollow => {
                        return self.follow_then_send(session, user, client_id, text, action);
                    }
                }
            }
            other => match user {
                None => reject(RejectCode::LoginRequired, "log in to moderate"),
                Some(user) => self.moderate(user, other),
            },
        };
        self.schedule_flush(ctx);
        self.finish(session, action, client_id, result)
    }
}

impl ChatRoom {
    /// Followers-only mode without a fresh follow for `user`: read it, then handle the send
    /// again (which replies).
    fn follow_then_send(
        &mut self,
        session: Option<SessionId>,
        user: JoinUser,
        client_id: String,
        text: String,
        action: &'static str,
    ) -> ResponseActFuture<Self, Result<(), Rejection>> {
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        let user_id = user.id;
        let lookup = async move { store::followed_at(&db, channel_id, user_id).await };
        Box::pin(lookup.into_actor(self).then(move |res, act, ctx| {
            let Some(core) = act.core.as_mut() else {
                let r = Rejection::new(RejectCode::Unavailable, "the room is starting");
                return act.finish(
                    session,
                    action,
                    Some(client_id),
                    Box::pin(fut::ready(Err(r))),
                );
            };
            match res {
                Ok(at) => {
                    core.set_follow(user_id, at, Instant::now());
                    let cmd = Command {
                        session,
                        user: Some(user),
                        msg: ClientMsg::Send { client_id, text },
                    };
                    <Self as Handler<Command>>::handle(act, cmd, ctx)
                }
                Err(e) => act.finish(
                    session,
                    action,
                    Some(client_id),
                    Box::pin(fut::ready(Err(unavailable(e)))),
                ),
            }
        }))
    }

    /// Sends a session the `rejected` for a refused command.
    fn finish(
        &mut self,
        session: Option<SessionId>,
        action: &'static str,
        client_id: Option<String>,
        fut: ResponseActFuture<Self, Result<(), Rejection>>,
    ) -> ResponseActFuture<Self, Result<(), Rejection>> {
        let Some(session) = session else { return fut };
        Box::pin(fut.map(move |res, act, ctx| {
            if let (Err(r), Some(core)) = (&res, act.core.as_mut()) {
                core.reply(session, &r.clone().into_msg(action, client_id));
            }
            act.schedule_flush(ctx);
            res
        }))
    }
}

impl Handler<Stop> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) {
        let _h = self.stats.actor.handling();
        tracing::info!(channel = %self.key.slug, reason = %msg.0, "chat: room stopping");
        self.error = Some(msg.0);
        ctx.stop();
    }
}

impl Handler<RemoteEvents> for ChatRoom {
    type Result = ();

    fn handle(&mut self, msg: RemoteEvents, ctx: &mut Context<Self>) {
        let _h = self.stats.actor.handling();
        for event in msg.0 {
            self.apply_remote(event, ctx);
        }
        self.schedule_flush(ctx);
    }
}

impl Handler<Reload> for ChatRoom {
    type Result = ResponseActFuture<Self, ()>;

    /// Answers once the new settings are in force.
    fn handle(&mut self, _: Reload, _: &mut Context<Self>) -> Self::Result {
        let _h = self.stats.actor.handling();
        Box::pin(self.reloaded())
    }
}
