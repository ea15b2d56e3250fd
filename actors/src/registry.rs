//! Registry: the root of the live tree, the one actor every other long-lived actor descends from.
//!
//! Parent: none (started by [`Live::start`](crate::Live::start)). Children: one
//! [`StreamActor`] per channel with a live broadcast (each holding a `Recipient<StreamStopped>`),
//! and three services, each holding a `Recipient<ServiceExited>` (inside an [`ExitReport`]):
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
use crate::analytics::AnalyticsConfig;
use crate::chat::ChatHandle;
use crate::directory::StreamEntry;
use crate::health::{ActorHealth, ActorNode, StreamHealth};
use crate::notify::NotifierHandle;
use crate::presence::{GetPresenceHealth, Presence, PresenceHandle, RedisPresence};
use crate::recording::Recorder;
use crate::stats::{ActorStats, Current, DeadLetters, Mailbox};
use crate::stream::{
    AttachPublisher, EndReason, EndStream, GetStreamHealth, Refused, StreamActor, StreamSpec,
    StreamStopped,
};
use crate::supervision::{
    ChildRecord, ExitReport, KindName, ServiceExited, ServiceKind, StopService,
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
}

#[derive(Message)]
#[rtype(result = "HealthTree")]
pub struct GetHealth;

/// Admin: restart a service (stop it; the registry starts the next one after its backoff).
/// `false` if it is not running (already restarting, or shutting down).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct RestartService(pub ServiceKind);

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

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
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

/// What starts presence again.
pub(crate) struct PresenceSpec {
    pub handle: PresenceHandle,
    pub hls: crate::HlsDirectory,
    pub db: sea_orm::DatabaseConnection,
    pub redis: Option<RedisPresence>,
    pub analytics: AnalyticsConfig,
}

impl PresenceSpec {
    fn start(
        &self,
        stats: Arc<ActorStats>,
        exit: ExitReport,
        restarted: bool,
    ) -> Mailbox<Presence> {
        let addr = Presence::new(
            self.handle.clone(),
            self.hls.clone(),
            self.db.clone(),
            self.redis.clone(),
            self.analytics.clone(),
        )
        .supervised(Arc::clone(&stats), exit, restarted)
        .start();
        Mailbox::new(addr, stats)
    }
}

/// The registry's service children: their slots, counters and handles.
pub(crate) struct Services {
    records: HashMap<ServiceKind, ChildRecord<ServiceKind>>,
    stats: HashMap<ServiceKind, Arc<ActorStats>>,
    parent: Recipient<ServiceExited>,
    pub presence: Current<Presence>,
    presence_spec: PresenceSpec,
    pub chat: ChatHandle,
    pub notifier: NotifierHandle,
}

impl Services {
    /// Starts the three services as children of the registry at `parent` (which may not run
    /// yet: their reports wait in its mailbox).
    pub(crate) fn start(
        parent: Recipient<ServiceExited>,
        dead_letters: &DeadLetters,
        presence_spec: PresenceSpec,
        chat: impl FnOnce(Arc<ActorStats>, ExitReport) -> ChatHandle,
        notifier: impl FnOnce(Arc<ActorStats>, ExitReport) -> anyhow::Result<NotifierHandle>,
    ) -> anyhow::Result<Self> {
        let now = Instant::now();
        let mut records = HashMap::new();
        let mut stats = HashMap::new();
        let mut first = HashMap::new();
        for kind in ServiceKind::ALL {
            let mut rec = ChildRecord::new(kind, kind.as_str().to_owned());
            let generation = rec.starting(now);
            records.insert(kind, rec);
            stats.insert(kind, ActorStats::new(kind.as_str(), dead_letters.clone()));
            first.insert(kind, ExitReport::new(kind, generation, parent.clone()));
        }
        let mut take = |kind| {
            (
                Arc::clone(&stats[&kind]),
                first
                    .remove(&kind)
                    .unwrap_or_else(|| ExitReport::detached(kind)),
            )
        };
        let (s, e) = take(ServiceKind::Notifier);
        let notifier = notifier(s, e)?;
        let (s, e) = take(ServiceKind::ChatDirectory);
        let chat = chat(s, e);
        let (s, e) = take(ServiceKind::Presence);
        let presence = Current::new(presence_spec.start(s, e, false));
        Ok(Self {
            records,
            stats,
            parent,
            presence,
            presence_spec,
            chat,
            notifier,
        })
    }

    /// Starts the next incarnation of `kind`.
    fn restart(&mut self, kind: ServiceKind) {
        let Some(rec) = self.records.get_mut(&kind) else {
            return;
        };
        let generation = rec.starting(Instant::now());
        let exit = ExitReport::new(kind, generation, self.parent.clone());
        let stats = Arc::clone(&self.stats[&kind]);
        tracing::warn!(
            service = kind.as_str(),
            restarts = rec.restarts,
            "restarting a service"
        );
        match kind {
            ServiceKind::Presence => self
                .presence
                .set(self.presence_spec.start(stats, exit, true)),
            ServiceKind::ChatDirectory => self.chat.restart(stats, exit),
            ServiceKind::Notifier => self.notifier.restart(stats, exit),
        }
    }

    /// Asks `kind` to stop; its exit report brings the restart.
    fn stop(&self, kind: ServiceKind, why: &str) -> bool {
        if !self.records.get(&kind).is_some_and(|r| r.running) {
            return false;
        }
        let msg = StopService(why.to_owned());
        match kind {
            ServiceKind::Presence => self.presence.get().do_send(msg),
            ServiceKind::ChatDirectory => self.chat.directory().do_send(msg),
            ServiceKind::Notifier => self.notifier.stop(msg),
        }
        true
    }

    /// Test builds only: make `kind` fail.
    #[cfg(any(test, feature = "fault-injection"))]
    fn inject_fault(&self, kind: ServiceKind, why: &str, panic: bool) {
        let msg = crate::supervision::InjectFault::new(why, panic);
        match kind {
            ServiceKind::Presence => self.presence.get().do_send(msg),
            ServiceKind::ChatDirectory => self.chat.directory().do_send(msg),
            ServiceKind::Notifier => self.notifier.inject_fault(why, panic),
        }
    }
}

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
    pub(crate) fn new(deps: Arc<LiveDeps>, services: Services, dead_letters: DeadLetters) -> Self {
        Self {
            core: RegistryCore::default(),
            deps,
            services,
            stats: ActorStats::new("registry", dead_letters.clone()),
            dead_letters,
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
                let stats = ActorStats::new("stream", act.dead_letters.clone());
                let stream = Mailbox::new(
                    StreamActor::new(
                        spec.clone(),
                        Arc::clone(&act.deps),
                        entry,
                        ctx.address().recipient(),
                        attach,
                        Arc::clone(&stats),
                    )
                    .start(),
                    stats,
                );
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
        // Its senders hold a bare `Addr` (ingest, pulls, the cluster loop): handled messages
        // and handling times are counted, the depth is not.
        let mut h = ActorHealth {
            uptime_s: self.started.elapsed().as_secs_f64(),
            last_error: self.last_error.clone(),
            ..ActorHealth::new("registry", "registry", "running")
        }
        .with_stats(self.stats.snapshot(Instant::now()));
        h.mailbox = None;
        h
    }
}

/// A stream as a node of the tree: its figures and its children.
fn stream_node(s: &StreamHealth) -> ActorNode {
    let mut node = ActorNode {
        actor: s.actor.clone(),
        figures: Vec::new(),
        children: s.children.iter().cloned().map(ActorNode::leaf).collect(),
    };
    if let Some(i) = &s.ingest {
        node = node
            .figure("bitrate_kbps", i.bitrate_kbps)
            .figure("fps", i.fps);
        if let Some(k) = i.keyframe_interval_s {
            node = node.figure("keyframe_interval_s", k);
        }
    }
    if let Some(speed) = s.ffmpeg_speed {
        node = node.figure("speed", speed);
    }
    if let Some(cpu) = s.ffmpeg_cpu_percent {
        node = node.figure("cpu_percent", cpu);
    }
    node.figure("segments", s.segments_produced as f64)
        .figure("viewers", s.viewers as f64)
        .figure("dropped_frames", s.dropped_frames as f64)
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
        let _h = self.stats.handling_own();
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
        let _h = self.stats.handling_own();
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
pub struct InjectStreamFault(pub String);

#[cfg(any(test, feature = "fault-injection"))]
impl Handler<InjectStreamFault> for Registry {
    type Result = bool;

    fn handle(&mut self, msg: InjectStreamFault, _ctx: &mut Self::Context) -> bool {
        let _h = self.stats.handling_own();
        match self.core.get(&msg.0) {
            Some(slot) => {
                slot.addr.do_send(crate::supervision::InjectFault::new(
                    "injected fault",
                    false,
                ));
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
        let _h = self.stats.handling_own();
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
        let _h = self.stats.handling_own();
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
        let _h = self.stats.handling_own();
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
        let _h = self.stats.handling_own();
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
        let _h = self.stats.handling_own();
        if !self.core.stopped(&msg.slug, msg.broadcast_id) {
            tracing::debug!(channel = %msg.slug, broadcast_id = msg.broadcast_id, "stale StreamStopped");
        }
    }
}

impl Handler<Shutdown> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Shutdown, _ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling_own();
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
        let _h = self.stats.handling_own();
        let registry = self.own_health();
        let streams = self.core.addrs();
        let presence = self.services.presence.get();
        let chat = self.services.chat.clone();
        let notifier = self.services.notifier.clone();
        let node = self.deps.cfg.node_id.clone();
        let dead_letters = self.dead_letters.clone();
        // Each service's slot (restarts, restarting) as of now, laid over its own answer.
        let now = Instant::now();
        let overlay = {
            let slots: HashMap<ServiceKind, ActorHealth> = ServiceKind::ALL
                .into_iter()
                .filter_map(|k| Some((k, self.services.records.get(&k)?.health(now, None))))
                .collect();
            move |kind: ServiceKind, mut actor: ActorHealth| {
                if let Some(slot) = slots.get(&kind) {
                    actor.restarts = slot.restarts;
                    if slot.state != "running" {
                        actor.state = slot.state.clone();
                        actor.uptime_s = 0.0;
                    }
                    if actor.last_error.is_none() {
                        actor.last_error = slot.last_error.clone();
                    }
                }
                actor
            }
        };
        Box::pin(async move {
            let asks = streams
                .iter()
                .map(|s| tokio::time::timeout(HEALTH_TIMEOUT, s.send(GetStreamHealth)));
            let presence_ask =
                tokio::time::timeout(HEALTH_TIMEOUT, presence.send(GetPresenceHealth));
            let (streams, presence, mut chat, mut notifier) = futures_util::future::join4(
                futures_util::future::join_all(asks),
                presence_ask,
                chat.health(),
                notifier.health(),
            )
            .await;
            let mut streams: Vec<StreamHealth> =
                streams.into_iter().filter_map(|r| r.ok()?.ok()).collect();
            streams.sort_by(|a, b| a.slug.cmp(&b.slug));
            let presence = overlay(
                ServiceKind::Presence,
                match presence {
                    Ok(Ok(h)) => h,
                    _ => ActorHealth::new("presence", "presence", "unresponsive"),
                },
            );
            chat.directory = overlay(ServiceKind::ChatDirectory, chat.directory);
            notifier.actor = overlay(ServiceKind::Notifier, notifier.actor);
            let mut children: Vec<ActorNode> = streams.iter().map(stream_node).collect();
            children.push(chat.node());
            children.push(ActorNode::leaf(presence.clone()));
            children.push(notifier.node());
            let root = ActorNode {
                actor: registry.clone(),
                figures: Vec::new(),
                children,
            }
            .figure("streams", streams.len() as f64);
            HealthTree {
                node,
                root,
                dead_letters: dead_letters.counts(),
                registry,
                streams,
                presence,
                chat: Some(chat),
                notifier: Some(notifier),
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
