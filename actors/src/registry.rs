//! Registry: the root of the live tree. One [`StreamActor`] per channel with a live broadcast.
//!
//! Parent: none (started by [`Live::start`](crate::Live::start)). Children: the StreamActors,
//! each holding a `Recipient<StreamStopped>` to it. In: [`PublishRequested`] (from the
//! [`IngestGate`](crate::IngestGate)), [`StopStream`], [`GetHealth`], [`Shutdown`],
//! [`StreamStopped`]. Out: the broadcast row opened and `channels.is_live` set,
//! [`AttachPublisher`] / [`EndStream`] to streams. (`StreamWentLive` is the stream's to send,
//! once players can play it.)
//!
//! A stream ends on its own (grace expiry) and says so with `StreamStopped`; a stream is not
//! restarted by the registry: the next publish starts a new broadcast.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use streamhall_entities::channel;
use streamhall_media::hls::{LiveWindow, LlWindow};
use streamhall_media::ingest::{IngestEvent, Protocol, PublishRejected};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::LiveDeps;
use crate::directory::StreamEntry;
use crate::health::{ActorHealth, HealthTree};
use crate::presence::{GetPresenceHealth, Presence};
use crate::recording::Recorder;
use crate::stream::{
    AttachPublisher, EndReason, EndStream, GetStreamHealth, Refused, StreamActor, StreamSpec,
    StreamStopped,
};

/// How long `GetHealth` waits for each stream.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

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

#[derive(Message)]
#[rtype(result = "HealthTree")]
pub struct GetHealth;

/// End every broadcast cleanly and refuse new publishes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

// ---------------------------------------------------------------------------------------------
// Plain logic

/// A running stream.
#[derive(Debug, Clone)]
pub struct Slot<A> {
    pub addr: A,
    pub channel_id: i64,
    pub broadcast_id: i64,
}

/// Where a publish goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<A> {
    /// The channel's broadcast continues: hand the publisher to its stream.
    Existing(A),
    /// Start a new broadcast.
    New,
    /// Shutting down.
    Refuse,
}

/// Which channel has which stream. Generic over the address so it is tested without actors.
#[derive(Debug)]
pub struct RegistryCore<A> {
    streams: HashMap<String, Slot<A>>,
    shutting_down: bool,
}

impl<A> Default for RegistryCore<A> {
    fn default() -> Self {
        Self {
            streams: HashMap::new(),
            shutting_down: false,
        }
    }
}

impl<A: Clone> RegistryCore<A> {
    pub fn route(&self, slug: &str) -> Route<A> {
        if self.shutting_down {
            return Route::Refuse;
        }
        match self.streams.get(slug) {
            Some(s) => Route::Existing(s.addr.clone()),
            None => Route::New,
        }
    }

    pub fn insert(&mut self, slug: &str, slot: Slot<A>) {
        self.streams.insert(slug.to_owned(), slot);
    }

    /// Forgets the stream if `broadcast_id` is still the channel's (a stale report from an
    /// older broadcast changes nothing). Returns whether it was removed.
    pub fn stopped(&mut self, slug: &str, broadcast_id: i64) -> bool {
        if self
            .streams
            .get(slug)
            .is_some_and(|s| s.broadcast_id == broadcast_id)
        {
            self.streams.remove(slug);
            return true;
        }
        false
    }

    /// Forgets a stream whose actor is gone.
    pub fn forget(&mut self, slug: &str) {
        self.streams.remove(slug);
    }

    pub fn get(&self, slug: &str) -> Option<&Slot<A>> {
        self.streams.get(slug)
    }

    /// No new publishes from now on; every stream to end.
    pub fn begin_shutdown(&mut self) -> Vec<A> {
        self.shutting_down = true;
        self.streams.values().map(|s| s.addr.clone()).collect()
    }

    pub fn addrs(&self) -> Vec<A> {
        self.streams.values().map(|s| s.addr.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

/// Why a broadcast could not open.
enum OpenFailed {
    Refused(PublishRejected),
    Db(sea_orm::DbErr),
}

/// Takes the channel's lease before its broadcast opens. Another live node holding it refuses
/// the publish; a lease that expired (its node died) is taken over, and what the old owner
/// left open is closed first (exactly once across nodes). With Redis unreachable the database
/// decides: a broadcast of the channel open on another node refuses, else this node goes ahead.
async fn take_ownership(
    cluster: &crate::Cluster,
    db: &sea_orm::DatabaseConnection,
    bus: &crate::Bus,
    channel: &channel::Model,
) -> Result<(), OpenFailed> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use streamhall_entities::{Broadcast, broadcast};
    let me = cluster.node_id();
    let lease = cluster.acquire(&channel.slug).await;
    let open = Broadcast::find()
        .filter(broadcast::Column::ChannelId.eq(channel.id))
        .filter(broadcast::Column::EndedAt.is_null())
        .all(db)
        .await
        .map_err(OpenFailed::Db)?;
    let elsewhere: Vec<&broadcast::Model> = open
        .iter()
        .filter(|b| b.owner_node.as_deref() != Some(me))
        .collect();
    match lease {
        Ok(()) => {
            for b in elsewhere {
                tracing::warn!(channel = %channel.slug, broadcast_id = b.id, owner = b.owner_node.as_deref().unwrap_or("?"), "taking over a channel whose node stopped renewing its lease");
                crate::cluster::close_orphan(db, bus, b.id, me).await;
            }
            Ok(())
        }
        Err(crate::cluster::LeaseRefused::HeldBy(holder)) => {
            tracing::warn!(channel = %channel.slug, owner = %holder.node, "publish refused: the channel is live on another node");
            Err(OpenFailed::Refused(PublishRejected::LiveElsewhere))
        }
        Err(crate::cluster::LeaseRefused::Unavailable(e)) if !elsewhere.is_empty() => {
            tracing::warn!(channel = %channel.slug, error = %e, "publish refused: Redis is unreachable and the channel is open on another node");
            Err(OpenFailed::Refused(PublishRejected::LiveElsewhere))
        }
        Err(crate::cluster::LeaseRefused::Unavailable(e)) => {
            tracing::warn!(channel = %channel.slug, error = %e, "Redis is unreachable: opening the broadcast without a lease (taken when Redis answers)");
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State

pub struct Registry {
    core: RegistryCore<Addr<StreamActor>>,
    deps: Arc<LiveDeps>,
    presence: Addr<Presence>,
    started: Instant,
    last_error: Option<String>,
}

impl Registry {
    pub(crate) fn new(deps: Arc<LiveDeps>, presence: Addr<Presence>) -> Self {
        Self {
            core: RegistryCore::default(),
            deps,
            presence,
            started: Instant::now(),
            last_error: None,
        }
    }

    /// A new broadcast: the row, the HLS entry, the stream actor, the bus event.
    fn open(
        &mut self,
        channel: channel::Model,
        attach: AttachPublisher,
    ) -> ResponseActFuture<Self, Result<(), PublishRejected>> {
        let db = self.deps.db.clone();
        let node_id = self.deps.cfg.node_id.clone();
        let cluster = self.deps.cluster.clone();
        let bus = self.deps.bus.clone();
        let fut = async move {
            if let Err(refused) = take_ownership(&cluster, &db, &bus, &channel).await {
                return (channel, Err(refused));
            }
            let res = async {
                let b = crate::db::open_broadcast(&db, &channel, &node_id).await?;
                let v = crate::recording::open_video(&db, &channel, b.id, &node_id).await?;
                Ok::<_, sea_orm::DbErr>((b, v))
            }
            .await;
            if res.is_err() {
                cluster.release(&channel.slug, 0).await;
            }
            (channel, res.map_err(OpenFailed::Db))
        };
        Box::pin(
            actix::fut::wrap_future::<_, Self>(fut).map(move |(channel, res), act, ctx| {
                let (b, video) = match res {
                    Ok(bv) => bv,
                    Err(OpenFailed::Refused(r)) => return Err(r),
                    Err(OpenFailed::Db(e)) => {
                        tracing::error!(channel = %channel.slug, error = %e, "opening the broadcast failed");
                        act.last_error = Some(format!("opening a broadcast: {e}"));
                        return Err(PublishRejected::Internal);
                    }
                };
                let spec = StreamSpec {
                    channel_id: channel.id,
                    slug: channel.slug.clone(),
                    title: b.title.clone(),
                    broadcast_id: b.id,
                    started_at: b.started_at,
                };
                let cfg = &act.deps.cfg;
                // Numbering from the start time keeps segment URLs unique across broadcasts.
                let first_seq = u64::try_from(b.started_at.timestamp()).unwrap_or(0) * 1000;
                let window = LiveWindow::starting_at(
                    Vec::new(),
                    cfg.hls_window,
                    cfg.ladder.segment_seconds,
                    first_seq,
                );
                let ll = LlWindow::new(
                    f64::from(cfg.ladder.part_ms) / 1000.0,
                    f64::from(cfg.ladder.segment_seconds),
                    cfg.hls_window,
                    first_seq,
                );
                let recorder = Recorder::new(
                    &video,
                    &channel.slug,
                    act.deps.db.clone(),
                    Arc::clone(&act.deps.objects),
                    cfg.recording.clone(),
                );
                recorder.start();
                let entry = Arc::new(StreamEntry::new(b.id, b.started_at, window, ll, Some(recorder)));
                act.deps.hls.insert(&spec.slug, Arc::clone(&entry));
                act.deps.presence.begin_broadcast(&spec.slug, b.id);
                let stream = StreamActor::new(
                    spec.clone(),
                    Arc::clone(&act.deps),
                    entry,
                    ctx.address().recipient(),
                    attach,
                )
                .start();
                act.core.insert(
                    &spec.slug,
                    Slot {
                        addr: stream,
                        channel_id: spec.channel_id,
                        broadcast_id: b.id,
                    },
                );
                tracing::info!(channel = %spec.slug, broadcast_id = b.id, "broadcast started");
                Ok(())
            }),
        )
    }

    fn own_health(&self) -> ActorHealth {
        ActorHealth {
            kind: "registry".into(),
            id: "registry".into(),
            state: "running".into(),
            uptime_s: self.started.elapsed().as_secs_f64(),
            restarts: 0,
            last_error: self.last_error.clone(),
            mailbox: None,
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

// ---------------------------------------------------------------------------------------------
// Handlers

impl Handler<PublishRequested> for Registry {
    type Result = AtomicResponse<Self, Result<(), PublishRejected>>;

    fn handle(&mut self, msg: PublishRequested, _ctx: &mut Self::Context) -> Self::Result {
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

impl Handler<StreamStopped> for Registry {
    type Result = ();

    fn handle(&mut self, msg: StreamStopped, _ctx: &mut Self::Context) {
        if !self.core.stopped(&msg.slug, msg.broadcast_id) {
            tracing::debug!(channel = %msg.slug, broadcast_id = msg.broadcast_id, "stale StreamStopped");
        }
    }
}

impl Handler<Shutdown> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
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

impl Handler<GetHealth> for Registry {
    type Result = ResponseFuture<HealthTree>;

    fn handle(&mut self, _: GetHealth, _ctx: &mut Self::Context) -> Self::Result {
        let registry = self.own_health();
        let streams = self.core.addrs();
        let presence = self.presence.clone();
        Box::pin(async move {
            let asks = streams
                .iter()
                .map(|s| tokio::time::timeout(HEALTH_TIMEOUT, s.send(GetStreamHealth)));
            let mut streams: Vec<_> = futures_util::future::join_all(asks)
                .await
                .into_iter()
                .filter_map(|r| r.ok()?.ok())
                .collect();
            streams.sort_by(|a, b| a.slug.cmp(&b.slug));
            let presence = match tokio::time::timeout(
                HEALTH_TIMEOUT,
                presence.send(GetPresenceHealth),
            )
            .await
            {
                Ok(Ok(h)) => h,
                _ => ActorHealth {
                    kind: "presence".into(),
                    id: "presence".into(),
                    state: "unresponsive".into(),
                    uptime_s: 0.0,
                    restarts: 0,
                    last_error: None,
                    mailbox: None,
                },
            };
            HealthTree {
                registry,
                streams,
                presence,
                chat: None,
                notifier: None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn slot(addr: u32, broadcast_id: i64) -> Slot<u32> {
        Slot {
            addr,
            channel_id: 1,
            broadcast_id,
        }
    }

    #[test]
    fn publish_goes_live_then_continues_on_the_same_stream() {
        let mut core = RegistryCore::<u32>::default();
        assert_eq!(core.route("a"), Route::New);
        core.insert("a", slot(7, 100));
        assert_eq!(core.route("a"), Route::Existing(7));
        assert_eq!(core.route("b"), Route::New);
    }

    #[test]
    fn a_stale_stop_report_keeps_the_new_broadcast() {
        let mut core = RegistryCore::<u32>::default();
        core.insert("a", slot(7, 100));
        core.forget("a");
        core.insert("a", slot(8, 101));
        assert!(!core.stopped("a", 100));
        assert_eq!(core.route("a"), Route::Existing(8));
        assert!(core.stopped("a", 101));
        assert_eq!(core.route("a"), Route::New);
    }

    #[test]
    fn shutdown_refuses_publishes_and_lists_every_stream() {
        let mut core = RegistryCore::<u32>::default();
        core.insert("a", slot(1, 1));
        core.insert("b", slot(2, 2));
        let mut all = core.begin_shutdown();
        all.sort();
        assert_eq!(all, [1, 2]);
        assert_eq!(core.route("c"), Route::Refuse);
        assert_eq!(core.route("a"), Route::Refuse);
    }
}
