//! What a stream sees of itself and says: the observation [`StatusCore`] judges each tick, the
//! status and the announcement that follow, stall detection and CPU sampling, and the health
//! answer (the streamer's dashboard and the admin tree).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix::prelude::*;

use super::*;

impl StreamActor {
    /// What [`StatusCore`] is fed each tick.
    pub(super) fn observation(&self, now: Instant) -> Observation {
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
    pub(super) fn update_status(&mut self, ctx: &mut Context<Self>, now: Instant) {
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
    pub(super) fn announce(&mut self, ctx: &mut Context<Self>) {
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
    pub(super) fn check_stall(&mut self, now: Instant) {
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
    pub(super) fn sample_cpu(&mut self, now: Instant) {
        if let Some(pid) = self.core.cpu_due(self.transcode_stats.pid(), now)
            && let Some(secs) = process_cpu_seconds(pid)
        {
            self.core.cpu_sampled(pid, secs, now);
        }
    }

    pub(super) fn health(&self) -> StreamHealth {
        let now = Instant::now();
        let ingest = self.session.as_ref().map(|s| s.snapshot(now));
        let obs = self.observation(now);
        let transcoder_state = self.status.transcoder_state(&obs);
        let children: Vec<ActorHealth> = self
            .core
            .records()
            .map(|r| {
                let mut h = r
                    .health(now, None)
                    .with_stats(self.child_stats.of(r.kind).snapshot(now));
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
            queued: self.session.as_ref().map_or(0, |s| s.queue.depth()),
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
