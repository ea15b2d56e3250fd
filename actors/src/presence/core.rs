//! Who is watching, in plain logic: the viewers of one shard of channels ([`PresenceCore`]) and
//! each broadcast's peak ([`PeakTracker`]). Tested without actors.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::*;

/// The viewers of the channels in one shard.
#[derive(Debug, Default)]
pub struct PresenceCore {
    pub(super) channels: HashMap<String, ChannelViewers>,
    max_per_channel: usize,
    /// New viewer ids refused by the per-address cap since the last [`Self::take_refused`].
    refused: u64,
}

/// What a request did to the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched {
    /// A viewer not counted before.
    New,
    /// A counted viewer, still watching.
    Again,
    /// A new id from an address already at its cap: not counted.
    Refused,
    /// The channel is full: estimated, not stored.
    Overflow,
}

#[derive(Debug)]
pub(super) struct Seen {
    first: Instant,
    last: Instant,
    /// The client address (a keyed hash) it came from, for the per-address cap.
    client: Option<u64>,
}

#[derive(Debug, Default)]
pub(super) struct ChannelViewers {
    /// Each viewer's first and latest request since it last expired.
    pub(super) seen: HashMap<String, Seen>,
    /// Stored viewers per client address.
    per_client: HashMap<u64, usize>,
    /// Requests from viewers not stored (channel full) in the current period...
    overflow_touches: u64,
    overflow_since: Option<Instant>,
    /// ...and the estimate from the last complete period.
    overflow_estimate: u64,
}

impl PresenceCore {
    pub fn new(max_per_channel: usize) -> Self {
        Self {
            channels: HashMap::new(),
            max_per_channel,
            refused: 0,
        }
    }

    /// `viewer` fetched a segment of `slug` from `client` (a keyed hash of its address; `None`
    /// when there is none to cap by). A new viewer from an address that already has
    /// `max_per_client` counted viewers in the channel is refused (`0` = no cap).
    pub fn touch(
        &mut self,
        slug: &str,
        viewer: &str,
        client: Option<u64>,
        max_per_client: usize,
        now: Instant,
    ) -> Touched {
        let ch = match self.channels.get_mut(slug) {
            Some(ch) => ch,
            None => self.channels.entry(slug.to_owned()).or_default(),
        };
        if let Some(seen) = ch.seen.get_mut(viewer) {
            seen.last = now;
            return Touched::Again;
        }
        let from_client = client.map_or(0, |c| ch.per_client.get(&c).copied().unwrap_or(0));
        if max_per_client > 0 && from_client >= max_per_client {
            self.refused += 1;
            return Touched::Refused;
        }
        if ch.seen.len() >= self.max_per_channel {
            ch.overflow_touches += 1;
            ch.overflow_since.get_or_insert(now);
            return Touched::Overflow;
        }
        ch.seen.insert(
            viewer.to_owned(),
            Seen {
                first: now,
                last: now,
                client,
            },
        );
        if let Some(c) = client {
            *ch.per_client.entry(c).or_default() += 1;
        }
        Touched::New
    }

    /// New viewer ids refused by the per-address cap since the last call.
    pub fn take_refused(&mut self) -> u64 {
        std::mem::take(&mut self.refused)
    }

    /// Drops viewers silent for longer than `ttl(slug)`; returns the remaining count per
    /// channel (channels left empty are forgotten).
    pub fn expire(&mut self, now: Instant, ttl: impl Fn(&str) -> Duration) -> HashMap<String, u64> {
        let mut counts = HashMap::new();
        self.channels.retain(|slug, ch| {
            let ttl = ttl(slug);
            let per_client = &mut ch.per_client;
            ch.seen.retain(|_, seen| {
                let keep = now.saturating_duration_since(seen.last) <= ttl;
                if !keep
                    && let Some(c) = seen.client
                    && let Some(n) = per_client.get_mut(&c)
                {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        per_client.remove(&c);
                    }
                }
                keep
            });
            if let Some(since) = ch.overflow_since
                && now.saturating_duration_since(since) >= ttl
            {
                // A watching player fetches about one segment per target duration.
                ch.overflow_estimate = ch
                    .overflow_touches
                    .div_ceil(u64::from(TTL_TARGET_DURATIONS));
                ch.overflow_touches = 0;
                ch.overflow_since = Some(now);
            }
            if ch.overflow_touches == 0 && ch.seen.len() < self.max_per_channel {
                ch.overflow_estimate = 0;
                ch.overflow_since = None;
            }
            let n = ch.seen.len() as u64 + ch.overflow_estimate;
            if n == 0 && ch.overflow_touches == 0 {
                return false;
            }
            counts.insert(slug.clone(), n);
            true
        });
        counts
    }

    pub fn count(&self, slug: &str) -> u64 {
        self.channels
            .get(slug)
            .map_or(0, |ch| ch.seen.len() as u64 + ch.overflow_estimate)
    }

    /// The stored viewers of `slug` who fetched a segment after `since`, each with its
    /// first and latest request since it last expired.
    pub fn touched_since(&self, slug: &str, since: Instant) -> Vec<(String, Instant, Instant)> {
        self.channels.get(slug).map_or_else(Vec::new, |ch| {
            ch.seen
                .iter()
                .filter(|(_, seen)| seen.last > since)
                .map(|(v, seen)| (v.clone(), seen.first, seen.last))
                .collect()
        })
    }
}

/// Peaks of the running broadcasts.
#[derive(Debug, Default)]
pub struct PeakTracker {
    broadcasts: HashMap<String, Peak>,
}

#[derive(Debug, Clone)]
struct Peak {
    broadcast_id: i64,
    began: Instant,
    peak: u64,
    saved: u64,
    last_save: Option<Instant>,
}

impl PeakTracker {
    pub fn begin(&mut self, slug: &str, broadcast_id: i64) {
        let same = self
            .broadcasts
            .get(slug)
            .is_some_and(|p| p.broadcast_id == broadcast_id);
        if !same {
            self.broadcasts.insert(
                slug.to_owned(),
                Peak {
                    broadcast_id,
                    began: Instant::now(),
                    peak: 0,
                    saved: 0,
                    last_save: None,
                },
            );
        }
    }

    /// Records the current viewer count of every tracked broadcast; returns the
    /// `(broadcast_id, peak)` pairs to save now.
    pub fn observe(&mut self, count: impl Fn(&str) -> u64, now: Instant) -> Vec<(i64, u64)> {
        let mut save = Vec::new();
        for (slug, p) in &mut self.broadcasts {
            p.peak = p.peak.max(count(slug));
            let due = p
                .last_save
                .is_none_or(|t| now.saturating_duration_since(t) >= PEAK_SAVE_EVERY);
            if p.peak > p.saved && due {
                p.saved = p.peak;
                p.last_save = Some(now);
                save.push((p.broadcast_id, p.peak));
            }
        }
        save
    }

    /// Broadcast `broadcast_id` is over: its final peak. A newer broadcast of the channel
    /// (started while this one was ending) is left alone.
    pub fn end(&mut self, slug: &str, broadcast_id: i64) -> Option<u64> {
        if self.broadcasts.get(slug)?.broadcast_id != broadcast_id {
            return None;
        }
        self.broadcasts.remove(slug).map(|p| p.peak)
    }

    pub fn peak(&self, slug: &str) -> Option<u64> {
        self.broadcasts.get(slug).map(|p| p.peak)
    }

    /// `(slug, broadcast_id, began)` of every tracked broadcast.
    pub fn running(&self) -> Vec<(String, i64, Instant)> {
        self.broadcasts
            .iter()
            .map(|(slug, p)| (slug.clone(), p.broadcast_id, p.began))
            .collect()
    }
}
