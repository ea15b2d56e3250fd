//! Segment: moves finished segments from ffmpeg's working directory into the live window.
//!
//! Parent: [`StreamActor`](super::StreamActor), seen as a `CountedRecipient<ChildExited>`. Children:
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
use streamhall_media::fmp4::{Fmp4Event, Fmp4Reader};
use streamhall_media::hls::OutputWatcher;
use streamhall_media::transcode::{PlannedRendition, ll_socket_dir_ok, ll_socket_path};
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;

use super::transcode::RunClock;
use crate::directory::StreamEntry;
use crate::locks::{lock, write};
use crate::supervision::{ChildLink, StopChild};

const POLL: Duration = Duration::from_millis(50);
/// Consecutive failed polls (about 5 s) before the actor gives up and is restarted.
const MAX_POLL_ERRORS: u32 = 100;
/// How long ffmpeg has to connect to a low-latency socket once its run is prepared.
const LL_CONNECT: Duration = Duration::from_secs(60);

/// A fresh directory path for one ffmpeg run's low-latency sockets, under a per-process root
/// in the temporary directory (`/tmp` when that one is too long or oddly named: socket paths
/// are limited to 107 bytes and go through the tee muxer's argument syntax).
pub(crate) fn new_ll_socket_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let name = format!("streamhall-{}", std::process::id());
    let mut root = std::env::temp_dir().join(&name);
    if !ll_socket_dir_ok(&root.join("0000000000")) {
        root = PathBuf::from("/tmp").join(name);
    }
    root.join(NEXT.fetch_add(1, Ordering::Relaxed).to_string())
}

/// Creates `dir` (its parent readable by this user only) and binds one socket per rendition.
fn bind_ll_sockets(
    dir: &std::path::Path,
    plan: &[PlannedRendition],
) -> std::io::Result<Vec<(String, UnixListener)>> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(root) = dir.parent() {
        std::fs::create_dir_all(root)?;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))?;
    }
    std::fs::create_dir_all(dir)?;
    plan.iter()
        .map(|p| {
            let path = ll_socket_path(dir, &p.name);
            let _ = std::fs::remove_file(&path);
            Ok((p.name.clone(), UnixListener::bind(&path)?))
        })
        .collect()
}

/// Low latency is off until the next run, said once in the log and in the stream's health.
fn ll_failed(entry: &StreamEntry, span: &tracing::Span, run: u64, rendition: &str, reason: String) {
    let _g = span.enter();
    tracing::warn!(%rendition, %reason, "low latency is off until ffmpeg restarts; the MPEG-TS playlists go on");
    write(&entry.ll).fail(run, format!("{rendition}: {reason}"));
    entry.ll_touched();
}

/// Reads one rendition's fragmented MP4 from ffmpeg into the low-latency window until ffmpeg
/// closes the socket. Part times come from the run's ingest clock, as segment times do. A
/// socket that breaks or carries what is not fragmented MP4 turns low latency off for the run
/// (every rendition: they must line up); ffmpeg's tee drops that output and goes on.
async fn read_ll(
    listener: UnixListener,
    entry: Arc<StreamEntry>,
    rendition: String,
    run: u64,
    clock: RunClock,
    span: tracing::Span,
) {
    let mut stream = match tokio::time::timeout(LL_CONNECT, listener.accept()).await {
        Ok(Ok((s, _))) => s,
        Ok(Err(e)) => {
            let reason = format!("accepting ffmpeg's connection failed ({e})");
            return ll_failed(&entry, &span, run, &rendition, reason);
        }
        Err(_) => {
            let reason = format!("ffmpeg did not connect within {} s", LL_CONNECT.as_secs());
            return ll_failed(&entry, &span, run, &rendition, reason);
        }
    };
    drop(listener);
    let mut reader = Fmp4Reader::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                let reason = format!("reading ffmpeg's output failed ({e})");
                return ll_failed(&entry, &span, run, &rendition, reason);
            }
        };
        let events = match reader.push(&buf[..n]) {
            Ok(events) => events,
            Err(e) => {
                let reason = format!("ffmpeg's fragmented MP4 is unreadable ({e})");
                return ll_failed(&entry, &span, run, &rendition, reason);
            }
        };
        if events.is_empty() {
            continue;
        }
        let base = clock.get();
        {
            let mut ll = write(&entry.ll);
            for event in events {
                match event {
                    Fmp4Event::Init { data, .. } => ll.set_init(&rendition, run, data),
                    Fmp4Event::Fragment { data, info } => {
                        let pdt = match base {
                            Some(t) => t + Duration::from_secs_f64(info.start.max(0.0)),
                            None => {
                                SystemTime::now() - Duration::from_secs_f64(info.duration.max(0.0))
                            }
                        };
                        ll.push_part(&rendition, info.duration, info.independent, pdt, data);
                    }
                }
            }
        }
        entry.ll_touched();
    }
}

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
    /// Where ffmpeg writes the low-latency copies ([`new_ll_socket_dir`]); `None` when off.
    pub ll_dir: Option<PathBuf>,
}

/// The broadcast is over: last poll, `#EXT-X-ENDLIST`, working files removed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FinishSegments;

pub struct Segment {
    link: ChildLink,
    entry: Arc<StreamEntry>,
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
    ll_dir: Option<PathBuf>,
    ll_readers: Vec<SpawnHandle>,
    ll_runs: u64,
}

impl Segment {
    pub fn new(
        link: ChildLink,
        entry: Arc<StreamEntry>,
        counters: Arc<SegmentCounters>,
        span: tracing::Span,
    ) -> Self {
        Self {
            link,
            entry,
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
            ll_dir: None,
            ll_readers: Vec::new(),
            ll_runs: 0,
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

    fn stop_ll(&mut self, ctx: &mut Context<Self>) {
        for h in self.ll_readers.drain(..) {
            ctx.cancel_future(h);
        }
        if let Some(dir) = self.ll_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn start_ll(&mut self, ctx: &mut Context<Self>, dir: PathBuf, plan: &[PlannedRendition]) {
        self.ll_runs += 1;
        match bind_ll_sockets(&dir, plan) {
            Ok(listeners) => {
                for (rendition, listener) in listeners {
                    let reader = read_ll(
                        listener,
                        Arc::clone(&self.entry),
                        rendition,
                        self.ll_runs,
                        self.clock.clone(),
                        self.span.clone(),
                    );
                    self.ll_readers
                        .push(ctx.spawn(actix::fut::wrap_future(reader)));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "low-latency sockets unavailable; this run has MPEG-TS playlists only");
                write(&self.entry.ll).fail(
                    self.ll_runs,
                    format!("its sockets could not be created ({e})"),
                );
                self.entry.ll_touched();
            }
        }
        self.ll_dir = Some(dir);
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
        ctx.run_interval(POLL, |act, ctx| {
            let _h = act.link.stats().handling_own();
            act.poll(ctx);
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(dir) = self.ll_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.link.exited(std::mem::take(&mut self.exit_reason));
    }
}

impl Handler<PrepareRun> for Segment {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: PrepareRun, ctx: &mut Self::Context) -> Self::Result {
        let _h = self.link.stats().handling();
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
        self.stop_ll(ctx);
        write(&self.entry.ll).mark_discontinuity();
        self.entry.ll_touched();
        if let Some(dir) = msg.ll_dir {
            self.start_ll(ctx, dir, &msg.plan);
        }
        Ok(())
    }
}

impl Handler<FinishSegments> for Segment {
    type Result = ();

    fn handle(&mut self, _: FinishSegments, ctx: &mut Self::Context) {
        let _h = self.link.stats().handling();
        self.poll(ctx);
        self.entry.end();
        self.remove_run_dir();
        self.stop_ll(ctx);
    }
}

impl Handler<StopChild> for Segment {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Self::Context) {
        let _h = self.link.stats().handling();
        ctx.stop();
    }
}
