//! Pulled sources: a channel whose source is `pull` gets its video from an RTSP camera the
//! server connects to, instead of an encoder pushing. One task per pulling channel, started at
//! boot for "always on" channels and on demand (someone asks for the channel) for the others;
//! an on-demand pull stops after [`IDLE_STOP`] without anyone asking.
//!
//! The task hands each camera session to the registry as a publisher ([`PublishRequested`]
//! with [`Protocol::Rtsp`]), so everything after the seam is the one stream actor: a camera
//! that drops and comes back within the grace window continues the same broadcast (after a
//! discontinuity), as an RTMP reconnect does. Reconnects back off from 1 s to 30 s.
//!
//! A pull is held, not attempted, while the channel's owner is suspended, or has not verified
//! their email address on a server that requires it (the same rules as the RTMP and SRT
//! ingest gate): every attempt checks the owner first, and a held pull checks again every
//! [`HOLD_RECHECK`], so it resumes by itself once the suspension ends or the address is
//! verified, on whichever node. A suspension (or an email change) ends the pulled stream
//! wherever it runs through `Live::end_streams_anywhere`; the kicked pull then finds itself
//! held.
//!
//! Who sees what: the streamer the pull's state and last error (dashboard), viewers the
//! channel's usual status (starting, live, offline), admins the stream in the health tree
//! with protocol `rtsp`, and every pull of the node with its state and last error
//! ([`Pulls::health`]); every transition is logged without the credentials.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::SecretString;
use streamhall_entities::secret::Sealer;
use streamhall_entities::{Channel, User, channel};
use streamhall_media::ingest::{Protocol, PublishRejected};
use streamhall_media::rtsp::{PullError, PullSource, RtspPull};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::gate::SINK_CAPACITY;
use crate::locks::lock;
use crate::notify::WebhookConfig;
use crate::notify::webhook::UrlGuard;
use crate::registry::{PublishRequested, Registry};
use crate::stats::Mailbox;

/// An on-demand pull with nobody asking for the channel this long stops.
pub const IDLE_STOP: Duration = Duration::from_secs(60);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A held pull (owner suspended or unverified) checks the owner again this often.
pub const HOLD_RECHECK: Duration = Duration::from_secs(5);

use crate::gate::{OwnerBar, owner_barred};
pub use crate::pull_status::{PullHealth, PullState, PullStatus};

struct Running {
    slug: String,
    stop: CancellationToken,
    status: Arc<Mutex<PullStatus>>,
    /// Last time someone asked for the channel (on demand only).
    wanted: Arc<Mutex<Instant>>,
}

/// The pulls of this node. Cheap to clone.
#[derive(Clone)]
pub struct Pulls {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    registry: Mailbox<Registry>,
    cluster: Cluster,
    sealer: Sealer,
    guard: UrlGuard,
    /// Refuse to pull for owners whose email address is unverified.
    require_verified_email: bool,
    running: Mutex<HashMap<i64, Running>>,
    /// slug -> channel id of the channels pulled on demand.
    on_demand: Mutex<HashMap<String, i64>>,
}

impl Pulls {
    pub(crate) fn new(
        db: DatabaseConnection,
        registry: Mailbox<Registry>,
        cluster: Cluster,
        sealer: Sealer,
        allow_private: &[String],
        require_verified_email: bool,
    ) -> Self {
        let guard = UrlGuard::new(&WebhookConfig {
            allow_private: allow_private.to_vec(),
            ..WebhookConfig::default()
        });
        Self {
            inner: Arc::new(Inner {
                db,
                registry,
                cluster,
                sealer,
                guard,
                require_verified_email,
                running: Mutex::new(HashMap::new()),
                on_demand: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// At boot: every pulling channel, the always-on ones started.
    pub(crate) async fn start(&self) -> anyhow::Result<()> {
        let pulling = Channel::find()
            .filter(channel::Column::Source.eq("pull"))
            .all(&self.inner.db)
            .await?;
        for ch in pulling {
            self.apply(ch);
        }
        Ok(())
    }

    /// The channel's settings changed: stop its pull and start it again as they now say.
    pub async fn reconfigure(&self, channel_id: i64) {
        self.stop(channel_id);
        lock(&self.inner.on_demand).retain(|_, id| *id != channel_id);
        match Channel::find_by_id(channel_id).one(&self.inner.db).await {
            Ok(Some(ch)) => self.apply(ch),
            Ok(None) => {}
            Err(e) => tracing::error!(channel_id, error = %e, "pull settings not reloaded"),
        }
    }

    fn apply(&self, ch: channel::Model) {
        if ch.source != "pull" || ch.pull_url.is_none() {
            return;
        }
        if ch.pull_always_on {
            self.spawn(ch, false);
        } else {
            lock(&self.inner.on_demand).insert(ch.slug.clone(), ch.id);
        }
    }

    /// Someone asked for `slug` (a playlist, the channel page): an on-demand pull starts, or
    /// stays up.
    pub fn want(&self, slug: &str) {
        let Some(id) = lock(&self.inner.on_demand).get(slug).copied() else {
            return;
        };
        if let Some(r) = lock(&self.inner.running).get(&id) {
            *lock(&r.wanted) = Instant::now();
            return;
        }
        let pulls = self.clone();
        tokio::spawn(async move {
            match Channel::find_by_id(id).one(&pulls.inner.db).await {
                Ok(Some(ch)) if ch.source == "pull" => pulls.spawn(ch, true),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(channel_id = id, error = %e, "on-demand pull not started")
                }
            }
        });
    }

    /// The pull's state, `None` for a channel that does not pull.
    pub fn status(&self, channel_id: i64) -> Option<PullStatus> {
        if let Some(r) = lock(&self.inner.running).get(&channel_id) {
            return Some(lock(&r.status).clone());
        }
        lock(&self.inner.on_demand)
            .values()
            .any(|id| *id == channel_id)
            .then(|| PullStatus::now(PullState::Idle, None))
    }

    /// Every running pull of this node (held ones included), by channel, for the admin.
    pub fn health(&self) -> Vec<PullHealth> {
        let mut all: Vec<PullHealth> = lock(&self.inner.running)
            .values()
            .map(|r| PullHealth {
                channel: r.slug.clone(),
                status: lock(&r.status).clone(),
            })
            .collect();
        all.sort_by(|a, b| a.channel.cmp(&b.channel));
        all
    }

    /// Why the channel's owner may not stream now, if so (`Err`: the database failed).
    async fn hold_reason(&self, ch: &channel::Model) -> Result<Option<String>, String> {
        let owner = User::find_by_id(ch.owner_id)
            .one(&self.inner.db)
            .await
            .map_err(|e| format!("database: {e}"))?;
        let reason = match owner_barred(
            owner.as_ref(),
            self.inner.require_verified_email,
            Utc::now(),
        ) {
            None => return Ok(None),
            Some(OwnerBar::Gone) => "the channel's owner no longer exists",
            Some(OwnerBar::Suspended) => {
                "held: the owner's account is suspended; the camera is pulled again when the suspension ends"
            }
            Some(OwnerBar::Unverified) => {
                "held: the owner's email address is not verified; open the link we emailed to pull the camera again"
            }
        };
        Ok(Some(reason.into()))
    }

    fn stop(&self, channel_id: i64) {
        if let Some(r) = lock(&self.inner.running).remove(&channel_id) {
            r.stop.cancel();
        }
    }

    /// Stops every pull (shutdown).
    pub fn stop_all(&self) {
        for (_, r) in lock(&self.inner.running).drain() {
            r.stop.cancel();
        }
    }

    fn spawn(&self, ch: channel::Model, on_demand: bool) {
        let mut running = lock(&self.inner.running);
        if running.contains_key(&ch.id) {
            return;
        }
        let status = Arc::new(Mutex::new(PullStatus::now(PullState::Connecting, None)));
        let wanted = Arc::new(Mutex::new(Instant::now()));
        let stop = CancellationToken::new();
        running.insert(
            ch.id,
            Running {
                slug: ch.slug.clone(),
                stop: stop.clone(),
                status: Arc::clone(&status),
                wanted: Arc::clone(&wanted),
            },
        );
        drop(running);
        let task = PullTask {
            pulls: self.clone(),
            channel_id: ch.id,
            slug: ch.slug.clone(),
            on_demand,
            status,
            wanted,
            stop,
        };
        tracing::info!(channel = %ch.slug, on_demand, "pull started");
        tokio::spawn(task.run());
    }

    /// The camera credentials of a channel, opened.
    fn source(&self, ch: &channel::Model) -> Result<PullSource, String> {
        let url = ch
            .pull_url
            .clone()
            .ok_or_else(|| "no pull URL is set".to_owned())?;
        let (username, password) = match &ch.pull_credentials {
            None => (None, None),
            Some(sealed) => {
                let opened = self.inner.sealer.open(sealed).map_err(|e| e.to_string())?;
                let (u, p) = opened.split_once(':').unwrap_or((opened.as_str(), ""));
                (Some(u.to_owned()), Some(SecretString::from(p.to_owned())))
            }
        };
        Ok(PullSource {
            url,
            username,
            password,
            udp: ch.pull_transport == "udp",
        })
    }
}

/// Whether `url` is an `rtsp://` URL without credentials whose host resolves only to
/// addresses the policy allows (private, loopback and link-local ones only when listed in
/// `[ingest] allow_private`).
pub async fn check_pull_url(url: &str, allow_private: &[String]) -> Result<(), String> {
    let guard = UrlGuard::new(&WebhookConfig {
        allow_private: allow_private.to_vec(),
        ..WebhookConfig::default()
    });
    check_with(&guard, url).await
}

async fn check_with(guard: &UrlGuard, url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if parsed.scheme() != "rtsp" {
        return Err("the URL must start with rtsp://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "put the camera's user name and password in their own fields, not in the URL".into(),
        );
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| "the URL has no host".to_owned())?;
    let port = parsed.port().unwrap_or(554);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host, port)),
        )
        .await
        .map_err(|_| "the host did not resolve in time".to_owned())?
        .map_err(|_| "the host does not resolve".to_owned())?
        .map(|a| a.ip())
        .collect(),
    };
    if addrs.is_empty() {
        return Err("the host does not resolve".into());
    }
    if let Some(bad) = addrs.iter().find(|ip| !guard.allows(**ip)) {
        let why = crate::notify::webhook::ranges::special_purpose(*bad).unwrap_or("not public");
        return Err(format!(
            "{bad} is not a public address ({why}); an admin can allow it with [ingest] allow_private"
        ));
    }
    Ok(())
}

struct PullTask {
    pulls: Pulls,
    channel_id: i64,
    slug: String,
    on_demand: bool,
    status: Arc<Mutex<PullStatus>>,
    wanted: Arc<Mutex<Instant>>,
    stop: CancellationToken,
}

/// How one camera session ended.
enum Session {
    /// The camera failed or dropped: try again.
    Lost(String),
    /// Told to stop (settings changed, shutdown, nobody watching).
    Stopped,
    /// The owner may not stream now (the reason): check again later, do not connect.
    Held(String),
}

impl PullTask {
    fn set(&self, state: PullState, last_error: Option<String>) {
        let mut status = lock(&self.status);
        // A held pull stays held (with its reason and since) while it checks again.
        if status.state == PullState::Held
            && state == PullState::Held
            && status.last_error == last_error
        {
            return;
        }
        *status = PullStatus::now(state, last_error);
    }

    fn idle(&self) -> bool {
        self.on_demand && lock(&self.wanted).elapsed() >= IDLE_STOP
    }

    async fn run(self) {
        let mut backoff = BACKOFF_FIRST;
        loop {
            if self.stop.is_cancelled() || self.idle() {
                break;
            }
            if lock(&self.status).state != PullState::Held {
                self.set(PullState::Connecting, None);
            }
            match self.session().await {
                Session::Stopped => break,
                Session::Held(reason) => {
                    if lock(&self.status).state != PullState::Held {
                        tracing::warn!(channel = %self.slug, reason = %reason, "pull held");
                    }
                    self.set(PullState::Held, Some(reason));
                    backoff = BACKOFF_FIRST;
                    tokio::select! {
                        _ = self.stop.cancelled() => break,
                        _ = tokio::time::sleep(HOLD_RECHECK) => {}
                    }
                    continue;
                }
                Session::Lost(reason) => {
                    if lock(&self.status).state == PullState::Live {
                        backoff = BACKOFF_FIRST;
                    }
                    tracing::warn!(channel = %self.slug, error = %reason, retry_in_s = backoff.as_secs(), "pull lost");
                    self.set(PullState::Retrying, Some(reason));
                }
            }
            tokio::select! {
                _ = self.stop.cancelled() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        self.set(PullState::Idle, None);
        let mut running = lock(&self.pulls.inner.running);
        if running
            .get(&self.channel_id)
            .is_some_and(|r| Arc::ptr_eq(&r.status, &self.status))
        {
            running.remove(&self.channel_id);
        }
        tracing::info!(channel = %self.slug, "pull stopped");
    }

    async fn session(&self) -> Session {
        let inner = &self.pulls.inner;
        if let Some(remote) = inner.cluster.remote(&self.slug) {
            return Session::Lost(format!("live through node {}", remote.node));
        }
        let ch = match Channel::find_by_id(self.channel_id).one(&inner.db).await {
            Ok(Some(ch)) if ch.source == "pull" => ch,
            Ok(_) => return Session::Stopped,
            Err(e) => return Session::Lost(format!("database: {e}")),
        };
        match self.pulls.hold_reason(&ch).await {
            Ok(None) => {}
            Ok(Some(reason)) => return Session::Held(reason),
            Err(e) => return Session::Lost(e),
        }
        self.set(PullState::Connecting, None);
        let src = match self.pulls.source(&ch) {
            Ok(s) => s,
            Err(e) => return Session::Lost(e),
        };
        if let Err(e) = check_with(&inner.guard, &src.url).await {
            return Session::Lost(e);
        }
        let connect = tokio::select! {
            _ = self.stop.cancelled() => return Session::Stopped,
            c = RtspPull::connect(&src) => c,
        };
        let mut pull = match connect {
            Ok(p) => p,
            Err(e) => return Session::Lost(e.to_string()),
        };
        let (sink, events) = mpsc::channel(SINK_CAPACITY);
        let kick = CancellationToken::new();
        let granted = inner
            .registry
            .send(PublishRequested {
                channel: ch,
                events,
                kick: kick.clone(),
                protocol: Protocol::Rtsp,
            })
            .await;
        match granted {
            Ok(Ok(())) => {}
            Ok(Err(PublishRejected::LiveElsewhere)) => {
                return Session::Lost("live through another node".into());
            }
            Ok(Err(e)) => return Session::Lost(format!("the stream refused the camera: {e}")),
            Err(e) => return Session::Lost(format!("the stream is not reachable: {e}")),
        }
        tracing::info!(channel = %self.slug, "pull live");
        self.set(PullState::Live, None);
        let mut idle_check = tokio::time::interval(Duration::from_secs(5));
        loop {
            let event = tokio::select! {
                biased;
                _ = self.stop.cancelled() => return Session::Stopped,
                _ = kick.cancelled() => return Session::Lost("stopped by the stream (an admin, or the broadcast ended)".into()),
                _ = idle_check.tick() => {
                    if self.idle() {
                        return Session::Stopped;
                    }
                    continue;
                }
                e = pull.next() => e,
            };
            match event {
                Ok(event) => {
                    if sink.send(event).await.is_err() {
                        return Session::Lost("the stream stopped reading".into());
                    }
                }
                Err(PullError::Ended) => return Session::Lost(PullError::Ended.to_string()),
                Err(e) => return Session::Lost(e.to_string()),
            }
        }
    }
}
