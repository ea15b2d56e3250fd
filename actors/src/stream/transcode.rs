//! Transcode: one ffmpeg process turning the publisher's FLV into the HLS ladder.
//!
//! Parent: [`StreamActor`](super::StreamActor), seen as a `CountedRecipient<ChildExited>`. Children:
//! the ffmpeg process (through the injected [`Transcoder`]) and its stdin writer task. In:
//! [`StopTranscode`]. Out: FLV into ffmpeg's stdin (file header, cached sequence headers, then
//! the session's queue, starting at a keyframe); [`ChildExited`] when ffmpeg exits, whatever
//! the cause. The parent decides whether to restart: one actor per ffmpeg run.
//!
//! The writer never blocks ingest: it reads from the session's bounded
//! [`TagQueue`](super::session::TagQueue), which drops when ffmpeg stalls. When the queue is closed (the
//! publisher left) the writer closes stdin and ffmpeg finishes its segments and exits 0.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use bytes::BytesMut;
use streamhall_media::flv;
use streamhall_media::transcode::{Progress, StdinWriter, Transcoder};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::session::IngestSession;
use crate::locks::lock;
use crate::supervision::ChildLink;

/// Kill ffmpeg now: the stream ends, a new publisher needs a new run, or it is stuck.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopTranscode {
    pub reason: String,
}

/// No progress report for this long while tags pile up means ffmpeg is stuck.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(15);
/// ...where "pile up" is at least this many tags waiting.
pub const STALL_BACKLOG: usize = 256;

/// Detects a stuck ffmpeg: it reported progress before, has not for [`STALL_TIMEOUT`], and
/// the queue in front of it is backing up (an idle publisher is not a stuck ffmpeg).
#[derive(Debug, Default)]
pub struct StallWatch {
    last: Option<(u64, Instant)>,
}

impl StallWatch {
    /// Feed the latest report count and queue depth; `true` once ffmpeg should be killed.
    pub fn check(&mut self, reports: u64, backlog: usize, now: Instant) -> bool {
        match self.last {
            Some((r, since)) if r == reports && reports > 0 => {
                if now.saturating_duration_since(since) >= STALL_TIMEOUT && backlog >= STALL_BACKLOG
                {
                    self.last = None;
                    return true;
                }
                false
            }
            _ => {
                self.last = Some((reports, now));
                false
            }
        }
    }
}

/// Wall-clock arrival time of the first tag written to this run's ffmpeg: the
/// program-date-time of its first segments.
#[derive(Debug, Clone, Default)]
pub struct RunClock(Arc<Mutex<Option<SystemTime>>>);

impl RunClock {
    pub fn get(&self) -> Option<SystemTime> {
        *lock(&self.0)
    }

    fn set_once(&self, t: SystemTime) {
        lock(&self.0).get_or_insert(t);
    }
}

/// What the stream reads for health: the running process's pid and progress.
#[derive(Default)]
pub struct TranscodeStats {
    /// (generation of the run, pid, progress).
    inner: Mutex<(u64, Option<u32>, Option<watch::Receiver<Progress>>)>,
}

impl TranscodeStats {
    pub fn pid(&self) -> Option<u32> {
        lock(&self.inner).1
    }

    pub fn progress(&self) -> Option<Progress> {
        lock(&self.inner).2.as_ref().map(|rx| rx.borrow().clone())
    }

    fn set(&self, generation: u64, pid: Option<u32>, progress: watch::Receiver<Progress>) {
        *lock(&self.inner) = (generation, pid, Some(progress));
    }

    /// Clears the run's entry unless a newer run already took it.
    fn clear(&self, generation: u64) {
        let mut s = lock(&self.inner);
        if s.0 == generation {
            *s = (generation, None, None);
        }
    }
}

pub struct TranscodeRun {
    pub argv: Vec<OsString>,
    pub cwd: PathBuf,
    pub audio: bool,
    pub clock: RunClock,
}

pub struct Transcode {
    link: ChildLink,
    transcoder: Arc<dyn Transcoder>,
    run: TranscodeRun,
    session: Arc<IngestSession>,
    stats: Arc<TranscodeStats>,
    stop: CancellationToken,
    span: tracing::Span,
    exit_reason: String,
}

impl Transcode {
    pub fn new(
        link: ChildLink,
        transcoder: Arc<dyn Transcoder>,
        run: TranscodeRun,
        session: Arc<IngestSession>,
        stats: Arc<TranscodeStats>,
        span: tracing::Span,
    ) -> Self {
        Self {
            link,
            transcoder,
            run,
            session,
            stats,
            stop: CancellationToken::new(),
            span,
            exit_reason: "stopped".into(),
        }
    }
}

impl Actor for Transcode {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _g = self.span.clone().entered();
        let mut proc = match self.transcoder.spawn(self.run.argv.clone(), &self.run.cwd) {
            Ok(p) => p,
            Err(e) => {
                self.exit_reason = format!("ffmpeg did not start: {e}");
                ctx.stop();
                return;
            }
        };
        let pid = proc.pid();
        tracing::info!(?pid, "ffmpeg started");
        self.stats.set(self.link.generation(), pid, proc.progress());
        let done = CancellationToken::new();
        if let Some(stdin) = proc.take_stdin() {
            tokio::spawn(
                write_input(
                    stdin,
                    Arc::clone(&self.session),
                    self.run.audio,
                    self.run.clock.clone(),
                    done.clone(),
                )
                .instrument(self.span.clone()),
            );
        }
        let stop = self.stop.clone();
        let wait = async move {
            let status = tokio::select! {
                s = proc.wait() => s,
                _ = stop.cancelled() => {
                    let _ = proc.kill();
                    proc.wait().await
                }
            };
            done.cancel();
            (status, proc.stderr_tail())
        };
        ctx.spawn(wait.into_actor(self).map(|(status, tail), act, ctx| {
            let _h = act.link.stats().handling_own();
            act.exit_reason = describe_exit(&status, &tail);
            ctx.stop();
        }));
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.stop.cancel();
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let _g = self.span.clone().entered();
        tracing::info!(reason = %self.exit_reason, "transcode stopped");
        self.stats.clear(self.link.generation());
        self.link.exited(std::mem::take(&mut self.exit_reason));
    }
}

impl Handler<StopTranscode> for Transcode {
    type Result = ();

    fn handle(&mut self, msg: StopTranscode, ctx: &mut Self::Context) {
        let _h = self.link.stats().handling();
        self.exit_reason = msg.reason;
        self.stop.cancel();
        ctx.stop();
    }
}

fn describe_exit(status: &io::Result<ExitStatus>, tail: &[String]) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match status {
        Ok(s) if s.success() => "ffmpeg exited normally".to_owned(),
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("ffmpeg exited with code {c}"),
            (None, Some(sig)) => format!("ffmpeg killed by signal {sig}"),
            _ => "ffmpeg exited".to_owned(),
        },
        Err(e) => format!("waiting for ffmpeg failed: {e}"),
    };
    match tail.last() {
        Some(line) => format!("{how}: {line}"),
        None => how,
    }
}

/// File header and cached sequence headers, then the queue until it closes or ffmpeg ends.
async fn write_input(
    mut stdin: StdinWriter,
    session: Arc<IngestSession>,
    audio: bool,
    clock: RunClock,
    done: CancellationToken,
) {
    let headers = session.headers();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.extend_from_slice(&flv::file_header(audio, true));
    for h in &headers {
        h.encode(&mut buf);
    }
    if stdin.write_all(&buf).await.is_err() {
        return;
    }
    loop {
        let next = tokio::select! {
            t = session.queue.pop() => t,
            _ = done.cancelled() => return,
        };
        let Some(q) = next else { break };
        if q.tag.is_sequence_header()
            && headers
                .iter()
                .any(|h| h.kind == q.tag.kind && h.data == q.tag.data)
        {
            continue;
        }
        clock.set_once(q.arrived);
        buf.clear();
        q.tag.encode(&mut buf);
        let write = tokio::select! {
            r = stdin.write_all(&buf) => r,
            _ = done.cancelled() => return,
        };
        if let Err(e) = write {
            tracing::debug!(error = %e, "ffmpeg stdin closed");
            return;
        }
    }
    // The publisher left: closing stdin lets ffmpeg finish its last segments and exit.
    let _ = stdin.shutdown().await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_stuck_ffmpeg_is_one_that_stopped_reporting_with_a_backlog() {
        let t0 = Instant::now();
        let mut w = StallWatch::default();
        let later = t0 + STALL_TIMEOUT;
        // Never reported (a fake, or still probing): never stalled.
        assert!(!w.check(0, 1000, t0));
        assert!(!w.check(0, 1000, later));
        assert!(!w.check(3, 0, t0));
        // Idle publisher: no reports, but nothing waiting either.
        assert!(!w.check(3, 10, later));
        assert!(w.check(3, STALL_BACKLOG, later));
        // Reports moving again: fine.
        assert!(!w.check(4, 1000, later));
        assert!(!w.check(5, 1000, later + STALL_TIMEOUT));
    }
}
