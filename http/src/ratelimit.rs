//! Fixed-window counters for throttling: in process by default, in Redis when configured so
//! that every node of a cluster counts together.
//!
//! A counter is created by the first hit of a window and expires with it. The in-process
//! table is bounded: when full it first drops expired windows, then the one ending soonest.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use deadpool_redis::{Pool, redis};

/// Most counters the in-process limiter keeps.
const MEMORY_CAPACITY: usize = 100_000;

pub enum RateLimiter {
    Memory(Mutex<HashMap<String, Window>>),
    Redis { pool: Pool, prefix: String },
}

#[derive(Clone, Copy)]
pub struct Window {
    count: u32,
    resets_at: Instant,
}

/// A counter's state: how many hits in the current window and how long until it resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub hits: u32,
    pub resets_in: Duration,
}

impl RateLimiter {
    pub fn memory() -> Self {
        Self::Memory(Mutex::new(HashMap::new()))
    }

    pub fn redis(pool: Pool, prefix: impl Into<String>) -> Self {
        Self::Redis {
            pool,
            prefix: prefix.into(),
        }
    }

    /// The counter at `key` (zero hits if there is none).
    pub async fn peek(&self, key: &str) -> Count {
        match self {
            Self::Memory(table) => {
                let now = Instant::now();
                let table = table.lock().unwrap_or_else(|e| e.into_inner());
                match table.get(key) {
                    Some(w) if w.resets_at > now => Count {
                        hits: w.count,
                        resets_in: w.resets_at - now,
                    },
                    _ => Count {
                        hits: 0,
                        resets_in: Duration::ZERO,
                    },
                }
            }
            Self::Redis { pool, prefix } => {
                let full = format!("{prefix}rl:{key}");
                let result: Result<(Option<u32>, i64), String> = async {
                    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                    redis::pipe()
                        .get(&full)
                        .pttl(&full)
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| e.to_string())
                }
                .await;
                match result {
                    Ok((hits, pttl)) => Count {
                        hits: hits.unwrap_or(0),
                        resets_in: Duration::from_millis(pttl.max(0) as u64),
                    },
                    Err(error) => {
                        // Fail open: an unreachable Redis must not lock everyone out; /readyz
                        // reports it.
                        tracing::warn!(%error, "rate limiter: redis unavailable");
                        Count {
                            hits: 0,
                            resets_in: Duration::ZERO,
                        }
                    }
                }
            }
        }
    }

    /// Counts one hit at `key`, starting a window of `window` if none is running.
    pub async fn hit(&self, key: &str, window: Duration) -> Count {
        match self {
            Self::Memory(table) => {
                let now = Instant::now();
                let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
                if table.len() >= MEMORY_CAPACITY && !table.contains_key(key) {
                    table.retain(|_, w| w.resets_at > now);
                    if table.len() >= MEMORY_CAPACITY {
                        let soonest = table
                            .iter()
                            .min_by_key(|(_, w)| w.resets_at)
                            .map(|(k, _)| k.clone());
                        if let Some(k) = soonest {
                            table.remove(&k);
                        }
                    }
                }
                let w = table.entry(key.to_owned()).or_insert(Window {
                    count: 0,
                    resets_at: now + window,
                });
                if w.resets_at <= now {
                    *w = Window {
                        count: 0,
                        resets_at: now + window,
                    };
                }
                w.count += 1;
                Count {
                    hits: w.count,
                    resets_in: w.resets_at - now,
                }
            }
            Self::Redis { pool, prefix } => {
                let full = format!("{prefix}rl:{key}");
                let ms = window.as_millis() as u64;
                let result: Result<(u32, i64), String> = async {
                    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                    let (hits, _, pttl): (u32, i64, i64) = redis::pipe()
                        .atomic()
                        .incr(&full, 1)
                        .cmd("PEXPIRE")
                        .arg(&full)
                        .arg(ms)
                        .arg("NX")
                        .pttl(&full)
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok((hits, pttl))
                }
                .await;
                match result {
                    Ok((hits, pttl)) => Count {
                        hits,
                        resets_in: Duration::from_millis(pttl.max(0) as u64),
                    },
                    Err(error) => {
                        tracing::warn!(%error, "rate limiter: redis unavailable");
                        Count {
                            hits: 0,
                            resets_in: Duration::ZERO,
                        }
                    }
                }
            }
        }
    }

    /// Takes back one hit at `key` (an attempt counted in advance that turned out fine); a
    /// counter that expired meanwhile stays gone.
    pub async fn undo(&self, key: &str) {
        match self {
            Self::Memory(table) => {
                let now = Instant::now();
                let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(w) = table.get_mut(key)
                    && w.resets_at > now
                {
                    w.count = w.count.saturating_sub(1);
                }
            }
            Self::Redis { pool, prefix } => {
                let full = format!("{prefix}rl:{key}");
                // DECR on a missing key would create it without an expiry.
                const UNDO: &str = "if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then return redis.call('DECR', KEYS[1]) end return 0";
                if let Ok(mut conn) = pool.get().await {
                    let _: Result<i64, _> = redis::cmd("EVAL")
                        .arg(UNDO)
                        .arg(1)
                        .arg(&full)
                        .query_async(&mut conn)
                        .await;
                }
            }
        }
    }

    /// Forgets the counter at `key` (e.g. after a successful login).
    pub async fn reset(&self, key: &str) {
        match self {
            Self::Memory(table) => {
                table.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
            }
            Self::Redis { pool, prefix } => {
                let full = format!("{prefix}rl:{key}");
                if let Ok(mut conn) = pool.get().await {
                    let _: Result<(), _> =
                        redis::cmd("DEL").arg(&full).query_async(&mut conn).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn window_counts_then_resets() {
        let rl = RateLimiter::memory();
        let w = Duration::from_secs(60);
        assert_eq!(rl.hit("k", w).await.hits, 1);
        assert_eq!(rl.hit("k", w).await.hits, 2);
        assert_eq!(rl.peek("k").await.hits, 2);
        assert_eq!(rl.peek("other").await.hits, 0);
        rl.undo("k").await;
        assert_eq!(rl.peek("k").await.hits, 1);
        rl.reset("k").await;
        assert_eq!(rl.peek("k").await.hits, 0);
        rl.undo("k").await;
        assert_eq!(
            rl.peek("k").await.hits,
            0,
            "no counter is created by an undo"
        );
    }

    #[test]
    fn expired_window_starts_over() {
        let rl = RateLimiter::memory();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build();
        let Ok(rt) = rt else { panic!("runtime") };
        rt.block_on(async {
            let w = Duration::from_millis(30);
            rl.hit("k", w).await;
            rl.hit("k", w).await;
            let deadline = Instant::now() + Duration::from_secs(2);
            while rl.peek("k").await.hits != 0 {
                assert!(Instant::now() < deadline, "window never expired");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(rl.hit("k", w).await.hits, 1);
        });
    }
}
