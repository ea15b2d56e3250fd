//! The HLS relay: how a node that does not hold a live stream serves it anyway. Live playlists
//! and segments live in the memory of the node that ingests the stream (its owner); the HLS
//! handlers of every other node call [`HlsRelay::get`] with the owner's internal base URL (from
//! the ownership lease) and the request path, and answer with what comes back.
//!
//! - **One upstream request per key.** Concurrent calls for the same owner and path share one
//!   request. The fetch runs in a task of its own, so a caller that goes away (a viewer closing
//!   the tab) strands nobody: the others still get the answer, and the key leaves the in-flight
//!   table when the fetch ends, however it ends.
//! - **Reuse.** A `200` for a playlist (`.m3u8`) is reused for `playlist_ttl` (250 ms); one the
//!   owner marks `immutable` (segments: their names never repeat) stays until pushed out; any
//!   other `200` (a live thumbnail) for the owner's `max-age`, at most [`MAX_REUSE`], and not
//!   at all without one. Non-`200` answers are passed on to the callers that shared the
//!   request and never kept.
//! - **Pass-through.** Status, `Content-Type`, `Cache-Control` and body are the owner's, so a CDN in
//!   front of any node caches segments as immutable and playlists for a second. Upstream requests
//!   carry `x-streamhall-relay: 1` ([`RELAY_HEADER`]): the owner does not count this node as a
//!   viewer.
//!
//! Bounds, and what happens at each:
//! - cached bytes (bodies plus keys) ≤ `segment_cache_bytes` (64 MiB): the least recently used
//!   entries are forgotten; a response above a quarter of it is passed on but not kept;
//! - a body ≤ [`MAX_BODY_BYTES`] (32 MiB): beyond it the fetch fails with
//!   [`RelayError::TooLarge`] (checked against `Content-Length` first, then while reading);
//! - in-flight keys ≤ [`MAX_IN_FLIGHT`] (1,024): a call for a new key beyond it fails at once
//!   with [`RelayError::Overloaded`];
//! - each fetch, connect to last byte, ≤ `timeout` (3 s): then [`RelayError::Timeout`] for every
//!   caller that shared it.
//!
//! The errors carry internal addresses: log them, never send them to a viewer
//! ([`RelayError::status`] is the status to answer with). One pooled HTTP client serves every
//! owner; it follows no redirects and ignores proxy settings (owners are internal addresses).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use actix_web::http::{StatusCode, header::HeaderValue};
use bytes::{Bytes, BytesMut};
use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};

/// The header on every upstream request; its value is `1`.
pub const RELAY_HEADER: &str = "x-streamhall-relay";
/// The largest body fetched from an owner.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// The most distinct keys being fetched at once.
pub const MAX_IN_FLIGHT: usize = 1024;
/// The longest a response that is not immutable is reused, whatever its `max-age`.
pub const MAX_REUSE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Bytes of responses kept (segments, and playlists while fresh). Default 64 MiB.
    pub segment_cache_bytes: usize,
    /// How long a fetched playlist is reused. Default 250 ms; zero disables reuse.
    pub playlist_ttl: Duration,
    /// The longest one upstream request may take, connect to last byte. Default 3 s.
    pub timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            segment_cache_bytes: 64 * 1024 * 1024,
            playlist_ttl: Duration::from_millis(250),
            timeout: Duration::from_secs(3),
        }
    }
}

/// The owner's answer, as received.
#[derive(Debug, Clone)]
pub struct Relayed {
    pub status: u16,
    pub content_type: Option<HeaderValue>,
    pub cache_control: Option<HeaderValue>,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The owner could not be reached or broke off (connection refused, reset, bad URL).
    #[error("the owner is unreachable: {0}")]
    Unreachable(String),
    /// No complete answer within `timeout`.
    #[error("the owner did not answer in time")]
    Timeout,
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("the owner's answer is too large")]
    TooLarge,
    /// [`MAX_IN_FLIGHT`] other keys are being fetched.
    #[error("too many relayed requests in flight")]
    Overloaded,
    /// The path does not start with `/`, or has a query or fragment.
    #[error("not a relayable path")]
    InvalidPath,
}

impl RelayError {
    /// What to answer the viewer: 502 (unreachable, too large), 504 (timeout), 503
    /// (overloaded), 404 (invalid path).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unreachable(_) | Self::TooLarge => StatusCode::BAD_GATEWAY,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidPath => StatusCode::NOT_FOUND,
        }
    }
}

/// Counters since start, and the cache and in-flight table right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelayStats {
    /// Requests sent to owners.
    pub upstream_requests: u64,
    /// Calls answered from the cache.
    pub cache_hits: u64,
    /// Calls that waited for a request another call had started.
    pub coalesced: u64,
    /// Upstream requests that failed (unreachable, timeout, too large).
    pub errors: u64,
    /// Calls refused because [`MAX_IN_FLIGHT`] keys were in flight.
    pub rejected: u64,
    pub cached_bytes: usize,
    pub cached_entries: usize,
    pub in_flight: usize,
}

/// Cheap to clone: clones share the client, the cache and the in-flight table.
#[derive(Clone)]
pub struct HlsRelay {
    inner: Arc<Inner>,
}

type Flight = Shared<BoxFuture<'static, Result<Relayed, RelayError>>>;

struct Inner {
    client: reqwest::Client,
    /// Sent with every upstream request besides [`RELAY_HEADER`].
    headers: reqwest::header::HeaderMap,
    playlist_ttl: Duration,
    timeout: Duration,
    max_body: usize,
    max_in_flight: usize,
    state: Mutex<State>,
    upstream_requests: AtomicU64,
    cache_hits: AtomicU64,
    coalesced: AtomicU64,
    errors: AtomicU64,
    rejected: AtomicU64,
}

struct State {
    cache: Cache,
    in_flight: HashMap<Arc<str>, Flight>,
    /// When a failure was last logged at `warn` (at most one a second: a dead owner fails
    /// every poll of every player).
    last_warning: Option<Instant>,
}

impl HlsRelay {
    pub fn new(cfg: RelayConfig) -> Self {
        Self::with_limits(cfg, MAX_BODY_BYTES, MAX_IN_FLIGHT)
    }

    /// A relay whose every upstream request also carries `header: value` (the node-to-node
    /// credential of [`crate::playback`], so owners serve protected channels to it).
    pub fn with_header(cfg: RelayConfig, header: &'static str, value: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(value) {
            headers.insert(header, v);
        }
        Self::build(cfg, MAX_BODY_BYTES, MAX_IN_FLIGHT, headers)
    }

    fn with_limits(cfg: RelayConfig, max_body: usize, max_in_flight: usize) -> Self {
        Self::build(
            cfg,
            max_body,
            max_in_flight,
            reqwest::header::HeaderMap::new(),
        )
    }

    fn build(
        cfg: RelayConfig,
        max_body: usize,
        max_in_flight: usize,
        headers: reqwest::header::HeaderMap,
    ) -> Self {
        // Building fails only when the TLS backend cannot start; a default client is the same
        // minus the timeouts and pool settings (the fetch has its own overall timeout).
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_else(|error| {
                tracing::error!(%error, "relay: HTTP client without settings");
                reqwest::Client::new()
            });
        Self {
            inner: Arc::new(Inner {
                client,
                headers,
                playlist_ttl: cfg.playlist_ttl,
                timeout: cfg.timeout,
                max_body,
                max_in_flight,
                state: Mutex::new(State {
                    cache: Cache::new(cfg.segment_cache_bytes),
                    in_flight: HashMap::new(),
                    last_warning: None,
                }),
                upstream_requests: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                coalesced: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
            }),
        }
    }

    /// GET `{owner}{path}`: `owner` is a base URL such as `http://10.0.0.5:8080` (a trailing
    /// `/` is ignored), `path` such as `/hls/alice/480p/index.m3u8`, without the viewer's query
    /// string; the only query allowed is a low-latency blocking reload's (`_HLS_msn=N`,
    /// `_HLS_part=N`). From the cache, from a request already in flight, or from a new one.
    pub async fn get(&self, owner: &str, path: &str) -> Result<Relayed, RelayError> {
        let (bare, query) = path.split_once('?').unwrap_or((path, ""));
        let blocking = |kv: &str| {
            ["_HLS_msn=", "_HLS_part="].iter().any(|k| {
                kv.strip_prefix(k)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
        };
        if !bare.starts_with('/')
            || bare.starts_with("//")
            || bare.contains('#')
            || (path.contains('?') && !query.split('&').all(blocking))
        {
            return Err(RelayError::InvalidPath);
        }
        let url = format!("{}{path}", owner.trim_end_matches('/'));
        let flight = {
            let mut state = self.inner.lock();
            if let Some(hit) = state.cache.get(&url, Instant::now()) {
                self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(hit);
            }
            if let Some(flight) = state.in_flight.get(url.as_str()) {
                self.inner.coalesced.fetch_add(1, Ordering::Relaxed);
                flight.clone()
            } else if state.in_flight.len() >= self.inner.max_in_flight {
                self.inner.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(RelayError::Overloaded);
            } else {
                let key: Arc<str> = url.into();
                let flight = self.start(Arc::clone(&key));
                state.in_flight.insert(key, flight.clone());
                flight
            }
        };
        flight.await
    }

    pub fn stats(&self) -> RelayStats {
        let (cached_bytes, cached_entries, in_flight) = {
            let state = self.inner.lock();
            (
                state.cache.bytes,
                state.cache.entries.len(),
                state.in_flight.len(),
            )
        };
        let inner = &self.inner;
        RelayStats {
            upstream_requests: inner.upstream_requests.load(Ordering::Relaxed),
            cache_hits: inner.cache_hits.load(Ordering::Relaxed),
            coalesced: inner.coalesced.load(Ordering::Relaxed),
            errors: inner.errors.load(Ordering::Relaxed),
            rejected: inner.rejected.load(Ordering::Relaxed),
            cached_bytes,
            cached_entries,
            in_flight,
        }
    }

    /// Spawns the fetch of `url` (called with the state locked, so the task cannot land
    /// before its key is in the table). The task keeps a `200` and then takes the key out of
    /// the in-flight table, in that order, so a caller finds the answer in one or the other.
    fn start(&self, url: Arc<str>) -> Flight {
        self.inner.upstream_requests.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            // Takes the key out when the task ends, also by panic or runtime shutdown.
            let _landed = Landed {
                inner: Arc::clone(&inner),
                key: Arc::clone(&url),
            };
            let result = fetch(&inner, &url).await;
            match &result {
                Ok(answer) if answer.status == 200 => {
                    if let Some(fresh_until) = freshness(&url, answer, inner.playlist_ttl) {
                        inner
                            .lock()
                            .cache
                            .insert(Arc::clone(&url), answer.clone(), fresh_until);
                    }
                }
                Ok(_) => {}
                Err(error) => inner.failed(&url, error),
            }
            result
        });
        async move {
            task.await.unwrap_or_else(|error| {
                Err(RelayError::Unreachable(format!(
                    "relay task ended: {error}"
                )))
            })
        }
        .boxed()
        .shared()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, url: &str, error: &RelayError) {
        let errors = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        let warn = {
            let mut state = self.lock();
            let now = Instant::now();
            let due = state
                .last_warning
                .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
            if due {
                state.last_warning = Some(now);
            }
            due
        };
        if warn {
            tracing::warn!(%url, %error, errors, "relay: fetching from the stream's owner failed");
        } else {
            tracing::debug!(%url, %error, "relay: fetching from the stream's owner failed");
        }
    }
}

/// How long a `200` may be reused: `Some(None)` until pushed out (the owner says `immutable`:
/// segments), `Some(Some(t))` until `t` (playlists for `playlist_ttl`; anything else for the
/// owner's `max-age`, at most [`MAX_REUSE`]), `None` not at all (no `max-age`, or `no-store`,
/// `no-cache`, `private`).
fn freshness(url: &str, answer: &Relayed, playlist_ttl: Duration) -> Option<Option<Instant>> {
    let directives = answer
        .cache_control
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut max_age = None;
    for d in directives.split(',').map(str::trim) {
        match d {
            "immutable" if !url.ends_with(".m3u8") => return Some(None),
            "no-store" | "no-cache" | "private" => return None,
            _ => {
                if let Some(n) = d.strip_prefix("max-age=") {
                    max_age = n.parse::<u64>().ok().map(Duration::from_secs);
                }
            }
        }
    }
    let ttl = if url.ends_with(".m3u8") {
        playlist_ttl
    } else {
        max_age?.min(MAX_REUSE)
    };
    (!ttl.is_zero()).then(|| Some(Instant::now() + ttl))
}

struct Landed {
    inner: Arc<Inner>,
    key: Arc<str>,
}

impl Drop for Landed {
    fn drop(&mut self) {
        self.inner.lock().in_flight.remove(&self.key);
    }
}

async fn fetch(inner: &Inner, url: &str) -> Result<Relayed, RelayError> {
    tokio::time::timeout(inner.timeout, fetch_unbounded(inner, url))
        .await
        .unwrap_or(Err(RelayError::Timeout))
}

async fn fetch_unbounded(inner: &Inner, url: &str) -> Result<Relayed, RelayError> {
    let mut res = inner
        .client
        .get(url)
        .header(RELAY_HEADER, "1")
        .headers(inner.headers.clone())
        .send()
        .await
        .map_err(transport)?;
    let length = res.content_length();
    if length.is_some_and(|n| n > u64::try_from(inner.max_body).unwrap_or(u64::MAX)) {
        return Err(RelayError::TooLarge);
    }
    let header = |name: reqwest::header::HeaderName| {
        res.headers()
            .get(name)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let cache_control = header(reqwest::header::CACHE_CONTROL);
    let expected = length.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    let mut body = BytesMut::with_capacity(expected.min(inner.max_body));
    while let Some(chunk) = res.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > inner.max_body {
            return Err(RelayError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Relayed {
        status: res.status().as_u16(),
        content_type,
        cache_control,
        body: body.freeze(),
    })
}

/// reqwest's error with its causes ("error sending request" alone does not say why).
fn transport(error: reqwest::Error) -> RelayError {
    if error.is_timeout() {
        return RelayError::Timeout;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    RelayError::Unreachable(text)
}

/// Responses by URL, at most `capacity` bytes (body plus key), the least recently used
/// forgotten first. `fresh_until` is set for playlists; a stale one is dropped when looked up.
struct Cache {
    capacity: usize,
    bytes: usize,
    clock: u64,
    entries: HashMap<Arc<str>, Entry>,
    /// Keys by last use, oldest first.
    order: BTreeMap<u64, Arc<str>>,
}

struct Entry {
    answer: Relayed,
    fresh_until: Option<Instant>,
    used: u64,
    size: usize,
}

impl Cache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    fn get(&mut self, key: &str, now: Instant) -> Option<Relayed> {
        let entry = self.entries.get_mut(key)?;
        if entry.fresh_until.is_some_and(|t| now >= t) {
            self.remove(key);
            return None;
        }
        self.clock += 1;
        if let Some(k) = self.order.remove(&entry.used) {
            self.order.insert(self.clock, k);
        }
        entry.used = self.clock;
        Some(entry.answer.clone())
    }

    fn insert(&mut self, key: Arc<str>, answer: Relayed, fresh_until: Option<Instant>) {
        let size = answer.body.len() + key.len();
        if size > self.capacity / 4 {
            return;
        }
        self.remove(&key);
        while self.bytes + size > self.capacity
            && let Some((_, old)) = self.order.pop_first()
        {
            if let Some(e) = self.entries.remove(&old) {
                self.bytes -= e.size;
            }
        }
        self.clock += 1;
        self.bytes += size;
        self.order.insert(self.clock, Arc::clone(&key));
        self.entries.insert(
            key,
            Entry {
                answer,
                fresh_until,
                used: self.clock,
                size,
            },
        );
    }

    fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.order.remove(&e.used);
            self.bytes -= e.size;
        }
    }
}

#[cfg(test)]
mod tests;
