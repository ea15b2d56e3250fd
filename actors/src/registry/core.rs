//! Which channel has which stream: the registry's routing, generic over the address so it is
//! tested without actors.

use std::collections::HashMap;

/// A running stream.
#[derive(Debug, Clone)]
pub struct Slot<A> {
    pub addr: A,
    pub channel_id: i64,
    pub broadcast_id: i64,
}

/// Where a publish goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<A> {
    /// The channel's broadcast continues: hand the publisher to its stream.
    Existing(A),
    /// Start a new broadcast.
    New,
    /// Shutting down.
    Refuse,
}

/// Which channel has which stream. Generic over the address so it is tested without actors.
#[derive(Debug)]
pub struct RegistryCore<A> {
    streams: HashMap<String, Slot<A>>,
    shutting_down: bool,
}

impl<A> Default for RegistryCore<A> {
    fn default() -> Self {
        Self {
            streams: HashMap::new(),
            shutting_down: false,
        }
    }
}

impl<A: Clone> RegistryCore<A> {
    pub fn route(&self, slug: &str) -> Route<A> {
        if self.shutting_down {
            return Route::Refuse;
        }
        match self.streams.get(slug) {
            Some(s) => Route::Existing(s.addr.clone()),
            None => Route::New,
        }
    }

    pub fn insert(&mut self, slug: &str, slot: Slot<A>) {
        self.streams.insert(slug.to_owned(), slot);
    }

    /// Forgets the stream if `broadcast_id` is still the channel's (a stale report from an
    /// older broadcast changes nothing). Returns whether it was removed.
    pub fn stopped(&mut self, slug: &str, broadcast_id: i64) -> bool {
        if self
            .streams
            .get(slug)
            .is_some_and(|s| s.broadcast_id == broadcast_id)
        {
            self.streams.remove(slug);
            return true;
        }
        false
    }

    /// Forgets a stream whose actor is gone.
    pub fn forget(&mut self, slug: &str) {
        self.streams.remove(slug);
    }

    pub fn get(&self, slug: &str) -> Option<&Slot<A>> {
        self.streams.get(slug)
    }

    /// No new publishes from now on; every stream to end.
    pub fn begin_shutdown(&mut self) -> Vec<A> {
        self.shutting_down = true;
        self.streams.values().map(|s| s.addr.clone()).collect()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    pub fn addrs(&self) -> Vec<A> {
        self.streams.values().map(|s| s.addr.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn slot(addr: u32, broadcast_id: i64) -> Slot<u32> {
        Slot {
            addr,
            channel_id: 1,
            broadcast_id,
        }
    }

    #[test]
    fn publish_goes_live_then_continues_on_the_same_stream() {
        let mut core = RegistryCore::<u32>::default();
        assert_eq!(core.route("a"), Route::New);
        core.insert("a", slot(7, 100));
        assert_eq!(core.route("a"), Route::Existing(7));
        assert_eq!(core.route("b"), Route::New);
    }

    #[test]
    fn a_stale_stop_report_keeps_the_new_broadcast() {
        let mut core = RegistryCore::<u32>::default();
        core.insert("a", slot(7, 100));
        core.forget("a");
        core.insert("a", slot(8, 101));
        assert!(!core.stopped("a", 100));
        assert_eq!(core.route("a"), Route::Existing(8));
        assert!(core.stopped("a", 101));
        assert_eq!(core.route("a"), Route::New);
    }

    #[test]
    fn shutdown_refuses_publishes_and_lists_every_stream() {
        let mut core = RegistryCore::<u32>::default();
        core.insert("a", slot(1, 1));
        core.insert("b", slot(2, 2));
        let mut all = core.begin_shutdown();
        all.sort();
        assert_eq!(all, [1, 2]);
        assert_eq!(core.route("c"), Route::Refuse);
        assert_eq!(core.route("a"), Route::Refuse);
    }
}
