//! StreamActor: one live broadcast of one channel, from the first publish to the end of the
//! grace window.
//!
//! Parent: [`Registry`](crate::Registry), seen as a `Recipient<StreamStopped>`.
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
pub mod ingest;
pub mod restream;
pub mod segment;
pub mod session;
pub mod status;
pub mod thumbnail;
pub mod transcode;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
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
use crate::supervision::{ChildExited, ChildKind, StopChild};

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
    /// closed from `Drop`, so it never stays open until the next publish.
    Abnormal,
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
/// its parent but a `Recipient<StreamStopped>`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StreamStopped {
    pub slug: String,
    pub broadcast_id: i64,
}

// ---------------------------------------------------------------------------------------------
// State

fn deps_status_config(deps: &LiveDeps) -> StatusConfig {
    StatusConfig {
        start_deadline: deps.cfg.start_deadline,
        ..StatusConfig::default()
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
    stats: Arc<crate::stats::ActorStats>,
    spec: StreamSpec,
    deps: Arc<LiveDeps>,
    entry: Arc<StreamEntry>,
    parent: Recipient<StreamStopped>,
    core: StreamCore,
    span: tracing::Span,
    started: Instant,
    work_dir: PathBuf,
    first_publisher: Option<AttachPublisher>,
    /// How the current (or last) publisher came in.
    protocol: Option<Protocol>,
    session: Option<Arc<IngestSession>>,
    ingest: Option<Addr<Ingest>>,
    transcode: Option<Addr<Transcode>>,
    segment: Option<Addr<Segment>>,
    thumbnail: Option<Addr<Thumbnail>>,
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
        parent: Recipient<StreamStopped>,
        first: AttachPublisher,
        stats: Arc<crate::stats::ActorStats>,
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
        );
        Self {
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
            generation,
            Arc::clone(&session),
            msg.events,
            msg.kick,
            ctx.address().recipient(),
            tracing::info_span!(parent: &self.span, "ingest", session = session_id),
        );
        self.ingest = Some(ingest.start());
        self.restreams.switch_session(&session);
        self.session = Some(session);
        Ok(())
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
            generation,
            Arc::clone(&self.entry),
            Arc::clone(&self.segments),
            ctx.address().recipient(),
            tracing::info_span!(parent: &self.span, "segment", generation),
        );
        self.segment = Some(seg.start());
    }

    fn start_thumbnail(&mut self, ctx: &mut Context<Self>) {
        let generation = self
            .core
            .record(ChildKind::Thumbnail)
            .starting(Instant::now());
        let t = Thumbnail::new(
            generation,
            self.spec.slug.clone(),
            Arc::clone(&self.entry),
            Arc::clone(&self.deps.objects),
            Arc::new(FfmpegThumbnailer::new(&self.deps.cfg.ladder.ffmpeg_path)),
            self.deps.cfg.thumbnail_interval,
            ctx.address().recipient(),
            tracing::info_span!(parent: &self.span, "thumbnail", generation),
        );
        self.thumbnail = Some(t.start());
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
                    generation,
                    Arc::clone(&act.deps.transcoder),
                    run,
                    session,
                    Arc::clone(&act.transcode_stats),
                    ctx.address().recipient(),
                    tracing::info_span!(parent: &act.span, "transcode", generation),
                );
                act.transcode = Some(t.start());
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

    /// What [`StatusCore`] is fed each tick.
    fn observation(&self, now: Instant) -> Observation {
        let rec = self.core.records().find(|r| r.kind == ChildKind::Transcode);
        let stats = crate::locks::read(&self.entry.window).snapshot();
        let active = || stats.renditions.iter().filter(|r| r.active);
        let renditions = active()
            .map(|r| {
                let plan = self.core.plan().iter().find(|p| p.name == r.name);
                RenditionObs {
                    name: r.name.clone(),
                    height: plan.map_or(0, |p| p.height),
                    transcoded: plan.is_some_and(|p| !p.copy),
                    segments: r.segments_produced,
                    last_segment_age: r.last_segment_age,
                }
            })
            .collect();
        let target = active()
            .map(|r| r.target_duration)
            .max()
            .unwrap_or(self.deps.cfg.ladder.segment_seconds);
        let snapshot = self.session.as_ref().map(|s| s.snapshot(now));
        Observation {
            now,
            publisher_connected: self.core.publisher_connected(),
            source_known: !self.core.plan().is_empty()
                || self
                    .session
                    .as_ref()
                    .is_some_and(|s| s.source_info(now).is_some()),
            keyframe_interval: snapshot
                .and_then(|s| s.keyframe_interval_s)
                .filter(|k| k.is_finite() && *k > 0.0)
                .map(Duration::from_secs_f64),
            target_duration: Duration::from_secs(u64::from(target)),
            transcoder: TranscoderObs {
                running: rec.is_some_and(|r| r.running),
                reporting: self
                    .transcode_stats
                    .progress()
                    .is_some_and(|p| p.reports > 0),
                restarts: rec.map_or(0, |r| r.restarts),
                last_error: rec.and_then(|r| r.last_error.clone()),
            },
            renditions,
            backlog: self.session.as_ref().map_or(0, |s| s.queue.depth()),
            dropped: self.core.dropped().to_vec(),
            adaptive: self.deps.cfg.ladder.adaptive,
        }
    }

    /// Feeds the status core and acts on its verdict: the master playlist's renditions, the
    /// announcement (rows first, then the bus), a recorded failure, a step down of the ladder.
    fn update_status(&mut self, ctx: &mut Context<Self>, now: Instant) {
        let run = self.core.record(ChildKind::Transcode).generation;
        match self.transcode_stats.progress().and_then(|p| p.out_time) {
            Some(out) => self
                .speed
                .sample(run, now, out, self.status.config().speed_window),
            None => self.speed.reset(),
        }
        let speed = self.speed.speed(self.status.config().speed_window);
        let obs = self.observation(now);
        let status_before = self.status.status();
        let verdict = self.status.observe(&obs, speed, run);
        let _g = self.span.clone().entered();
        if let Some(failed) = &verdict.failed_renditions {
            let names: Vec<&str> = failed.iter().map(String::as_str).collect();
            write(&self.entry.window).set_failed(&names);
            if !failed.is_empty() {
                tracing::warn!(renditions = ?failed, "renditions produce no video: left out of the master playlist");
            }
        }
        // The viewers' words follow from the status alone.
        if self.status.status() != status_before {
            self.entry
                .set_status(self.status.status(), self.status.viewer_problem());
        }
        if let Some(reason) = verdict.failed {
            tracing::warn!(%reason, "viewers cannot watch");
            let db = self.deps.db.clone();
            let id = self.spec.broadcast_id;
            ctx.spawn(
                async move {
                    if let Err(e) = crate::db::record_failure(&db, id, &reason).await {
                        tracing::error!(error = %e, "recording the broadcast's failure failed");
                    }
                }
                .instrument(self.span.clone())
                .into_actor(self),
            );
        }
        if verdict.announce {
            self.announce(ctx);
        }
        if let Some(name) = verdict.step_down {
            tracing::warn!(rendition = %name, speed = ?speed, "ffmpeg cannot keep up: dropping a rendition");
            self.core.step_down(name);
            self.retire_transcode();
        }
    }

    /// Viewers can watch: the channel is marked live, then `StreamWentLive` goes on the bus
    /// (followers are notified, webhooks sent).
    fn announce(&mut self, ctx: &mut Context<Self>) {
        tracing::info!("viewers can watch: announcing the broadcast");
        let deps = Arc::clone(&self.deps);
        let spec = self.spec.clone();
        ctx.spawn(
            async move {
                if let Err(e) =
                    crate::db::announce_broadcast(&deps.db, spec.channel_id, spec.broadcast_id)
                        .await
                {
                    tracing::error!(error = %e, "marking the channel live failed");
                }
                deps.bus.publish(BusEvent::StreamWentLive {
                    channel_id: spec.channel_id,
                    slug: spec.slug.clone(),
                    broadcast_id: spec.broadcast_id,
                    title: spec.title.clone(),
                });
            }
            .instrument(self.span.clone())
            .into_actor(self),
        );
    }

    /// A stuck ffmpeg ([`StreamCore::stalled`]) is killed; its exit is then a crash like any
    /// other (restart, counted).
    fn check_stall(&mut self, now: Instant) {
        let run = match (
            &self.transcode,
            self.transcode_stats.progress(),
            &self.session,
        ) {
            (Some(_), Some(p), Some(s)) => Some((p.reports, s.queue.depth())),
            _ => None,
        };
        if self.core.stalled(run, now)
            && let (Some(t), Some(s)) = (&self.transcode, &self.session)
        {
            let _g = self.span.clone().entered();
            tracing::warn!(backlog = s.queue.depth(), "ffmpeg stalled: killing it");
            t.do_send(StopTranscode {
                reason: format!("ffmpeg stalled: no progress for {STALL_TIMEOUT:?}"),
            });
        }
    }

    /// Reads ffmpeg's CPU time when [`StreamCore::cpu_due`] says so.
    fn sample_cpu(&mut self, now: Instant) {
        if let Some(pid) = self.core.cpu_due(self.transcode_stats.pid(), now)
            && let Some(secs) = process_cpu_seconds(pid)
        {
            self.core.cpu_sampled(pid, secs, now);
        }
    }

    /// Ends the broadcast (once): children stopped, `#EXT-X-ENDLIST`, rows closed, bus told,
    /// the registry told last, then the actor stops. Meanwhile it still answers health queries
    /// and refuses publishers (the registry then opens the next broadcast). Returns a receiver
    /// that turns `true` when done.
    fn begin_end(&mut self, reason: EndReason, ctx: &mut Context<Self>) -> watch::Receiver<bool> {
        if self.ending {
            return self.ended.subscribe();
        }
        let end = self.end(reason);
        ctx.spawn(end);
        self.ended.subscribe()
    }

    fn end(&mut self, reason: EndReason) -> impl ActorFuture<Self, Output = ()> + use<> {
        let fut = self.end_work(reason);
        actix::fut::wrap_future::<_, Self>(fut).map(|_, act, ctx| {
            act.ended.send_replace(true);
            ctx.stop();
        })
    }

    /// The work of ending, as a plain future (it needs no actor, so `Drop` can run it too).
    fn end_work(&mut self, reason: EndReason) -> impl Future<Output = ()> + use<> {
        self.ending = true;
        self.core.end();
        if let Some(i) = self.ingest.take() {
            i.do_send(StopIngest);
        }
        if let Some(s) = self.session.take() {
            s.queue.close();
        }
        self.retire_transcode();
        if let Some(t) = self.thumbnail.take() {
            t.do_send(StopChild);
        }
        self.restreams.stop_all();
        let segment = self.segment.take();
        let deps = Arc::clone(&self.deps);
        let entry = Arc::clone(&self.entry);
        let spec = self.spec.clone();
        let work_dir = self.work_dir.clone();
        let parent = self.parent.clone();
        let span = self.span.clone();
        let announced = self.status.announced();
        let fut = async move {
            tracing::info!(?reason, "broadcast ending");
            match segment {
                Some(seg) => {
                    let _ = seg.send(FinishSegments).await;
                    seg.do_send(StopChild);
                }
                None => entry.end(),
            }
            // Uploads what is left and writes the VOD in the background: the broadcast ends
            // now, the video is `processing` until then.
            if let Some(rec) = &entry.recorder {
                rec.finish();
            }
            if let Err(e) = tokio::fs::remove_dir_all(&work_dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, dir = %work_dir.display(), "removing the work dir failed");
            }
            let peak = deps.presence.end_broadcast(&spec.slug, spec.broadcast_id);
            if let Err(e) =
                crate::db::close_broadcast(&deps.db, spec.channel_id, spec.broadcast_id, peak).await
            {
                tracing::error!(error = %e, "closing the broadcast row failed");
            }
            // Other nodes stop listing it at their next refresh (within a second).
            deps.cluster.release(&spec.slug, spec.broadcast_id).await;
            // Subscribers heard of the broadcast only if it was announced.
            if announced {
                deps.bus.publish(BusEvent::StreamWentOffline {
                    channel_id: spec.channel_id,
                    slug: spec.slug.clone(),
                    broadcast_id: spec.broadcast_id,
                });
            }
            // Players get the ENDLIST for a while, then the channel has no HLS until next time.
            let hls = deps.hls.clone();
            let retention = deps.cfg.ended_retention;
            let (slug, id) = (spec.slug.clone(), spec.broadcast_id);
            tokio::spawn(async move {
                tokio::time::sleep(retention).await;
                hls.remove_if(&slug, id);
            });
            // Exactly one per stream, to its one parent.
            parent.do_send(StreamStopped {
                slug: spec.slug,
                broadcast_id: spec.broadcast_id,
            });
            tracing::info!("broadcast ended");
        };
        fut.instrument(span)
    }

    fn health(&self) -> StreamHealth {
        let now = Instant::now();
        let mailbox = |kind: ChildKind| match kind {
            ChildKind::Ingest | ChildKind::Transcode => {
                self.session.as_ref().map(|s| s.queue.depth())
            }
            _ => None,
        };
        let ingest = self.session.as_ref().map(|s| s.snapshot(now));
        let obs = self.observation(now);
        let transcoder_state = self.status.transcoder_state(&obs);
        let children: Vec<ActorHealth> = self
            .core
            .records()
            .map(|r| {
                let mut h = r.health(now, mailbox(r.kind));
                if r.kind == ChildKind::Transcode && transcoder_state == "failed" {
                    h.state = "failed".into();
                }
                h
            })
            .chain(self.restreams.children(now))
            .collect();
        let mut warnings = ingest.as_ref().map(source_warnings).unwrap_or_default();
        warnings.extend(self.status.warnings(&obs));
        let recording = self.entry.recorder.as_ref().map(|r| r.health());
        if let Some(r) = &recording {
            warnings.extend(recording_warnings(r));
        }
        if let Some(why) = crate::locks::read(&self.entry.ll).failure() {
            warnings.push(format!(
                "Low latency is off until the transcoder restarts ({why}); viewers watch at normal latency."
            ));
        }
        let (dropped_frames, dropped_audio) =
            self.session.as_ref().map_or((0, 0), |s| s.queue.dropped());
        let status = self.status.status();
        let state = if self.ending {
            "ending"
        } else if !self.core.publisher_connected() {
            "grace"
        } else {
            match status {
                StreamStatus::Live => "live",
                StreamStatus::Failed => "failed",
                StreamStatus::Starting | StreamStatus::Offline => "starting",
            }
        };
        let problem = if self.core.publisher_connected() || self.ending {
            self.status.problem(&obs)
        } else {
            Some(format!(
                "Your encoder is disconnected; the broadcast goes on if it reconnects within {} s.",
                self.deps.cfg.grace.as_secs()
            ))
        };
        StreamHealth {
            actor: ActorHealth {
                kind: "stream".into(),
                id: format!("{}/{}", self.spec.slug, self.spec.broadcast_id),
                state: state.into(),
                uptime_s: now.saturating_duration_since(self.started).as_secs_f64(),
                // Never restarted: the next publish after it ends is a new broadcast.
                restarts: 0,
                last_error: (status == StreamStatus::Failed)
                    .then(|| self.status.problem(&obs))
                    .flatten(),
                ..ActorHealth::default()
            }
            .with_stats(self.stats.snapshot(now)),
            channel_id: self.spec.channel_id,
            slug: self.spec.slug.clone(),
            broadcast_id: self.spec.broadcast_id,
            status,
            problem,
            publisher_connected: self.core.publisher_connected(),
            protocol: self.protocol,
            ingest,
            warnings,
            transcoder_state: transcoder_state.to_owned(),
            transcoder_restarts: obs.transcoder.restarts,
            transcoder_last_error: obs.transcoder.last_error.clone(),
            ffmpeg_pid: self.transcode_stats.pid(),
            ffmpeg_cpu_percent: self.core.cpu_percent(),
            ffmpeg_speed: self
                .status
                .speed()
                .or_else(|| self.transcode_stats.progress().and_then(|p| p.speed)),
            segments_produced: self.segments.produced.load(Ordering::Relaxed),
            segments_lost: self.segments.lost.load(Ordering::Relaxed),
            dropped_frames,
            dropped_audio,
            renditions: self.status.renditions(&obs),
            recording,
            viewers: self.deps.presence.count(&self.spec.slug),
            restreams: self.restreams.health(now),
            children,
        }
    }
}

/// What the streamer is told about the recording: viewers watch on, the VOD is at risk.
fn recording_warnings(r: &crate::recording::RecordingHealth) -> Vec<String> {
    let mut out = Vec::new();
    if r.state == "store_unavailable" {
        out.push(format!(
            "The recording cannot reach object storage ({}); {} segments ({} MB) wait on this server and are uploaded when it is back.",
            r.last_error.as_deref().unwrap_or("no answer"),
            r.spooled_segments,
            r.spooled_bytes / 1_000_000
        ));
    }
    if r.lost_segments > 0 {
        out.push(format!(
            "{} segments could not be kept for the recording (the spool filled up while storage was down); the VOD will have gaps.",
            r.lost_segments
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Actor

impl Actor for StreamActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _g = self.span.clone().entered();
        tracing::info!(work_dir = %self.work_dir.display(), "stream started");
        if let Err(e) = std::fs::create_dir_all(&self.work_dir) {
            tracing::error!(error = %e, "creating the work dir failed");
        }
        self.start_segment(ctx);
        self.start_thumbnail(ctx);
        if let Some(first) = self.first_publisher.take() {
            let _ = self.attach(first, ctx);
        }
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
    }
}

/// A stream actor that goes without ending its broadcast (stopped abnormally, or dropped by a
/// panic in a handler) still ends it: children stopped, ENDLIST, rows closed, the lease
/// released, `StreamWentOffline` if announced, and `StreamStopped` to the registry.
impl Drop for StreamActor {
    fn drop(&mut self) {
        self.stats.stopped();
        if self.ending {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let _g = self.span.clone().entered();
        tracing::error!("stream actor stopped without ending its broadcast: ending it now");
        rt.spawn(self.end_work(EndReason::Abnormal));
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

impl Handler<AttachPublisher> for StreamActor {
    type Result = Result<(), Refused>;

    fn handle(&mut self, msg: AttachPublisher, ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        self.attach(msg, ctx)
    }
}

impl Handler<EndStream> for StreamActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: EndStream, ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        let mut done = self.begin_end(msg.reason, ctx);
        Box::pin(async move {
            // Err: the actor is gone, which only happens after the end.
            let _ = done.wait_for(|d| *d).await;
        })
    }
}

impl Handler<GetStreamHealth> for StreamActor {
    type Result = MessageResult<GetStreamHealth>;

    fn handle(&mut self, _: GetStreamHealth, _ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        MessageResult(self.health())
    }
}

/// Test builds only: the actor stops without ending its broadcast (as a crash would).
#[cfg(any(test, feature = "fault-injection"))]
impl Handler<crate::supervision::InjectFault> for StreamActor {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::InjectFault, ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        let reason = msg.reason_or_panic();
        tracing::warn!(%reason, "stream: injected fault");
        ctx.stop();
    }
}

impl Handler<ChildExited> for StreamActor {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, _ctx: &mut Self::Context) {
        let _h = self.stats.handling_own();
        let _g = self.span.clone().entered();
        let now = Instant::now();
        let action = self
            .core
            .child_exited(msg.kind, msg.generation, &msg.reason, now);
        match action {
            ExitAction::Ignore => {}
            ExitAction::PublisherGone => {
                tracing::info!(grace_s = self.deps.cfg.grace.as_secs_f64(), reason = %msg.reason, "publisher left");
                self.ingest = None;
                if let Some(s) = &self.session {
                    s.queue.close();
                }
            }
            ExitAction::Idle => {
                tracing::info!(reason = %msg.reason, "ffmpeg finished");
                self.transcode = None;
            }
            ExitAction::Restart(delay) => {
                tracing::warn!(child = msg.kind.as_str(), reason = %msg.reason, ?delay, "child exited: restarting");
                match msg.kind {
                    ChildKind::Transcode => self.transcode = None,
                    ChildKind::Thumbnail => self.thumbnail = None,
                    ChildKind::Segment => {
                        self.segment = None;
                        // The core delays ffmpeg's restart as well.
                        self.retire_transcode();
                    }
                    ChildKind::Ingest => {}
                }
            }
        }
    }
}
