//! A micro-cache for the public reads (`GET /channels`, `GET /channels/{slug}`), whose answer
//! is the same for every caller, signed in or not: the rendered JSON is reused for up to `ttl`
//! (1 s), and every channel write on this node invalidates it at once. Other nodes' writes (and go-live, viewer counts) show within the
//! TTL. Bounded: when full, the table is cleared.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;

pub struct ResponseCache {
    ttl: Duration,
    capacity: usize,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    generation: u64,
    stored: Instant,
    body: Bytes,
}

impl ResponseCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        if self.ttl.is_zero() {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.generation == generation && e.stored.elapsed() < self.ttl)
            .map(|e| e.body.clone())
    }

    pub fn put(&self, key: String, body: Bytes) {
        if self.ttl.is_zero() {
            return;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                generation,
                stored: Instant::now(),
                body,
            },
        );
    }

    /// Forgets everything cached so far (a channel changed).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_until_invalidated_or_expired() {
        let c = ResponseCache::new(Duration::from_millis(50), 2);
        assert!(c.get("a").is_none());
        c.put("a".into(), Bytes::from_static(b"1"));
        assert_eq!(c.get("a"), Some(Bytes::from_static(b"1")));
        c.invalidate();
        assert!(c.get("a").is_none(), "a write invalidates");
        c.put("a".into(), Bytes::from_static(b"2"));
        c.put("b".into(), Bytes::from_static(b"3"));
        c.put("c".into(), Bytes::from_static(b"4"));
        assert!(c.get("a").is_none(), "full table was cleared");
        assert!(c.get("c").is_some());
        let deadline = Instant::now() + Duration::from_secs(2);
        while c.get("c").is_some() {
            assert!(Instant::now() < deadline, "entry never expired");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn zero_ttl_disables() {
        let c = ResponseCache::new(Duration::ZERO, 2);
        c.put("a".into(), Bytes::from_static(b"1"));
        assert!(c.get("a").is_none());
    }
}
