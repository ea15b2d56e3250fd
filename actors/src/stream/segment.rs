//! Segment: moves finished segments from ffmpeg's working directory into the live window.
//!
//! Parent: [`StreamActor`](super::StreamActor), seen as a `Recipient<ChildExited>`. Children:
//! none. In: [`PrepareRun`] (before every ffmpeg start), [`FinishSegments`] (the broadcast
//! ends), [`StopChild`], its own 50 ms poll. Out: segments into the channel's [`LiveWindow`](streamhall_media::hls::LiveWindow) in the
//! [`HlsDirectory`](crate::HlsDirectory) entry, with program-date-time from the ingest wall
//! clock, and to the broadcast's [`Recorder`](crate::recording::Recorder) (spool, then the
//! object store); [`ChildExited`] after repeated I/O errors.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use streamhall_media::hls::OutputWatcher;
use streamhall_media::transcode::PlannedRendition;

use super::transcode::RunClock;
use crate::directory::{StreamEntry, lock, write};
use crate::supervision::{ChildExited, ChildKind, StopChild};

const POLL: Duration = Duration::from_millis(50);
/// Consecutive failed polls (about 5 s) before the actor gives up and is restarted.
const MAX_POLL_ERRORS: u32 = 100;

/// Segments moved into the window, and segments ffmpeg deleted before they were taken.
#[derive(Debug, Default)]
pub struct SegmentCounters {
    pub produced: AtomicU64,
    pub lost: AtomicU64,
}

/// A new ffmpeg run is about to write into `out_dir`: collect the last segments of the previous
/// run, adopt the plan, and mark a discontinuity.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct PrepareRun {
    pub out_dir: PathBuf,
    pub plan: Vec<PlannedRendition>,
    pub clock: RunClock,
}

/// The broadcast is over: last poll, `#EXT-X-ENDLIST`, working files removed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FinishSegments;

pub struct Segment {
    generation: u64,
    entry: Arc<StreamEntry>,
    parent: Recipient<ChildExited>,
    counters: Arc<SegmentCounters>,
    /// The current watcher's lost count already added to `counters`.
    lost_seen: u64,
    watcher: Option<OutputWatcher>,
    run_dir: Option<PathBuf>,
    clock: RunClock,
    /// Media time already covered per rendition in this run.
    offsets: HashMap<String, f64>,
    lowest: Option<String>,
    errors: u32,
    span: tracing::Span,
    exit_reason: String,
}

impl Segment {
    pub fn new(
        generation: u64,
        entry: Arc<StreamEntry>,
        counters: Arc<SegmentCounters>,
        parent: Recipient<ChildExited>,
        span: tracing::Span,
    ) -> Self {
        Self {
            generation,
            entry,
            parent,
            counters,
            lost_seen: 0,
            watcher: None,
            run_dir: None,
            clock: RunClock::default(),
            offsets: HashMap::new(),
            lowest: None,
            errors: 0,
            span,
            exit_reason: "stopped".into(),
        }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        let _g = self.span.clone().entered();
        let segments = match watcher.poll() {
            Ok(s) => {
                self.errors = 0;
                let lost = watcher.lost_segments();
                if lost > self.lost_seen {
                    self.counters
                        .lost
                        .fetch_add(lost - self.lost_seen, Ordering::Relaxed);
                    self.lost_seen = lost;
                }
                s
            }
            Err(e) => {
                self.errors += 1;
                tracing::warn!(error = %e, errors = self.errors, "reading ffmpeg output failed");
                if self.errors >= MAX_POLL_ERRORS {
                    self.exit_reason = format!("reading ffmpeg output failed: {e}");
                    ctx.stop();
                }
                return;
            }
        };
        if segments.is_empty() {
            return;
        }
        let base = self.clock.get();
        let mut recorded = Vec::new();
        let mut window = write(&self.entry.window);
        for s in segments {
            let offset = self.offsets.entry(s.rendition.clone()).or_insert(0.0);
            let pdt = match base {
                Some(t) => t + Duration::from_secs_f64(offset.max(0.0)),
                None => SystemTime::now() - Duration::from_secs_f64(s.duration.max(0.0)),
            };
            *offset += s.duration;
            let is_lowest = self.lowest.as_deref() == Some(s.rendition.as_str());
            let data = s.data.clone();
            if let Some(seq) = window.push_segment(&s.rendition, s.duration, pdt, s.data) {
                self.counters.produced.fetch_add(1, Ordering::Relaxed);
                let discontinuity = window
                    .last_segment(&s.rendition)
                    .is_some_and(|r| r.discontinuity);
                if is_lowest {
                    *lock(&self.entry.latest_low_segment) = Some(data.clone());
                }
                recorded.push((s.rendition, seq, s.duration, discontinuity, pdt, data));
            }
        }
        drop(window);
        // Spooled outside the window's lock: viewers never wait for the disk.
        if let Some(rec) = &self.entry.recorder {
            for (rendition, seq, duration, discontinuity, pdt, data) in recorded {
                rec.push(&rendition, seq, duration, discontinuity, pdt, &data);
            }
        }
    }

    fn remove_run_dir(&mut self) {
        if let Some(w) = self.watcher.take()
            && let Err(e) = w.remove_all()
        {
            tracing::warn!(error = %e, "removing rendition directories failed");
        }
        if let Some(dir) = self.run_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Actor for Segment {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(POLL, |act, ctx| act.poll(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // A control message to one parent, never fan-out: it must not be lost to a full mailbox.
        self.parent.do_send(ChildExited {
            kind: ChildKind::Segment,
            generation: self.generation,
            reason: std::mem::take(&mut self.exit_reason),
        });
    }
}

impl Handler<PrepareRun> for Segment {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: PrepareRun, ctx: &mut Self::Context) -> Self::Result {
        let _g = self.span.clone().entered();
        // The previous run's last segments first.
        self.poll(ctx);
        self.remove_run_dir();
        std::fs::create_dir_all(&msg.out_dir).map_err(|e| e.to_string())?;
        let watcher = OutputWatcher::new(&msg.out_dir, &msg.plan).map_err(|e| e.to_string())?;
        {
            let mut window = write(&self.entry.window);
            window.set_renditions(msg.plan.clone());
            window.mark_discontinuity();
        }
        self.entry.set_plan(&msg.plan);
        if let Some(rec) = &self.entry.recorder {
            rec.set_plan(&msg.plan);
        }
        self.lowest = msg
            .plan
            .iter()
            .filter(|p| p.height > 0)
            .min_by_key(|p| p.height)
            .or(msg.plan.first())
            .map(|p| p.name.clone());
        self.watcher = Some(watcher);
        self.lost_seen = 0;
        self.run_dir = Some(msg.out_dir);
        self.clock = msg.clock;
        self.offsets.clear();
        Ok(())
    }
}

impl Handler<FinishSegments> for Segment {
    type Result = ();

    fn handle(&mut self, _: FinishSegments, ctx: &mut Self::Context) {
        self.poll(ctx);
        self.entry.end();
        self.remove_run_dir();
    }
}

impl Handler<StopChild> for Segment {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
