//! The delivery worker: one tokio task per node claims due deliveries, sends them through the
//! [`UrlGuard`](super::UrlGuard) signed with [`sign`](super::sign), and records the outcome
//! under the retry policy ([`next_after`]).

use super::super::config::WebhookConfig;
use super::*;

use futures_util::FutureExt;

use super::guard::timeout;

/// Deliveries in flight at once per node.
const CONCURRENCY: usize = 8;
const TICK: Duration = Duration::from_secs(1);
/// How often rows stuck in `sending` are looked for.
const RECOVER_EVERY: Duration = Duration::from_secs(15);
/// Longest wait between two attempts, whatever the base and the attempt count.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// Longest error text stored per delivery.
const MAX_ERROR_LEN: usize = 500;

// ---------------------------------------------------------------------------------------------
// Retry policy

/// The wait before the next try after `attempts` failed ones (1, 2, …): `base * 2^(attempts-1)`,
/// at most a day.
pub fn backoff(base_ms: u64, attempts: u32) -> Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(40);
    Duration::from_millis(base_ms.saturating_mul(factor)).min(MAX_BACKOFF)
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryIn(Duration),
    Failed,
}

/// The state after attempt number `attempts` (counting this one).
pub fn next_after(cfg: &WebhookConfig, attempts: u32, success: bool) -> Next {
    if success {
        Next::Delivered
    } else if attempts >= cfg.max_attempts.max(1) {
        Next::Failed
    } else {
        Next::RetryIn(backoff(cfg.backoff_base_ms, attempts))
    }
}

// ---------------------------------------------------------------------------------------------
// The worker and its handle

/// This node's delivery counters, for the admin health tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
pub struct WebhookStats {
    /// Deliveries waiting (all nodes), as of the worker's last round.
    pub pending: u64,
    /// Delivered by this node since it started.
    pub delivered: u64,
    /// Given up on by this node since it started.
    pub failed: u64,
    /// The latest failure seen by this node (no URL, no payload).
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Stats {
    pending: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn snapshot(&self) -> WebhookStats {
        WebhookStats {
            pending: self.pending.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }

    fn set_error(&self, error: &str) {
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some(error.to_owned());
    }
}

struct Shared {
    db: DatabaseConnection,
    cfg: WebhookConfig,
    guard: UrlGuard,
    wake: Notify,
    stats: Stats,
}

/// What the rest of the app holds: wake the worker, read its counters, check URLs. Cheap to
/// clone; the worker stops when the last clone is dropped (or on [`WebhookHandle::shutdown`]).
#[derive(Clone)]
pub struct WebhookHandle {
    shared: Arc<Shared>,
    stop: CancellationToken,
    _stop_on_drop: Arc<DropGuard>,
}

impl WebhookHandle {
    /// Look for due deliveries now instead of at the next tick.
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    pub fn health(&self) -> WebhookStats {
        self.shared.stats.snapshot()
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.shared.cfg
    }

    /// The guard the worker uses, for checking URLs when webhooks are created.
    pub fn guard(&self) -> &UrlGuard {
        &self.shared.guard
    }

    /// Stops the worker after its current round.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

/// Starts this node's worker on the current tokio runtime.
pub fn start(db: DatabaseConnection, cfg: WebhookConfig) -> WebhookHandle {
    let shared = Arc::new(Shared {
        guard: UrlGuard::new(&cfg),
        db,
        cfg,
        wake: Notify::new(),
        stats: Stats::default(),
    });
    let stop = CancellationToken::new();
    let worker = WebhookWorker {
        shared: shared.clone(),
        stop: stop.clone(),
    };
    tokio::spawn(worker.run());
    WebhookHandle {
        shared,
        _stop_on_drop: Arc::new(stop.clone().drop_guard()),
        stop,
    }
}

/// Claims due deliveries, sends them, records the outcome. See the module docs.
#[derive(Clone)]
pub struct WebhookWorker {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

/// How one send went.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
}

/// What is sending now on this node: which webhook, for which channel. Each webhook sends one
/// delivery at a time and each channel at most `max_sending_per_channel`, so a dead endpoint
/// holds one slot for its timeout, never all of them.
#[derive(Default)]
struct InFlight {
    tasks: tokio::task::JoinSet<(i64, Result<bool, DbErr>)>,
    /// Webhook id -> channel id.
    hooks: std::collections::HashMap<i64, i64>,
}

impl InFlight {
    fn sending_for(&self, channel: i64) -> usize {
        self.hooks.values().filter(|c| **c == channel).count()
    }
}

impl WebhookWorker {
    async fn run(self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_recovery: Option<tokio::time::Instant> = None;
        let mut inflight = InFlight::default();
        loop {
            let mut ticked = false;
            tokio::select! {
                _ = self.stop.cancelled() => break,
                _ = self.shared.wake.notified() => {}
                _ = tick.tick() => ticked = true,
                Some(done) = inflight.tasks.join_next(), if !inflight.tasks.is_empty() => {
                    match done {
                        Ok((hook, result)) => {
                            inflight.hooks.remove(&hook);
                            self.note(result.map(|_| ()));
                        }
                        // Sends catch their panics; only a cancelled task gets here.
                        Err(e) => tracing::error!(error = %e, "webhook send task ended"),
                    }
                }
            }
            if last_recovery.is_none_or(|t| t.elapsed() >= RECOVER_EVERY) {
                last_recovery = Some(tokio::time::Instant::now());
                self.note(self.recover_stale().await);
                self.note(self.prune().await);
            }
            let filled = self.fill(&mut inflight).await;
            self.note(filled);
            if ticked {
                let pending = self.count_pending().await;
                self.note(pending);
            }
        }
        inflight.tasks.shutdown().await;
        tracing::debug!("webhook worker stopped");
    }

    fn note(&self, result: Result<(), DbErr>) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "webhook worker: database error");
            self.shared.stats.set_error(&format!("database: {e}"));
        }
    }

    /// Starts sending due deliveries until [`CONCURRENCY`] are in flight, oldest due first,
    /// skipping webhooks already sending and channels at their share.
    async fn fill(&self, inflight: &mut InFlight) -> Result<(), DbErr> {
        let db = &self.shared.db;
        let per_channel = self.shared.cfg.max_sending_per_channel.max(1);
        // Webhooks that may not start another send in this fill.
        let mut skip: Vec<i64> = inflight.hooks.keys().copied().collect();
        while inflight.tasks.len() < CONCURRENCY && !self.stop.is_cancelled() {
            let due: Option<(String, i64)> = WebhookDelivery::find()
                .select_only()
                .column(webhook_delivery::Column::Id)
                .column(webhook_delivery::Column::WebhookId)
                .filter(webhook_delivery::Column::State.eq(state::PENDING))
                .filter(webhook_delivery::Column::NextAttemptAt.lte(Utc::now()))
                .filter(webhook_delivery::Column::WebhookId.is_not_in(skip.clone()))
                .order_by_asc(webhook_delivery::Column::NextAttemptAt)
                .into_tuple()
                .one(db)
                .await?;
            let Some((id, hook_id)) = due else {
                return Ok(());
            };
            skip.push(hook_id);
            // Deleting a webhook deletes its deliveries; a missing one means it just went.
            let Some(hook) = Webhook::find_by_id(hook_id).one(db).await? else {
                continue;
            };
            if inflight.sending_for(hook.channel_id) >= per_channel {
                // The channel has its share: none of its webhooks start now.
                let siblings: Vec<i64> = Webhook::find()
                    .select_only()
                    .column(webhook::Column::Id)
                    .filter(webhook::Column::ChannelId.eq(hook.channel_id))
                    .into_tuple()
                    .all(db)
                    .await?;
                skip.extend(siblings);
                continue;
            }
            inflight.hooks.insert(hook.id, hook.channel_id);
            let worker = self.clone();
            inflight.tasks.spawn(async move {
                // A panicking send must not leave its webhook marked as sending forever; its
                // row stays `sending` until recovery puts it back.
                let sent = std::panic::AssertUnwindSafe(worker.deliver(&id, &hook))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err(DbErr::Custom("a webhook send panicked".into())));
                (hook.id, sent)
            });
        }
        Ok(())
    }

    /// Claims, sends and records one delivery; `false` if another node claimed it first.
    async fn deliver(&self, id: &str, hook: &webhook::Model) -> Result<bool, DbErr> {
        if !self.claim(id).await? {
            return Ok(false);
        }
        let Some(delivery) = WebhookDelivery::find_by_id(id).one(&self.shared.db).await? else {
            return Ok(false);
        };
        let outcome = self.send(hook, &delivery).await;
        self.record(&delivery, outcome).await?;
        Ok(true)
    }

    /// `pending` and due → `sending`, in one conditional UPDATE: true if this node got it.
    async fn claim(&self, id: &str) -> Result<bool, DbErr> {
        let now = Utc::now();
        let claimed = WebhookDelivery::update_many()
            .col_expr(webhook_delivery::Column::State, Expr::value(state::SENDING))
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::Id.eq(id))
            .filter(webhook_delivery::Column::State.eq(state::PENDING))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .exec(&self.shared.db)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    async fn send(&self, hook: &webhook::Model, delivery: &webhook_delivery::Model) -> Outcome {
        let target = match self.shared.guard.check(&hook.url).await {
            Ok(target) => target,
            Err(e) => {
                return Outcome {
                    status: None,
                    error: Some(format!("{}: {e}", e.code())),
                };
            }
        };
        let client = match self.shared.guard.client(&target) {
            Ok(client) => client,
            Err(e) => {
                return Outcome {
                    status: None,
                    error: Some(describe(e)),
                };
            }
        };
        let body = delivery.payload.clone().into_bytes();
        let response = client
            .post(target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(&hook.secret, &body))
            .header(EVENT_HEADER, &delivery.event)
            .header(DELIVERY_HEADER, &delivery.id)
            .body(body)
            .send()
            .await;
        match response {
            Ok(res) => {
                let status = res.status();
                let error = if status.is_success() {
                    None
                } else if status.is_redirection() {
                    Some(format!(
                        "redirects are not followed (HTTP {})",
                        status.as_u16()
                    ))
                } else {
                    Some(format!("HTTP {}", status.as_u16()))
                };
                Outcome {
                    status: Some(status.as_u16()),
                    error,
                }
            }
            Err(e) => Outcome {
                status: None,
                error: Some(describe(e)),
            },
        }
    }

    async fn record(
        &self,
        delivery: &webhook_delivery::Model,
        outcome: Outcome,
    ) -> Result<(), DbErr> {
        let attempts = u32::try_from(delivery.attempts)
            .unwrap_or(0)
            .saturating_add(1);
        let next = next_after(&self.shared.cfg, attempts, outcome.error.is_none());
        let now = Utc::now();
        let mut update = WebhookDelivery::update_many()
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(
                webhook_delivery::Column::LastStatus,
                Expr::value(outcome.status.map(i32::from)),
            )
            .col_expr(
                webhook_delivery::Column::LastError,
                Expr::value(outcome.error.clone()),
            )
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now));
        let stats = &self.shared.stats;
        let new_state = match next {
            Next::Delivered => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                state::DELIVERED
            }
            Next::RetryIn(wait) => {
                let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                update = update.col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(at));
                state::PENDING
            }
            Next::Failed => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                state::FAILED
            }
        };
        if let Some(error) = &outcome.error {
            stats.set_error(error);
            tracing::info!(
                delivery = %delivery.id,
                webhook_id = delivery.webhook_id,
                event = %delivery.event,
                attempts,
                state = new_state,
                error = %error,
                "webhook delivery failed"
            );
        } else {
            tracing::debug!(
                delivery = %delivery.id,
                webhook_id = delivery.webhook_id,
                event = %delivery.event,
                attempts,
                "webhook delivered"
            );
        }
        update
            .col_expr(webhook_delivery::Column::State, Expr::value(new_state))
            .filter(webhook_delivery::Column::Id.eq(&delivery.id))
            .filter(webhook_delivery::Column::State.eq(state::SENDING))
            .exec(&self.shared.db)
            .await?;
        Ok(())
    }

    /// Rows in `sending` for longer than a send can take belong to a node that died: they go
    /// back to `pending` (the receiver may see that delivery twice; the id tells it so).
    async fn recover_stale(&self) -> Result<(), DbErr> {
        let stale_after = timeout(&self.shared.cfg) * 4 + Duration::from_secs(30);
        let now = Utc::now();
        let cutoff = now - chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
        let res = WebhookDelivery::update_many()
            .col_expr(webhook_delivery::Column::State, Expr::value(state::PENDING))
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::State.eq(state::SENDING))
            .filter(webhook_delivery::Column::UpdatedAt.lt(cutoff))
            .exec(&self.shared.db)
            .await?;
        if res.rows_affected > 0 {
            tracing::warn!(
                rows = res.rows_affected,
                "webhook deliveries left in `sending` are pending again"
            );
        }
        Ok(())
    }

    /// Forgets finished deliveries older than `keep_days`.
    async fn prune(&self) -> Result<(), DbErr> {
        let keep = chrono::Duration::days(i64::from(self.shared.cfg.keep_days.max(1)));
        let res = WebhookDelivery::delete_many()
            .filter(webhook_delivery::Column::State.is_in([state::DELIVERED, state::FAILED]))
            .filter(webhook_delivery::Column::UpdatedAt.lt(Utc::now() - keep))
            .exec(&self.shared.db)
            .await?;
        if res.rows_affected > 0 {
            tracing::debug!(rows = res.rows_affected, "old webhook deliveries removed");
        }
        Ok(())
    }

    async fn count_pending(&self) -> Result<(), DbErr> {
        let n = WebhookDelivery::find()
            .filter(webhook_delivery::Column::State.eq(state::PENDING))
            .count(&self.shared.db)
            .await?;
        self.shared.stats.pending.store(n, Ordering::Relaxed);
        Ok(())
    }
}

/// A reqwest error without its URL, with its causes, shortened.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests;
