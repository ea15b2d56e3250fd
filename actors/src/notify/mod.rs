//! The notifier: when a channel goes live it tells the channel's followers (in-app, pushed
//! live to their open sockets, and by email) and the channel's webhooks; when it goes offline,
//! the webhooks.
//!
//! Parent: the [`Registry`](crate::Registry), seen through an [`ExitReport`]. Messages in:
//! [`StreamEvent`] (forwarded from the bus by a task the [`NotifierHandle`] owns, so with
//! Redis a go-live on any node arrives here), [`GetNotifierHealth`], its own `JobDone`. Out:
//! rows in `notifications`, `Notified` events on the bus, emails (SMTP), webhook deliveries.
//!
//! Restart strategy: restarted by the registry with backoff, on the same thread. The actor is
//! a shell: the job queue (waiting, running and recent fan-outs) lives in its shared deps and
//! the fan-outs run as tasks, so a restarted notifier carries on with the same queue; a task
//! that finishes meanwhile records itself in the queue and nudges whichever incarnation runs
//! then ([`Current`]) to start what waits. Bus events
//! arriving while it is down wait in the forwarder (up to [`FORWARD_PATIENCE`]). A fan-out an
//! earlier *process* left unfinished is resumed from its `notification_jobs` row at the first
//! start (single node), as before.
//!
//! Fan-outs run as tasks off the mailbox, at most [`NotifyConfig::max_running`] at once, the
//! rest waiting in a bounded queue; each walks followers in batches (see [`fanout`]) and
//! reports progress to the health tree. A go-live is handled once across nodes: every node
//! receives it, and only the one whose `notification_jobs` insert succeeds runs it.

pub mod config;
pub mod email;
pub mod fanout;
pub mod hub;
pub mod jobs;
pub mod protocol;
pub mod webhook;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use ts_rs::TS;

pub use config::{NotifyConfig, SmtpConfig, SmtpTls, WebhookConfig};
pub use hub::NotificationHub;

use crate::bus::{Bus, BusEvent};
use crate::health::{ActorHealth, ActorNode};
use crate::locks::lock;
use crate::stats::{ActorStats, Current, Mailbox};
use crate::supervision::ExitReport;
use fanout::{EVENT_OFFLINE, EVENT_ONLINE, FanoutDeps, GoLive, Progress};
use jobs::{Job, JobKey, JobQueue, Offer, Outcome};

/// A stream event from the bus.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StreamEvent(pub BusEvent);

#[derive(Message)]
#[rtype(result = "NotifierHealth")]
pub struct GetNotifierHealth;

/// A fan-out finished (already recorded in the shared queue): start what waits.
#[derive(Message)]
#[rtype(result = "()")]
struct JobDone;

/// One fan-out as the admin view shows it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct JobHealth {
    pub broadcast_id: i64,
    pub slug: String,
    /// `stream.online` or `stream.offline`.
    pub event: String,
    /// `queued`, `running`, `done`, `skipped` (another node has it) or `failed`.
    pub state: String,
    /// Followers to go through, and how many are done.
    pub total: u64,
    pub done: u64,
    pub notified: u64,
    pub emailed: u64,
    pub elapsed_s: f64,
    pub error: Option<String>,
}

/// The notifier in the health tree.
#[derive(Debug, Clone, Serialize, TS)]
pub struct NotifierHealth {
    pub actor: ActorHealth,
    pub jobs: Vec<JobHealth>,
    pub queued: usize,
    pub dropped_jobs: u64,
    /// Notification sockets open on this node, frames pushed, sockets closed for not reading.
    pub sockets: usize,
    pub pushed: u64,
    pub kicked: u64,
    /// `None` when SMTP is not configured.
    pub email: Option<EmailHealth>,
    /// `None` without Redis; whether other nodes' events arrive.
    pub bus_redis_healthy: Option<bool>,
    pub webhooks: webhook::WebhookStats,
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct EmailHealth {
    pub queued: usize,
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

/// How long a bus event waits for a restarting notifier before it is dropped (and logged).
pub const FORWARD_PATIENCE: Duration = Duration::from_secs(60);

struct Deps {
    /// Survives restarts: the next incarnation carries on with it.
    jobs: Mutex<JobQueue>,
    /// The incarnation running now (set once the first one started).
    current: OnceLock<Current<Notifier>>,
    db: DatabaseConnection,
    cfg: NotifyConfig,
    bus: Bus,
    mailer: Option<email::Mailer>,
    hub: NotificationHub,
    webhooks: webhook::WebhookHandle,
    node_id: String,
    public_url: String,
}

pub struct Notifier {
    deps: Arc<Deps>,
    started: Instant,
    stats: Arc<ActorStats>,
    exit: ExitReport,
    /// An earlier incarnation ran in this process.
    restarted: bool,
}

impl Notifier {
    fn offer(&mut self, job: Job) {
        let slug = job.slug().to_owned();
        if lock(&self.deps.jobs).offer(job) == Offer::Dropped {
            tracing::warn!(channel = %slug, "notify: too many fan-outs waiting; this one is dropped");
        }
    }

    /// Starts waiting jobs while slots are free.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        loop {
            let Some((job, progress)) = lock(&self.deps.jobs).start_next(Instant::now()) else {
                break;
            };
            let key = job.key();
            let deps = self.deps.clone();
            let addr = ctx.address();
            tokio::spawn(async move {
                // A panic in the job is caught here and reported, not lost.
                let run = tokio::spawn(run_job(deps.clone(), job, progress));
                let result = match run.await {
                    Ok(r) => r,
                    Err(e) => Err(format!("the job panicked: {e}")),
                };
                // Recorded in the shared queue, so it counts even while the notifier restarts;
                // the incarnation running now starts what waits (a new one does at start).
                job_finished(&deps, key, result);
                match deps.current.get() {
                    Some(current) => current.get().do_send(JobDone),
                    None => addr.do_send(JobDone),
                }
            });
        }
    }
}

async fn run_job(deps: Arc<Deps>, job: Job, progress: Arc<Progress>) -> Result<Outcome, String> {
    let (broadcast_id, event) = job.key();
    let channel_id = job.channel_id();
    let claimed = match &job {
        Job::Resume(_) => true,
        _ => fanout::claim(&deps.db, broadcast_id, event, channel_id, &deps.node_id)
            .await
            .map_err(|e| e.to_string())?,
    };
    if !claimed {
        return Ok(Outcome::Skipped);
    }
    let d = FanoutDeps {
        db: &deps.db,
        cfg: &deps.cfg,
        bus: &deps.bus,
        mailer: deps.mailer.as_ref(),
        public_url: &deps.public_url,
    };
    let result = match &job {
        Job::Online(g) => {
            webhooks_for(
                &deps,
                g.channel_id,
                EVENT_ONLINE,
                g.broadcast_id,
                &g.slug,
                &g.title,
            )
            .await;
            fanout::go_live(&d, g, &progress).await
        }
        Job::Resume(g) => {
            tracing::info!(channel = %g.slug, broadcast = g.broadcast_id, "notify: resuming a fan-out an earlier process left unfinished");
            fanout::go_live(&d, g, &progress).await
        }
        Job::Offline {
            channel_id,
            slug,
            broadcast_id,
        } => {
            webhooks_for(&deps, *channel_id, EVENT_OFFLINE, *broadcast_id, slug, "").await;
            Ok(())
        }
    };
    let state = if result.is_ok() { "done" } else { "failed" };
    let _ = fanout::finish(&deps.db, broadcast_id, event, state, &progress).await;
    result.map(|()| Outcome::Done).map_err(|e| e.to_string())
}

/// Queues the channel's webhook deliveries for `event` and wakes the worker.
async fn webhooks_for(
    deps: &Deps,
    channel_id: i64,
    event: &str,
    broadcast_id: i64,
    slug: &str,
    title: &str,
) {
    let mut data = serde_json::json!({
        "channel": {"id": channel_id, "slug": slug},
        "broadcast_id": broadcast_id,
        "url": format!("{}/c/{slug}", deps.public_url),
    });
    if event == EVENT_ONLINE {
        data["title"] = title.into();
    }
    let max_queued = deps.webhooks.config().max_queued_per_webhook;
    match webhook::enqueue(&deps.db, channel_id, event, data, max_queued).await {
        Ok(0) => {}
        Ok(_) => deps.webhooks.wake(),
        Err(e) => {
            tracing::warn!(channel = %slug, error = %e, "notify: webhook deliveries not queued")
        }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        if self.restarted {
            tracing::warn!("notifier restarted: carrying on with the same job queue");
            // Jobs that finished meanwhile freed slots: start what waits.
            self.pump(ctx);
            return;
        }
        // A single node (no Redis) owns every job: what an earlier process left running is
        // finished here. With several nodes another one may still be on it, so none is taken.
        if self.deps.bus.redis_healthy().is_none() {
            let deps = self.deps.clone();
            let addr = ctx.address();
            tokio::spawn(async move {
                match fanout::take_over_abandoned(&deps.db, &deps.node_id).await {
                    Ok(jobs) if !jobs.is_empty() => addr.do_send(ResumeJobs(jobs)),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "notify: could not look for unfinished fan-outs")
                    }
                }
            });
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.stats.stopped();
        self.exit.send(self.stats.exit_reason());
    }
}

impl Handler<crate::supervision::StopService> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::StopService, ctx: &mut Context<Self>) {
        let _h = self.stats.handling();
        tracing::warn!(reason = %msg.0, "notifier stopping");
        self.exit.send(msg.0);
        ctx.stop();
    }
}

#[cfg(any(test, feature = "fault-injection"))]
impl Handler<crate::supervision::InjectFault> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::InjectFault, ctx: &mut Context<Self>) {
        let _h = self.stats.handling();
        let reason = msg.reason_or_panic();
        tracing::warn!(%reason, "notifier: injected fault");
        self.exit.send(reason);
        ctx.stop();
    }
}

/// Hands bus events to the notifier running now; pushes `Notified` events to this node's
/// sockets itself. Runs for the life of the handle, across the notifier's restarts.
async fn forward_bus(deps: Arc<Deps>) {
    let mut rx = deps.bus.subscribe();
    loop {
        match rx.recv().await {
            Ok(BusEvent::Notified {
                users,
                notification,
            }) => {
                if let Err(e) = deps.hub.deliver(&deps.db, &users, &notification).await {
                    tracing::warn!(error = %e, "notify: live push failed");
                }
            }
            Ok(BusEvent::SessionsRevoked { .. } | BusEvent::EndStreams { .. }) => {}
            Ok(ev) => {
                let Some(current) = deps.current.get() else {
                    continue;
                };
                let deadline = Instant::now() + FORWARD_PATIENCE;
                // A restarting notifier: wait for the next one rather than lose a go-live.
                while current.get().send(StreamEvent(ev.clone())).await.is_err() {
                    if Instant::now() >= deadline {
                        tracing::warn!(event = ?ev, "notify: the notifier did not come back; event dropped");
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "notify: fell behind the bus");
            }
            Err(RecvError::Closed) => break,
        }
    }
}

impl Handler<StreamEvent> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: StreamEvent, ctx: &mut Context<Self>) {
        let _h = self.stats.handling();
        if let Some(job) = Job::from_event(msg.0) {
            self.offer(job);
            self.pump(ctx);
        }
    }
}

/// Fan-outs an earlier process left unfinished, now this node's.
#[derive(Message)]
#[rtype(result = "()")]
struct ResumeJobs(Vec<GoLive>);

impl Handler<ResumeJobs> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: ResumeJobs, ctx: &mut Context<Self>) {
        let _h = self.stats.handling_own();
        for g in msg.0 {
            self.offer(Job::Resume(g));
        }
        self.pump(ctx);
    }
}

impl Handler<JobDone> for Notifier {
    type Result = ();

    fn handle(&mut self, _: JobDone, ctx: &mut Context<Self>) {
        let _h = self.stats.handling();
        self.pump(ctx);
    }
}

/// Records a finished fan-out in the queue and logs it.
fn job_finished(deps: &Deps, key: JobKey, result: Result<Outcome, String>) {
    let finished = lock(&deps.jobs).finish(key, result, Instant::now());
    let Some(h) = finished else {
        return;
    };
    match &h.error {
        Some(e) => {
            tracing::warn!(channel = %h.slug, event = %h.event, error = %e, "notify: fan-out failed")
        }
        None => tracing::info!(
            channel = %h.slug,
            event = %h.event,
            state = %h.state,
            followers = h.total,
            ms = (h.elapsed_s * 1000.0) as u64,
            "notify: fan-out finished"
        ),
    }
}

impl Handler<GetNotifierHealth> for Notifier {
    type Result = MessageResult<GetNotifierHealth>;

    fn handle(&mut self, _: GetNotifierHealth, _: &mut Context<Self>) -> Self::Result {
        let _h = self.stats.handling();
        let d = &self.deps;
        let now = Instant::now();
        let jobs = lock(&d.jobs);
        MessageResult(NotifierHealth {
            actor: ActorHealth {
                uptime_s: self.started.elapsed().as_secs_f64(),
                last_error: jobs.last_error(),
                ..ActorHealth::new(
                    "notifier",
                    "notifier",
                    if jobs.is_idle() { "idle" } else { "running" },
                )
            }
            .with_stats(self.stats.snapshot(now)),
            jobs: jobs.jobs(now),
            queued: jobs.queued(),
            dropped_jobs: jobs.dropped(),
            sockets: d.hub.sockets(),
            pushed: d.hub.pushed(),
            kicked: d.hub.kicked(),
            email: d.mailer.as_ref().map(|m| EmailHealth {
                queued: m.queued(),
                sent: m.sent(),
                failed: m.failed(),
                last_error: m.last_error(),
            }),
            bus_redis_healthy: d.bus.redis_healthy(),
            webhooks: d.webhooks.health(),
        })
    }
}

/// What the rest of the server holds; it outlives the notifier's restarts.
#[derive(Clone)]
pub struct NotifierHandle {
    deps: Arc<Deps>,
    arbiter: ArbiterHandle,
    hub: NotificationHub,
    webhooks: webhook::WebhookHandle,
}

impl NotifierHandle {
    /// Starts the notifier (and the mailer when SMTP is configured). Inside a running System.
    pub(crate) fn start(
        db: DatabaseConnection,
        cfg: NotifyConfig,
        bus: Bus,
        node_id: String,
        public_url: String,
        stats: Arc<ActorStats>,
        exit: ExitReport,
    ) -> anyhow::Result<Self> {
        let mailer = match &cfg.smtp {
            Some(smtp) => Some(email::Mailer::start(smtp)?),
            None => None,
        };
        let hub = NotificationHub::new();
        let webhooks = webhook::start(db.clone(), cfg.webhooks.clone());
        let deps = Arc::new(Deps {
            jobs: Mutex::new(JobQueue::new(cfg.max_running)),
            current: OnceLock::new(),
            db,
            webhooks: webhooks.clone(),
            cfg,
            bus,
            mailer,
            hub: hub.clone(),
            node_id,
            public_url,
        });
        // Its own thread: a big fan-out's work (statements, serialization) then competes with
        // chat rooms and presence for cores, not for their thread.
        let arbiter = Arbiter::new().handle();
        let first = Self::spawn(&arbiter, &deps, stats, exit, false);
        let _ = deps.current.set(Current::new(first));
        arbiter.spawn(forward_bus(deps.clone()));
        Ok(Self {
            deps,
            arbiter,
            hub,
            webhooks,
        })
    }

    fn spawn(
        arbiter: &ArbiterHandle,
        deps: &Arc<Deps>,
        stats: Arc<ActorStats>,
        exit: ExitReport,
        restarted: bool,
    ) -> Mailbox<Notifier> {
        let deps = Arc::clone(deps);
        let actor_stats = Arc::clone(&stats);
        let addr = Notifier::start_in_arbiter(arbiter, move |_| Notifier {
            deps,
            started: Instant::now(),
            stats: actor_stats,
            exit,
            restarted,
        });
        Mailbox::new(addr, stats)
    }

    /// The registry's restart: a new notifier with the same queue, on the same thread.
    pub(crate) fn restart(&self, stats: Arc<ActorStats>, exit: ExitReport) {
        let next = Self::spawn(&self.arbiter, &self.deps, stats, exit, true);
        if let Some(current) = self.deps.current.get() {
            current.set(next);
        }
    }

    fn current(&self) -> Option<Mailbox<Notifier>> {
        self.deps.current.get().map(Current::get)
    }

    /// Asks the notifier running now to stop (the registry restarts it).
    pub(crate) fn stop(&self, msg: crate::supervision::StopService) {
        if let Some(n) = self.current() {
            n.do_send(msg);
        }
    }

    /// Test builds only: make the notifier fail.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn inject_fault(&self, why: &str, panic: bool) {
        if let Some(n) = self.current() {
            n.do_send(crate::supervision::InjectFault::new(why, panic));
        }
    }

    pub fn hub(&self) -> &NotificationHub {
        &self.hub
    }

    /// The SMTP sender, when SMTP is configured (account emails go through it too).
    pub fn mailer(&self) -> Option<&email::Mailer> {
        self.deps.mailer.as_ref()
    }

    /// The webhook delivery worker (wake it after queueing a delivery).
    pub fn webhooks(&self) -> &webhook::WebhookHandle {
        &self.webhooks
    }

    pub async fn health(&self) -> NotifierHealth {
        let answer = match self.current() {
            Some(n) => n.send(GetNotifierHealth).await.map_err(|e| e.to_string()),
            None => Err("not started".to_owned()),
        };
        match answer {
            Ok(h) => h,
            Err(e) => NotifierHealth {
                actor: ActorHealth {
                    last_error: Some(e),
                    ..ActorHealth::new("notifier", "notifier", "restarting")
                },
                jobs: Vec::new(),
                queued: 0,
                dropped_jobs: 0,
                sockets: self.hub.sockets(),
                pushed: self.hub.pushed(),
                kicked: self.hub.kicked(),
                email: None,
                bus_redis_healthy: None,
                webhooks: self.webhooks.health(),
            },
        }
    }
}

impl NotifierHealth {
    /// The notifier as a node of the tree.
    pub fn node(&self) -> ActorNode {
        let running = self.jobs.iter().filter(|j| j.state == "running").count();
        ActorNode::leaf(self.actor.clone())
            .figure("jobs_running", running as f64)
            .figure("jobs_queued", self.queued as f64)
            .figure("jobs_dropped", self.dropped_jobs as f64)
            .figure("sockets", self.sockets as f64)
    }
}
