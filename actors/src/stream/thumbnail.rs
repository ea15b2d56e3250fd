//! Thumbnail: a JPEG of the stream every few seconds.
//!
//! Parent: [`StreamActor`](super::StreamActor), seen as a `Recipient<ChildExited>`. Children:
//! one short-lived ffmpeg at a time (bounded by [`THUMBNAIL_TIMEOUT`]). In: its own timer,
//! [`StopChild`].
//! Out: the JPEG into the channel's [`StreamEntry`] (served by
//! [`HlsDirectory::thumbnail`](crate::HlsDirectory::thumbnail)) and the object store at
//! `thumbnails/{slug}.jpg`. A failed decode is logged and retried on the next tick; it is not a
//! reason to exit.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use streamhall_media::objects::ObjectStore;
use tokio::io::AsyncWriteExt;
use tracing::Instrument;

use crate::directory::{StreamEntry, lock, write};
use crate::supervision::{ChildExited, ChildKind, StopChild};

/// Longest an ffmpeg decode may take.
pub const THUMBNAIL_TIMEOUT: Duration = Duration::from_secs(5);

/// Internal: one decode finished.
#[derive(Message)]
#[rtype(result = "()")]
struct ThumbnailDone(Result<Bytes, String>);

pub struct Thumbnail {
    generation: u64,
    slug: String,
    entry: Arc<StreamEntry>,
    objects: Arc<dyn ObjectStore>,
    ffmpeg: PathBuf,
    interval: Duration,
    parent: Recipient<ChildExited>,
    busy: bool,
    last_source: Option<Bytes>,
    span: tracing::Span,
}

impl Thumbnail {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        generation: u64,
        slug: String,
        entry: Arc<StreamEntry>,
        objects: Arc<dyn ObjectStore>,
        ffmpeg: PathBuf,
        interval: Duration,
        parent: Recipient<ChildExited>,
        span: tracing::Span,
    ) -> Self {
        Self {
            generation,
            slug,
            entry,
            objects,
            ffmpeg,
            interval,
            parent,
            busy: false,
            last_source: None,
            span,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        let Some(segment) = lock(&self.entry.latest_low_segment).clone() else {
            return;
        };
        if self
            .last_source
            .as_ref()
            .is_some_and(|s| s.as_ptr() == segment.as_ptr())
        {
            return;
        }
        self.last_source = Some(segment.clone());
        self.busy = true;
        let ffmpeg = self.ffmpeg.clone();
        let addr = ctx.address();
        tokio::spawn(async move {
            let res = tokio::time::timeout(THUMBNAIL_TIMEOUT, decode_jpeg(ffmpeg, segment))
                .await
                .unwrap_or_else(|_| Err("ffmpeg timed out".into()));
            // One message per decode, and the actor waits for it before the next one.
            addr.do_send(ThumbnailDone(res));
        });
    }
}

/// The first frame of an MPEG-TS segment as a JPEG.
pub async fn decode_jpeg(ffmpeg: PathBuf, segment: Bytes) -> Result<Bytes, String> {
    let mut child = tokio::process::Command::new(ffmpeg)
        .args([
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
        ])
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
}

impl Actor for Thumbnail {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |act, ctx| act.tick(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        // A control message to one parent, never fan-out: it must not be lost to a full mailbox.
        self.parent.do_send(ChildExited {
            kind: ChildKind::Thumbnail,
            generation: self.generation,
            reason: "stopped".into(),
        });
    }
}

impl Handler<ThumbnailDone> for Thumbnail {
    type Result = ();

    fn handle(&mut self, msg: ThumbnailDone, _ctx: &mut Self::Context) {
        let _g = self.span.clone().entered();
        self.busy = false;
        match msg.0 {
            Ok(jpeg) => {
                *write(&self.entry.thumbnail) = Some(jpeg.clone());
                let objects = Arc::clone(&self.objects);
                let key = format!("thumbnails/{}.jpg", self.slug);
                tokio::spawn(
                    async move {
                        if let Err(e) = objects.put(&key, jpeg).await {
                            tracing::warn!(error = %e, "storing the thumbnail failed");
                        }
                    }
                    .instrument(self.span.clone()),
                );
            }
            Err(e) => tracing::warn!(error = %e, "thumbnail failed"),
        }
    }
}

impl Handler<StopChild> for Thumbnail {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
