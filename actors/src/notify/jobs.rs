//! The notifier's decisions, without actors: which fan-outs wait, which run (at most
//! `max_running`), what a finished one reports, what the health tree shows.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::bus::BusEvent;

use super::JobHealth;
use super::fanout::{EVENT_OFFLINE, EVENT_ONLINE, GoLive, Progress};

/// Fan-outs waiting for a free slot, at most; beyond it a go-live is not notified (and
/// counted as dropped in the health tree).
pub const MAX_QUEUED: usize = 10_000;
/// Finished jobs kept for the health tree.
pub const RECENT: usize = 10;
/// Queued jobs listed in the health tree, at most.
const LISTED_QUEUED: usize = 50;

/// (broadcast, event).
pub type JobKey = (i64, &'static str);

pub enum Job {
    Online(GoLive),
    /// An online fan-out an earlier process left unfinished (already claimed, by this node
    /// now): run again; rows that exist are skipped.
    Resume(GoLive),
    Offline {
        channel_id: i64,
        slug: String,
        broadcast_id: i64,
    },
}

impl Job {
    /// The job a bus event asks for, if any.
    pub fn from_event(event: BusEvent) -> Option<Job> {
        match event {
            BusEvent::StreamWentLive {
                channel_id,
                slug,
                broadcast_id,
                title,
            } => Some(Job::Online(GoLive {
                channel_id,
                slug,
                broadcast_id,
                title,
            })),
            BusEvent::StreamWentOffline {
                channel_id,
                slug,
                broadcast_id,
            } => Some(Job::Offline {
                channel_id,
                slug,
                broadcast_id,
            }),
            BusEvent::Notified { .. }
            | BusEvent::SessionsRevoked { .. }
            | BusEvent::EndStreams { .. } => None,
        }
    }

    pub fn key(&self) -> JobKey {
        match self {
            Job::Online(g) | Job::Resume(g) => (g.broadcast_id, EVENT_ONLINE),
            Job::Offline { broadcast_id, .. } => (*broadcast_id, EVENT_OFFLINE),
        }
    }

    pub fn slug(&self) -> &str {
        match self {
            Job::Online(g) | Job::Resume(g) => &g.slug,
            Job::Offline { slug, .. } => slug,
        }
    }

    pub fn channel_id(&self) -> i64 {
        match self {
            Job::Online(g) | Job::Resume(g) => g.channel_id,
            Job::Offline { channel_id, .. } => *channel_id,
        }
    }
}

/// How a job that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Another node (or an earlier run) had claimed it.
    Skipped,
}

/// What [`JobQueue::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// The same (broadcast, event) is already waiting or running.
    Duplicate,
    /// The queue is full.
    Dropped,
}

struct Tracked {
    slug: String,
    started: Instant,
    progress: Arc<Progress>,
    state: &'static str,
    error: Option<String>,
    ended: Option<Instant>,
}

impl Tracked {
    fn health(&self, key: JobKey, now: Instant) -> JobHealth {
        let p = &self.progress;
        JobHealth {
            broadcast_id: key.0,
            slug: self.slug.clone(),
            event: key.1.to_owned(),
            state: self.state.to_owned(),
            total: p.total.load(Relaxed),
            done: p.done.load(Relaxed),
            notified: p.notified.load(Relaxed),
            emailed: p.emailed.load(Relaxed),
            elapsed_s: self
                .ended
                .unwrap_or(now)
                .saturating_duration_since(self.started)
                .as_secs_f64(),
            error: self.error.clone(),
        }
    }
}

pub struct JobQueue {
    max_running: usize,
    queue: VecDeque<Job>,
    running: HashMap<JobKey, Tracked>,
    recent: VecDeque<(JobKey, Tracked)>,
    dropped: u64,
    last_error: Option<String>,
}

impl JobQueue {
    pub fn new(max_running: usize) -> Self {
        Self {
            max_running: max_running.max(1),
            queue: VecDeque::new(),
            running: HashMap::new(),
            recent: VecDeque::new(),
            dropped: 0,
            last_error: None,
        }
    }

    pub fn offer(&mut self, job: Job) -> Offer {
        let key = job.key();
        if self.running.contains_key(&key) || self.queue.iter().any(|j| j.key() == key) {
            return Offer::Duplicate;
        }
        if self.queue.len() >= MAX_QUEUED {
            self.dropped += 1;
            return Offer::Dropped;
        }
        self.queue.push_back(job);
        Offer::Queued
    }

    /// The next job to run, if a slot is free; it counts as running from `now`.
    pub fn start_next(&mut self, now: Instant) -> Option<(Job, Arc<Progress>)> {
        if self.running.len() >= self.max_running {
            return None;
        }
        let job = self.queue.pop_front()?;
        let progress = Arc::new(Progress::default());
        self.running.insert(
            job.key(),
            Tracked {
                slug: job.slug().to_owned(),
                started: now,
                progress: progress.clone(),
                state: "running",
                error: None,
                ended: None,
            },
        );
        Some((job, progress))
    }

    /// A running job ended; returns how it shows in the health tree.
    pub fn finish(
        &mut self,
        key: JobKey,
        result: Result<Outcome, String>,
        now: Instant,
    ) -> Option<JobHealth> {
        let mut t = self.running.remove(&key)?;
        t.ended = Some(now);
        match result {
            Ok(Outcome::Done) => t.state = "done",
            Ok(Outcome::Skipped) => t.state = "skipped",
            Err(e) => {
                t.state = "failed";
                t.error = Some(e.clone());
                self.last_error = Some(e);
            }
        }
        let health = t.health(key, now);
        self.recent.push_front((key, t));
        self.recent.truncate(RECENT);
        Some(health)
    }

    /// Running jobs, then (some of) the queued ones, then the recent finished ones.
    pub fn jobs(&self, now: Instant) -> Vec<JobHealth> {
        let mut jobs: Vec<JobHealth> = self
            .running
            .iter()
            .map(|(k, t)| t.health(*k, now))
            .collect();
        jobs.extend(self.queue.iter().take(LISTED_QUEUED).map(|j| JobHealth {
            broadcast_id: j.key().0,
            slug: j.slug().to_owned(),
            event: j.key().1.to_owned(),
            state: "queued".into(),
            total: 0,
            done: 0,
            notified: 0,
            emailed: 0,
            elapsed_s: 0.0,
            error: None,
        }));
        jobs.extend(self.recent.iter().map(|(k, t)| t.health(*k, now)));
        jobs
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn is_idle(&self) -> bool {
        self.running.is_empty()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.clone()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn live(broadcast_id: i64) -> Job {
        Job::Online(GoLive {
            channel_id: 1,
            slug: "show".into(),
            broadcast_id,
            title: "t".into(),
        })
    }

    #[test]
    fn runs_at_most_max_running_and_the_rest_waits_in_order() {
        let mut q = JobQueue::new(2);
        let now = Instant::now();
        for b in 1..=3 {
            assert_eq!(q.offer(live(b)), Offer::Queued);
        }
        assert_eq!(q.start_next(now).unwrap().0.key(), (1, EVENT_ONLINE));
        assert_eq!(q.start_next(now).unwrap().0.key(), (2, EVENT_ONLINE));
        assert!(q.start_next(now).is_none(), "two slots");
        assert_eq!(q.queued(), 1);
        let h = q.finish((1, EVENT_ONLINE), Ok(Outcome::Done), now).unwrap();
        assert_eq!(h.state, "done");
        assert_eq!(q.start_next(now).unwrap().0.key(), (3, EVENT_ONLINE));
        assert!(
            q.finish((9, EVENT_ONLINE), Ok(Outcome::Done), now)
                .is_none()
        );
    }

    #[test]
    fn the_same_job_is_taken_once_and_a_full_queue_drops_and_counts() {
        let mut q = JobQueue::new(1);
        let now = Instant::now();
        assert_eq!(q.offer(live(1)), Offer::Queued);
        assert_eq!(q.offer(live(1)), Offer::Duplicate);
        q.start_next(now).unwrap();
        assert_eq!(q.offer(live(1)), Offer::Duplicate, "running");
        // Offline is another job of the same broadcast.
        let off = Job::Offline {
            channel_id: 1,
            slug: "show".into(),
            broadcast_id: 1,
        };
        assert_eq!(q.offer(off), Offer::Queued);
        for b in 2..=MAX_QUEUED as i64 {
            assert_eq!(q.offer(live(b)), Offer::Queued);
        }
        assert_eq!(q.offer(live(0)), Offer::Dropped);
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.jobs(now).len(), 1 + LISTED_QUEUED);
    }

    #[test]
    fn finished_jobs_report_their_state_and_only_the_recent_are_kept() {
        let mut q = JobQueue::new(1);
        let t0 = Instant::now();
        q.offer(live(1));
        q.start_next(t0).unwrap();
        let h = q
            .finish((1, EVENT_ONLINE), Err("database gone".into()), t0)
            .unwrap();
        assert_eq!(h.state, "failed");
        assert_eq!(h.error.as_deref(), Some("database gone"));
        assert_eq!(q.last_error().as_deref(), Some("database gone"));
        for b in 2..=(RECENT as i64 + 5) {
            q.offer(live(b));
            q.start_next(t0).unwrap();
            q.finish((b, EVENT_ONLINE), Ok(Outcome::Skipped), t0)
                .unwrap();
        }
        let jobs = q.jobs(t0);
        assert_eq!(jobs.len(), RECENT);
        assert!(jobs.iter().all(|j| j.state == "skipped"));
        assert!(q.is_idle());
    }
}
