//! Webhooks: signed deliveries of stream events to channel owners' endpoints.
//!
//! ```text
//! enqueue(channel, event, data) ─► webhook_deliveries (pending, payload as it will be signed)
//! WebhookWorker (one tokio task per node; several nodes may share one database)
//!   every second, or at once on WebhookHandle::wake():
//!     claim a due row   UPDATE … SET state='sending' WHERE id=? AND state='pending' (1 row: ours)
//!     UrlGuard::check   resolve the host, refuse private/loopback/link-local/… addresses
//!     POST              pinned to the checked addresses, no redirects, signed body
//!     record            2xx delivered | retry after backoff | failed after max_attempts
//!   rows left in `sending` by a node that died go back to `pending`
//! ```
//!
//! The body is signed with the webhook's secret: `X-Streamhall-Signature: sha256=<hex
//! HMAC-SHA256(secret, body)>`. Neither secrets nor payloads are logged, and errors are
//! recorded without the URL (webhook URLs often carry tokens).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Url;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use sha2::Sha256;
use streamhall_entities::{Webhook, WebhookDelivery, webhook, webhook_delivery};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};
use ts_rs::TS;

use super::config::WebhookConfig;

/// Events a webhook may subscribe to.
pub const EVENTS: &[&str] = &["stream.online", "stream.offline"];
/// Sent only by the test endpoint, to the one webhook being tested.
pub const PING: &str = "ping";

pub const SIGNATURE_HEADER: &str = "X-Streamhall-Signature";
pub const EVENT_HEADER: &str = "X-Streamhall-Event";
pub const DELIVERY_HEADER: &str = "X-Streamhall-Delivery";
pub const USER_AGENT: &str = "streamhall-webhooks";

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Due deliveries looked at per round.
const BATCH: u64 = 50;
/// Deliveries in flight at once per node.
const CONCURRENCY: usize = 8;
const TICK: Duration = Duration::from_secs(1);
/// How often rows stuck in `sending` are looked for.
const RECOVER_EVERY: Duration = Duration::from_secs(15);
/// Longest wait between two attempts, whatever the base and the attempt count.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// Longest error text stored per delivery.
const MAX_ERROR_LEN: usize = 500;

pub mod state {
    pub const PENDING: &str = "pending";
    pub const SENDING: &str = "sending";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
}

// ---------------------------------------------------------------------------------------------
// Events, secrets, signatures, payloads

/// The events in `requested`, checked against [`EVENTS`], deduplicated, in [`EVENTS`] order.
/// `Err` names the first unknown event, or says the list is empty.
pub fn normalize_events(requested: &[String]) -> Result<Vec<&'static str>, String> {
    if let Some(unknown) = requested.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(format!(
            "unknown event {unknown:?}; known events: {}",
            EVENTS.join(", ")
        ));
    }
    let events: Vec<&'static str> = EVENTS
        .iter()
        .copied()
        .filter(|e| requested.iter().any(|r| r == e))
        .collect();
    if events.is_empty() {
        return Err("subscribe to at least one event".into());
    }
    Ok(events)
}

/// The events of a stored webhook (`webhooks.events` is comma-separated).
pub fn parse_events(csv: &str) -> Vec<String> {
    csv.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

fn subscribes(csv: &str, event: &str) -> bool {
    csv.split(',').any(|e| e.trim() == event)
}

/// A new signing secret: 32 random bytes, hex.
pub fn new_secret() -> Result<String, getrandom::Error> {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf)?;
    Ok(hex::encode(buf))
}

/// The `X-Streamhall-Signature` value: `sha256=` and the hex HMAC-SHA256 of `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The delivery body: `{"created_at", "data", "event", "id"}`, stored as it is signed and sent.
fn payload(id: &str, event: &str, at: DateTime<Utc>, data: &serde_json::Value) -> String {
    serde_json::json!({
        "id": id,
        "event": event,
        "created_at": at.to_rfc3339(),
        "data": data,
    })
    .to_string()
}

/// Queues `event` for every webhook of the channel subscribed to it; returns how many.
/// The worker sends them within a second ([`WebhookHandle::wake`] for at once).
pub async fn enqueue(
    db: &DatabaseConnection,
    channel_id: i64,
    event: &str,
    data: serde_json::Value,
) -> Result<usize, DbErr> {
    let hooks: Vec<webhook::Model> = Webhook::find()
        .filter(webhook::Column::ChannelId.eq(channel_id))
        .all(db)
        .await?
        .into_iter()
        .filter(|h| subscribes(&h.events, event))
        .collect();
    insert_deliveries(db, hooks.iter().map(|h| h.id), event, &data).await
}

/// Queues `event` for one webhook whatever it subscribes to (the test endpoint's `ping`);
/// returns the delivery id.
pub async fn enqueue_to(
    db: &DatabaseConnection,
    webhook_id: i64,
    event: &str,
    data: serde_json::Value,
) -> Result<String, DbErr> {
    let id = new_delivery_id();
    insert_delivery_rows(db, vec![delivery_row(id.clone(), webhook_id, event, &data)]).await?;
    Ok(id)
}

async fn insert_deliveries(
    db: &DatabaseConnection,
    webhook_ids: impl Iterator<Item = i64>,
    event: &str,
    data: &serde_json::Value,
) -> Result<usize, DbErr> {
    let rows: Vec<_> = webhook_ids
        .map(|hook| delivery_row(new_delivery_id(), hook, event, data))
        .collect();
    let n = rows.len();
    insert_delivery_rows(db, rows).await?;
    Ok(n)
}

async fn insert_delivery_rows(
    db: &DatabaseConnection,
    rows: Vec<webhook_delivery::ActiveModel>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    WebhookDelivery::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Time-ordered (v7), so ties on `created_at` still list newest first.
fn new_delivery_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn delivery_row(
    id: String,
    webhook_id: i64,
    event: &str,
    data: &serde_json::Value,
) -> webhook_delivery::ActiveModel {
    let now = Utc::now();
    webhook_delivery::ActiveModel {
        payload: Set(payload(&id, event, now, data)),
        id: Set(id),
        webhook_id: Set(webhook_id),
        event: Set(event.to_owned()),
        state: Set(state::PENDING.into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_status: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

// ---------------------------------------------------------------------------------------------
// The SSRF guard

/// Why a URL may not be a webhook target. [`UrlError::code`] is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute http(s) URL with a host, carries credentials, or is too long.
    #[error("{0}")]
    Invalid(String),
    /// The host is, or resolves to, an address webhooks may not reach.
    #[error("{0}")]
    NotAllowed(String),
    /// The host does not resolve (or not in time).
    #[error("{0}")]
    Unresolvable(String),
}

impl UrlError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_url",
            Self::NotAllowed(_) => "url_not_allowed",
            Self::Unresolvable(_) => "url_unresolvable",
        }
    }
}

/// An IPv4 or IPv6 network, e.g. `10.0.0.0/8`, `fc00::/7`; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { net: u32, prefix: u8 },
    V6 { net: u128, prefix: u8 },
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip.to_canonical()) {
            (Self::V4 { net, prefix }, IpAddr::V4(ip)) => u32::from(ip) & mask32(prefix) == net,
            (Self::V6 { net, prefix }, IpAddr::V6(ip)) => u128::from(ip) & mask128(prefix) == net,
            // A v6 range given for v4-mapped addresses (`::ffff:10.0.0.0/104`).
            (Self::V6 { net, prefix }, IpAddr::V4(ip)) => {
                u128::from(ip.to_ipv6_mapped()) & mask128(prefix) == net
            }
            (Self::V4 { .. }, IpAddr::V6(_)) => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    /// Host bits are cleared: `10.1.2.3/8` is `10.0.0.0/8`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0..={max}"))?,
        };
        Ok(match ip {
            IpAddr::V4(ip) => Self::V4 {
                net: u32::from(ip) & mask32(prefix),
                prefix,
            },
            IpAddr::V6(ip) => Self::V6 {
                net: u128::from(ip) & mask128(prefix),
                prefix,
            },
        })
    }
}

/// Loopback, private, link-local, CGNAT, unspecified, broadcast, multicast or reserved:
/// not somewhere a webhook may go unless allowed by configuration. IPv4 embedded in IPv6
/// (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) is judged
/// as the IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback() // 127/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16
        || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64/10
        || ip.is_broadcast()
        || ip.is_multicast() // 224/4
        || a >= 240 // reserved 240/4
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || ip.is_multicast() // ff00::/8
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let compatible = s[..6].iter().all(|x| *x == 0) && !ip.is_unspecified() && !ip.is_loopback();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0);
    (compatible || nat64).then_some(tail)
}

/// Parses an `allow_private` list; entries that do not parse are logged under `setting` and
/// ignored (nothing extra is allowed).
pub fn parse_allow_list(setting: &str, entries: &[String]) -> Vec<Cidr> {
    entries
        .iter()
        .filter_map(|entry| match entry.parse::<Cidr>() {
            Ok(cidr) => Some(cidr),
            Err(e) => {
                tracing::error!(error = %e, setting, "allow_private: entry ignored");
                None
            }
        })
        .collect()
}

/// The address policy for any outbound connection the server makes on a user's behalf
/// (webhooks, restream destinations): resolves `host` (a name, an IP literal, or a bracketed
/// IPv6 literal) within `timeout` and refuses it when any address is internal ([`is_internal`])
/// and not in `allow`. Returns the checked addresses.
pub async fn check_host(
    allow: &[Cidr],
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, UrlError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(UrlError::Invalid("the URL has no host".into()));
    }
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(_)) => Vec::new(),
                Err(_) => {
                    return Err(UrlError::Unresolvable(
                        "the host did not resolve in time".into(),
                    ));
                }
            }
        }
    };
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable("the host does not resolve".into()));
    }
    let allowed = |ip: IpAddr| !is_internal(ip) || allow.iter().any(|c| c.contains(ip));
    if let Some(bad) = addrs.iter().find(|a| !allowed(a.ip())) {
        return Err(UrlError::NotAllowed(format!(
            "{} is a loopback, private, link-local or reserved address",
            bad.ip()
        )));
    }
    Ok(addrs)
}

/// A URL that passed the guard, with the addresses its host resolved to: the request must go
/// to exactly these (see [`UrlGuard::client`]).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    /// The host name when the URL names one (not an IP literal).
    pub domain: Option<String>,
    pub addrs: Vec<SocketAddr>,
}

/// Decides which URLs webhooks may target.
#[derive(Debug, Clone)]
pub struct UrlGuard {
    allow: Vec<Cidr>,
    timeout: Duration,
}

impl UrlGuard {
    /// From `[notify.webhooks]`; entries of `allow_private` that do not parse are logged and
    /// ignored (nothing extra is allowed).
    pub fn new(cfg: &WebhookConfig) -> Self {
        let allow = cfg
            .allow_private
            .iter()
            .filter_map(|entry| match entry.parse::<Cidr>() {
                Ok(cidr) => Some(cidr),
                Err(e) => {
                    tracing::error!(error = %e, "notify.webhooks.allow_private: entry ignored");
                    None
                }
            })
            .collect();
        Self {
            allow,
            timeout: timeout(cfg),
        }
    }

    /// Whether a request may go to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allow.iter().any(|c| c.contains(ip))
    }

    /// Parses `url`, resolves its host and checks every address it resolves to.
    pub async fn check(&self, url: &str) -> Result<Target, UrlError> {
        let url = parse_url(url)?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| UrlError::Invalid("the URL has no port".into()))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| UrlError::Invalid("the URL has no host".into()))?;
        // The parser writes IP hosts in canonical form (`0x7f.1` is `127.0.0.1`, IPv6 in
        // brackets), so anything that does not parse as an address is a name.
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let (domain, addrs) = match literal {
            Some(ip) => (None, vec![SocketAddr::new(ip, port)]),
            None => {
                let d = host.to_owned();
                let addrs = self.resolve(&d, port).await?;
                (Some(d), addrs)
            }
        };
        if let Some(bad) = addrs.iter().find(|a| !self.allows(a.ip())) {
            return Err(UrlError::NotAllowed(format!(
                "webhooks may not target {} (loopback, private, link-local or reserved)",
                bad.ip()
            )));
        }
        Ok(Target { url, domain, addrs })
    }

    async fn resolve(&self, domain: &str, port: u16) -> Result<Vec<SocketAddr>, UrlError> {
        let lookup = tokio::net::lookup_host((domain, port));
        let addrs: Vec<SocketAddr> = match tokio::time::timeout(self.timeout, lookup).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(_)) => Vec::new(),
            Err(_) => {
                return Err(UrlError::Unresolvable(
                    "the host did not resolve in time".into(),
                ));
            }
        };
        if addrs.is_empty() {
            return Err(UrlError::Unresolvable("the host does not resolve".into()));
        }
        Ok(addrs)
    }

    /// A client that connects only to `target`'s checked addresses (a second DNS answer
    /// cannot swap them), follows no redirects, uses no proxy, and gives up after the
    /// configured timeout.
    pub fn client(&self, target: &Target) -> reqwest::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(self.timeout)
            .timeout(self.timeout)
            .pool_max_idle_per_host(0)
            .user_agent(USER_AGENT);
        if let Some(domain) = &target.domain {
            builder = builder.resolve_to_addrs(domain, &target.addrs);
        }
        builder.build()
    }
}

fn parse_url(raw: &str) -> Result<Url, UrlError> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlError::Invalid(format!(
            "the URL is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url =
        Url::parse(raw.trim()).map_err(|e| UrlError::Invalid(format!("not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Invalid(
            "only http and https URLs are allowed".into(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Invalid(
            "the URL may not contain a user name or password".into(),
        ));
    }
    Ok(url)
}

fn timeout(cfg: &WebhookConfig) -> Duration {
    Duration::from_secs(cfg.timeout_secs.max(1))
}

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
pub struct WebhookWorker {
    shared: Arc<Shared>,
    stop: CancellationToken,
}

/// How one send went.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
}

impl WebhookWorker {
    async fn run(self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_recovery: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => break,
                _ = self.shared.wake.notified() => {}
                _ = tick.tick() => {}
            }
            if last_recovery.is_none_or(|t| t.elapsed() >= RECOVER_EVERY) {
                last_recovery = Some(tokio::time::Instant::now());
                self.note(self.recover_stale().await);
            }
            let round = self.run_once().await;
            self.note(round);
            let pending = self.count_pending().await;
            self.note(pending);
        }
        tracing::debug!("webhook worker stopped");
    }

    fn note(&self, result: Result<(), DbErr>) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "webhook worker: database error");
            self.shared.stats.set_error(&format!("database: {e}"));
        }
    }

    /// Sends everything due now, [`BATCH`] at a time.
    async fn run_once(&self) -> Result<(), DbErr> {
        loop {
            if self.stop.is_cancelled() {
                return Ok(());
            }
            let due: Vec<String> = WebhookDelivery::find()
                .select_only()
                .column(webhook_delivery::Column::Id)
                .filter(webhook_delivery::Column::State.eq(state::PENDING))
                .filter(webhook_delivery::Column::NextAttemptAt.lte(Utc::now()))
                .order_by_asc(webhook_delivery::Column::NextAttemptAt)
                .limit(BATCH)
                .into_tuple()
                .all(&self.shared.db)
                .await?;
            let full = due.len() as u64 == BATCH;
            let sent = AtomicU64::new(0);
            futures_util::stream::iter(due)
                .for_each_concurrent(CONCURRENCY, |id| {
                    let sent = &sent;
                    async move {
                        match self.deliver(&id).await {
                            Ok(true) => {
                                sent.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(false) => {}
                            Err(e) => self.note(Err(e)),
                        }
                    }
                })
                .await;
            // Another round only while there is more and this node is getting any of it.
            if !full || sent.load(Ordering::Relaxed) == 0 {
                return Ok(());
            }
        }
    }

    /// Claims, sends and records one delivery; `false` if another node claimed it first.
    async fn deliver(&self, id: &str) -> Result<bool, DbErr> {
        if !self.claim(id).await? {
            return Ok(false);
        }
        let db = &self.shared.db;
        let Some(delivery) = WebhookDelivery::find_by_id(id).one(db).await? else {
            return Ok(false);
        };
        // Deleting a webhook deletes its deliveries; a missing one means it just went.
        let Some(hook) = Webhook::find_by_id(delivery.webhook_id).one(db).await? else {
            return Ok(false);
        };
        let outcome = self.send(&hook, &delivery).await;
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
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_cidrs_and_bare_addresses() {
        assert_eq!(
            cidr("10.0.0.0/8"),
            Cidr::V4 {
                net: 0x0a00_0000,
                prefix: 8
            }
        );
        assert_eq!(cidr("10.1.2.3/8"), cidr("10.0.0.0/8"));
        assert_eq!(
            cidr("127.0.0.1"),
            Cidr::V4 {
                net: 0x7f00_0001,
                prefix: 32
            }
        );
        assert_eq!(cidr("0.0.0.0/0"), Cidr::V4 { net: 0, prefix: 0 });
        assert_eq!(
            cidr("fc00::/7"),
            Cidr::V6 {
                net: 0xfc << 120,
                prefix: 7
            }
        );
        assert_eq!(
            cidr("::1"),
            Cidr::V6 {
                net: 1,
                prefix: 128
            }
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/x",
            "host",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn cidr_membership() {
        assert!(cidr("10.0.0.0/8").contains(ip("10.255.0.1")));
        assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(cidr("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!cidr("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(cidr("fd00::/8").contains(ip("fd12::1")));
        assert!(!cidr("fd00::/8").contains(ip("fe80::1")));
        // A v4 entry covers the v4-mapped form; a v4 range never matches real IPv6.
        assert!(cidr("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(!cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(cidr("::ffff:10.0.0.0/104").contains(ip("10.1.1.1")));
    }

    #[test]
    fn detects_internal_ipv4() {
        for s in [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
        ] {
            assert!(is_internal(ip(s)), "{s} should be internal");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "93.184.216.34",
        ] {
            assert!(!is_internal(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn detects_internal_ipv6_and_embedded_ipv4() {
        for s in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:0",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip(s)), "{s} should be internal");
        }
        for s in [
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(!is_internal(ip(s)), "{s} should be public");
        }
    }

    fn guard(allow: &[&str]) -> UrlGuard {
        UrlGuard::new(&WebhookConfig {
            allow_private: allow.iter().map(|s| (*s).to_owned()).collect(),
            ..WebhookConfig::default()
        })
    }

    #[test]
    fn allow_list_opens_exact_addresses_and_ranges() {
        let g = guard(&["127.0.0.1", "10.0.0.0/8", "not an ip"]);
        assert!(g.allows(ip("127.0.0.1")));
        assert!(g.allows(ip("::ffff:127.0.0.1")));
        assert!(!g.allows(ip("127.0.0.2")));
        assert!(g.allows(ip("10.9.8.7")));
        assert!(!g.allows(ip("192.168.0.1")));
        assert!(!g.allows(ip("::1")));
        assert!(g.allows(ip("8.8.8.8")));
    }

    #[tokio::test]
    async fn guard_refuses_bad_urls() {
        let g = guard(&[]);
        let code = |r: Result<Target, UrlError>| r.err().map(|e| e.code());
        assert_eq!(
            code(g.check("ftp://example.com/").await),
            Some("invalid_url")
        );
        assert_eq!(code(g.check("not a url").await), Some("invalid_url"));
        assert_eq!(
            code(g.check("http://user:pw@8.8.8.8/").await),
            Some("invalid_url")
        );
        assert_eq!(
            code(g.check("http://10.0.0.1/").await),
            Some("url_not_allowed")
        );
        assert_eq!(
            code(g.check("http://169.254.169.254/latest").await),
            Some("url_not_allowed")
        );
        assert_eq!(
            code(g.check("http://[::1]:8080/").await),
            Some("url_not_allowed")
        );
        assert_eq!(
            code(g.check("http://[::ffff:7f00:1]/").await),
            Some("url_not_allowed")
        );
        // WHATWG host parsing: these are all 127.0.0.1.
        assert_eq!(
            code(g.check("http://0x7f.1/").await),
            Some("url_not_allowed")
        );
        assert_eq!(
            code(g.check("http://2130706433/").await),
            Some("url_not_allowed")
        );
        assert_eq!(
            code(g.check("http://localhost/").await),
            Some("url_not_allowed")
        );
        let long = format!("http://8.8.8.8/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(code(g.check(&long).await), Some("invalid_url"));

        let ok = g.check("https://8.8.8.8/hook?x=1").await.unwrap();
        assert_eq!(ok.addrs, vec!["8.8.8.8:443".parse().unwrap()]);
        assert_eq!(ok.domain, None);
        let allowed = guard(&["127.0.0.1"])
            .check("http://127.0.0.1:9/")
            .await
            .unwrap();
        assert_eq!(allowed.addrs, vec!["127.0.0.1:9".parse().unwrap()]);
    }

    #[test]
    fn signature_matches_rfc4231_test_case_2() {
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_are_256_bit_hex_and_distinct() {
        let a = new_secret().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_secret().unwrap());
    }

    #[test]
    fn backoff_doubles_from_the_base() {
        let ms = |n| backoff(2000, n).as_millis();
        assert_eq!([ms(1), ms(2), ms(3), ms(4)], [2000, 4000, 8000, 16000]);
        assert_eq!(backoff(50, 0), Duration::from_millis(50));
        assert_eq!(backoff(u64::MAX, 3), MAX_BACKOFF);
        assert_eq!(backoff(1000, 1000), MAX_BACKOFF);
    }

    #[test]
    fn retries_until_max_attempts() {
        let cfg = WebhookConfig {
            max_attempts: 3,
            backoff_base_ms: 100,
            ..WebhookConfig::default()
        };
        assert_eq!(next_after(&cfg, 1, true), Next::Delivered);
        assert_eq!(
            next_after(&cfg, 1, false),
            Next::RetryIn(Duration::from_millis(100))
        );
        assert_eq!(
            next_after(&cfg, 2, false),
            Next::RetryIn(Duration::from_millis(200))
        );
        assert_eq!(next_after(&cfg, 3, false), Next::Failed);
        assert_eq!(next_after(&cfg, 3, true), Next::Delivered);
        let zero = WebhookConfig {
            max_attempts: 0,
            ..cfg
        };
        assert_eq!(next_after(&zero, 1, false), Next::Failed);
    }

    #[test]
    fn events_are_checked_and_ordered() {
        let ev =
            |v: &[&str]| normalize_events(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            ev(&["stream.offline", "stream.online", "stream.offline"]).unwrap(),
            vec!["stream.online", "stream.offline"]
        );
        assert!(ev(&[]).is_err());
        assert!(ev(&["ping"]).is_err());
        assert!(ev(&["stream.online", "nope"]).is_err());
        assert_eq!(parse_events("stream.online,stream.offline").len(), 2);
        assert!(subscribes("stream.online,stream.offline", "stream.offline"));
        assert!(!subscribes("stream.online", "stream.offline"));
    }

    async fn database(dir: &tempfile::TempDir) -> DatabaseConnection {
        use streamhall_migration::MigratorTrait;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let db = sea_orm::Database::connect(&url).await.unwrap();
        streamhall_migration::Migrator::up(&db, None).await.unwrap();
        db
    }

    /// A user with channels `c1`, `c2`, `c3`; returns their ids.
    async fn channels(db: &DatabaseConnection) -> [i64; 3] {
        use sea_orm::ActiveModelTrait;
        use streamhall_entities::{channel, user};
        let now = Utc::now();
        let u = user::ActiveModel {
            username: Set("owner".into()),
            username_key: Set("owner".into()),
            email: Set("owner@example.invalid".into()),
            display_name: Set("Owner".into()),
            bio: Set(String::new()),
            password_hash: Set("x".into()),
            role: Set("user".into()),
            token_version: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        let mut ids = [0; 3];
        for (i, id) in ids.iter_mut().enumerate() {
            *id = channel::ActiveModel {
                owner_id: Set(u.id),
                slug: Set(format!("c{}", i + 1)),
                title: Set("t".into()),
                description: Set(String::new()),
                category: Set(String::new()),
                is_live: Set(false),
                stream_key_hash: Set(format!("hash{i}")),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await
            .unwrap()
            .id;
        }
        ids
    }

    async fn add_hook(db: &DatabaseConnection, channel_id: i64, events: &str) -> i64 {
        use sea_orm::ActiveModelTrait;
        webhook::ActiveModel {
            channel_id: Set(channel_id),
            url: Set("http://127.0.0.1:9/".into()),
            events: Set(events.into()),
            secret: Set("s".into()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap()
        .id
    }

    #[tokio::test]
    async fn enqueue_one_row_per_subscribed_webhook_and_claim_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let [c1, c2, c3] = channels(&db).await;
        let both = add_hook(&db, c1, "stream.online,stream.offline").await;
        add_hook(&db, c1, "stream.offline").await;
        add_hook(&db, c2, "stream.online").await;

        let data = serde_json::json!({"channel": "c"});
        assert_eq!(
            enqueue(&db, c1, "stream.online", data.clone())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            enqueue(&db, c1, "stream.offline", data.clone())
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            enqueue(&db, c3, "stream.online", data.clone())
                .await
                .unwrap(),
            0
        );

        let row = WebhookDelivery::find()
            .filter(webhook_delivery::Column::Event.eq("stream.online"))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.webhook_id, both);
        assert_eq!(row.state, state::PENDING);
        let body: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
        assert_eq!(body["id"], row.id.as_str());
        assert_eq!(body["event"], "stream.online");
        assert_eq!(body["data"], data);
        assert!(DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).is_ok());

        // Two workers on one database: only one claims the row.
        let cfg = WebhookConfig {
            max_attempts: 2,
            backoff_base_ms: 60_000,
            ..WebhookConfig::default()
        };
        let shared = Arc::new(Shared {
            guard: UrlGuard::new(&cfg),
            db: db.clone(),
            cfg,
            wake: Notify::new(),
            stats: Stats::default(),
        });
        let worker = |shared: &Arc<Shared>| WebhookWorker {
            shared: shared.clone(),
            stop: CancellationToken::new(),
        };
        let (a, b) = (worker(&shared), worker(&shared));
        let (got_a, got_b) = tokio::join!(a.claim(&row.id), b.claim(&row.id));
        assert_eq!(
            [got_a.unwrap(), got_b.unwrap()]
                .iter()
                .filter(|g| **g)
                .count(),
            1
        );
        let load = || async {
            WebhookDelivery::find_by_id(&row.id)
                .one(&db)
                .await
                .unwrap()
                .unwrap()
        };

        // A node that died mid-send: its row goes back to pending once stale.
        a.recover_stale().await.unwrap();
        assert_eq!(load().await.state, state::SENDING, "not stale yet");
        WebhookDelivery::update_many()
            .col_expr(
                webhook_delivery::Column::UpdatedAt,
                Expr::value(Utc::now() - chrono::Duration::hours(1)),
            )
            .filter(webhook_delivery::Column::Id.eq(&row.id))
            .exec(&db)
            .await
            .unwrap();
        a.recover_stale().await.unwrap();
        assert_eq!(load().await.state, state::PENDING);
        assert!(a.claim(&row.id).await.unwrap());

        // A failed attempt goes back to pending, a minute out (not claimable before then);
        // the last one fails for good.
        let failure = || Outcome {
            status: Some(500),
            error: Some("HTTP 500".into()),
        };
        a.record(&row, failure()).await.unwrap();
        let after = load().await;
        assert_eq!((after.state.as_str(), after.attempts), (state::PENDING, 1));
        assert_eq!(after.last_status, Some(500));
        assert_eq!(after.last_error.as_deref(), Some("HTTP 500"));
        assert!(after.next_attempt_at > Utc::now() + chrono::Duration::seconds(50));
        assert!(!b.claim(&row.id).await.unwrap(), "not due yet");
        WebhookDelivery::update_many()
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(Utc::now()),
            )
            .filter(webhook_delivery::Column::Id.eq(&row.id))
            .exec(&db)
            .await
            .unwrap();
        assert!(b.claim(&row.id).await.unwrap());
        b.record(&after, failure()).await.unwrap();
        let last = load().await;
        assert_eq!((last.state.as_str(), last.attempts), (state::FAILED, 2));
        let stats = shared.stats.snapshot();
        assert_eq!((stats.delivered, stats.failed), (0, 1));
        assert_eq!(stats.last_error.as_deref(), Some("HTTP 500"));

        // Failed rows are left alone.
        assert!(!a.deliver(&row.id).await.unwrap());
        assert_eq!(load().await, last);
    }
}
