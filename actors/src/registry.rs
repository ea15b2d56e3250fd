//! Registry: the root of the live tree, the one actor every other long-lived actor descends from.
//!
//! Parent: none (started by [`Live::start`](crate::Live::start)). Children: one
//! [`StreamActor`] per channel with a live broadcast (each holding a `CountedRecipient<StreamStopped>`),
//! and three services, each holding a `CountedRecipient<ServiceExited>` (inside an [`ExitReport`]):
//! the [`ChatDirectory`](crate::chat::ChatDirectory) (with its rooms), [`Presence`] and the
//! [`Notifier`](crate::notify::Notifier). In: [`PublishRequested`] (from the
//! [`IngestGate`](crate::IngestGate)), [`StopStream`], [`RestartService`], [`GetHealth`],
//! [`Shutdown`], [`StreamStopped`], [`ServiceExited`]. Out: the broadcast row opened and
//! `channels.is_live` set, [`AttachPublisher`] / [`EndStream`] to streams, services started
//! and restarted. (`StreamWentLive` is the stream's to send, once players can play it.)
//!
//! Restart strategy (one-for-one, written here rather than assumed):
//! - A stream is never restarted: it ends on its own (grace expiry) or, when its actor stops
//!   abnormally, its `stopped()` closes the broadcast (see [`StreamActor`]); either way it says
//!   so with `StreamStopped`, and the next publish starts a new broadcast. Its children are the
//!   stream's to restart.
//! - A service that exits for any reason (stopped, failed, a handler panicked and its actor
//!   was dropped) is started again after [`Backoff`](crate::Backoff) (500 ms doubling to 30 s,
//!   reset after a stable minute), and the restart counted in its [`ChildRecord`], which the
//!   health tree shows. What must survive lives outside the actor, in what other code holds:
//!   the [`PresenceHandle`](crate::PresenceHandle) (viewers, totals, peaks), the notifier's
//!   job queue, the chat rooms' rows in the database. Handles send to the incarnation running
//!   now ([`Current`]). During shutdown nothing is restarted.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use streamhall_entities::channel;
use streamhall_media::ingest::{IngestEvent, Protocol, PublishRejected};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::LiveDeps;
use crate::analytics::AnalyticsConfig;
use crate::chat::ChatHandle;
use crate::directory::StreamEntry;
use crate::health::{ActorHealth, ActorNode, StreamHealth};
use crate::notify::NotifierHandle;
use crate::presence::{GetPresenceHealth, Presence, PresenceHandle, RedisPresence};
use crate::recording::Recorder;
use crate::stats::{ActorStats, CountedRecipient, Current, DeadLetters, Mailbox};
use crate::stream::{
    AttachPublisher, EndReason, EndStream, GetStreamHealth, Refused, StreamActor, StreamSpec,
    StreamStopped,
};
use crate::supervision::{
    ChildRecord, ExitReport, KindName, ServiceExited, ServiceKind, StopService,
};

mod core;
mod health;
mod open;
mod services;

pub use self::core::{RegistryCore, Route, Slot};
pub(crate) use services::{PresenceSpec, Services};

// ---------------------------------------------------------------------------------------------
// Messages

/// A valid stream key for `channel` is publishing.
#[derive(Message)]
#[rtype(result = "Result<(), PublishRejected>")]
pub struct PublishRequested {
    pub channel: channel::Model,
    pub events: mpsc::Receiver<IngestEvent>,
    pub kick: CancellationToken,
    /// How the stream comes in; everything after the seam is the same for every protocol.
    pub protocol: Protocol,
}

/// Admin: kick the publisher and end the broadcast now. `true` if the channel was live.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct StopStream {
    pub slug: String,
}

/// The whole live tree, as the registry (its root) answers `GetHealth`.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
pub struct HealthTree {
    /// This node's name (`cluster.node_id`).
    pub node: String,
    /// The supervision tree in one shape: the registry, its children (streams and their
    /// children, the chat directory and its rooms, presence, the notifier), recursively.
    pub root: ActorNode,
    /// Sends that could not be delivered (actor stopped, mailbox full), per actor kind.
    pub dead_letters: Vec<crate::stats::DeadLetterCount>,
    /// The details behind `root`, per part: the registry's node again, each stream's health
    /// (as the streamer's dashboard shows it), presence, chat rooms, the notifier's jobs.
    pub registry: ActorHealth,
    pub streams: Vec<StreamHealth>,
    pub presence: ActorHealth,
    pub chat: Option<crate::chat::ChatHealth>,
    pub notifier: Option<crate::notify::NotifierHealth>,
    /// The other nodes' trees as they last wrote them (several nodes only; see
    /// [`crate::node_trees`]), by node id.
    pub other_nodes: Vec<crate::health::NodeTree>,
    /// Why the other nodes' trees could not be read (Redis unreachable), if so.
    pub other_nodes_error: Option<String>,
    /// This node's camera pulls with their state and last error (held ones say why).
    pub pulls: Vec<crate::pull_status::PullHealth>,
}

#[derive(Message)]
#[rtype(result = "HealthTree")]
pub struct GetHealth;

/// Ends the streams the bus asks to end ([`BusEvent::EndStreams`](crate::BusEvent)) that run
/// on this node, for as long as the bus runs.
pub(crate) fn follow_stream_ends(bus: &crate::Bus, registry: Mailbox<Registry>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = bus.subscribe();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(crate::BusEvent::EndStreams { slugs }) => {
                    for slug in slugs {
                        if registry.send(StopStream { slug: slug.clone() }).await == Ok(true) {
                            tracing::info!(channel = %slug, "stream ended on request from the bus");
                        }
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    // A request may be among the missed events: that stream runs on until
                    // its encoder reconnects, when ingest refuses the key.
                    tracing::warn!(missed = n, "registry: fell behind the bus");
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// Admin: restart a service (stop it; the registry starts the next one after its backoff).
/// `false` if it is not running (already restarting, or shutting down).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct RestartService(pub ServiceKind);

/// End every broadcast cleanly and refuse new publishes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

pub struct Registry {
    core: RegistryCore<Mailbox<StreamActor>>,
    deps: Arc<LiveDeps>,
    services: Services,
    dead_letters: DeadLetters,
    stats: Arc<ActorStats>,
    started: Instant,
    last_error: Option<String>,
}

impl Registry {
    /// `stats` are the counters its callers' handles share (made before it, with them).
    pub(crate) fn new(
        deps: Arc<LiveDeps>,
        services: Services,
        stats: Arc<ActorStats>,
        dead_letters: DeadLetters,
    ) -> Self {
        Self {
            core: RegistryCore::default(),
            deps,
            services,
            stats,
            dead_letters,
            started: Instant::now(),
            last_error: None,
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Publishes wait here (with `send`) rather than fail when it is busy.
        ctx.set_mailbox_capacity(256);
        tracing::info!("registry started");
    }
}

impl Handler<ServiceExited> for Registry {
    type Result = ();

    fn handle(&mut self, msg: ServiceExited, ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        let now = Instant::now();
        let Some(rec) = self.services.records.get_mut(&msg.kind) else {
            return;
        };
        let Some(ran) = rec.exited(msg.generation, &msg.reason, now) else {
            return;
        };
        self.services.stats[&msg.kind].stopped();
        if self.core.is_shutting_down() {
            tracing::info!(service = msg.kind.as_str(), reason = %msg.reason, "service stopped");
            return;
        }
        let delay = rec.schedule_restart(ran);
        tracing::warn!(service = msg.kind.as_str(), reason = %msg.reason, ?delay, "service exited: restarting");
        let kind = msg.kind;
        ctx.run_later(delay, move |act, _| {
            if !act.core.is_shutting_down() {
                act.services.restart(kind);
            }
        });
    }
}

impl Handler<RestartService> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: RestartService, _ctx: &mut Self::Context) -> bool {
        let _h = self.stats.handling();
        if self.core.is_shutting_down() {
            return false;
        }
        tracing::info!(
            service = msg.0.as_str(),
            "service restart asked by an admin"
        );
        self.services.stop(msg.0, "restarted by an administrator")
    }
}

/// Test builds only: make a service fail.
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectServiceFault {
    pub kind: ServiceKind,
    /// Its handler panics instead of stopping.
    pub panic: bool,
}

/// Test builds only: make a channel's stream actor stop without ending its broadcast.
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Message)]
#[rtype(result = "bool")]
pub struct InjectStreamFault {
    pub slug: String,
    /// Its handler panics instead of stopping.
    pub panic: bool,
}

#[cfg(any(test, feature = "fault-injection"))]
impl Handler<InjectStreamFault> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: InjectStreamFault, _ctx: &mut Self::Context) -> bool {
        let _h = self.stats.handling();
        match self.core.get(&msg.slug) {
            Some(slot) => {
                let why = if msg.panic {
                    "injected panic"
                } else {
                    "injected fault"
                };
                slot.addr
                    .do_send(crate::supervision::InjectFault::new(why, msg.panic));
                true
            }
            None => false,
        }
    }
}

#[cfg(any(test, feature = "fault-injection"))]
impl Handler<InjectServiceFault> for Registry {
    type Result = ();

    fn handle(&mut self, msg: InjectServiceFault, _ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        let why = if msg.panic {
            "injected panic"
        } else {
            "injected fault"
        };
        self.services.inject_fault(msg.kind, why, msg.panic);
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

impl Handler<PublishRequested> for Registry {
    type Result = AtomicResponse<Self, Result<(), PublishRejected>>;

    fn handle(&mut self, msg: PublishRequested, _ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        let attach = AttachPublisher {
            events: msg.events,
            kick: msg.kick,
            protocol: msg.protocol,
        };
        let channel = msg.channel;
        let slug = channel.slug.clone();
        match self.core.route(&slug) {
            Route::Refuse => {
                AtomicResponse::new(Box::pin(actix::fut::ready(Err(PublishRejected::Busy))))
            }
            Route::Existing(addr) if addr.connected() => AtomicResponse::new(Box::pin(
                actix::fut::wrap_future::<_, Self>(addr.send(attach)).then(
                    move |res, act, _ctx| -> ResponseActFuture<Self, Result<(), PublishRejected>> {
                        match res {
                            Ok(Ok(())) => Box::pin(actix::fut::ready(Ok(()))),
                            // It was ending: this publish starts the next broadcast.
                            Ok(Err(Refused(attach))) => {
                                act.core.forget(&slug);
                                act.open(channel, attach)
                            }
                            Err(e) => {
                                tracing::warn!(channel = %slug, error = %e, "stream actor gone");
                                act.core.forget(&slug);
                                Box::pin(actix::fut::ready(Err(PublishRejected::Internal)))
                            }
                        }
                    },
                ),
            )),
            Route::Existing(_) => {
                self.core.forget(&slug);
                AtomicResponse::new(self.open(channel, attach))
            }
            Route::New => AtomicResponse::new(self.open(channel, attach)),
        }
    }
}

impl Handler<StopStream> for Registry {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, msg: StopStream, _ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        let Some(slot) = self.core.get(&msg.slug) else {
            return Box::pin(async { false });
        };
        tracing::info!(channel = %msg.slug, broadcast_id = slot.broadcast_id, "stream stopped by an admin");
        let addr = slot.addr.clone();
        Box::pin(async move {
            addr.send(EndStream {
                reason: EndReason::Admin,
            })
            .await
            .is_ok()
        })
    }
}

impl Handler<crate::cluster::LeaseLost> for Registry {
    type Result = ();

    fn handle(&mut self, msg: crate::cluster::LeaseLost, _ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        if let Some(slot) = self.core.get(&msg.slug) {
            tracing::warn!(channel = %msg.slug, broadcast_id = slot.broadcast_id, "another node holds this stream now: ending it here");
            slot.addr.do_send(EndStream {
                reason: EndReason::Admin,
            });
        }
    }
}

impl Handler<StreamStopped> for Registry {
    type Result = ();

    fn handle(&mut self, msg: StreamStopped, _ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        if let Some(why) = msg.abnormal {
            self.last_error = Some(format!(
                "the stream of {} (broadcast {}) went abnormally ({why}); its broadcast was ended",
                msg.slug, msg.broadcast_id
            ));
        }
        if !self.core.stopped(&msg.slug, msg.broadcast_id) {
            tracing::debug!(channel = %msg.slug, broadcast_id = msg.broadcast_id, "stale StreamStopped");
        }
    }
}

impl Handler<Shutdown> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        let streams = self.core.begin_shutdown();
        tracing::info!(streams = streams.len(), "ending every broadcast");
        Box::pin(async move {
            let ends = streams.into_iter().map(|s| {
                s.send(EndStream {
                    reason: EndReason::Shutdown,
                })
            });
            futures_util::future::join_all(ends).await;
        })
    }
}
