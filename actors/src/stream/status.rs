//! Whether viewers can watch, decided in one place: [`StatusCore`].
//!
//! A broadcast is `starting` from the first publish until its renditions have segments; only
//! then is it announced (listed, `is_live`, followers notified). If nothing comes out within
//! [`StatusConfig::start_deadline`], or the transcoder keeps failing before any video, it is
//! `failed` with a reason the streamer and admins read; nobody is notified, ffmpeg keeps being
//! retried, and video arriving later still announces it. Once live, a stream whose every
//! rendition stops producing is `failed` until segments flow again.
//!
//! The core also judges renditions (one that produces nothing while the others work is left out
//! of the master playlist), ffmpeg's speed over the last seconds (a warning below real time, and
//! a step down of the ladder when it stays behind), and writes the words each role reads.
//! It is fed one [`Observation`] per tick and answers with a [`Verdict`]; no actor, no clock of
//! its own, so it is unit-tested with made-up instants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::health::{RenditionHealth, RenditionState, StreamStatus};

/// Thresholds, with the defaults the server uses.
#[derive(Debug, Clone)]
pub struct StatusConfig {
    /// No segment this long after a publisher connected: failed.
    pub start_deadline: Duration,
    /// ...or this many transcoder restarts without a segment, whichever comes first.
    pub failed_after_restarts: u32,
    /// Once one rendition has segments, the others get this long (at least two of the
    /// source's keyframe intervals: the copied source is cut at its keyframes) before they are
    /// failed and the stream is announced without them.
    pub rendition_grace: Duration,
    /// A rendition whose newest segment is older than this (at least three target durations
    /// and two keyframe intervals) while another's is fresh has stopped.
    pub stall_after: Duration,
    /// Below this speed, with the input backing up, for `slow_for`: a warning.
    pub slow_speed: f64,
    pub slow_for: Duration,
    /// Below this speed, with the input backing up, for `step_for`: drop a rendition.
    pub step_speed: f64,
    pub step_for: Duration,
    /// Tags waiting in front of ffmpeg that count as "backing up" (about half a second of a
    /// 30 fps stream with audio). An encoder that sends slower than real time leaves the queue
    /// empty, so it is not mistaken for a server that cannot keep up.
    pub backlog_tags: usize,
    /// Speed is measured over this much wall-clock time of progress reports.
    pub speed_window: Duration,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            start_deadline: Duration::from_secs(30),
            failed_after_restarts: 3,
            rendition_grace: Duration::from_secs(10),
            stall_after: Duration::from_secs(6),
            slow_speed: 1.0,
            slow_for: Duration::from_secs(10),
            step_speed: 0.95,
            step_for: Duration::from_secs(15),
            backlog_tags: 32,
            speed_window: Duration::from_secs(5),
        }
    }
}

/// One rendition as the window reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionObs {
    pub name: String,
    pub height: u32,
    /// Encoded (not the copied source).
    pub transcoded: bool,
    pub segments: u64,
    pub last_segment_age: Option<Duration>,
}

/// The transcoder as the stream's child record shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranscoderObs {
    pub running: bool,
    /// A run produced progress reports.
    pub reporting: bool,
    pub restarts: u32,
    pub last_error: Option<String>,
}

/// What the stream sees at one tick.
#[derive(Debug, Clone)]
pub struct Observation {
    pub now: Instant,
    pub publisher_connected: bool,
    /// The source's parameters are known (the ladder can be planned).
    pub source_known: bool,
    pub keyframe_interval: Option<Duration>,
    pub target_duration: Duration,
    pub transcoder: TranscoderObs,
    /// The current ladder's renditions.
    pub renditions: Vec<RenditionObs>,
    /// Tags waiting in front of ffmpeg.
    pub backlog: usize,
    /// Renditions taken out to keep up, highest first.
    pub dropped: Vec<String>,
    /// The ladder may be stepped down.
    pub adaptive: bool,
}

/// What to do after a tick.
#[derive(Debug, Default, PartialEq)]
pub struct Verdict {
    /// Announce now: mark the channel live, tell the bus.
    pub announce: bool,
    /// Became failed now, with the streamer's reason (record it).
    pub failed: Option<String>,
    /// Drop this rendition and restart ffmpeg without it.
    pub step_down: Option<String>,
    /// The renditions to leave out of the master playlist changed to these.
    pub failed_renditions: Option<Vec<String>>,
}

/// ffmpeg's speed over the last few seconds, from its `out_time` reports: ffmpeg's own
/// `speed=` is an average since its start, which a slow first second keeps below 1.0 for
/// minutes.
#[derive(Debug, Default)]
pub struct SpeedMeter {
    samples: VecDeque<(Instant, Duration)>,
    run: u64,
}

impl SpeedMeter {
    /// Feeds the current run's latest `out_time`; a new `run` starts over.
    pub fn sample(&mut self, run: u64, now: Instant, out_time: Duration, window: Duration) {
        if run != self.run {
            self.samples.clear();
            self.run = run;
        }
        if self.samples.back().is_some_and(|(_, t)| *t == out_time) {
            // No new report since the last tick.
            return;
        }
        self.samples.push_back((now, out_time));
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= window)
        {
            self.samples.pop_front();
        }
    }

    /// Media seconds per wall-clock second over the window; `None` before it covers half of
    /// `window`.
    pub fn speed(&self, window: Duration) -> Option<f64> {
        let (t0, m0) = self.samples.front()?;
        let (t1, m1) = self.samples.back()?;
        let wall = t1.saturating_duration_since(*t0);
        if wall < window / 2 {
            return None;
        }
        Some(m1.saturating_sub(*m0).as_secs_f64() / wall.as_secs_f64())
    }

    pub fn reset(&mut self) {
        self.samples.clear();
    }
}

/// The state behind [`StreamStatus`], and the timers that move it.
#[derive(Debug)]
pub struct StatusCore {
    cfg: StatusConfig,
    status: StreamStatus,
    announced: bool,
    /// When the current attempt to produce video began (a publisher attached while not live).
    attempt_since: Instant,
    /// Restarts already counted when the attempt began.
    restarts_at_attempt: u32,
    first_segment_at: Option<Instant>,
    failure: Option<String>,
    failed_renditions: Vec<String>,
    slow_since: Option<Instant>,
    behind_since: Option<Instant>,
    /// The last speed measured (for words and health).
    speed: Option<f64>,
    /// The run the behind timer belongs to (a step down restarts ffmpeg).
    step_run: u64,
}

impl StatusCore {
    pub fn new(cfg: StatusConfig, now: Instant) -> Self {
        Self {
            cfg,
            status: StreamStatus::Starting,
            announced: false,
            attempt_since: now,
            restarts_at_attempt: 0,
            first_segment_at: None,
            failure: None,
            failed_renditions: Vec::new(),
            slow_since: None,
            behind_since: None,
            speed: None,
            step_run: 0,
        }
    }

    pub fn status(&self) -> StreamStatus {
        self.status
    }

    pub fn announced(&self) -> bool {
        self.announced
    }

    pub fn config(&self) -> &StatusConfig {
        &self.cfg
    }

    /// A publisher attached: the start deadline (before the stream is live) and the stall
    /// timer (after) count from here, and earlier restarts are forgiven.
    pub fn publisher_attached(&mut self, now: Instant, restarts: u32) {
        self.attempt_since = now;
        self.restarts_at_attempt = restarts;
    }

    /// The ladder changed (a new ffmpeg run with another plan): rendition judgements restart.
    pub fn ladder_changed(&mut self) {
        self.first_segment_at = None;
    }

    /// One tick. `speed` is the [`SpeedMeter`]'s reading for `run` (the ffmpeg run's number).
    pub fn observe(&mut self, o: &Observation, speed: Option<f64>, run: u64) -> Verdict {
        let mut v = Verdict::default();
        let now = o.now;
        self.speed = speed;
        let grace = self.rendition_grace(o);
        let stall = self.stall_after(o);

        let producing = |r: &RenditionObs| r.last_segment_age.is_some_and(|a| a < stall);
        let any_segments = o.renditions.iter().any(|r| r.segments > 0);
        if any_segments && self.first_segment_at.is_none() {
            self.first_segment_at = Some(now);
        }
        let others_for = self
            .first_segment_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        // A publisher that just (re)attached has a stall period before anything is judged stale.
        let just_attached = now.saturating_duration_since(self.attempt_since) < stall;
        let any_producing = just_attached || o.renditions.iter().any(producing);

        // Renditions that fail while others work.
        let failed: Vec<String> = o
            .renditions
            .iter()
            .filter(|r| {
                let never = r.segments == 0 && any_segments && others_for >= grace;
                let stopped = r.segments > 0 && !producing(r) && !just_attached && any_producing;
                never || stopped
            })
            .map(|r| r.name.clone())
            .collect();
        if failed != self.failed_renditions {
            self.failed_renditions = failed.clone();
            v.failed_renditions = Some(failed);
        }

        // Announce once every rendition has a segment, or the others had their grace.
        if !self.announced && any_segments {
            let all = o.renditions.iter().all(|r| r.segments > 0);
            if all || others_for >= grace {
                self.announced = true;
                v.announce = true;
            }
        }

        // The stream's status.
        let next = if !o.publisher_connected {
            // Grace window (or not yet attached): keep what viewers were told.
            if self.announced {
                StreamStatus::Live
            } else {
                StreamStatus::Starting
            }
        } else if self.announced {
            if any_producing || o.renditions.iter().all(|r| r.segments == 0) {
                // Fresh segments (or a new ladder about to produce its first).
                match self.status {
                    StreamStatus::Failed if !any_producing => StreamStatus::Failed,
                    _ => StreamStatus::Live,
                }
            } else {
                StreamStatus::Failed
            }
        } else {
            let waited = now.saturating_duration_since(self.attempt_since);
            let restarts = o
                .transcoder
                .restarts
                .saturating_sub(self.restarts_at_attempt);
            if waited >= self.cfg.start_deadline || restarts >= self.cfg.failed_after_restarts {
                StreamStatus::Failed
            } else {
                StreamStatus::Starting
            }
        };
        if next == StreamStatus::Failed && self.status != StreamStatus::Failed {
            let reason = self.failure_reason(o);
            self.failure = Some(reason.clone());
            v.failed = Some(reason);
        }
        if next != StreamStatus::Failed {
            self.failure = None;
        }
        self.status = next;

        // Speed: a warning, then a step down.
        let backing_up = o.backlog >= self.cfg.backlog_tags;
        let below =
            |limit: f64| o.transcoder.running && backing_up && speed.is_some_and(|s| s < limit);
        self.slow_since = if below(self.cfg.slow_speed) {
            self.slow_since.or(Some(now))
        } else {
            None
        };
        if run != self.step_run {
            self.step_run = run;
            self.behind_since = None;
        }
        self.behind_since = if below(self.cfg.step_speed) {
            self.behind_since.or(Some(now))
        } else {
            None
        };
        if o.adaptive
            && self
                .behind_since
                .is_some_and(|t| now.saturating_duration_since(t) >= self.cfg.step_for)
            && let Some(top) = droppable(&o.renditions)
        {
            self.behind_since = None;
            v.step_down = Some(top);
        }
        v
    }

    /// Why viewers cannot watch, for the streamer and admins; `None` when they can.
    pub fn problem(&self, o: &Observation) -> Option<String> {
        match self.status {
            StreamStatus::Failed => self.failure.clone(),
            StreamStatus::Starting if o.publisher_connected => {
                let waited = o
                    .now
                    .saturating_duration_since(self.attempt_since)
                    .as_secs();
                Some(if o.source_known {
                    format!(
                        "Viewers cannot see your stream yet: waiting for the first video from \
                         the transcoder ({waited} s)."
                    )
                } else {
                    format!(
                        "Viewers cannot see your stream yet: waiting for video from your \
                         encoder ({waited} s)."
                    )
                })
            }
            _ => None,
        }
    }

    /// For viewers, while failed.
    pub fn viewer_problem(&self) -> Option<String> {
        (self.status == StreamStatus::Failed).then(|| {
            "The stream is having technical problems. It will start playing as soon as they \
             are fixed."
                .to_owned()
        })
    }

    /// Problems that do not stop viewers from watching.
    pub fn warnings(&self, o: &Observation) -> Vec<String> {
        let mut w = Vec::new();
        if let (Some(since), Some(speed)) = (self.slow_since, self.speed)
            && o.now.saturating_duration_since(since) >= self.cfg.slow_for
        {
            w.push(format!(
                "The server cannot keep up (speed {speed:.2}x for {} s); viewers will fall \
                 behind.",
                o.now.saturating_duration_since(since).as_secs()
            ));
        }
        for name in &self.failed_renditions {
            w.push(format!(
                "{name} is not producing video; viewers get the other qualities."
            ));
        }
        if !o.dropped.is_empty() {
            w.push(format!(
                "Dropped {} to keep up with real time; set live.ladder.adaptive = false to keep \
                 the full ladder.",
                o.dropped.join(", ")
            ));
        }
        w
    }

    /// `waiting`, `starting`, `running`, `restarting`, `failed` or `stopped`.
    pub fn transcoder_state(&self, o: &Observation) -> &'static str {
        let t = &o.transcoder;
        match (t.running, o.publisher_connected) {
            (true, _) if t.reporting => "running",
            (true, _) => "starting",
            (false, false) => "stopped",
            (false, true) if !o.source_known => "waiting",
            (false, true) if self.status == StreamStatus::Failed => "failed",
            (false, true) if t.last_error.is_some() => "restarting",
            (false, true) => "starting",
        }
    }

    /// Every rendition of the ladder, and the dropped ones, as the dashboard shows them.
    pub fn renditions(&self, o: &Observation) -> Vec<RenditionHealth> {
        let mut out: Vec<RenditionHealth> = o
            .renditions
            .iter()
            .map(|r| RenditionHealth {
                name: r.name.clone(),
                height: r.height,
                state: if self.failed_renditions.contains(&r.name) {
                    RenditionState::Failed
                } else if r.segments == 0 {
                    RenditionState::Waiting
                } else {
                    RenditionState::Ok
                },
                segments: r.segments,
                last_segment_age_s: r.last_segment_age.map(|a| a.as_secs_f64()),
            })
            .collect();
        out.extend(o.dropped.iter().map(|name| RenditionHealth {
            name: name.clone(),
            height: 0,
            state: RenditionState::Dropped,
            segments: 0,
            last_segment_age_s: None,
        }));
        out
    }

    pub fn speed(&self) -> Option<f64> {
        self.speed
    }

    fn rendition_grace(&self, o: &Observation) -> Duration {
        let gop = o.keyframe_interval.unwrap_or_default();
        self.cfg.rendition_grace.max(gop * 2)
    }

    fn stall_after(&self, o: &Observation) -> Duration {
        let gop = o.keyframe_interval.unwrap_or_default();
        self.cfg.stall_after.max(o.target_duration * 3).max(gop * 2)
    }

    fn failure_reason(&self, o: &Observation) -> String {
        let t = &o.transcoder;
        if self.announced {
            let stall = self.stall_after(o).as_secs();
            return match &t.last_error {
                Some(e) if !t.running => format!(
                    "Viewers cannot see your stream: no new video for {stall} s; the transcoder \
                     is restarting after: {e}"
                ),
                _ => format!(
                    "Viewers cannot see your stream: the transcoder has produced no new video for \
                     {stall} s."
                ),
            };
        }
        let waited = o
            .now
            .saturating_duration_since(self.attempt_since)
            .as_secs();
        if !o.source_known {
            return format!(
                "Viewers cannot see your stream: no video has arrived from your encoder in \
                 {waited} s (is it sending a video track?)."
            );
        }
        match &t.last_error {
            Some(e) => format!("Viewers cannot see your stream: the transcoder keeps failing: {e}"),
            None => format!(
                "Viewers cannot see your stream: the transcoder has produced no video in \
                 {waited} s."
            ),
        }
    }
}

/// The highest transcoded rendition, if one may go: the copied source stays, and so does the
/// last transcoded rendition when there is no source to fall back on.
fn droppable(renditions: &[RenditionObs]) -> Option<String> {
    let transcoded: Vec<&RenditionObs> = renditions.iter().filter(|r| r.transcoded).collect();
    let has_source = renditions.iter().any(|r| !r.transcoded);
    if transcoded.is_empty() || (!has_source && transcoded.len() == 1) {
        return None;
    }
    transcoded
        .iter()
        .max_by_key(|r| r.height)
        .map(|r| r.name.clone())
}

#[cfg(test)]
mod tests;
