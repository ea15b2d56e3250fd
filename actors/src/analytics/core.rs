//! [`AnalyticsCore`]: view sessions and samples in memory, no I/O (see [the module](super)).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use streamhall_entities::secret::sha256_hex;

/// Open sessions kept per broadcast (as many viewers as presence stores per
/// channel, `presence::MAX_VIEWERS_PER_CHANNEL`: a test holds the two equal); viewers
/// beyond it are counted in samples but get no session.
pub const MAX_SESSIONS_PER_BROADCAST: usize = 200_000;
/// Ended sessions waiting for the database; beyond it (the database is down or far behind)
/// further ended sessions are dropped and counted.
pub const MAX_PENDING_ENDED: usize = 100_000;

/// How often live channels are sampled into `stream_analytics`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsConfig {
    pub sample_secs: u64,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self { sample_secs: 30 }
    }
}

/// The stored form of a viewer key: its SHA-256, hex (64 characters).
pub fn viewer_id(viewer_key: &str) -> String {
    sha256_hex(viewer_key)
}

pub(super) fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

// ---------------------------------------------------------------------------------------------
// Sessions and samples in memory

/// A view session on its way to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Matches the row id returned by an insert back to the session.
    pub token: u64,
    pub broadcast_id: i64,
    pub viewer_id: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The stored row, for updates.
    pub id: Option<i64>,
}

impl SessionRow {
    /// Last seen minus started, to the nearest second.
    pub fn watch_seconds(&self) -> i64 {
        ((self.last_seen_at - self.started_at)
            .num_milliseconds()
            .max(0)
            + 500)
            / 1000
    }
}

/// A sample to write; its chat counts are read from `chat_messages` at write time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRow {
    pub broadcast_id: i64,
    pub at: DateTime<Utc>,
    pub viewers: i64,
    /// The previous sample; `None` for the first, whose chat counts start at the broadcast's
    /// start.
    pub since: Option<DateTime<Utc>>,
}

/// Rows to write, in one go.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    pub samples: Vec<SampleRow>,
    /// Open sessions not stored yet: inserted, their ids returned.
    pub insert_open: Vec<SessionRow>,
    /// Ended sessions never stored: inserted.
    pub insert_ended: Vec<SessionRow>,
    /// Stored sessions (open or ended): `last_seen_at` and `watch_seconds` updated.
    pub update: Vec<SessionRow>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
            && self.insert_open.is_empty()
            && self.insert_ended.is_empty()
            && self.update.is_empty()
    }
}

/// What [`write_batch`] did.
#[derive(Debug, Default)]
pub struct BatchWritten {
    /// `(token, id)` of the open sessions inserted.
    pub inserted: Vec<(u64, i64)>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    No,
    /// In the batch being written; its id comes back with [`AnalyticsCore::written`].
    Inserting,
    Id(i64),
}

#[derive(Debug, Clone)]
struct Session {
    token: u64,
    viewer_id: String,
    started: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    stored: Stored,
}

#[derive(Debug)]
struct Tracked {
    broadcast_id: i64,
    begun: DateTime<Utc>,
    /// Open sessions by viewer key.
    sessions: HashMap<String, Session>,
    next_sample: DateTime<Utc>,
    last_sample: Option<DateTime<Utc>>,
    /// Open sessions go out with the next batch (set when a sample is taken).
    write_open: bool,
}

/// View sessions and sample timing of the broadcasts this node runs. Time is passed in, so
/// tests script it.
#[derive(Debug)]
pub struct AnalyticsCore {
    every: TimeDelta,
    max_sessions: usize,
    /// By channel slug.
    broadcasts: HashMap<String, Tracked>,
    ended: Vec<(i64, Session)>,
    final_samples: Vec<SampleRow>,
    next_token: u64,
    /// Viewers not given a session (broadcast full), and ended sessions dropped (queue full).
    pub untracked: u64,
    pub dropped: u64,
}

impl AnalyticsCore {
    pub fn new(every: Duration, max_sessions: usize) -> Self {
        Self {
            every: delta(every.max(Duration::from_secs(1))),
            max_sessions,
            broadcasts: HashMap::new(),
            ended: Vec::new(),
            final_samples: Vec::new(),
            next_token: 0,
            untracked: 0,
            dropped: 0,
        }
    }

    /// Follows the broadcasts this node runs (`(slug, broadcast_id, began)`, from the peak
    /// tracker): ends those gone or replaced (a final sample with `viewers(slug)`, every
    /// session closed), then begins the new ones; returns the slugs begun.
    pub fn sync_broadcasts(
        &mut self,
        running: &[(String, i64, DateTime<Utc>)],
        viewers: impl Fn(&str) -> u64,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let gone: Vec<String> = self
            .broadcasts
            .iter()
            .filter(|(slug, t)| {
                !running
                    .iter()
                    .any(|(s, id, _)| s == *slug && *id == t.broadcast_id)
            })
            .map(|(slug, _)| slug.clone())
            .collect();
        for slug in gone {
            let n = viewers(&slug);
            self.end(&slug, n, now);
        }
        let mut begun = Vec::new();
        for (slug, id, began) in running {
            if !self.broadcasts.contains_key(slug) {
                self.begin(slug, *id, *began);
                begun.push(slug.clone());
            }
        }
        begun
    }

    /// The channels whose broadcast is tracked.
    pub fn slugs(&self) -> Vec<String> {
        self.broadcasts.keys().cloned().collect()
    }

    pub fn begin(&mut self, slug: &str, broadcast_id: i64, now: DateTime<Utc>) {
        self.broadcasts.insert(
            slug.to_owned(),
            Tracked {
                broadcast_id,
                begun: now,
                sessions: HashMap::new(),
                next_sample: now + self.every,
                last_sample: None,
                write_open: false,
            },
        );
    }

    /// The channel's broadcast is over: its final sample and the end of its sessions.
    pub fn end(&mut self, slug: &str, viewers: u64, now: DateTime<Utc>) {
        let Some(t) = self.broadcasts.remove(slug) else {
            return;
        };
        self.final_samples.push(SampleRow {
            broadcast_id: t.broadcast_id,
            at: now,
            viewers: i64::try_from(viewers).unwrap_or(i64::MAX),
            since: t.last_sample,
        });
        for (_, s) in t.sessions {
            self.push_ended(t.broadcast_id, s);
        }
    }

    /// The broadcast of `slug` tracked here.
    pub fn broadcast(&self, slug: &str) -> Option<i64> {
        self.broadcasts.get(slug).map(|t| t.broadcast_id)
    }

    /// A viewer of `slug` fetched a playlist at `at` (repeats and out-of-order reports are
    /// fine). A gap longer than `ttl` since the last request ends the session and starts
    /// another.
    pub fn seen(&mut self, slug: &str, viewer_key: &str, at: DateTime<Utc>, ttl: Duration) {
        self.present(slug, viewer_key, at, at, ttl);
    }

    /// A viewer of `slug` has been fetching playlists from `first` to `last` without a gap
    /// longer than `ttl` (as presence saw it). If `first` is more than `ttl` after the
    /// session's last request, that session ended and this is another.
    pub fn present(
        &mut self,
        slug: &str,
        viewer_key: &str,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
        ttl: Duration,
    ) {
        let Some(t) = self.broadcasts.get_mut(slug) else {
            return;
        };
        let (first, last) = (first.max(t.begun), last.max(t.begun));
        if let Some(s) = t.sessions.get_mut(viewer_key) {
            if first - s.last_seen <= delta(ttl) {
                s.last_seen = s.last_seen.max(last);
                return;
            }
            let old = s.clone();
            let id = t.broadcast_id;
            t.sessions.remove(viewer_key);
            self.push_ended(id, old);
        }
        let Some(t) = self.broadcasts.get_mut(slug) else {
            return;
        };
        if t.sessions.len() >= self.max_sessions {
            self.untracked += 1;
            return;
        }
        self.next_token += 1;
        t.sessions.insert(
            viewer_key.to_owned(),
            Session {
                token: self.next_token,
                viewer_id: viewer_id(viewer_key),
                started: first,
                last_seen: last,
                stored: Stored::No,
            },
        );
    }

    /// Ends the sessions silent for longer than `ttl(slug)`.
    pub fn expire(&mut self, now: DateTime<Utc>, ttl: impl Fn(&str) -> Duration) {
        let mut ended = Vec::new();
        for (slug, t) in &mut self.broadcasts {
            let ttl = delta(ttl(slug));
            let id = t.broadcast_id;
            t.sessions.retain(|_, s| {
                let open = now - s.last_seen <= ttl;
                if !open {
                    ended.push((id, s.clone()));
                }
                open
            });
        }
        for (id, s) in ended {
            self.push_ended(id, s);
        }
    }

    fn push_ended(&mut self, broadcast_id: i64, s: Session) {
        if self.ended.len() >= MAX_PENDING_ENDED {
            self.dropped += 1;
        } else {
            self.ended.push((broadcast_id, s));
        }
    }

    /// Open sessions of `slug`'s broadcast.
    pub fn open_sessions(&self, slug: &str) -> usize {
        self.broadcasts.get(slug).map_or(0, |t| t.sessions.len())
    }

    /// The rows to write now, if any: due samples (with `viewers(slug)`), final samples,
    /// ended sessions, and with each sample the broadcast's open sessions. Call only when
    /// the previous batch is [`written`](Self::written).
    pub fn take_batch(
        &mut self,
        now: DateTime<Utc>,
        viewers: impl Fn(&str) -> u64,
    ) -> Option<Batch> {
        let mut batch = Batch {
            samples: std::mem::take(&mut self.final_samples),
            ..Batch::default()
        };
        for (slug, t) in &mut self.broadcasts {
            if now >= t.next_sample {
                batch.samples.push(SampleRow {
                    broadcast_id: t.broadcast_id,
                    at: now,
                    viewers: i64::try_from(viewers(slug)).unwrap_or(i64::MAX),
                    since: t.last_sample,
                });
                t.last_sample = Some(now);
                t.next_sample += self.every;
                if t.next_sample <= now {
                    t.next_sample = now + self.every;
                }
                t.write_open = true;
            }
            if !std::mem::take(&mut t.write_open) {
                continue;
            }
            for s in t.sessions.values_mut() {
                let row = row(t.broadcast_id, s);
                match s.stored {
                    Stored::No => {
                        s.stored = Stored::Inserting;
                        batch.insert_open.push(row);
                    }
                    Stored::Id(_) => batch.update.push(row),
                    Stored::Inserting => {}
                }
            }
        }
        // Sessions whose insert is still out wait for their id.
        self.ended.retain(|(id, s)| match s.stored {
            Stored::No => {
                batch.insert_ended.push(row(*id, s));
                false
            }
            Stored::Id(_) => {
                batch.update.push(row(*id, s));
                false
            }
            Stored::Inserting => true,
        });
        (!batch.is_empty()).then_some(batch)
    }

    /// The batch is written: sessions inserted get their ids; those whose insert failed are
    /// inserted with the next batch.
    pub fn written(&mut self, inserted: &[(u64, i64)]) {
        let ids: HashMap<u64, i64> = inserted.iter().copied().collect();
        let settle = |s: &mut Session| {
            if s.stored == Stored::Inserting {
                s.stored = ids.get(&s.token).map_or(Stored::No, |id| Stored::Id(*id));
            }
        };
        for t in self.broadcasts.values_mut() {
            t.sessions.values_mut().for_each(settle);
        }
        self.ended.iter_mut().for_each(|(_, s)| settle(s));
    }
}

fn row(broadcast_id: i64, s: &Session) -> SessionRow {
    SessionRow {
        token: s.token,
        broadcast_id,
        viewer_id: s.viewer_id.clone(),
        started_at: s.started,
        last_seen_at: s.last_seen,
        id: match s.stored {
            Stored::Id(id) => Some(id),
            _ => None,
        },
    }
}
