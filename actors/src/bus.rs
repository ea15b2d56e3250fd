//! Platform events (a channel went live or offline, notifications made) for whoever listens:
//! the notifier, notification sockets, tests.
//!
//! In-process it is a bounded `tokio::sync::broadcast`; a receiver that falls more than
//! [`BUS_CAPACITY`] events behind is told how many it missed (`Lagged`). With Redis
//! ([`Bus::with_redis`]) every event is also appended to the stream `{prefix}bus` (trimmed to
//! about [`STREAM_MAXLEN`] entries) and each node's reader hands the other nodes' events to its
//! local subscribers, so a go-live on node A reaches the notifier and the sockets on node B.
//! Redis being away loses only the cross-node copy: everything an event causes is also in the
//! database (notifications are rows; clients re-read their unread count when they reconnect).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use crate::redis_streams::{entries, pairs};

/// Events a receiver may fall behind by before it lags.
pub const BUS_CAPACITY: usize = 1024;
/// Entries kept in the Redis stream (approximately). Readers follow it live, so this is only
/// a backlog for a reader that reconnects; a `Notified` entry carries up to a batch of
/// (user, id) pairs (about 20 KB), so this bounds the stream near 20 MB.
pub const STREAM_MAXLEN: usize = 1_000;
/// Events waiting for Redis; beyond it the cross-node copy is dropped (and counted).
const PUBLISH_QUEUE: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BusEvent {
    StreamWentLive {
        channel_id: i64,
        slug: String,
        broadcast_id: i64,
        title: String,
    },
    StreamWentOffline {
        channel_id: i64,
        slug: String,
        broadcast_id: i64,
    },
    /// The user's password changed (or the account was suspended or deleted): every node
    /// closes the user's open sockets ([`crate::sockets::UserSockets`]).
    SessionsRevoked { user_id: i64 },
    /// Streams to end wherever they run (their owner was suspended or deleted): the node that
    /// runs each ends it as an admin's stop would; the others have nothing to do.
    EndStreams { slugs: Vec<String> },
    /// In-app notifications were stored for `users`: push them to their open sockets.
    Notified {
        users: Vec<(i64, i64)>,
        notification: Arc<NotificationPush>,
    },
}

/// What a notification socket receives, minus the per-user row id and unread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationPush {
    pub kind: String,
    pub channel_slug: String,
    pub channel_title: String,
    /// The channel owner's display name (their username when they set none). A node of an
    /// older release sends none: the default is empty and the web app falls back to the slug.
    #[serde(default)]
    pub streamer_name: String,
    pub title: String,
    pub broadcast_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Bus {
    tx: broadcast::Sender<BusEvent>,
    redis: Option<RedisBus>,
}

#[derive(Clone)]
struct RedisBus {
    queue: mpsc::Sender<BusEvent>,
    healthy: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// In-process only.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(BUS_CAPACITY);
        Self { tx, redis: None }
    }

    /// In-process plus Redis: events published on any node reach every node's subscribers
    /// (each exactly once; a node's own events are not read back). Must run inside Tokio.
    pub fn with_redis(pool: deadpool_redis::Pool, prefix: String, node_id: String) -> Self {
        let (tx, _) = broadcast::channel(BUS_CAPACITY);
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        let redis = RedisBus {
            queue,
            healthy: Arc::new(AtomicBool::new(true)),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        let key = format!("{prefix}bus");
        tokio::spawn(publisher(
            pool.clone(),
            key.clone(),
            node_id.clone(),
            rx,
            redis.clone(),
        ));
        tokio::spawn(reader(pool, key, node_id, tx.clone(), redis.clone()));
        Self {
            tx,
            redis: Some(redis),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }

    /// Never blocks; with no subscriber the event is simply not delivered.
    pub fn publish(&self, event: BusEvent) {
        if !matches!(event, BusEvent::Notified { .. }) {
            tracing::info!(?event, "bus");
        }
        if let Some(r) = &self.redis
            && r.queue.try_send(event.clone()).is_err()
        {
            r.dropped.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.tx.send(event);
    }

    /// `None` without Redis; otherwise whether the Redis copy is flowing.
    pub fn redis_healthy(&self) -> Option<bool> {
        self.redis
            .as_ref()
            .map(|r| r.healthy.load(Ordering::Relaxed))
    }

    /// Events whose cross-node copy was dropped (the queue to Redis was full).
    pub fn dropped(&self) -> u64 {
        self.redis
            .as_ref()
            .map_or(0, |r| r.dropped.load(Ordering::Relaxed))
    }
}

fn set_health(r: &RedisBus, ok: bool, what: &str, err: &str) {
    let was = r.healthy.swap(ok, Ordering::Relaxed);
    if was && !ok {
        tracing::warn!(error = %err, "bus: Redis {what} failed; events stay on this node");
    } else if !was && ok {
        tracing::info!("bus: Redis is back");
    }
}

async fn publisher(
    pool: deadpool_redis::Pool,
    key: String,
    node_id: String,
    mut rx: mpsc::Receiver<BusEvent>,
    r: RedisBus,
) {
    let mut batch = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, 64).await > 0 {
        let mut pipe = redis::pipe();
        for event in batch.drain(..) {
            let Ok(json) = serde_json::to_string(&event) else {
                continue;
            };
            pipe.cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(STREAM_MAXLEN)
                .arg("*")
                .arg("n")
                .arg(&node_id)
                .arg("e")
                .arg(json)
                .ignore();
        }
        let result = match pool.get().await {
            Ok(mut conn) => pipe
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => set_health(&r, true, "publish", ""),
            Err(e) => set_health(&r, false, "publish", &e),
        }
    }
}

/// How long one `XREAD` waits for events. The Redis client gives up on any reply after 500 ms
/// (redis-rs's default response timeout), so a longer block would fail every idle read; 250 ms
/// leaves a loaded machine 250 ms to deliver the empty reply (400 ms left 100 ms, and a busy
/// test machine missed it now and then).
const READ_BLOCK_MS: u64 = 250;

async fn reader(
    pool: deadpool_redis::Pool,
    key: String,
    node_id: String,
    tx: broadcast::Sender<BusEvent>,
    r: RedisBus,
) {
    // From the stream's end as of start-up (earlier events were for earlier nodes), then from
    // the last id read: `$` on every call would miss events added between two reads.
    let mut backoff = Duration::from_millis(100);
    let mut last_id = loop {
        let end = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("XREVRANGE")
                .arg(&key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async::<Value>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        match end.await {
            Ok(v) => {
                break entries(&v)
                    .into_iter()
                    .next()
                    .map_or_else(|| "0-0".to_owned(), |(id, _)| id);
            }
            Err(e) => {
                set_health(&r, false, "read", &e);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    // Failed reads in a row: one late reply is not an outage; Redis is unhealthy from the second.
    let mut failures = 0u32;
    loop {
        let read = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(500)
                .arg("BLOCK")
                .arg(READ_BLOCK_MS)
                .arg("STREAMS")
                .arg(&key)
                .arg(&last_id)
                .query_async::<Value>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        match read.await {
            Ok(v) => {
                backoff = Duration::from_millis(100);
                failures = 0;
                set_health(&r, true, "read", "");
                for (_, body) in pairs(&v) {
                    for (id, fields) in entries(body) {
                        last_id = id;
                        if fields.get("n").is_some_and(|n| *n == node_id) {
                            continue;
                        }
                        if let Some(event) = fields
                            .get("e")
                            .and_then(|e| serde_json::from_str::<BusEvent>(e).ok())
                        {
                            let _ = tx.send(event);
                        }
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if failures >= 2 {
                    set_health(&r, false, "read", &e);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
