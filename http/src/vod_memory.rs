//! The video server's two bounded memories: immutable files read from the object store
//! ([`FileCache`]) and the clients that counted a view recently ([`RecentViews`]). Plain data
//! structures, shared by every worker behind a mutex in [`crate::vod`].

use std::{
    collections::{HashMap, HashSet, VecDeque},
    time::{Duration, Instant},
};

/// At most `capacity` bytes of files by key, forgotten in the order they were cached.
pub(crate) struct FileCache {
    capacity: usize,
    max_file: usize,
    bytes: usize,
    files: HashMap<String, bytes::Bytes>,
    order: VecDeque<String>,
}

impl FileCache {
    pub(crate) fn new(capacity: usize, max_file: usize) -> Self {
        Self {
            capacity,
            max_file,
            bytes: 0,
            files: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<bytes::Bytes> {
        self.files.get(key).cloned()
    }

    pub(crate) fn insert(&mut self, key: &str, data: bytes::Bytes) {
        if data.len() > self.max_file || self.files.contains_key(key) {
            return;
        }
        while self.bytes + data.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            if let Some(d) = self.files.remove(&old) {
                self.bytes -= d.len();
            }
        }
        self.bytes += data.len();
        self.order.push_back(key.to_owned());
        self.files.insert(key.to_owned(), data);
    }
}

/// Keys seen within `window`, at most `capacity` of them. Keys are remembered in the order they
/// were first seen, which is also the order they expire in, so forgetting is from the front.
pub(crate) struct RecentViews {
    window: Duration,
    capacity: usize,
    seen: HashSet<u64>,
    order: VecDeque<(Instant, u64)>,
}

impl RecentViews {
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `key` is new (or its window ended); it is remembered from `now` if so.
    pub(crate) fn first(&mut self, key: u64, now: Instant) -> bool {
        while let Some(&(at, old)) = self.order.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&old);
        }
        if self.seen.contains(&key) {
            return false;
        }
        while self.order.len() >= self.capacity
            && let Some((_, old)) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(key);
        self.order.push_back((now, key));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_cache_forgets_the_oldest_and_skips_big_files() {
        let mut c = FileCache::new(10, 6);
        c.insert("a", bytes::Bytes::from_static(b"aaaa"));
        c.insert("b", bytes::Bytes::from_static(b"bbbb"));
        c.insert("big", bytes::Bytes::from_static(b"0123456"));
        assert!(c.get("big").is_none());
        c.insert("c", bytes::Bytes::from_static(b"cccc"));
        assert!(c.get("a").is_none(), "the first cached goes first");
        assert_eq!(c.get("b").as_deref(), Some(&b"bbbb"[..]));
        assert_eq!(c.get("c").as_deref(), Some(&b"cccc"[..]));
        assert_eq!(c.bytes, 8);
    }

    #[test]
    fn a_view_counts_once_per_window() {
        let mut views = RecentViews::new(Duration::from_secs(60), 3);
        let t = Instant::now();
        assert!(views.first(1, t));
        assert!(!views.first(1, t + Duration::from_secs(59)));
        assert!(views.first(2, t + Duration::from_secs(1)));
        // The window of 1 ended.
        assert!(views.first(1, t + Duration::from_secs(60)));
        assert!(!views.first(2, t + Duration::from_secs(60)));
    }

    #[test]
    fn the_oldest_is_forgotten_when_full() {
        let mut views = RecentViews::new(Duration::from_secs(60), 2);
        let t = Instant::now();
        assert!(views.first(1, t));
        assert!(views.first(2, t));
        assert!(views.first(3, t));
        assert_eq!(views.seen.len(), 2);
        assert!(views.first(1, t), "1 was dropped to make room");
        assert!(!views.first(3, t));
    }
}
