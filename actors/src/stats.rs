//! What an actor's mailbox is doing, counted, since actix exposes no queue length.
//!
//! [`ActorStats`] is a handful of atomics per actor: messages sent to it (through a
//! [`Mailbox`], the address wrapper its callers hold), messages handled (a [`Handling`] guard
//! at the top of each handler), and how long handling took (log2 buckets of microseconds, over
//! the last one to two minutes). Mailbox depth is `sent - handled`. A send that cannot be
//! delivered (the actor stopped, the mailbox is full) is a dead letter, counted per actor kind
//! in the node's [`DeadLetters`]; messages left in a mailbox when its actor stops count too.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::prelude::*;

use crate::locks::lock;

/// Undeliverable messages on this node for one kind of actor.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, ts_rs::TS)]
pub struct DeadLetterCount {
    pub kind: String,
    pub count: u64,
}

/// Handling-time buckets: bucket `i` holds times below `2^i` µs (the last one everything
/// longer, about 8 s and up).
const BUCKETS: usize = 24;
/// The handling-time window rotates this often: percentiles cover the last one to two windows.
const WINDOW: Duration = Duration::from_secs(60);

/// Undeliverable messages on this node, per kind of receiving actor.
#[derive(Debug, Clone, Default)]
pub struct DeadLetters(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl DeadLetters {
    pub fn add(&self, kind: &'static str, n: u64) {
        if n > 0 {
            *lock(&self.0).entry(kind).or_default() += n;
        }
    }

    pub fn counts(&self) -> Vec<DeadLetterCount> {
        lock(&self.0)
            .iter()
            .map(|(kind, n)| DeadLetterCount {
                kind: (*kind).to_owned(),
                count: *n,
            })
            .collect()
    }
}

/// One actor's counters.
#[derive(Debug)]
pub struct ActorStats {
    kind: &'static str,
    dead_letters: DeadLetters,
    sent: AtomicU64,
    handled: AtomicU64,
    /// Two windows of handling times; `current` is written, the other is the previous window.
    times: [[AtomicU64; BUCKETS]; 2],
    current: AtomicUsize,
    /// When `current` began, and the last (instant, handled) a rate was computed from.
    window: Mutex<WindowState>,
    /// A handler panicked (seen by its [`Handling`] guard while unwinding).
    panicked: AtomicBool,
}

#[derive(Debug)]
struct WindowState {
    began: Instant,
    rate_at: Instant,
    rate_handled: u64,
    rate: f64,
}

/// What the health tree shows of an actor's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StatsSnapshot {
    pub mailbox: usize,
    pub messages: u64,
    pub messages_per_s: f64,
    pub handling_p50_ms: Option<f64>,
    pub handling_p99_ms: Option<f64>,
}

impl ActorStats {
    pub fn new(kind: &'static str, dead_letters: DeadLetters) -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            kind,
            dead_letters,
            sent: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            times: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            current: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            window: Mutex::new(WindowState {
                began: now,
                rate_at: now,
                rate_handled: 0,
                rate: 0.0,
            }),
        })
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Whether a handler panicked since the last call. actix stops an actor whose handler
    /// panicked (its `stopped()` runs as the task is dropped), so `stopped()` asks this to
    /// report a crash rather than a clean stop.
    pub fn take_panicked(&self) -> bool {
        self.panicked.swap(false, Ordering::Relaxed)
    }

    /// The reason a service reports from `stopped()`.
    pub fn exit_reason(&self) -> &'static str {
        if self.take_panicked() {
            "a handler panicked"
        } else {
            "stopped"
        }
    }

    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn dead_letter(&self) {
        self.dead_letters.add(self.kind, 1);
    }

    /// Starts handling one message that came through the [`Mailbox`]; the guard records it
    /// (and how long it took) when dropped.
    pub fn handling(self: &Arc<Self>) -> Handling {
        Handling {
            stats: Arc::clone(self),
            began: Instant::now(),
        }
    }

    /// Starts handling a message the actor sent itself (a task's result, a timer): counted as
    /// sent and handled at once, so it never shows as mailbox depth.
    pub fn handling_own(self: &Arc<Self>) -> Handling {
        self.sent();
        self.handling()
    }

    fn record(&self, took: Duration) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = (u64::BITS - us.leading_zeros()) as usize;
        let w = self.current.load(Ordering::Relaxed) % 2;
        self.times[w][bucket.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// The actor stopped: what is still queued will never be handled. Counted as dead letters,
    /// and the depth starts from zero for the next incarnation sharing these stats.
    pub fn stopped(&self) {
        let handled = self.handled.load(Ordering::Relaxed);
        let sent = self.sent.swap(handled, Ordering::Relaxed);
        self.dead_letters
            .add(self.kind, sent.saturating_sub(handled));
    }

    pub fn snapshot(&self, now: Instant) -> StatsSnapshot {
        let sent = self.sent.load(Ordering::Relaxed);
        let handled = self.handled.load(Ordering::Relaxed);
        let mut w = lock(&self.window);
        if now.saturating_duration_since(w.began) >= WINDOW {
            // The older window is cleared and becomes the current one.
            let next = (self.current.load(Ordering::Relaxed) + 1) % 2;
            for b in &self.times[next] {
                b.store(0, Ordering::Relaxed);
            }
            self.current.store(next, Ordering::Relaxed);
            w.began = now;
        }
        // A rate over at least a second; asked more often, the last one stands.
        let span = now.saturating_duration_since(w.rate_at).as_secs_f64();
        if span >= 1.0 {
            w.rate = handled.saturating_sub(w.rate_handled) as f64 / span;
            w.rate_at = now;
            w.rate_handled = handled;
        }
        let rate = w.rate;
        drop(w);
        let counts: Vec<u64> = (0..BUCKETS)
            .map(|i| {
                self.times[0][i].load(Ordering::Relaxed) + self.times[1][i].load(Ordering::Relaxed)
            })
            .collect();
        StatsSnapshot {
            mailbox: usize::try_from(sent.saturating_sub(handled)).unwrap_or(usize::MAX),
            messages: handled,
            messages_per_s: (rate * 10.0).round() / 10.0,
            handling_p50_ms: percentile_ms(&counts, 0.50),
            handling_p99_ms: percentile_ms(&counts, 0.99),
        }
    }
}

/// The upper bound of the bucket holding the `q` quantile, in ms; `None` without samples.
pub fn percentile_ms(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            // Bucket i holds times below 2^i µs.
            return Some((1u64 << i) as f64 / 1000.0);
        }
    }
    None
}

/// Records one handled message when dropped. Holds its own reference to the counters, so the
/// handler keeps `&mut self`.
#[must_use = "the guard records the message when it is dropped"]
pub struct Handling {
    stats: Arc<ActorStats>,
    began: Instant,
}

impl Drop for Handling {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.stats.panicked.store(true, Ordering::Relaxed);
        }
        self.stats.record(self.began.elapsed());
    }
}

/// An actor's address with its counters: what callers hold instead of the bare `Addr`, so
/// every send is counted and every undeliverable one is a dead letter.
pub struct Mailbox<A: Actor> {
    addr: Addr<A>,
    stats: Arc<ActorStats>,
}

impl<A: Actor> Clone for Mailbox<A> {
    fn clone(&self) -> Self {
        Self {
            addr: self.addr.clone(),
            stats: Arc::clone(&self.stats),
        }
    }
}

impl<A: Actor> Mailbox<A> {
    pub fn new(addr: Addr<A>, stats: Arc<ActorStats>) -> Self {
        Self { addr, stats }
    }

    pub fn connected(&self) -> bool {
        self.addr.connected()
    }

    pub fn stats(&self) -> &Arc<ActorStats> {
        &self.stats
    }

    /// The bare address, for what must hold one (a `Recipient`); sends through it are not
    /// counted.
    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    /// The same counters behind a `Recipient` of one message.
    pub fn recipient<M>(&self) -> CountedRecipient<M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        CountedRecipient::new(self.addr.clone().recipient(), Arc::clone(&self.stats))
    }

    /// Waits for the answer. A stopped actor answers `MailboxError::Closed` (a dead letter).
    pub fn send<M>(
        &self,
        msg: M,
    ) -> impl Future<Output = Result<M::Result, MailboxError>> + use<M, A>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let delivered = self.addr.connected();
        if delivered {
            self.stats.sent();
        } else {
            self.stats.dead_letter();
        }
        self.addr.send(msg)
    }

    /// Fire and forget, waiting for no room in the mailbox (use for bounded senders only).
    pub fn do_send<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        if self.addr.connected() {
            self.stats.sent();
            self.addr.do_send(msg);
        } else {
            self.stats.dead_letter();
        }
    }

    /// Fails when the mailbox is full or the actor stopped: both are dead letters.
    pub fn try_send<M>(&self, msg: M) -> Result<(), SendError<M>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        match self.addr.try_send(msg) {
            Ok(()) => {
                self.stats.sent();
                Ok(())
            }
            Err(e) => {
                self.stats.dead_letter();
                Err(e)
            }
        }
    }
}

/// A [`Mailbox`] narrowed to one message: for a sender that must not name its receiver's type
/// (a child reporting to its parent, the cluster loop to the registry). Counted the same way.
pub struct CountedRecipient<M>
where
    M: Message + Send,
    M::Result: Send,
{
    recipient: Recipient<M>,
    stats: Arc<ActorStats>,
}

impl<M> Clone for CountedRecipient<M>
where
    M: Message + Send,
    M::Result: Send,
{
    fn clone(&self) -> Self {
        Self {
            recipient: self.recipient.clone(),
            stats: Arc::clone(&self.stats),
        }
    }
}

impl<M> CountedRecipient<M>
where
    M: Message + Send,
    M::Result: Send,
{
    pub fn new(recipient: Recipient<M>, stats: Arc<ActorStats>) -> Self {
        Self { recipient, stats }
    }

    pub fn connected(&self) -> bool {
        self.recipient.connected()
    }

    /// Waits for the answer (and for room in a full mailbox).
    pub fn send(&self, msg: M) -> actix::dev::RecipientRequest<M> {
        if self.recipient.connected() {
            self.stats.sent();
        } else {
            self.stats.dead_letter();
        }
        self.recipient.send(msg)
    }

    /// Fire and forget, waiting for no room in the mailbox: for control messages to one
    /// parent, which must not be lost to a full mailbox.
    pub fn do_send(&self, msg: M) {
        if self.recipient.connected() {
            self.stats.sent();
            self.recipient.do_send(msg);
        } else {
            self.stats.dead_letter();
        }
    }
}

/// The current incarnation of a restartable actor: handles that outlive a restart hold this,
/// and the parent swaps the address in when it starts a new one.
pub struct Current<A: Actor>(Arc<RwLock<Mailbox<A>>>);

impl<A: Actor> Clone for Current<A> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<A: Actor> Current<A> {
    pub fn new(first: Mailbox<A>) -> Self {
        Self(Arc::new(RwLock::new(first)))
    }

    pub fn get(&self) -> Mailbox<A> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, next: Mailbox<A>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = next;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn percentiles_name_the_bucket_bound() {
        let mut counts = vec![0u64; BUCKETS];
        // 90 fast (below 2^4 µs = 16 µs), 10 slow (below 2^14 µs = 16.384 ms).
        counts[4] = 90;
        counts[14] = 10;
        assert_eq!(percentile_ms(&counts, 0.5), Some(0.016));
        assert_eq!(percentile_ms(&counts, 0.99), Some(16.384));
        assert_eq!(percentile_ms(&[0; BUCKETS], 0.5), None);
    }

    #[test]
    fn depth_is_sent_minus_handled_and_leftovers_are_dead_letters() {
        let dead = DeadLetters::default();
        let s = ActorStats::new("presence", dead.clone());
        s.sent();
        s.sent();
        s.sent();
        drop(s.handling());
        let now = Instant::now();
        let snap = s.snapshot(now);
        assert_eq!(snap.mailbox, 2);
        assert_eq!(snap.messages, 1);
        assert!(snap.handling_p50_ms.is_some());
        // Own messages never count as depth.
        drop(s.handling_own());
        assert_eq!(s.snapshot(now).mailbox, 2);
        s.stopped();
        assert_eq!(s.snapshot(now).mailbox, 0);
        assert_eq!(dead.counts()[0].count, 2);
        assert_eq!(dead.counts()[0].kind, "presence");
    }

    #[test]
    fn the_rate_is_handled_messages_per_second() {
        let s = ActorStats::new("room", DeadLetters::default());
        let t0 = Instant::now();
        for _ in 0..30 {
            s.sent();
            drop(s.handling());
        }
        let snap = s.snapshot(t0 + Duration::from_secs(3));
        assert!((snap.messages_per_s - 10.0).abs() < 0.2, "{snap:?}");
    }
}
