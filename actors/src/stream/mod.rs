//! StreamActor: one live broadcast of one channel, from the first publish to the end of the
//! grace window.
//!
//! Parent: [`Registry`](crate::Registry), seen as a `CountedRecipient<StreamStopped>`.
//! Children (restarted here with backoff, see [`StreamCore`]):
//! - [`Ingest`]: the current publisher's events -> [`IngestSession`] (stats, headers, queue);
//! - [`Transcode`]: one ffmpeg run reading the session's queue;
//! - [`Segment`]: ffmpeg's output -> the channel's live window;
//! - [`Thumbnail`]: a JPEG of the newest low-rendition segment;
//! - [`Restream`](restream::Restream): one per enabled restream destination (see
//!   [`restream`] for its own restart policy).
//!
//! In: [`AttachPublisher`] (a publish for this channel: first, reconnect within the grace
//! window, or replacement of a half-open connection), [`EndStream`], [`GetStreamHealth`],
//! [`ChildExited`], its own 100 ms tick (grace expiry, delayed restarts, planning the ladder
//! once the source is known, CPU sampling).
//! Out: once viewers can watch (every rendition has segments, or the ones that work after a
//! grace; see [`StatusCore`]) the channel marked live and `StreamWentLive` on the bus, never
//! before; a failure to produce video recorded on the broadcast row; at the end
//! `StreamWentOffline` (if announced), the broadcast row closed, the live window ended (kept
//! for `ended_retention`, then dropped), and [`StreamStopped`] to the registry.

pub mod core;
mod end;
mod handlers;
mod health;
pub mod ingest;
pub mod restream;
pub mod segment;
pub mod session;
pub mod status;
pub mod thumbnail;
pub mod transcode;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Utc};
use streamhall_media::ingest::{IngestEvent, Protocol};
use streamhall_media::transcode::{FfmpegThumbnailer, build_argv, process_cpu_seconds};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use self::core::{
    Attached, CPU_SAMPLE_EVERY, ExitAction, PREPARE_RETRY, Prepared, Publisher, RunStart,
    StreamCore,
};
pub use ingest::{Ingest, StopIngest};
pub use segment::{FinishSegments, PrepareRun, Segment, SegmentCounters};
pub use session::{IngestSession, TagQueue, source_warnings};
pub use status::{Observation, RenditionObs, SpeedMeter, StatusConfig, StatusCore, TranscoderObs};
pub use thumbnail::Thumbnail;
pub use transcode::{
    RunClock, STALL_TIMEOUT, StallWatch, StopTranscode, Transcode, TranscodeRun, TranscodeStats,
};

use crate::LiveDeps;
use crate::bus::BusEvent;
use crate::directory::StreamEntry;
use crate::health::{ActorHealth, StreamHealth, StreamStatus};
use crate::locks::write;
use crate::stats::{ActorStats, CountedRecipient, DeadLetters, Mailbox};
use crate::supervision::{ChildExited, ChildKind, ChildLink, StopChild};

const TICK: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------------------------
// Messages

/// A publisher for this channel was accepted by the registry. Refused (the events and kick
/// token handed back) only when the broadcast is already ending.
#[derive(Message)]
#[rtype(result = "Result<(), Refused>")]
pub struct AttachPublisher {
    pub events: mpsc::Receiver<IngestEvent>,
    pub kick: CancellationToken,
    pub protocol: Protocol,
}

/// The stream is ending and cannot take a publisher; the registry starts a new broadcast.
pub struct Refused(pub AttachPublisher);

/// Why a broadcast ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    GraceExpired,
    Admin,
    Shutdown,
    /// The actor stopped (or was dropped by a panic) without ending the broadcast: it is
    /// closed from `Drop`, so it never stays open until the next publish. Says why.
    Abnormal(&'static str),
}

/// End the broadcast now (no grace). Answered once the rows are closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EndStream {
    pub reason: EndReason,
}

#[derive(Message)]
#[rtype(result = "StreamHealth")]
pub struct GetStreamHealth;

/// Sent to the parent (the registry): this stream has ended (rows closed, window ended) and is
/// stopping. Declared here, beside the stream that sends it, so the stream needs nothing of
/// its parent but a `CountedRecipient<StreamStopped>`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StreamStopped {
    pub slug: String,
    pub broadcast_id: i64,
    /// Why the actor went without ending its broadcast, if it did (the registry shows it as
    /// its last error).
    pub abnormal: Option<&'static str>,
}

// ---------------------------------------------------------------------------------------------
// State

fn deps_status_config(deps: &LiveDeps) -> StatusConfig {
    StatusConfig {
        start_deadline: deps.cfg.start_deadline,
        ..StatusConfig::default()
    }
}

/// A stream's four child slots' counters: mailbox depth, messages and handling times of each
/// slot's incarnations, as the restarts are counted per slot.
struct ChildStats([Arc<ActorStats>; 4]);

impl ChildStats {
    fn new(dead_letters: &DeadLetters) -> Self {
        Self(ChildKind::ALL.map(|k| ActorStats::new(k.as_str(), dead_letters.clone())))
    }

    fn of(&self, kind: ChildKind) -> &Arc<ActorStats> {
        let i = ChildKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        &self.0[i]
    }

    /// The parent's handle on a new incarnation: sends through it are counted.
    fn mailbox<A: Actor>(&self, kind: ChildKind, addr: Addr<A>) -> Mailbox<A> {
        Mailbox::new(addr, Arc::clone(self.of(kind)))
    }
}

/// Who the stream is.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub channel_id: i64,
    pub slug: String,
    pub title: String,
    pub broadcast_id: i64,
    pub started_at: DateTime<Utc>,
}

pub struct StreamActor {
    /// Mailbox counters (the registry sends through a [`Mailbox`](crate::stats::Mailbox)).
    stats: Arc<ActorStats>,
    spec: StreamSpec,
    deps: Arc<LiveDeps>,
    entry: Arc<StreamEntry>,
    parent: CountedRecipient<StreamStopped>,
    core: StreamCore,
    span: tracing::Span,
    started: Instant,
    work_dir: PathBuf,
    first_publisher: Option<AttachPublisher>,
    /// How the current (or last) publisher came in.
    protocol: Option<Protocol>,
    session: Option<Arc<IngestSession>>,
    ingest: Option<Mailbox<Ingest>>,
    transcode: Option<Mailbox<Transcode>>,
    segment: Option<Mailbox<Segment>>,
    thumbnail: Option<Mailbox<Thumbnail>>,
    /// Each child slot's counters, across its incarnations.
    child_stats: ChildStats,
    restreams: restream::Restreams,
    transcode_stats: Arc<TranscodeStats>,
    segments: Arc<SegmentCounters>,
    /// Starting / live / failed, and the words for it.
    status: StatusCore,
    speed: SpeedMeter,
    ending: bool,
    ended: watch::Sender<bool>,
}

impl StreamActor {
    pub(crate) fn new(
        spec: StreamSpec,
        deps: Arc<LiveDeps>,
        entry: Arc<StreamEntry>,
        parent: CountedRecipient<StreamStopped>,
        first: AttachPublisher,
        stats: Arc<ActorStats>,
    ) -> Self {
        let span =
            tracing::info_span!("stream", channel = %spec.slug, broadcast_id = spec.broadcast_id);
        let work_dir = deps
            .cfg
            .work_dir
            .join(&spec.slug)
            .join(spec.broadcast_id.to_string());
        let id = format!("{}/{}", spec.slug, spec.broadcast_id);
        let status = StatusCore::new(deps_status_config(&deps), Instant::now());
        let restreams = restream::Restreams::new(
            spec.channel_id,
            id.clone(),
            deps.cfg.ladder.ffmpeg_path.clone(),
            &deps.cfg.ingest_allow_private,
            deps.cfg.sealer.clone(),
            stats.dead_letters().clone(),
        );
        Self {
            child_stats: ChildStats::new(stats.dead_letters()),
            stats,
            core: StreamCore::new(deps.cfg.grace, &id),
            spec,
            deps,
            entry,
            parent,
            span,
            started: Instant::now(),
            work_dir,
            first_publisher: Some(first),
            protocol: None,
            session: None,
            ingest: None,
            transcode: None,
            segment: None,
            thumbnail: None,
            restreams,
            transcode_stats: Arc::default(),
            segments: Arc::default(),
            status,
            speed: SpeedMeter::default(),
            ending: false,
            ended: watch::channel(false).0,
        }
    }

    fn attach(&mut self, msg: AttachPublisher, ctx: &mut Context<Self>) -> Result<(), Refused> {
        let _g = self.span.clone().entered();
        if self.ending {
            return Err(Refused(msg));
        }
        let Some((session_id, how)) = self.core.attach(msg.kick.clone()) else {
            return Err(Refused(msg));
        };
        tracing::info!(?how, session = session_id, protocol = %msg.protocol, "publisher attached");
        self.protocol = Some(msg.protocol);
        if let Some(old) = self.ingest.take() {
            old.do_send(StopIngest);
        }
        if let Some(old) = self.session.take() {
            old.queue.close();
        }
        self.retire_transcode();
        if how != Attached::First {
            // Viewers keep their players; the next segments follow a discontinuity.
            write(&self.entry.window).mark_discontinuity();
        }
        let now = Instant::now();
        let restarts = self.core.record(ChildKind::Transcode).restarts;
        self.status.publisher_attached(now, restarts);
        let session = Arc::new(IngestSession::new(session_id, now));
        let generation = self.core.record(ChildKind::Ingest).starting(now);
        let ingest = Ingest::new(
            self.link(ChildKind::Ingest, generation, ctx),
            Arc::clone(&session),
            msg.events,
            msg.kick,
            tracing::info_span!(parent: &self.span, "ingest", session = session_id),
        );
        self.ingest = Some(self.child_stats.mailbox(ChildKind::Ingest, ingest.start()));
        self.restreams.switch_session(&session);
        self.session = Some(session);
        Ok(())
    }

    /// What a new incarnation of `kind` reports to and counts with.
    fn link(&self, kind: ChildKind, generation: u64, ctx: &Context<Self>) -> ChildLink {
        let parent = Mailbox::new(ctx.address(), Arc::clone(&self.stats));
        ChildLink::new(
            kind,
            generation,
            parent.recipient(),
            Arc::clone(self.child_stats.of(kind)),
        )
    }

    /// Stops the running ffmpeg without it counting as a crash.
    fn retire_transcode(&mut self) {
        if let Some(t) = self.transcode.take() {
            let rec = self.core.record(ChildKind::Transcode);
            rec.running = false;
            t.do_send(StopTranscode {
                reason: "stopped by the stream".into(),
            });
        }
    }

    fn start_segment(&mut self, ctx: &mut Context<Self>) {
        let generation = self
            .core
            .record(ChildKind::Segment)
            .starting(Instant::now());
        let seg = Segment::new(
            self.link(ChildKind::Segment, generation, ctx),
            Arc::clone(&self.entry),
            Arc::clone(&self.segments),
            tracing::info_span!(parent: &self.span, "segment", generation),
        );
        self.segment = Some(self.child_stats.mailbox(ChildKind::Segment, seg.start()));
    }

    fn start_thumbnail(&mut self, ctx: &mut Context<Self>) {
        let generation = self
            .core
            .record(ChildKind::Thumbnail)
            .starting(Instant::now());
        let t = Thumbnail::new(
            self.link(ChildKind::Thumbnail, generation, ctx),
            self.spec.slug.clone(),
            Arc::clone(&self.entry),
            Arc::clone(&self.deps.objects),
            Arc::new(FfmpegThumbnailer::new(&self.deps.cfg.ladder.ffmpeg_path)),
            self.deps.cfg.thumbnail_interval,
            tracing::info_span!(parent: &self.span, "thumbnail", generation),
        );
        self.thumbnail = Some(self.child_stats.mailbox(ChildKind::Thumbnail, t.start()));
    }

    /// Starts the ffmpeg run [`StreamCore::begin_run`] plans: Segment prepares its output,
    /// then [`StreamCore::run_prepared`] says whether to start it.
    fn maybe_start_run(&mut self, ctx: &mut Context<Self>, now: Instant) {
        if self.ending {
            return;
        }
        let (Some(session), Some(segment)) = (self.session.clone(), self.segment.clone()) else {
            return;
        };
        let info = session.source_info(now);
        let Some(RunStart {
            run,
            plan,
            ladder_changed,
            resync,
        }) = self.core.begin_run(
            now,
            self.transcode.is_some(),
            info.as_ref(),
            &self.deps.cfg.ladder,
        )
        else {
            return;
        };
        let Some(info) = info else { return };
        if ladder_changed {
            self.status.ladder_changed();
        }
        if resync {
            session.queue.resync();
        }
        let out_dir = self.work_dir.join(format!("run-{run}"));
        let ll_dir = self
            .deps
            .cfg
            .ladder
            .low_latency
            .then(segment::new_ll_socket_dir);
        let argv = build_argv(&self.deps.cfg.ladder, &plan, &out_dir, ll_dir.as_deref());
        let clock = RunClock::default();
        let audio = info.audio;
        let prepare = PrepareRun {
            out_dir: out_dir.clone(),
            plan: plan.clone(),
            clock: clock.clone(),
            ll_dir,
        };
        ctx.spawn(segment.send(prepare).into_actor(self).map(
            move |res, act, ctx| {
                let _g = act.span.clone().entered();
                let same_session = act.session.as_ref().is_some_and(|s| s.id == session.id);
                let names: Vec<String> = plan.iter().map(|p| p.name.clone()).collect();
                let prepared = matches!(res, Ok(Ok(())));
                match act.core.run_prepared(plan, prepared, same_session, Instant::now()) {
                    Prepared::Start => {}
                    Prepared::Stale => return,
                    Prepared::Retry(_) => {
                        match res {
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "preparing the ffmpeg output failed");
                            }
                            Err(e) => tracing::warn!(error = %e, "segment actor unavailable"),
                            Ok(Ok(())) => {}
                        }
                        return;
                    }
                }
                tracing::info!(
                    renditions = ?names, width = info.width, height = info.height, "starting ffmpeg"
                );
                let generation = act.core.record(ChildKind::Transcode).starting(Instant::now());
                let run = TranscodeRun {
                    argv,
                    cwd: out_dir,
                    audio,
                    clock,
                };
                let t = Transcode::new(
                    act.link(ChildKind::Transcode, generation, ctx),
                    Arc::clone(&act.deps.transcoder),
                    run,
                    session,
                    Arc::clone(&act.transcode_stats),
                    tracing::info_span!(parent: &act.span, "transcode", generation),
                );
                act.transcode = Some(act.child_stats.mailbox(ChildKind::Transcode, t.start()));
            },
        ));
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        let now = Instant::now();
        if self.core.grace_expired(now) {
            let _g = self.span.clone().entered();
            tracing::info!("no publisher for the grace window: ending the broadcast");
            self.begin_end(EndReason::GraceExpired, ctx);
            return;
        }
        if self.segment.is_none() && self.core.restart_due(ChildKind::Segment, now) {
            self.start_segment(ctx);
        }
        if self.thumbnail.is_none() && self.core.restart_due(ChildKind::Thumbnail, now) {
            self.start_thumbnail(ctx);
        }
        self.maybe_start_run(ctx, now);
        self.tick_restreams(ctx, now);
        self.update_status(ctx, now);
        self.sample_cpu(now);
        self.check_stall(now);
        if let Some(s) = &self.session
            && let Some(w) = self
                .core
                .source_warning_to_log(&source_warnings(&s.snapshot(now)))
        {
            let _g = self.span.clone().entered();
            tracing::warn!("{w}");
        }
    }
}
