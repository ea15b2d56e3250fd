//! Presence over several nodes: this node's counts in Redis and the sum over nodes.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

/// This node's counts in Redis, and the sum over nodes.
///
/// Layout: hash `{prefix}presence:{slug}`, field `{node_id}`, value `{count}:{unix_ms}`; the
/// key expires 10 s after the last write. Fields older than [`REDIS_FRESH_MS`] are ignored.
/// Sorted set `{prefix}presence:channels`: every slug with a count, scored by its latest write,
/// so each node reads the sums of all watched channels (not only those it serves) and every
/// node shows the same number.
#[derive(Clone)]
pub struct RedisPresence {
    pool: deadpool_redis::Pool,
    prefix: String,
    node_id: String,
}

impl RedisPresence {
    pub fn new(pool: deadpool_redis::Pool, prefix: String, node_id: String) -> Self {
        Self {
            pool,
            prefix,
            node_id,
        }
    }

    pub fn key(&self, slug: &str) -> String {
        format!("{}presence:{slug}", self.prefix)
    }

    /// The sorted set of slugs with a fresh count on some node.
    pub fn channels_key(&self) -> String {
        format!("{}presence:channels", self.prefix)
    }

    /// Writes `local` (and removes this node's field for `gone`), then returns the fresh sum
    /// over all nodes for every slug in `local` and every slug another node counts (the
    /// [`MAX_CLUSTER_CHANNELS`] most recently written).
    pub async fn sync(
        &self,
        local: &HashMap<String, u64>,
        gone: &[String],
        now_ms: u64,
    ) -> Result<HashMap<String, u64>, String> {
        use deadpool_redis::redis;
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let index = self.channels_key();
        let fresh_from = now_ms.saturating_sub(REDIS_FRESH_MS);
        let mut pipe = redis::pipe();
        for (slug, n) in local {
            let key = self.key(slug);
            pipe.hset(&key, &self.node_id, format!("{n}:{now_ms}"))
                .ignore()
                .expire(&key, 10)
                .ignore()
                .zadd(&index, slug, now_ms)
                .ignore();
        }
        if !local.is_empty() {
            pipe.expire(&index, 10).ignore();
        }
        for slug in gone {
            pipe.hdel(self.key(slug), &self.node_id).ignore();
        }
        pipe.zrembyscore(&index, "-inf", format!("({fresh_from}"))
            .ignore()
            .zrevrangebyscore_limit(&index, "+inf", fresh_from, 0, MAX_CLUSTER_CHANNELS);
        let (counted,): (Vec<String>,) = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut slugs: Vec<&String> = local.keys().chain(counted.iter()).collect();
        slugs.sort();
        slugs.dedup();
        if slugs.is_empty() {
            return Ok(HashMap::new());
        }
        let mut pipe = redis::pipe();
        for slug in &slugs {
            pipe.hgetall(self.key(slug));
        }
        let fields: Vec<HashMap<String, String>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut totals = HashMap::new();
        for (slug, f) in slugs.into_iter().zip(fields) {
            totals.insert(slug.clone(), sum_fresh(&f, now_ms));
        }
        Ok(totals)
    }
}

/// The sum of the `{count}:{unix_ms}` values not older than [`REDIS_FRESH_MS`].
pub fn sum_fresh(fields: &HashMap<String, String>, now_ms: u64) -> u64 {
    fields
        .values()
        .filter_map(|v| {
            let (n, at) = v.split_once(':')?;
            let (n, at): (u64, u64) = (n.parse().ok()?, at.parse().ok()?);
            (now_ms.saturating_sub(at) <= REDIS_FRESH_MS).then_some(n)
        })
        .sum()
}

pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
