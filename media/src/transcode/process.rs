//! The transcoder behind a trait: [`FfmpegTranscoder`] runs the real ffmpeg with tokio.
//!
//! Stopping: dropping the stdin writer closes ffmpeg's input, so it finishes the current
//! segments, writes `#EXT-X-ENDLIST` and exits 0; [`TranscodeProcess::kill`] is the hard stop.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::progress::{Progress, ProgressParser};

/// Where FLV bytes go: ffmpeg's stdin.
pub type StdinWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// What [`TranscodeProcess::wait`] returns.
pub type ProcessWait<'a> = Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send + 'a>>;

/// Starts transcoder processes; the seam between the stream supervisor and ffmpeg.
pub trait Transcoder: Send + Sync + 'static {
    /// Starts one process with `argv` (from [`build_argv`](super::build_argv)) in `cwd`.
    fn spawn(&self, argv: Vec<OsString>, cwd: &Path) -> io::Result<Box<dyn TranscodeProcess>>;
}

/// One running transcoder.
pub trait TranscodeProcess: Send {
    /// OS process id, while it runs.
    fn pid(&self) -> Option<u32>;
    /// The stdin writer for FLV bytes; `Some` once. Dropping it ends the input.
    fn take_stdin(&mut self) -> Option<StdinWriter>;
    /// Latest progress report (speed, fps, frames); `reports == 0` until the first one.
    fn progress(&self) -> watch::Receiver<Progress>;
    /// The last lines ffmpeg wrote to stderr (warnings and errors), oldest first.
    fn stderr_tail(&self) -> Vec<String>;
    /// Hard stop (SIGKILL). The exit still has to be collected with [`wait`](Self::wait).
    fn kill(&mut self) -> io::Result<()>;
    /// Waits for the process to exit.
    fn wait(&mut self) -> ProcessWait<'_>;
}

/// How many stderr lines a process keeps for [`TranscodeProcess::stderr_tail`].
pub const STDERR_TAIL_LINES: usize = 20;
/// Longest stderr line kept; ffmpeg's are short, anything longer is noise.
const STDERR_LINE_MAX: usize = 512;

/// The real transcoder: runs `program` (normally [`LadderConfig::ffmpeg_path`](super::LadderConfig)).
#[derive(Debug, Clone)]
pub struct FfmpegTranscoder {
    program: PathBuf,
}

impl FfmpegTranscoder {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }
}

impl Default for FfmpegTranscoder {
    fn default() -> Self {
        Self::new("ffmpeg")
    }
}

impl Transcoder for FfmpegTranscoder {
    /// Must be called inside a tokio runtime: it starts two reader tasks (progress on stdout,
    /// log lines on stderr) that end with the process.
    fn spawn(&self, argv: Vec<OsString>, cwd: &Path) -> io::Result<Box<dyn TranscodeProcess>> {
        let mut child = Command::new(&self.program)
            .args(&argv)
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id();
        let (progress_tx, progress_rx) = watch::channel(Progress::default());
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(read_progress(stdout, progress_tx));
        }
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(read_stderr(stderr, pid, Arc::clone(&tail)));
        }
        tracing::debug!(?pid, "ffmpeg started");
        Ok(Box::new(FfmpegProcess {
            child,
            progress: progress_rx,
            tail,
        }))
    }
}

struct FfmpegProcess {
    child: Child,
    progress: watch::Receiver<Progress>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl TranscodeProcess for FfmpegProcess {
    fn pid(&self) -> Option<u32> {
        // `None` once the exit has been collected.
        self.child.id()
    }

    fn take_stdin(&mut self) -> Option<StdinWriter> {
        self.child.stdin.take().map(|s| Box::new(s) as StdinWriter)
    }

    fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn kill(&mut self) -> io::Result<()> {
        self.child.start_kill()
    }

    fn wait(&mut self) -> ProcessWait<'_> {
        Box::pin(self.child.wait())
    }
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

async fn read_stderr(
    stderr: impl AsyncRead + Unpin,
    pid: Option<u32>,
    tail: Arc<Mutex<VecDeque<String>>>,
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
        let line: String = line.chars().take(STDERR_LINE_MAX).collect();
        tracing::warn!(?pid, "ffmpeg: {line}");
        if let Ok(mut t) = tail.lock() {
            if t.len() == STDERR_TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}
