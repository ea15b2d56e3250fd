//! Restart policy, written down: what a child reports when it ends ([`ChildExited`]), how long
//! its parent waits before starting it again ([`Backoff`]), and what the parent records about
//! it for the health tree ([`ChildRecord`]).
//!
//! actix's `Supervisor` never re-creates an actor and a panic in a handler is not a restart, so
//! parents do it themselves: a child holds a [`ChildLink`] to its parent, nothing more.

use std::time::{Duration, Instant};

use std::sync::Arc;

use actix::Message;
use serde::Serialize;

use crate::health::ActorHealth;
use crate::stats::{ActorStats, CountedRecipient};

/// A kind of child slot, as the health tree names it.
pub trait KindName: Copy {
    fn as_str(self) -> &'static str;
}

/// The children of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildKind {
    Ingest,
    Transcode,
    Segment,
    Thumbnail,
}

impl KindName for ChildKind {
    fn as_str(self) -> &'static str {
        ChildKind::as_str(self)
    }
}

impl ChildKind {
    pub const ALL: [ChildKind; 4] = [
        ChildKind::Ingest,
        ChildKind::Transcode,
        ChildKind::Segment,
        ChildKind::Thumbnail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChildKind::Ingest => "ingest",
            ChildKind::Transcode => "transcode",
            ChildKind::Segment => "segment",
            ChildKind::Thumbnail => "thumbnail",
        }
    }
}

/// A child has stopped. `generation` tells the parent which incarnation it was, so a late
/// report from a replaced child is ignored.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ChildExited {
    pub kind: ChildKind,
    pub generation: u64,
    pub reason: String,
}

/// What a stream's child is started with: which incarnation of which slot it is, its parent
/// (a counted `Recipient<ChildExited>`, nothing more) and its slot's counters, which outlive
/// the incarnation as the slot's restarts do.
pub struct ChildLink {
    kind: ChildKind,
    generation: u64,
    parent: CountedRecipient<ChildExited>,
    stats: Arc<ActorStats>,
}

impl ChildLink {
    pub fn new(
        kind: ChildKind,
        generation: u64,
        parent: CountedRecipient<ChildExited>,
        stats: Arc<ActorStats>,
    ) -> Self {
        Self {
            kind,
            generation,
            parent,
            stats,
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn stats(&self) -> &Arc<ActorStats> {
        &self.stats
    }

    /// Reports the incarnation's end from its `stopped()`: what was still queued for it
    /// becomes dead letters, and a handler that panicked is named as the reason. A control
    /// message to one parent, never fan-out: it must not be lost to a full mailbox.
    pub fn exited(&self, reason: String) {
        self.stats.stopped();
        let reason = if self.stats.take_panicked() {
            "a handler panicked".to_owned()
        } else {
            reason
        };
        self.parent.do_send(ChildExited {
            kind: self.kind,
            generation: self.generation,
            reason,
        });
    }
}

/// A parent stops a child on purpose (the stream ends). The child still reports
/// [`ChildExited`]; the parent has already retired that generation.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopChild;

/// The registry's children besides the streams: long-lived services, one each per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    ChatDirectory,
    Presence,
    Notifier,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 3] = [
        ServiceKind::ChatDirectory,
        ServiceKind::Presence,
        ServiceKind::Notifier,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl KindName for ServiceKind {
    fn as_str(self) -> &'static str {
        match self {
            ServiceKind::ChatDirectory => "chat_directory",
            ServiceKind::Presence => "presence",
            ServiceKind::Notifier => "notifier",
        }
    }
}

/// A service child of the registry has stopped (or its actor was dropped by a panic).
/// `generation` as in [`ChildExited`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ServiceExited {
    pub kind: ServiceKind,
    pub generation: u64,
    pub reason: String,
}

/// Held by a service actor: reports its exit to the registry exactly once, from `stopped()`
/// with the reason the actor gives (actix runs `stopped()` also after a handler panicked, as
/// the task is dropped: [`ActorStats::exit_reason`](crate::stats::ActorStats::exit_reason)
/// then says so), or from `Drop` if the actor goes without `stopped()` ever running.
pub struct ExitReport {
    kind: ServiceKind,
    generation: u64,
    parent: Option<CountedRecipient<ServiceExited>>,
}

impl ExitReport {
    pub fn new(
        kind: ServiceKind,
        generation: u64,
        parent: CountedRecipient<ServiceExited>,
    ) -> Self {
        Self {
            kind,
            generation,
            parent: Some(parent),
        }
    }

    /// A report that goes nowhere (an actor started outside the tree, in unit tests).
    pub fn detached(kind: ServiceKind) -> Self {
        Self {
            kind,
            generation: 0,
            parent: None,
        }
    }

    pub fn send(&mut self, reason: impl Into<String>) {
        if let Some(parent) = self.parent.take() {
            parent.do_send(ServiceExited {
                kind: self.kind,
                generation: self.generation,
                reason: reason.into(),
            });
        }
    }
}

impl Drop for ExitReport {
    fn drop(&mut self) {
        self.send("the actor was dropped without stopping");
    }
}

/// A parent asks a service to stop (an admin's restart); the service reports its exit as
/// usual and the parent starts the next one.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct StopService(pub String);

/// Test builds only: makes an actor fail, so tests can check that its parent restarts it:
/// it stops with `reason` as its error, or with `panic` its handler panics (actix then stops
/// it as its task is dropped, and its exit reports the panic).
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct InjectFault {
    pub reason: String,
    pub panic: bool,
}

#[cfg(any(test, feature = "fault-injection"))]
impl InjectFault {
    pub fn new(reason: &str, panic: bool) -> Self {
        Self {
            reason: reason.to_owned(),
            panic,
        }
    }

    /// Panics when asked to; otherwise returns the reason to stop with.
    pub fn reason_or_panic(self) -> String {
        if self.panic {
            std::panic::panic_any(self.reason);
        }
        self.reason
    }
}

/// Restart delays: `initial`, doubling per crash up to `max`; a child that ran `stable_after`
/// without crashing starts again from `initial`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    stable_after: Duration,
    next: Duration,
}

impl Default for Backoff {
    /// 500 ms, 1 s, 2 s, 4 s ... 30 s; reset after a stable minute.
    fn default() -> Self {
        Self::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
            Duration::from_secs(60),
        )
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, stable_after: Duration) -> Self {
        Self {
            initial,
            max,
            stable_after,
            next: initial,
        }
    }

    /// The delay before restarting a child that ran for `ran`.
    pub fn next_delay(&mut self, ran: Duration) -> Duration {
        if ran >= self.stable_after {
            self.next = self.initial;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// What a parent knows about one child slot across its incarnations.
#[derive(Debug, Clone)]
pub struct ChildRecord<K = ChildKind> {
    pub kind: K,
    pub id: String,
    pub generation: u64,
    pub running: bool,
    pub started_at: Option<Instant>,
    pub restarts: u32,
    /// Why the last crash happened (exits that need no restart are not errors).
    pub last_error: Option<String>,
    pub last_exit: Option<String>,
    /// Exited with a restart scheduled.
    pub restarting: bool,
    pub backoff: Backoff,
}

impl<K: KindName> ChildRecord<K> {
    pub fn new(kind: K, id: String) -> Self {
        Self {
            kind,
            id,
            generation: 0,
            running: false,
            started_at: None,
            restarts: 0,
            last_error: None,
            last_exit: None,
            restarting: false,
            backoff: Backoff::default(),
        }
    }

    /// A new incarnation starts; returns its generation.
    pub fn starting(&mut self, now: Instant) -> u64 {
        self.generation += 1;
        self.running = true;
        self.restarting = false;
        self.started_at = Some(now);
        self.generation
    }

    /// The current incarnation ended. `None` when the report is from an older one.
    pub fn exited(&mut self, generation: u64, reason: &str, now: Instant) -> Option<Duration> {
        if generation != self.generation || !self.running {
            return None;
        }
        self.running = false;
        self.last_exit = Some(reason.to_owned());
        Some(
            self.started_at
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
        )
    }

    /// A crash that will be followed by a restart: counts it, records it as the last error and
    /// returns the delay.
    pub fn schedule_restart(&mut self, ran: Duration) -> Duration {
        self.restarts += 1;
        self.restarting = true;
        self.last_error = self.last_exit.clone();
        self.backoff.next_delay(ran)
    }

    pub fn health(&self, now: Instant, mailbox: Option<usize>) -> ActorHealth {
        ActorHealth {
            kind: self.kind.as_str().to_owned(),
            id: self.id.clone(),
            // Not running and nothing scheduled is the normal rest of a child with nothing to
            // do (ffmpeg after the publisher left): `idle`, not an alarm.
            state: match (self.running, self.restarting) {
                (true, _) => "running",
                (false, true) => "restarting",
                (false, false) => "idle",
            }
            .to_owned(),
            uptime_s: match (self.running, self.started_at) {
                (true, Some(t)) => now.saturating_duration_since(t).as_secs_f64(),
                _ => 0.0,
            },
            restarts: self.restarts,
            last_error: self.last_error.clone(),
            mailbox,
            ..ActorHealth::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn backoff_grows_caps_and_resets_after_a_stable_run() {
        let mut b = Backoff::default();
        let quick = Duration::from_secs(1);
        let delays: Vec<_> = (0..8).map(|_| b.next_delay(quick).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(b.next_delay(Duration::from_secs(61)).as_millis(), 500);
        assert_eq!(b.next_delay(quick).as_millis(), 1000);
    }

    #[test]
    fn first_restart_is_within_two_seconds() {
        let mut rec = ChildRecord::new(ChildKind::Transcode, "t".into());
        let t0 = Instant::now();
        let g = rec.starting(t0);
        let ran = rec
            .exited(g, "killed", t0 + Duration::from_secs(3))
            .unwrap();
        assert!(rec.schedule_restart(ran) <= Duration::from_secs(2));
        assert_eq!(rec.restarts, 1);
        assert_eq!(rec.last_error.as_deref(), Some("killed"));
        assert_eq!(rec.health(t0, None).state, "restarting");
        rec.starting(t0);
        assert_eq!(rec.health(t0, None).state, "running");
    }

    #[test]
    fn stale_reports_are_ignored() {
        let mut rec = ChildRecord::new(ChildKind::Segment, "s".into());
        let now = Instant::now();
        let old = rec.starting(now);
        rec.exited(old, "x", now).unwrap();
        let new = rec.starting(now);
        assert!(rec.exited(old, "late", now).is_none());
        assert!(rec.running);
        assert!(rec.exited(new, "y", now).is_some());
        assert!(rec.exited(new, "twice", now).is_none());
    }
}
