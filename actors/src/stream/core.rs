//! [`StreamCore`]: the stream's decisions as plain logic with unit tests; the
//! [`StreamActor`](super::StreamActor) feeds it what it observes and performs what it returns
//! (starting and stopping children, rows, the bus).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use streamhall_media::transcode::{
    LadderConfig, PlannedRendition, SourceInfo, plan_ladder_without,
};
use tokio_util::sync::CancellationToken;

use super::transcode::StallWatch;
use crate::supervision::{ChildKind, ChildRecord};

/// The publisher as the stream sees it.
#[derive(Debug)]
pub enum Publisher {
    Connected {
        session: u64,
        kick: CancellationToken,
    },
    /// Dropped at `since`; the broadcast continues if one comes back within the grace window.
    Gone {
        since: Instant,
    },
    Ended,
}

/// How a publisher joined the broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    First,
    /// Came back within the grace window.
    Resumed,
    /// Replaced a publisher still connected (whose kick token was cancelled).
    Replaced,
}

/// What to do about a child that exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitAction {
    /// A report from an incarnation already replaced or retired.
    Ignore,
    /// The current publisher left: the grace window starts.
    PublisherGone,
    /// Start it again after this delay (counted as a restart).
    Restart(Duration),
    /// Not needed until something changes (ffmpeg finished after the publisher left).
    Idle,
}

/// What the stream decides, without I/O: publisher state and grace window, the restart policy
/// of its children, when to start a transcoder run and with which ladder, when ffmpeg is
/// stuck, when to sample its CPU, and which warnings to log once. (Whether viewers can watch,
/// and so when to announce, is [`StatusCore`](super::StatusCore)'s.)
#[derive(Debug)]
pub struct StreamCore {
    grace: Duration,
    publisher: Publisher,
    sessions: u64,
    children: HashMap<ChildKind, ChildRecord>,
    /// A child is not started again before this (backoff after an exit, or a retry).
    restart_at: HashMap<ChildKind, Instant>,
    /// A run's output is being prepared by Segment: no second run meanwhile.
    preparing: bool,
    /// Runs started so far; names each run's output directory.
    runs: u64,
    /// The ladder of the current (or last) run.
    plan: Vec<PlannedRendition>,
    /// The current publisher's session has fed a run already (a new run then resyncs).
    session_had_run: bool,
    /// Renditions taken out of the ladder to keep up with real time, highest first.
    dropped: Vec<String>,
    stall: StallWatch,
    /// (when, pid, CPU seconds) of the last sample.
    cpu_sample: Option<(Instant, u32, f64)>,
    cpu_percent: Option<f64>,
    warned_source: bool,
}

/// A transcoder run to start: the actor prepares `run-{run}`'s output with Segment and then
/// reports back with [`StreamCore::run_prepared`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunStart {
    pub run: u64,
    pub plan: Vec<PlannedRendition>,
    /// The ladder differs from the last run's (the master playlist changes).
    pub ladder_changed: bool,
    /// A restart within one publisher session: drop the backlog and begin at a keyframe.
    pub resync: bool,
}

/// What to do once Segment has prepared (or failed to prepare) a run's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// Start ffmpeg.
    Start,
    /// The publisher changed or left, or the stream is ending: start nothing.
    Stale,
    /// Preparing failed: try again (a new run) after this delay.
    Retry(Duration),
}

/// How long a run whose output could not be prepared waits before the next try.
pub const PREPARE_RETRY: Duration = Duration::from_secs(1);
/// ffmpeg's CPU is sampled at most this often.
pub const CPU_SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl StreamCore {
    pub fn new(grace: Duration, id: &str) -> Self {
        Self {
            grace,
            publisher: Publisher::Gone {
                since: Instant::now(),
            },
            sessions: 0,
            children: ChildKind::ALL
                .iter()
                .map(|k| (*k, ChildRecord::new(*k, format!("{id}/{}", k.as_str()))))
                .collect(),
            restart_at: HashMap::new(),
            preparing: false,
            runs: 0,
            plan: Vec::new(),
            session_had_run: false,
            dropped: Vec::new(),
            stall: StallWatch::default(),
            cpu_sample: None,
            cpu_percent: None,
            warned_source: false,
        }
    }

    /// A publisher arrives. Returns the new session id and how it joined; `None` once ended.
    pub fn attach(&mut self, kick: CancellationToken) -> Option<(u64, Attached)> {
        let how = match &self.publisher {
            Publisher::Ended => return None,
            Publisher::Connected { kick: old, .. } => {
                // OBS reconnecting over a half-open socket: the newer connection wins.
                old.cancel();
                Attached::Replaced
            }
            Publisher::Gone { .. } if self.sessions == 0 => Attached::First,
            Publisher::Gone { .. } => Attached::Resumed,
        };
        self.sessions += 1;
        self.publisher = Publisher::Connected {
            session: self.sessions,
            kick,
        };
        // A new session's first run starts at once, from the start of its queue.
        self.session_had_run = false;
        self.restart_at.remove(&ChildKind::Transcode);
        Some((self.sessions, how))
    }

    pub fn publisher_connected(&self) -> bool {
        matches!(self.publisher, Publisher::Connected { .. })
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.publisher, Publisher::Ended)
    }

    /// No publisher for longer than the grace window.
    pub fn grace_expired(&self, now: Instant) -> bool {
        matches!(self.publisher, Publisher::Gone { since } if now.saturating_duration_since(since) >= self.grace)
    }

    /// The broadcast ends: kicks the publisher; `false` if it had already ended.
    pub fn end(&mut self) -> bool {
        match std::mem::replace(&mut self.publisher, Publisher::Ended) {
            Publisher::Ended => false,
            Publisher::Connected { kick, .. } => {
                kick.cancel();
                true
            }
            Publisher::Gone { .. } => true,
        }
    }

    pub fn record(&mut self, kind: ChildKind) -> &mut ChildRecord {
        self.children
            .entry(kind)
            .or_insert_with(|| ChildRecord::new(kind, kind.as_str().to_owned()))
    }

    pub fn records(&self) -> impl Iterator<Item = &ChildRecord> {
        ChildKind::ALL.iter().filter_map(|k| self.children.get(k))
    }

    /// A child reported its exit.
    pub fn child_exited(
        &mut self,
        kind: ChildKind,
        generation: u64,
        reason: &str,
        now: Instant,
    ) -> ExitAction {
        let ended = self.is_ended();
        let connected = self.publisher_connected();
        let rec = self.record(kind);
        let Some(ran) = rec.exited(generation, reason, now) else {
            return ExitAction::Ignore;
        };
        if ended {
            return ExitAction::Ignore;
        }
        match kind {
            ChildKind::Ingest => {
                self.publisher = Publisher::Gone { since: now };
                ExitAction::PublisherGone
            }
            ChildKind::Transcode if !connected => ExitAction::Idle,
            _ => {
                let delay = rec.schedule_restart(ran);
                self.restart_at.insert(kind, now + delay);
                if kind == ChildKind::Segment {
                    // The new Segment starts a new output directory: so does ffmpeg.
                    self.restart_at.insert(ChildKind::Transcode, now + delay);
                }
                ExitAction::Restart(delay)
            }
        }
    }

    /// Whether `kind` may be started now (no backoff or retry pending).
    pub fn restart_due(&self, kind: ChildKind, now: Instant) -> bool {
        self.restart_at.get(&kind).is_none_or(|at| now >= *at)
    }

    /// Run planning: whether to start a transcoder run now, and with which ladder. A run
    /// starts once a publisher is connected, its source is known (`source`), no run is
    /// running (`transcode_running`) or being prepared, and no restart is pending; the ladder
    /// is the configured one for this source without the renditions dropped to keep up.
    pub fn begin_run(
        &mut self,
        now: Instant,
        transcode_running: bool,
        source: Option<&SourceInfo>,
        ladder: &LadderConfig,
    ) -> Option<RunStart> {
        if self.is_ended()
            || self.preparing
            || transcode_running
            || !self.publisher_connected()
            || !self.restart_due(ChildKind::Transcode, now)
        {
            return None;
        }
        let plan = plan_ladder_without(ladder, source?, &self.dropped);
        if plan.is_empty() {
            return None;
        }
        let start = RunStart {
            run: self.runs + 1,
            ladder_changed: plan != self.plan,
            resync: self.session_had_run,
            plan,
        };
        self.session_had_run = true;
        self.runs += 1;
        self.preparing = true;
        Some(start)
    }

    /// Segment answered for the run [`begin_run`](Self::begin_run) started: `prepared` is
    /// whether its output is ready, `same_session` whether the publisher session the run was
    /// planned for is still the current one.
    pub fn run_prepared(
        &mut self,
        plan: Vec<PlannedRendition>,
        prepared: bool,
        same_session: bool,
        now: Instant,
    ) -> Prepared {
        self.preparing = false;
        if !same_session || self.is_ended() || !self.publisher_connected() {
            return Prepared::Stale;
        }
        if prepared {
            self.plan = plan;
            Prepared::Start
        } else {
            self.restart_at
                .insert(ChildKind::Transcode, now + PREPARE_RETRY);
            Prepared::Retry(PREPARE_RETRY)
        }
    }

    /// The ladder of the current (or last) run.
    pub fn plan(&self) -> &[PlannedRendition] {
        &self.plan
    }

    /// Renditions dropped to keep up, highest first.
    pub fn dropped(&self) -> &[String] {
        &self.dropped
    }

    /// ffmpeg cannot keep up: `rendition` leaves the ladder from the next run on (the
    /// actor retires the running one).
    pub fn step_down(&mut self, rendition: String) {
        self.dropped.push(rendition);
    }

    /// Stall detection, fed each tick with the running run's progress report count and the
    /// queue in front of it (`None` when no run is running). `true`: kill ffmpeg; its exit
    /// is then a crash like any other.
    pub fn stalled(&mut self, run: Option<(u64, usize)>, now: Instant) -> bool {
        match run {
            Some((reports, backlog)) => self.stall.check(reports, backlog, now),
            None => {
                self.stall = StallWatch::default();
                false
            }
        }
    }

    /// CPU sampling: the pid whose CPU time to read now, if a sample is due (at most every
    /// [`CPU_SAMPLE_EVERY`] per process). No process: the figure is cleared.
    pub fn cpu_due(&mut self, pid: Option<u32>, now: Instant) -> Option<u32> {
        let Some(pid) = pid else {
            self.cpu_sample = None;
            self.cpu_percent = None;
            return None;
        };
        match self.cpu_sample {
            Some((at, p, _))
                if p == pid && now.saturating_duration_since(at) < CPU_SAMPLE_EVERY =>
            {
                None
            }
            _ => Some(pid),
        }
    }

    /// The CPU seconds `pid` has used so far, read at `now`: the percentage since the last
    /// sample of the same process (a new process only starts the count).
    pub fn cpu_sampled(&mut self, pid: u32, cpu_seconds: f64, now: Instant) {
        if let Some((at, p, prev)) = self.cpu_sample
            && p == pid
        {
            let wall = now.saturating_duration_since(at).as_secs_f64();
            if wall > 0.0 {
                self.cpu_percent =
                    Some(((cpu_seconds - prev).max(0.0) / wall * 100.0 * 10.0).round() / 10.0);
            }
        }
        self.cpu_sample = Some((now, pid, cpu_seconds));
    }

    /// ffmpeg's CPU use, percent of one core, one decimal.
    pub fn cpu_percent(&self) -> Option<f64> {
        self.cpu_percent
    }

    /// The first warning about the source (keyframes, codecs) is logged once per stream.
    pub fn source_warning_to_log(&mut self, warnings: &[String]) -> Option<String> {
        if self.warned_source {
            return None;
        }
        let first = warnings.first()?.clone();
        self.warned_source = true;
        Some(first)
    }
}

#[cfg(test)]
mod tests;
