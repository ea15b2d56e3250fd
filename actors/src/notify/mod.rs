//! The notifier: when a channel goes live it tells the channel's followers (in-app, pushed
//! live to their open sockets, and by email) and the channel's webhooks; when it goes offline,
//! the webhooks.
//!
//! Parent: none (started by [`Live::start`](crate::Live::start) beside the registry, like
//! presence). Messages in: [`StreamEvent`] (forwarded from the bus by a task it owns, so with
//! Redis a go-live on any node arrives here), [`GetNotifierHealth`], its own `JobDone`. Out:
//! rows in `notifications`, `Notified` events on the bus, emails (SMTP), webhook deliveries.
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

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use ts_rs::TS;

pub use config::{NotifyConfig, SmtpConfig, SmtpTls, WebhookConfig};
pub use hub::NotificationHub;

use crate::bus::{Bus, BusEvent};
use crate::health::ActorHealth;
use fanout::{EVENT_OFFLINE, EVENT_ONLINE, FanoutDeps, GoLive, Progress};
use jobs::{Job, JobKey, JobQueue, Offer, Outcome};

/// A stream event from the bus.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StreamEvent(pub BusEvent);

#[derive(Message)]
#[rtype(result = "NotifierHealth")]
pub struct GetNotifierHealth;

#[derive(Message)]
#[rtype(result = "()")]
struct JobDone {
    key: JobKey,
    result: Result<Outcome, String>,
}

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

struct Deps {
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
    jobs: JobQueue,
    started: Instant,
}

impl Notifier {
    fn offer(&mut self, job: Job) {
        let slug = job.slug().to_owned();
        if self.jobs.offer(job) == Offer::Dropped {
            tracing::warn!(channel = %slug, "notify: too many fan-outs waiting; this one is dropped");
        }
    }

    /// Starts waiting jobs while slots are free.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while let Some((job, progress)) = self.jobs.start_next(Instant::now()) {
            let key = job.key();
            let deps = self.deps.clone();
            let addr = ctx.address();
            tokio::spawn(async move {
                // A panic in the job is caught here and reported, not lost.
                let run = tokio::spawn(run_job(deps, job, progress));
                let result = match run.await {
                    Ok(r) => r,
                    Err(e) => Err(format!("the job panicked: {e}")),
                };
                addr.do_send(JobDone { key, result });
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
    match webhook::enqueue(&deps.db, channel_id, event, data).await {
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
        let mut rx = self.deps.bus.subscribe();
        let addr = ctx.address();
        let deps = self.deps.clone();
        // Stream events go to the actor; pushes are handled right here (a DB read for the
        // unread counts of the users connected to this node, then try_send to their sockets).
        tokio::spawn(async move {
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
                    Ok(ev) => {
                        if addr.send(StreamEvent(ev)).await.is_err() {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "notify: fell behind the bus");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
}

impl Handler<StreamEvent> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: StreamEvent, ctx: &mut Context<Self>) {
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
        for g in msg.0 {
            self.offer(Job::Resume(g));
        }
        self.pump(ctx);
    }
}

impl Handler<JobDone> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: JobDone, ctx: &mut Context<Self>) {
        if let Some(h) = self.jobs.finish(msg.key, msg.result, Instant::now()) {
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
        self.pump(ctx);
    }
}

impl Handler<GetNotifierHealth> for Notifier {
    type Result = MessageResult<GetNotifierHealth>;

    fn handle(&mut self, _: GetNotifierHealth, _: &mut Context<Self>) -> Self::Result {
        let d = &self.deps;
        MessageResult(NotifierHealth {
            actor: ActorHealth {
                kind: "notifier".into(),
                id: "notifier".into(),
                state: if self.jobs.is_idle() {
                    "idle".into()
                } else {
                    "running".into()
                },
                uptime_s: self.started.elapsed().as_secs_f64(),
                restarts: 0,
                last_error: self.jobs.last_error(),
                mailbox: Some(self.jobs.queued()),
            },
            jobs: self.jobs.jobs(Instant::now()),
            queued: self.jobs.queued(),
            dropped_jobs: self.jobs.dropped(),
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

/// What the rest of the server holds.
#[derive(Clone)]
pub struct NotifierHandle {
    addr: Addr<Notifier>,
    hub: NotificationHub,
    webhooks: webhook::WebhookHandle,
}

impl NotifierHandle {
    /// Starts the notifier (and the mailer when SMTP is configured). Inside a running System.
    pub fn start(
        db: DatabaseConnection,
        cfg: NotifyConfig,
        bus: Bus,
        node_id: String,
        public_url: String,
    ) -> anyhow::Result<Self> {
        let mailer = match &cfg.smtp {
            Some(smtp) => Some(email::Mailer::start(smtp)?),
            None => None,
        };
        let hub = NotificationHub::new();
        let webhooks = webhook::start(db.clone(), cfg.webhooks.clone());
        let cfg_max_running = cfg.max_running;
        let deps = Arc::new(Deps {
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
        let arbiter = Arbiter::new();
        let addr = Notifier::start_in_arbiter(&arbiter.handle(), move |_| Notifier {
            deps,
            jobs: JobQueue::new(cfg_max_running),
            started: Instant::now(),
        });
        Ok(Self {
            addr,
            hub,
            webhooks,
        })
    }

    pub fn hub(&self) -> &NotificationHub {
        &self.hub
    }

    /// The webhook delivery worker (wake it after queueing a delivery).
    pub fn webhooks(&self) -> &webhook::WebhookHandle {
        &self.webhooks
    }

    pub async fn health(&self) -> NotifierHealth {
        match self.addr.send(GetNotifierHealth).await {
            Ok(h) => h,
            Err(e) => NotifierHealth {
                actor: ActorHealth {
                    kind: "notifier".into(),
                    id: "notifier".into(),
                    state: "unresponsive".into(),
                    uptime_s: 0.0,
                    restarts: 0,
                    last_error: Some(e.to_string()),
                    mailbox: None,
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
