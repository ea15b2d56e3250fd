//! Restart policy, written down: what a child reports when it ends ([`ChildExited`]), how long
//! its parent waits before starting it again ([`Backoff`]), and what the parent records about
//! it for the health tree ([`ChildRecord`]).
//!
//! actix's `Supervisor` never re-creates an actor and a panic in a handler is not a restart, so
//! parents do it themselves: a child holds a `Recipient<ChildExited>` to its parent, nothing more.

use std::time::{Duration, Instant};

use actix::Message;
use serde::Serialize;

use crate::health::ActorHealth;

/// The children of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildKind {
    Ingest,
    Transcode,
    Segment,
    Thumbnail,
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

/// A parent stops a child on purpose (the stream ends). The child still reports
/// [`ChildExited`]; the parent has already retired that generation.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopChild;

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
pub struct ChildRecord {
    pub kind: ChildKind,
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

impl ChildRecord {
    pub fn new(kind: ChildKind, id: String) -> Self {
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
