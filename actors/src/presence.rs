//! Presence: who is watching which channel, and each broadcast's peak.
//!
//! Parent: the [`Registry`](crate::Registry), seen through an [`ExitReport`]; it holds no
//! children. Messages in: a 1 s tick (its own), [`GetPresenceHealth`]. Out: peak updates to
//! `broadcasts.peak_viewers` (when a peak rises, at most every [`PEAK_SAVE_EVERY`]), with
//! Redis this node's counts to `{prefix}presence:{slug}`, and analytics of the broadcasts this
//! node runs ([`AnalyticsCore`]): a sample every `analytics.sample_secs` (viewers over all
//! nodes) and view sessions, written in batches, one batch in flight at a time.
//!
//! The hot path is [`PresenceHandle::touch_from`], called synchronously by the HLS handler on
//! every media *segment* request (playlists alone count nobody): a sharded mutex map, bounded
//! per channel ([`MAX_VIEWERS_PER_CHANNEL`]) and per client address (the caller's cap: an
//! address past it adds no new viewers, so a script cycling random ids counts a few, not
//! hundreds). A viewer expires after [`TTL_TARGET_DURATIONS`] target durations (at least
//! [`MIN_VIEWER_TTL`]) without a segment request.
//!
//! Restart strategy: restarted by the registry with backoff. The viewers, totals and peaks live
//! in the [`PresenceHandle`], which outlives the actor, so a restarted presence resumes from
//! them (and with Redis from the other nodes' counts at its first tick); counting goes on while
//! it is down (touches need no actor), only the totals and the Redis copy pause. What it starts
//! without is the analytics core's open view sessions: they begin again, which it says in the
//! log and as its last error.
//!
//! [`PresenceHandle::count`] is the one source of every viewer figure (the channel's
//! `viewer_count` on the home, watch and dashboard pages, the stream health's `viewers`, chat's
//! viewer count, peaks and analytics samples). It is synchronous: it reads the totals computed
//! each second, the sum over every node's fresh count with Redis, this node's count without.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use streamhall_entities::broadcast;

use crate::analytics::{
    self, AnalyticsConfig, AnalyticsCore, BatchWritten, MAX_SESSIONS_PER_BROADCAST,
};
use crate::directory::HlsDirectory;
use crate::health::ActorHealth;
use crate::locks::{lock, read, write};
use crate::stats::{ActorStats, DeadLetters};
use crate::supervision::{ExitReport, ServiceKind};

/// Viewers stored per channel; beyond it viewers are estimated, not stored.
pub const MAX_VIEWERS_PER_CHANNEL: usize = 200_000;
/// Shortest time a viewer counts after a segment request.
pub const MIN_VIEWER_TTL: Duration = Duration::from_secs(4);
/// A viewer counts this many target durations after its last segment request. A player
/// fetches a segment about once per segment duration, but it sees a new one only at its next
/// playlist reload (up to one target duration later), so two requests can be two target
/// durations apart: three leave room for a slow request.
pub const TTL_TARGET_DURATIONS: u32 = 3;
/// The default cap of distinct viewer ids one client address adds to a channel.
pub const DEFAULT_VIEWER_IDS_PER_ADDRESS: usize = 8;
/// A rising peak is written to the database at most this often (and once at the end).
pub const PEAK_SAVE_EVERY: Duration = Duration::from_secs(5);
/// A node's Redis count older than this is ignored (the node is gone or stuck).
pub const REDIS_FRESH_MS: u64 = 3_000;
/// Channels counted on other nodes whose sums a node reads each second; beyond it (the least
/// recently written first) a channel shows this node's count.
pub const MAX_CLUSTER_CHANNELS: isize = 10_000;
const SHARDS: usize = 16;
/// Viewer ids refused by the per-address cap are logged at most this often.
const REFUSED_LOG_EVERY: Duration = Duration::from_secs(60);
/// An analytics batch still unwritten after this is given up (its sessions are written
/// again with the next one), so a stuck database cannot stop analytics for good.
const ANALYTICS_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_secs(1);

mod core;
mod redis;

pub use self::core::{PeakTracker, PresenceCore, Touched};
use redis::unix_ms;
pub use redis::{RedisPresence, sum_fresh};

// ---------------------------------------------------------------------------------------------
// Messages

/// The presence actor's own health.
#[derive(Message)]
#[rtype(result = "ActorHealth")]
pub struct GetPresenceHealth;

/// Internal: the Redis round of one tick finished.
#[derive(Message)]
#[rtype(result = "()")]
struct RedisSynced(Result<HashMap<String, u64>, String>);

/// Internal: the analytics batch in flight was written.
#[derive(Message)]
#[rtype(result = "()")]
struct AnalyticsWritten(BatchWritten);

// ---------------------------------------------------------------------------------------------
// The handle

struct PresenceShared {
    shards: Vec<Mutex<PresenceCore>>,
    /// Totals as of the last tick (summed over nodes with Redis).
    totals: RwLock<HashMap<String, u64>>,
    peaks: Mutex<PeakTracker>,
}

/// Cheap to clone, `Send + Sync`; `touch` and `count` never wait on anything but a short lock.
#[derive(Clone)]
pub struct PresenceHandle {
    shared: Arc<PresenceShared>,
}

impl Default for PresenceHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl PresenceHandle {
    /// The handle reads the totals the actor publishes each second, summed over nodes when
    /// the actor has a [`RedisPresence`].
    pub fn new() -> Self {
        Self::with_capacity(MAX_VIEWERS_PER_CHANNEL)
    }

    pub fn with_capacity(max_per_channel: usize) -> Self {
        Self {
            shared: Arc::new(PresenceShared {
                shards: (0..SHARDS)
                    .map(|_| Mutex::new(PresenceCore::new(max_per_channel)))
                    .collect(),
                totals: RwLock::new(HashMap::new()),
                peaks: Mutex::new(PeakTracker::default()),
            }),
        }
    }

    fn shard(&self, slug: &str) -> &Mutex<PresenceCore> {
        let mut h = DefaultHasher::new();
        slug.hash(&mut h);
        &self.shared.shards[(h.finish() as usize) % self.shared.shards.len()]
    }

    /// A viewer (a session or address hash chosen by the caller) is watching, with no client
    /// address to cap by (tests, trusted callers). HLS uses [`Self::touch_from`].
    pub fn touch(&self, slug: &str, viewer_key: &str) -> Touched {
        lock(self.shard(slug)).touch(slug, viewer_key, None, 0, Instant::now())
    }

    /// A viewer fetched a segment from the client address hashed to `client`; an address
    /// adds at most `max_per_client` viewers to a channel (0 = no cap).
    pub fn touch_from(
        &self,
        slug: &str,
        viewer_key: &str,
        client: u64,
        max_per_client: usize,
    ) -> Touched {
        lock(self.shard(slug)).touch(
            slug,
            viewer_key,
            Some(client),
            max_per_client,
            Instant::now(),
        )
    }

    /// Viewers of `slug`: over all nodes with Redis (as of the last second), else this node's.
    /// Every viewer figure the platform shows reads this.
    pub fn count(&self, slug: &str) -> u64 {
        if let Some(n) = read(&self.shared.totals).get(slug) {
            return *n;
        }
        lock(self.shard(slug)).count(slug)
    }

    /// Starts tracking the peak of a broadcast.
    pub(crate) fn begin_broadcast(&self, slug: &str, broadcast_id: i64) {
        lock(&self.shared.peaks).begin(slug, broadcast_id);
    }

    /// Stops tracking; the final peak.
    pub(crate) fn end_broadcast(&self, slug: &str, broadcast_id: i64) -> Option<u64> {
        // Viewers since the last tick count too.
        let now = self.count(slug).max(lock(self.shard(slug)).count(slug));
        let peak = lock(&self.shared.peaks).end(slug, broadcast_id)?;
        Some(peak.max(now))
    }

    /// The peak so far of the channel's broadcast.
    pub fn peak(&self, slug: &str) -> Option<u64> {
        lock(&self.shared.peaks).peak(slug)
    }

    fn touched_since(&self, slug: &str, since: Instant) -> Vec<(String, Instant, Instant)> {
        lock(self.shard(slug)).touched_since(slug, since)
    }

    fn expire_all(&self, ttl: impl Fn(&str) -> Duration) -> HashMap<String, u64> {
        let now = Instant::now();
        let mut all = HashMap::new();
        for shard in &self.shared.shards {
            all.extend(lock(shard).expire(now, &ttl));
        }
        all
    }

    fn take_refused(&self) -> u64 {
        self.shared
            .shards
            .iter()
            .map(|shard| lock(shard).take_refused())
            .sum()
    }

    fn set_totals(&self, totals: HashMap<String, u64>) {
        *write(&self.shared.totals) = totals;
    }
}

// ---------------------------------------------------------------------------------------------
// The actor

pub struct Presence {
    handle: PresenceHandle,
    hls: HlsDirectory,
    db: DatabaseConnection,
    redis: Option<RedisPresence>,
    redis_in_flight: bool,
    written: HashSet<String>,
    local: HashMap<String, u64>,
    started: Instant,
    last_error: Option<String>,
    redis_failures: u32,
    analytics: AnalyticsCore,
    analytics_in_flight: bool,
    /// Viewers touched since this were fed to `analytics` (less a second of overlap).
    analytics_fed: Instant,
    /// New viewer ids refused by the per-address cap since the last warning about them.
    refused: u64,
    refused_logged: Option<Instant>,
    stats: Arc<ActorStats>,
    exit: ExitReport,
}

/// How long a viewer counts after a segment request: [`TTL_TARGET_DURATIONS`] target
/// durations.
fn viewer_ttl(hls: &HlsDirectory, slug: &str) -> Duration {
    let td = hls.live_info(slug).map_or(1, |i| i.target_duration);
    (Duration::from_secs(u64::from(td)) * TTL_TARGET_DURATIONS).max(MIN_VIEWER_TTL)
}

impl Presence {
    pub fn new(
        handle: PresenceHandle,
        hls: HlsDirectory,
        db: DatabaseConnection,
        redis: Option<RedisPresence>,
        analytics: AnalyticsConfig,
    ) -> Self {
        Self {
            handle,
            hls,
            db,
            redis,
            redis_in_flight: false,
            written: HashSet::new(),
            local: HashMap::new(),
            started: Instant::now(),
            last_error: None,
            redis_failures: 0,
            analytics: AnalyticsCore::new(
                Duration::from_secs(analytics.sample_secs),
                MAX_SESSIONS_PER_BROADCAST,
            ),
            analytics_in_flight: false,
            analytics_fed: Instant::now(),
            refused: 0,
            refused_logged: None,
            stats: ActorStats::new("presence", DeadLetters::default()),
            exit: ExitReport::detached(ServiceKind::Presence),
        }
    }

    /// Under the registry: its counters and its exit report. `restarted`: an earlier
    /// incarnation ran (says so).
    pub(crate) fn supervised(
        mut self,
        stats: Arc<ActorStats>,
        exit: ExitReport,
        restarted: bool,
    ) -> Self {
        self.stats = stats;
        self.exit = exit;
        if restarted {
            self.last_error = Some(
                "restarted: viewer counts and peaks resumed from memory; open analytics view sessions began again"
                    .into(),
            );
        }
        self
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let hls = self.hls.clone();
        self.local = self.handle.expire_all(|slug| viewer_ttl(&hls, slug));
        self.warn_refused();
        match self.redis.clone() {
            None => {
                self.handle.set_totals(self.local.clone());
                self.observe_peaks();
            }
            Some(redis) if !self.redis_in_flight => {
                self.redis_in_flight = true;
                let local = self.local.clone();
                let gone: Vec<String> = self
                    .written
                    .iter()
                    .filter(|s| !local.contains_key(*s))
                    .cloned()
                    .collect();
                self.written = local.keys().cloned().collect();
                let addr = ctx.address();
                tokio::spawn(async move {
                    let res = tokio::time::timeout(
                        Duration::from_secs(2),
                        redis.sync(&local, &gone, unix_ms()),
                    )
                    .await
                    .unwrap_or_else(|_| Err("redis timed out".to_owned()));
                    // At most one round in flight, so at most one such message: it must arrive,
                    // or `redis_in_flight` would stay set.
                    addr.do_send(RedisSynced(res));
                });
            }
            Some(_) => tracing::debug!("presence: previous Redis round still running"),
        }
        self.track_analytics(ctx);
    }

    /// Feeds the analytics core this second's viewers of the broadcasts this node runs, and
    /// writes a batch when one is due and none is in flight.
    fn track_analytics(&mut self, ctx: &mut Context<Self>) {
        let (now, wall) = (Instant::now(), Utc::now());
        let at = |t: Instant| {
            wall - TimeDelta::from_std(now.saturating_duration_since(t)).unwrap_or_default()
        };
        let handle = self.handle.clone();
        // A touch timed just before the previous round may have landed just after it.
        let since = self
            .analytics_fed
            .checked_sub(TICK)
            .unwrap_or(self.analytics_fed);
        // The last requests of broadcasts about to end count too: feed before syncing.
        for slug in self.analytics.slugs() {
            self.feed_analytics(&slug, since, at);
        }
        let peaks = lock(&handle.shared.peaks).running();
        let running: Vec<(String, i64, DateTime<Utc>)> = peaks
            .iter()
            .map(|(slug, id, began)| (slug.clone(), *id, at(*began)))
            .collect();
        let begun = self
            .analytics
            .sync_broadcasts(&running, |slug| handle.count(slug), wall);
        // A new broadcast's viewers since it began.
        for slug in begun {
            let began = peaks
                .iter()
                .find(|p| p.0 == slug)
                .map_or(since, |p| p.2.min(since));
            self.feed_analytics(&slug, began, at);
        }
        self.analytics_fed = now;
        let hls = self.hls.clone();
        self.analytics.expire(wall, |slug| viewer_ttl(&hls, slug));
        if self.analytics_in_flight {
            return;
        }
        let Some(batch) = self.analytics.take_batch(wall, |slug| handle.count(slug)) else {
            return;
        };
        self.analytics_in_flight = true;
        let db = self.db.clone();
        let addr = ctx.address();
        tokio::spawn(async move {
            let written =
                tokio::time::timeout(ANALYTICS_WRITE_TIMEOUT, analytics::write_batch(&db, batch))
                    .await
                    .unwrap_or_else(|_| BatchWritten {
                        inserted: Vec::new(),
                        errors: vec!["timed out".to_owned()],
                    });
            // One batch in flight, so one such message: it must arrive, or
            // `analytics_in_flight` would stay set.
            addr.do_send(AnalyticsWritten(written));
        });
    }

    /// Viewers refused by the per-address cap are not silent: a warning at most once a
    /// minute (behind a reverse proxy without `http.trust_proxy_headers`, every viewer shares
    /// the proxy's address and the cap undercounts).
    fn warn_refused(&mut self) {
        self.refused += self.handle.take_refused();
        if self.refused == 0 {
            return;
        }
        let now = Instant::now();
        if self
            .refused_logged
            .is_some_and(|t| now.saturating_duration_since(t) < REFUSED_LOG_EVERY)
        {
            return;
        }
        tracing::warn!(
            refused = self.refused,
            "viewer ids over the per-address cap (http.viewer_ids_per_address) were not counted; \
             behind a reverse proxy, set http.trust_proxy_headers"
        );
        self.refused = 0;
        self.refused_logged = Some(now);
    }

    /// Viewers of `slug` who fetched a segment after `since`, to the analytics core.
    fn feed_analytics(
        &mut self,
        slug: &str,
        since: Instant,
        at: impl Fn(Instant) -> DateTime<Utc>,
    ) {
        let ttl = viewer_ttl(&self.hls, slug);
        for (viewer, first, last) in self.handle.touched_since(slug, since) {
            self.analytics
                .present(slug, &viewer, at(first), at(last), ttl);
        }
    }

    fn observe_peaks(&mut self) {
        let handle = self.handle.clone();
        let save = lock(&handle.shared.peaks).observe(|slug| handle.count(slug), Instant::now());
        for (broadcast_id, peak) in save {
            let db = self.db.clone();
            tokio::spawn(async move {
                if let Err(e) = save_peak(&db, broadcast_id, peak).await {
                    tracing::warn!(broadcast_id, error = %e, "saving peak viewers failed");
                }
            });
        }
    }
}

/// Raises `broadcasts.peak_viewers` to `peak` (never lowers it).
pub(crate) async fn save_peak(
    db: &impl ConnectionTrait,
    broadcast_id: i64,
    peak: u64,
) -> Result<(), sea_orm::DbErr> {
    let peak = i32::try_from(peak).unwrap_or(i32::MAX);
    broadcast::Entity::update_many()
        .col_expr(broadcast::Column::PeakViewers, Expr::value(peak))
        .filter(broadcast::Column::Id.eq(broadcast_id))
        .filter(broadcast::Column::PeakViewers.lt(peak))
        .exec(db)
        .await?;
    Ok(())
}

impl Actor for Presence {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(
            clustered = self.redis.is_some(),
            resumed = self.last_error.is_some(),
            "presence started"
        );
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.stats.stopped();
        self.exit.send(self.stats.exit_reason());
    }
}

impl Handler<crate::supervision::StopService> for Presence {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::StopService, ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        tracing::warn!(reason = %msg.0, "presence stopping");
        self.exit.send(msg.0);
        ctx.stop();
    }
}

#[cfg(any(test, feature = "fault-injection"))]
impl Handler<crate::supervision::InjectFault> for Presence {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::InjectFault, ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        let reason = msg.reason_or_panic();
        tracing::warn!(%reason, "presence: injected fault");
        self.exit.send(reason);
        ctx.stop();
    }
}

impl Handler<RedisSynced> for Presence {
    type Result = ();

    fn handle(&mut self, msg: RedisSynced, _ctx: &mut Self::Context) {
        let _h = self.stats.handling_own();
        self.redis_in_flight = false;
        match msg.0 {
            Ok(totals) => {
                self.redis_failures = 0;
                self.handle.set_totals(totals);
            }
            Err(e) => {
                // Fall back to this node's counts rather than showing stale sums.
                self.redis_failures += 1;
                if self.redis_failures == 1 || self.redis_failures.is_multiple_of(60) {
                    tracing::warn!(error = %e, failures = self.redis_failures, "presence: Redis sync failed");
                }
                self.last_error = Some(e);
                self.handle.set_totals(self.local.clone());
            }
        }
        self.observe_peaks();
    }
}

impl Handler<AnalyticsWritten> for Presence {
    type Result = ();

    fn handle(&mut self, msg: AnalyticsWritten, _ctx: &mut Self::Context) {
        let _h = self.stats.handling_own();
        self.analytics_in_flight = false;
        self.analytics.written(&msg.0.inserted);
        if !msg.0.errors.is_empty() {
            let e = msg.0.errors.join("; ");
            tracing::warn!(error = %e, "writing analytics failed");
            self.last_error = Some(format!("analytics: {e}"));
        }
    }
}

impl Handler<GetPresenceHealth> for Presence {
    type Result = MessageResult<GetPresenceHealth>;

    fn handle(&mut self, _: GetPresenceHealth, _ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        MessageResult(
            ActorHealth {
                uptime_s: self.started.elapsed().as_secs_f64(),
                last_error: self.last_error.clone(),
                ..ActorHealth::new("presence", "presence", "running")
            }
            .with_stats(self.stats.snapshot(Instant::now())),
        )
    }
}

#[cfg(test)]
mod tests;
