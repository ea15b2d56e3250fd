//! One restream destination: the actor the stream starts per destination, and its runs (one
//! ffmpeg at a time, fed from its own tap on the ingest session, restarted with backoff).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::BytesMut;
use secrecy::{ExposeSecret, SecretString};
use streamhall_media::flv::{self, TagKind};
use streamhall_media::transcode::{Progress, ProgressParser};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::*;

// ---------------------------------------------------------------------------------------------
// State

pub struct Restream {
    pub(super) id: i64,
    pub(super) url: String,
    pub(super) key: SecretString,
    pub(super) ffmpeg: PathBuf,
    pub(super) allow: Arc<[Cidr]>,
    pub(super) status: Arc<RestreamStatus>,
    pub(super) session: watch::Sender<Option<Arc<IngestSession>>>,
    pub(super) stop: CancellationToken,
    pub(super) stats: Arc<ActorStats>,
    pub(super) span: tracing::Span,
}

// ---------------------------------------------------------------------------------------------
// Actor

impl Actor for Restream {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _g = self.span.clone().entered();
        tracing::info!("restream started");
        let run = Runner {
            id: self.id,
            url: self.url.clone(),
            key: self.key.clone(),
            ffmpeg: self.ffmpeg.clone(),
            allow: Arc::clone(&self.allow),
            status: Arc::clone(&self.status),
            stop: self.stop.clone(),
        };
        let sessions = self.session.subscribe();
        ctx.spawn(
            run.run(sessions)
                .instrument(self.span.clone())
                .into_actor(self),
        );
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.stop.cancel();
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let _g = self.span.clone().entered();
        self.stats.stopped();
        tracing::info!("restream stopped");
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

impl Handler<SwitchSession> for Restream {
    type Result = ();

    fn handle(&mut self, msg: SwitchSession, _ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        self.session.send_replace(Some(msg.0));
    }
}

impl Handler<StopChild> for Restream {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        self.stop.cancel();
        ctx.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// The runs

/// How one ffmpeg run ended.
enum RunEnd {
    /// ffmpeg exited or could not start: a failure, after running this long.
    Failed(String, Duration),
    /// A new publisher connection: start again at once.
    SessionChanged,
    Stopped,
}

fn session_changed(r: Result<(), watch::error::RecvError>) -> RunEnd {
    match r {
        Ok(()) => RunEnd::SessionChanged,
        // The actor is gone.
        Err(_) => RunEnd::Stopped,
    }
}

/// A run's queue registered as a tap of the session; removed and closed when the run ends,
/// however it ends (the run's future may be dropped with the actor).
struct Tap {
    session: Arc<IngestSession>,
    queue: Arc<TagQueue>,
}

impl Tap {
    fn new(id: i64, session: &Arc<IngestSession>, queue: &Arc<TagQueue>) -> Self {
        session.set_tap(id, Arc::clone(queue));
        Self {
            session: Arc::clone(session),
            queue: Arc::clone(queue),
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.session.remove_tap(&self.queue);
        self.queue.close();
    }
}

struct Runner {
    id: i64,
    url: String,
    key: SecretString,
    ffmpeg: PathBuf,
    allow: Arc<[Cidr]>,
    status: Arc<RestreamStatus>,
    stop: CancellationToken,
}

impl Runner {
    /// Runs ffmpeg again and again until stopped, with backoff between failures.
    async fn run(self, mut sessions: watch::Receiver<Option<Arc<IngestSession>>>) {
        let mut backoff = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        loop {
            let session = sessions.borrow_and_update().clone();
            let end = match session {
                Some(s) => self.run_once(&s, &mut sessions).await,
                None => tokio::select! {
                    r = sessions.changed() => match r {
                        Ok(()) => RunEnd::SessionChanged,
                        Err(_) => RunEnd::Stopped,
                    },
                    _ = self.stop.cancelled() => RunEnd::Stopped,
                },
            };
            match end {
                RunEnd::Stopped => return,
                RunEnd::SessionChanged => {}
                RunEnd::Failed(reason, ran) => {
                    let delay = backoff.next_delay(ran);
                    tracing::warn!(%reason, retry_in = ?delay, "restream failed");
                    self.status.failed(reason, Instant::now());
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        r = sessions.changed() => if r.is_err() { return },
                        _ = self.stop.cancelled() => return,
                    }
                }
            }
        }
    }

    async fn run_once(
        &self,
        session: &Arc<IngestSession>,
        sessions: &mut watch::Receiver<Option<Arc<IngestSession>>>,
    ) -> RunEnd {
        self.status.connecting(Instant::now());
        // The sequence headers go first: wait until the source is known.
        while session.source_info(Instant::now()).is_none() {
            tokio::select! {
                _ = tokio::time::sleep(HEADERS_POLL) => {}
                r = sessions.changed() => return session_changed(r),
                _ = self.stop.cancelled() => return RunEnd::Stopped,
            }
        }
        let started = Instant::now();
        if let Err(e) = check_destination(&self.url, &self.allow).await {
            return RunEnd::Failed(e, started.elapsed());
        }
        let key = self.key.expose_secret();
        let mut child = match tokio::process::Command::new(&self.ffmpeg)
            .args(build_argv(&self.url, key))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return RunEnd::Failed(format!("ffmpeg did not start: {e}"), started.elapsed());
            }
        };
        tracing::info!(pid = ?child.id(), "restream ffmpeg started");
        let (progress_tx, mut progress) = watch::channel(Progress::default());
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_progress(out, progress_tx));
        }
        let last_line = Arc::new(Mutex::new(None::<String>));
        if let Some(err) = child.stderr.take() {
            tokio::spawn(
                read_stderr(err, key.to_owned(), Arc::clone(&last_line))
                    .instrument(tracing::Span::current()),
            );
        }
        let queue = Arc::new(TagQueue::new());
        // Start at a keyframe.
        queue.resync();
        let _tap = Tap::new(self.id, session, &queue);
        let writer = child
            .stdin
            .take()
            .map(|stdin| tokio::spawn(write_input(stdin, Arc::clone(session), Arc::clone(&queue))));
        let mut live = false;
        let mut progress_open = true;
        let end = loop {
            tokio::select! {
                status = child.wait() => {
                    let how = match status {
                        Ok(s) => match s.code() {
                            Some(c) => format!("ffmpeg exited with code {c}"),
                            None => "ffmpeg was killed".to_owned(),
                        },
                        Err(e) => format!("waiting for ffmpeg failed: {e}"),
                    };
                    // The stderr reader may still hold the last line for a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let reason = match lock(&last_line).clone() {
                        Some(line) => format!("{how}: {line}"),
                        None => how,
                    };
                    break RunEnd::Failed(reason, started.elapsed());
                }
                r = progress.changed(), if progress_open && !live => {
                    if r.is_err() {
                        progress_open = false;
                    } else if progress.borrow().out_time.is_some_and(|t| t > Duration::ZERO) {
                        live = true;
                        self.status.live(Instant::now());
                        tracing::info!("restream live");
                    }
                }
                r = sessions.changed() => break session_changed(r),
                _ = self.stop.cancelled() => break RunEnd::Stopped,
            }
        };
        if let Some(w) = writer {
            w.abort();
        }
        if !matches!(end, RunEnd::Failed(..)) {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        end
    }
}

/// FLV file header and the cached sequence headers, then the tap's queue.
async fn write_input(
    mut stdin: tokio::process::ChildStdin,
    session: Arc<IngestSession>,
    queue: Arc<TagQueue>,
) {
    let headers = session.headers();
    let audio = headers.iter().any(|h| h.kind == TagKind::Audio);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.extend_from_slice(&flv::file_header(audio, true));
    for h in &headers {
        h.encode(&mut buf);
    }
    if stdin.write_all(&buf).await.is_err() {
        return;
    }
    while let Some(q) = queue.pop().await {
        if q.tag.is_sequence_header()
            && headers
                .iter()
                .any(|h| h.kind == q.tag.kind && h.data == q.tag.data)
        {
            continue;
        }
        buf.clear();
        q.tag.encode(&mut buf);
        if stdin.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = stdin.shutdown().await;
}

async fn read_progress(stdout: impl AsyncRead + Unpin, tx: watch::Sender<Progress>) {
    let mut lines = BufReader::new(stdout).lines();
    let mut parser = ProgressParser::default();
    // Read to EOF even if nobody listens: a full pipe would stall ffmpeg.
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(p) = parser.feed_line(&line) {
            tx.send_replace(p);
        }
    }
}

/// Keeps ffmpeg's last stderr line, with the key scrubbed, and logs each (scrubbed).
pub(super) async fn read_stderr(
    stderr: impl AsyncRead + Unpin,
    key: String,
    last: Arc<Mutex<Option<String>>>,
) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let line: String = scrub(line, &key).chars().take(512).collect();
        tracing::warn!("restream ffmpeg: {line}");
        *lock(&last) = Some(line);
    }
}
