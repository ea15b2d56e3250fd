//! Chat across nodes over Redis Streams. Each room's events go to the stream
//! `{prefix}chat:{channel_id}` (XADD, trimmed to about [`STREAM_MAXLEN`] entries); one reader
//! task per node follows the streams of the rooms it hosts with a blocking XREAD and hands
//! other nodes' events to the local room.
//!
//! Redis is the fast path, not the record: message ids come from the database, rooms deliver
//! in id order and fill any gap from the database. While Redis is unreachable the node keeps
//! serving its own clients, rooms poll the database for other nodes' messages, `/readyz` and
//! the health tree say "degraded", and the reader reconnects with backoff; on recovery rooms
//! reload their moderation state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Message;
use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::core::StoredMessage;
use super::protocol::RoomMode;
use crate::locks::lock;
use crate::redis_streams::{entries, pairs};
use crate::stats::CountedRecipient;

/// Entries kept per room stream (approximately).
pub const STREAM_MAXLEN: usize = 10_000;
/// Events waiting to be published, at most; beyond it they are dropped (they are stored, and
/// other nodes fill the gap from the database).
const PUBLISH_QUEUE: usize = 10_000;

/// What a room tells the other nodes' copies of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum RoomEvent {
    Message(StoredMessage),
    Deleted {
        id: i64,
        by: String,
    },
    Ban {
        user_id: i64,
        user: String,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
        by: String,
    },
    Unban {
        user_id: i64,
        user: String,
        by: String,
    },
    Mode(RoomMode),
    /// Moderators or blocked terms changed: read them again.
    Reload,
}

/// Events from other nodes for one room.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RemoteEvents(pub Vec<RoomEvent>);

struct Sub {
    last_id: String,
    recipient: CountedRecipient<RemoteEvents>,
}

#[derive(Clone)]
pub struct ChatCluster {
    pool: deadpool_redis::Pool,
    prefix: String,
    node_id: String,
    tx: mpsc::Sender<(i64, RoomEvent)>,
    subs: Arc<Mutex<HashMap<i64, Sub>>>,
    healthy: Arc<AtomicBool>,
    /// Counts recoveries, so rooms know to reload what they may have missed.
    epoch: Arc<AtomicU64>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl ChatCluster {
    /// Starts the publisher and the reader. Must run inside a Tokio runtime.
    pub fn start(pool: deadpool_redis::Pool, prefix: String, node_id: String) -> Self {
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let cluster = Self {
            pool,
            prefix,
            node_id,
            tx,
            subs: Arc::new(Mutex::new(HashMap::new())),
            healthy: Arc::new(AtomicBool::new(true)),
            epoch: Arc::new(AtomicU64::new(0)),
            last_error: Arc::new(Mutex::new(None)),
        };
        tokio::spawn(cluster.clone().publisher(rx));
        tokio::spawn(cluster.clone().reader());
        cluster
    }

    fn key(&self, channel_id: i64) -> String {
        format!("{}chat:{channel_id}", self.prefix)
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) {
        let msg = format!("{what}: {e}");
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %msg, "chat: Redis unavailable; serving local clients, other nodes' messages from the database");
        }
        *lock(&self.last_error) = Some(msg);
    }

    fn recovered(&self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            self.epoch.fetch_add(1, Ordering::Relaxed);
            tracing::info!("chat: Redis is back");
        }
    }

    /// Follows a room's stream from its current end. Call before loading the room from the
    /// database, so nothing committed in between is missed.
    pub async fn subscribe(&self, channel_id: i64, recipient: CountedRecipient<RemoteEvents>) {
        let last_id = match self.stream_end(channel_id).await {
            Ok(id) => id,
            Err(e) => {
                self.failed("reading a stream's end", e);
                // From the start of what is kept: duplicates are dropped by id.
                "0-0".to_owned()
            }
        };
        lock(&self.subs).insert(channel_id, Sub { last_id, recipient });
    }

    pub fn unsubscribe(&self, channel_id: i64) {
        lock(&self.subs).remove(&channel_id);
    }

    async fn stream_end(&self, channel_id: i64) -> Result<String, String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let v: Value = redis::cmd("XREVRANGE")
            .arg(self.key(channel_id))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        Ok(entries(&v)
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_owned(), |(id, _)| id))
    }

    /// Queues an event for the other nodes. Never blocks.
    pub fn publish(&self, channel_id: i64, event: RoomEvent) {
        if self.tx.try_send((channel_id, event)).is_err() {
            self.failed("publishing", "the publish queue is full");
        }
    }

    async fn publisher(self, mut rx: mpsc::Receiver<(i64, RoomEvent)>) {
        let mut batch = Vec::with_capacity(256);
        while rx.recv_many(&mut batch, 256).await > 0 {
            let mut pipe = redis::pipe();
            for (channel_id, event) in batch.drain(..) {
                let Ok(json) = serde_json::to_string(&event) else {
                    continue;
                };
                pipe.cmd("XADD")
                    .arg(self.key(channel_id))
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(STREAM_MAXLEN)
                    .arg("*")
                    .arg("n")
                    .arg(&self.node_id)
                    .arg("e")
                    .arg(json)
                    .ignore();
            }
            let result = match self.pool.get().await {
                Ok(mut conn) => pipe
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                // Stored already: other nodes fill the gap from the database.
                self.failed("publishing", e);
            }
        }
    }

    async fn reader(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let (keys, ids): (Vec<(i64, String)>, Vec<String>) = {
                let subs = lock(&self.subs);
                subs.iter()
                    .map(|(ch, s)| ((*ch, self.key(*ch)), s.last_id.clone()))
                    .unzip()
            };
            if keys.is_empty() {
                // Nothing to follow; still check Redis now and then for the health tree.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if !self.healthy() {
                    match self.ping().await {
                        Ok(()) => self.recovered(),
                        Err(e) => self.failed("ping", e),
                    }
                }
                continue;
            }
            match self.read_once(&keys, &ids).await {
                Ok(streams) => {
                    backoff = Duration::from_millis(100);
                    self.recovered();
                    for (channel_id, entries) in streams {
                        self.deliver(channel_id, entries).await;
                    }
                }
                Err(e) => {
                    self.failed("reading", e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn ping(&self) -> Result<(), String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn read_once(
        &self,
        keys: &[(i64, String)],
        ids: &[String],
    ) -> Result<Vec<(i64, Vec<(String, HashMap<String, String>)>)>, String> {
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(100)
            .arg("STREAMS");
        for (_, k) in keys {
            cmd.arg(k);
        }
        for id in ids {
            cmd.arg(id);
        }
        let v: Value = cmd
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let by_key: HashMap<&str, i64> = keys.iter().map(|(c, k)| (k.as_str(), *c)).collect();
        let mut out = Vec::new();
        for (key, body) in pairs(&v) {
            if let Some(ch) = by_key.get(key.as_str()) {
                out.push((*ch, entries(body)));
            }
        }
        Ok(out)
    }

    async fn deliver(&self, channel_id: i64, entries: Vec<(String, HashMap<String, String>)>) {
        let Some(last) = entries.last().map(|(id, _)| id.clone()) else {
            return;
        };
        let recipient = {
            let mut subs = lock(&self.subs);
            let Some(sub) = subs.get_mut(&channel_id) else {
                return;
            };
            sub.last_id = last;
            sub.recipient.clone()
        };
        let events: Vec<RoomEvent> = entries
            .into_iter()
            .filter(|(_, f)| f.get("n").is_some_and(|n| *n != self.node_id))
            .filter_map(|(_, f)| serde_json::from_str(f.get("e")?).ok())
            .collect();
        if !events.is_empty() {
            // Waits if the room's mailbox is full: the reader slows down, nothing is dropped.
            let _ = recipient.send(RemoteEvents(events)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn events_round_trip_as_json() {
        let e = RoomEvent::Ban {
            user_id: 3,
            user: "x".into(),
            until: None,
            reason: Some("r".into()),
            by: "m".into(),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<RoomEvent>(&json).unwrap(), e);
    }
}
