//! A scriptable [`Transcoder`] for tests of the code that drives one: records every argv and
//! every byte written, and exits (cleanly, by crash or kill) when told to.
//!
//! Like ffmpeg, a fake process exits 0 when its stdin is closed, and writes to a process that
//! has exited fail with `BrokenPipe`.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use tokio::sync::watch;

use super::process::{ProcessWait, StdinWriter, TranscodeProcess, Transcoder};
use super::progress::Progress;

/// Fake pids start here so they never name a real process.
const FIRST_FAKE_PID: u32 = 4_000_000;

/// Hands out [`FakeProcess`]es and keeps a [`FakeProcessHandle`] to each, in spawn order.
#[derive(Clone, Default)]
pub struct FakeTranscoder {
    state: Arc<Mutex<FakeState>>,
}

#[derive(Default)]
struct FakeState {
    spawned: Vec<FakeProcessHandle>,
    failing_spawns: u32,
}

static NEXT_PID: AtomicU32 = AtomicU32::new(FIRST_FAKE_PID);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide the original failure.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FakeTranscoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every process spawned so far, oldest first.
    pub fn spawned(&self) -> Vec<FakeProcessHandle> {
        lock(&self.state).spawned.clone()
    }

    /// The most recently spawned process.
    pub fn last(&self) -> Option<FakeProcessHandle> {
        lock(&self.state).spawned.last().cloned()
    }

    /// The next `n` calls to `spawn` fail (as if the ffmpeg binary were missing).
    pub fn fail_next_spawns(&self, n: u32) {
        lock(&self.state).failing_spawns = n;
    }
}

impl Transcoder for FakeTranscoder {
    fn spawn(&self, argv: Vec<OsString>, cwd: &Path) -> io::Result<Box<dyn TranscodeProcess>> {
        let mut state = lock(&self.state);
        if state.failing_spawns > 0 {
            state.failing_spawns -= 1;
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "fake: spawn refused",
            ));
        }
        let (exit, _) = watch::channel(None);
        let (progress, _) = watch::channel(Progress::default());
        let handle = FakeProcessHandle {
            shared: Arc::new(FakeShared {
                argv,
                cwd: cwd.to_path_buf(),
                pid: NEXT_PID.fetch_add(1, Ordering::Relaxed),
                bytes: Mutex::new(Vec::new()),
                stdin_closed: Mutex::new(false),
                stderr: Mutex::new(Vec::new()),
                exit,
                progress,
                segments: Mutex::default(),
            }),
        };
        state.spawned.push(handle.clone());
        Ok(Box::new(FakeProcess {
            handle,
            stdin_taken: false,
        }))
    }
}

struct FakeShared {
    argv: Vec<OsString>,
    cwd: PathBuf,
    pid: u32,
    bytes: Mutex<Vec<u8>>,
    stdin_closed: Mutex<bool>,
    stderr: Mutex<Vec<String>>,
    exit: watch::Sender<Option<ExitStatus>>,
    progress: watch::Sender<Progress>,
    /// Durations of the segments written so far, per rendition.
    segments: Mutex<std::collections::HashMap<String, Vec<f64>>>,
}

/// The test's side of one fake process.
#[derive(Clone)]
pub struct FakeProcessHandle {
    shared: Arc<FakeShared>,
}

impl FakeProcessHandle {
    pub fn argv(&self) -> Vec<OsString> {
        self.shared.argv.clone()
    }

    pub fn cwd(&self) -> PathBuf {
        self.shared.cwd.clone()
    }

    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// Everything written to stdin so far.
    pub fn bytes_written(&self) -> Vec<u8> {
        lock(&self.shared.bytes).clone()
    }

    pub fn stdin_closed(&self) -> bool {
        *lock(&self.shared.stdin_closed)
    }

    /// `Some` once the process has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.shared.exit.borrow()
    }

    /// The process dies with exit code `code` (a later exit is ignored).
    pub fn crash(&self, code: i32) {
        self.exit_with(ExitStatus::from_raw((code & 0xff) << 8));
    }

    /// The process exits with code 0.
    pub fn finish(&self) {
        self.exit_with(ExitStatus::from_raw(0));
    }

    /// Publishes a progress report, as ffmpeg's `-progress` would.
    pub fn report_progress(&self, progress: Progress) {
        self.shared.progress.send_replace(progress);
    }

    /// Writes a finished segment of `rendition` as ffmpeg does: `{cwd}/{rendition}/seg-N.ts`
    /// first, then the rendition's `index.m3u8` listing it (the real argv puts each rendition
    /// there; see [`rendition_dir`](super::rendition_dir)).
    pub fn write_segment(&self, rendition: &str, duration: f64, data: &[u8]) -> io::Result<()> {
        let dir = super::rendition_dir(&self.shared.cwd, rendition);
        std::fs::create_dir_all(&dir)?;
        let mut all = lock(&self.shared.segments);
        let list = all.entry(rendition.to_owned()).or_default();
        std::fs::write(dir.join(format!("seg-{}.ts", list.len())), data)?;
        list.push(duration);
        let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n");
        text.push_str("#EXT-X-MEDIA-SEQUENCE:0\n");
        for (i, d) in list.iter().enumerate() {
            text.push_str(&format!("#EXTINF:{d:.6},\nseg-{i}.ts\n"));
        }
        let playlist = super::playlist_path(&self.shared.cwd, rendition);
        let tmp = playlist.with_extension("m3u8.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, playlist)
    }

    /// Adds a line to the stderr tail.
    pub fn write_stderr(&self, line: &str) {
        lock(&self.shared.stderr).push(line.to_owned());
    }

    fn exit_with(&self, status: ExitStatus) {
        self.shared.exit.send_if_modified(|s| {
            if s.is_some() {
                return false;
            }
            *s = Some(status);
            true
        });
    }
}

/// What [`FakeTranscoder::spawn`] returns.
pub struct FakeProcess {
    handle: FakeProcessHandle,
    stdin_taken: bool,
}

impl TranscodeProcess for FakeProcess {
    fn pid(&self) -> Option<u32> {
        self.handle
            .exit_status()
            .is_none()
            .then_some(self.handle.pid())
    }

    fn take_stdin(&mut self) -> Option<StdinWriter> {
        if std::mem::replace(&mut self.stdin_taken, true) {
            return None;
        }
        Some(Box::new(FakeStdin {
            handle: self.handle.clone(),
        }))
    }

    fn progress(&self) -> watch::Receiver<Progress> {
        self.handle.shared.progress.subscribe()
    }

    fn stderr_tail(&self) -> Vec<String> {
        lock(&self.handle.shared.stderr).clone()
    }

    fn kill(&mut self) -> io::Result<()> {
        // SIGKILL, as the real one.
        self.handle.exit_with(ExitStatus::from_raw(9));
        Ok(())
    }

    fn wait(&mut self) -> ProcessWait<'_> {
        let mut rx = self.handle.shared.exit.subscribe();
        Box::pin(async move {
            let status = rx
                .wait_for(Option::is_some)
                .await
                .map_err(|_| io::Error::other("fake process dropped"))?;
            (*status).ok_or_else(|| io::Error::other("fake process has no status"))
        })
    }
}

struct FakeStdin {
    handle: FakeProcessHandle,
}

impl FakeStdin {
    fn close(&self) {
        *lock(&self.handle.shared.stdin_closed) = true;
        self.handle.finish();
    }
}

impl AsyncWrite for FakeStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.handle.exit_status().is_some() || self.handle.stdin_closed() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        lock(&self.handle.shared.bytes).extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for FakeStdin {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn records_argv_and_bytes_and_exits_when_stdin_closes() {
        let fake = FakeTranscoder::new();
        let mut proc = fake
            .spawn(vec!["-i".into(), "pipe:0".into()], Path::new("/tmp"))
            .unwrap();
        let handle = fake.last().unwrap();
        assert_eq!(handle.argv(), ["-i", "pipe:0"]);
        assert_eq!(proc.pid(), Some(handle.pid()));
        let mut stdin = proc.take_stdin().unwrap();
        assert!(proc.take_stdin().is_none());
        stdin.write_all(b"FLV\x01").await.unwrap();
        stdin.write_all(b"tag").await.unwrap();
        assert_eq!(handle.bytes_written(), b"FLV\x01tag");
        assert!(handle.exit_status().is_none());
        drop(stdin);
        let status = proc.wait().await.unwrap();
        assert!(status.success() && handle.stdin_closed());
        assert_eq!(proc.pid(), None);
    }

    #[tokio::test]
    async fn crash_breaks_the_pipe_and_reports_the_code() {
        let fake = FakeTranscoder::new();
        let mut proc = fake.spawn(vec![], Path::new("/")).unwrap();
        let mut stdin = proc.take_stdin().unwrap();
        let handle = fake.last().unwrap();
        let waiter = tokio::spawn(async move { proc.wait().await.map(|s| s.code()) });
        handle.crash(1);
        assert_eq!(waiter.await.unwrap().unwrap(), Some(1));
        let err = stdin.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }

    #[tokio::test]
    async fn kill_progress_stderr_and_failing_spawns() {
        let fake = FakeTranscoder::new();
        fake.fail_next_spawns(1);
        assert!(fake.spawn(vec![], Path::new("/")).is_err());
        let mut proc = fake.spawn(vec![], Path::new("/")).unwrap();
        let handle = fake.last().unwrap();
        assert_eq!(fake.spawned().len(), 1);
        let rx = proc.progress();
        handle.report_progress(Progress {
            frame: 7,
            reports: 1,
            ..Progress::default()
        });
        assert_eq!(rx.borrow().frame, 7);
        handle.write_stderr("boom");
        assert_eq!(proc.stderr_tail(), ["boom"]);
        proc.kill().unwrap();
        let status = proc.wait().await.unwrap();
        assert_eq!(
            (
                status.code(),
                std::os::unix::process::ExitStatusExt::signal(&status)
            ),
            (None, Some(9))
        );
    }
}
