//! Thumbnails behind a trait, as the transcoder is: [`FfmpegThumbnailer`] runs a short ffmpeg
//! per picture; [`FakeThumbnailer`] answers from memory for tests of the code that asks.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

/// What [`Thumbnailer::jpeg`] returns: the JPEG, or why there is none (one line).
pub type JpegFuture = Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send>>;

/// Turns a segment of video into a picture; the seam between the thumbnail child, the
/// recorder's poster frame and ffmpeg.
pub trait Thumbnailer: Send + Sync + 'static {
    /// The first frame of an MPEG-TS segment as a JPEG, 360 lines high. The caller bounds how
    /// long it may take.
    fn jpeg(&self, segment: Bytes) -> JpegFuture;
}

/// ffmpeg's arguments for [`FfmpegThumbnailer`]: MPEG-TS on stdin, one MJPEG frame on stdout.
pub fn thumbnail_argv() -> Vec<OsString> {
    [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "mpegts",
        "-i",
        "pipe:0",
        "-frames:v",
        "1",
        "-vf",
        "scale=-2:360",
        "-f",
        "image2",
        "-c:v",
        "mjpeg",
        "-q:v",
        "5",
        "pipe:1",
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

/// The real thumbnailer: runs `program` (normally the configured ffmpeg) once per picture.
#[derive(Debug, Clone)]
pub struct FfmpegThumbnailer {
    program: PathBuf,
}

impl FfmpegThumbnailer {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }
}

impl Thumbnailer for FfmpegThumbnailer {
    fn jpeg(&self, segment: Bytes) -> JpegFuture {
        let program = self.program.clone();
        Box::pin(async move {
            let mut child = tokio::process::Command::new(program)
                .args(thumbnail_argv())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("ffmpeg did not start: {e}"))?;
            let mut stdin = child.stdin.take().ok_or("no stdin")?;
            let writer = tokio::spawn(async move {
                // ffmpeg may stop reading after the first frame: a broken pipe is expected.
                let _ = stdin.write_all(&segment).await;
                let _ = stdin.shutdown().await;
            });
            let out = child
                .wait_with_output()
                .await
                .map_err(|e| format!("ffmpeg failed: {e}"))?;
            writer.abort();
            if !out.status.success() || out.stdout.is_empty() {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(format!(
                    "ffmpeg exited with {}: {}",
                    out.status,
                    err.lines().last().unwrap_or_default()
                ));
            }
            Ok(Bytes::from(out.stdout))
        })
    }
}

/// A thumbnailer for tests: answers every request with the configured result and records the
/// segments it was given.
#[derive(Clone)]
pub struct FakeThumbnailer {
    answer: Arc<Mutex<Result<Bytes, String>>>,
    seen: Arc<Mutex<Vec<Bytes>>>,
}

impl FakeThumbnailer {
    /// Answers with `jpeg` until told otherwise.
    pub fn new(jpeg: impl Into<Bytes>) -> Self {
        Self {
            answer: Arc::new(Mutex::new(Ok(jpeg.into()))),
            seen: Arc::default(),
        }
    }

    /// From now on every request fails with `error`.
    pub fn fail_with(&self, error: &str) {
        *self.answer.lock().unwrap_or_else(|p| p.into_inner()) = Err(error.to_owned());
    }

    /// The segments asked about, oldest first.
    pub fn seen(&self) -> Vec<Bytes> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Thumbnailer for FakeThumbnailer {
    fn jpeg(&self, segment: Bytes) -> JpegFuture {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(segment);
        let answer = self
            .answer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Box::pin(async move { answer })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_argv_is_exactly_this() {
        let argv: Vec<String> = thumbnail_argv()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            argv.join(" "),
            "-hide_banner -nostdin -loglevel error -f mpegts -i pipe:0 -frames:v 1 \
             -vf scale=-2:360 -f image2 -c:v mjpeg -q:v 5 pipe:1"
        );
    }

    #[tokio::test]
    async fn the_fake_answers_and_remembers() {
        let fake = FakeThumbnailer::new(&b"jpeg"[..]);
        assert_eq!(fake.jpeg(Bytes::from_static(b"ts1")).await.unwrap(), "jpeg");
        fake.fail_with("broken");
        assert_eq!(
            fake.jpeg(Bytes::from_static(b"ts2")).await.unwrap_err(),
            "broken"
        );
        assert_eq!(
            fake.seen(),
            [Bytes::from_static(b"ts1"), Bytes::from_static(b"ts2")]
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_not_a_panic() {
        let t = FfmpegThumbnailer::new("/nonexistent/ffmpeg");
        let err = t.jpeg(Bytes::from_static(b"x")).await.unwrap_err();
        assert!(err.starts_with("ffmpeg did not start"), "{err}");
    }
}
