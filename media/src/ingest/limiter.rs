//! Failed publish attempts per source address: after N failures within a window, that source's
//! connections are closed on accept until the window ends. The table is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sources tracked at once; when full, expired entries go first, then the oldest window.
pub const MAX_TRACKED_SOURCES: usize = 4096;

#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
}

/// IPv6 hosts get a /64 each, so one host counts as one /64; IPv4-mapped addresses count as IPv4.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// What the RTMP and SRT listeners share by default: 5 failures a minute per source.
impl Default for FailureLimiter {
    fn default() -> Self {
        Self::new(5, Duration::from_secs(60), MAX_TRACKED_SOURCES)
    }
}

impl FailureLimiter {
    /// `max_failures == 0` disables the limit.
    pub fn new(max_failures: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max_failures,
            window,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // Nothing can panic while the lock is held; if it ever did, the table is still valid.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether connections from `ip` are refused right now.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        if self.max_failures == 0 {
            return false;
        }
        self.entries().get(&source_key(ip)).is_some_and(|e| {
            now.saturating_duration_since(e.window_start) < self.window
                && e.failures >= self.max_failures
        })
    }

    /// Counts one failed publish from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        if self.max_failures == 0 {
            return;
        }
        let key = source_key(ip);
        let mut entries = self.entries();
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            entries.retain(|_, e| now.saturating_duration_since(e.window_start) < self.window);
            if entries.len() >= self.capacity
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.window_start)
                    .map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        let entry = entries.entry(key).or_insert(Entry {
            window_start: now,
            failures: 0,
        });
        if now.saturating_duration_since(entry.window_start) >= self.window {
            *entry = Entry {
                window_start: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries().len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_after_n_failures_for_the_rest_of_the_window() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for i in 0..2 {
            limiter.record_failure(a, t0 + Duration::from_secs(i));
            assert!(!limiter.is_blocked(a, t0 + Duration::from_secs(i)));
        }
        limiter.record_failure(a, t0 + Duration::from_secs(10));
        assert!(limiter.is_blocked(a, t0 + Duration::from_secs(10)));
        assert!(limiter.is_blocked(a, t0 + Duration::from_secs(59)));
        assert!(!limiter.is_blocked(ip("192.0.2.2"), t0 + Duration::from_secs(10)));
        // The window started at the first failure; after it the source may try again.
        assert!(!limiter.is_blocked(a, t0 + Duration::from_secs(60)));
        limiter.record_failure(a, t0 + Duration::from_secs(61));
        assert!(!limiter.is_blocked(a, t0 + Duration::from_secs(61)));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60), 100);
        let now = Instant::now();
        limiter.record_failure(ip("2001:db8:1:2::1"), now);
        limiter.record_failure(ip("2001:db8:1:2:ffff::9"), now);
        assert!(limiter.is_blocked(ip("2001:db8:1:2::77"), now));
        assert!(!limiter.is_blocked(ip("2001:db8:1:3::1"), now));
        limiter.record_failure(ip("::ffff:198.51.100.7"), now);
        limiter.record_failure(ip("198.51.100.7"), now);
        assert!(limiter.is_blocked(ip("198.51.100.7"), now));
    }

    #[test]
    fn table_is_bounded() {
        let limiter = FailureLimiter::new(1, Duration::from_secs(60), 8);
        let t0 = Instant::now();
        for i in 0..100u8 {
            limiter.record_failure(
                IpAddr::from([10, 0, 0, i]),
                t0 + Duration::from_millis(u64::from(i)),
            );
            assert!(limiter.len() <= 8);
        }
        // The newest are kept, the oldest evicted.
        let now = t0 + Duration::from_millis(100);
        assert!(limiter.is_blocked(IpAddr::from([10, 0, 0, 99]), now));
        assert!(!limiter.is_blocked(IpAddr::from([10, 0, 0, 0]), now));
    }

    #[test]
    fn zero_disables() {
        let limiter = FailureLimiter::new(0, Duration::from_secs(60), 8);
        let now = Instant::now();
        limiter.record_failure(ip("192.0.2.1"), now);
        assert!(!limiter.is_blocked(ip("192.0.2.1"), now));
    }
}
