//! Thumbnail: a JPEG of the stream every few seconds.
//!
//! Parent: [`StreamActor`](super::StreamActor), seen as a `CountedRecipient<ChildExited>`. Children:
//! one picture at a time from its [`Thumbnailer`] (in production a short-lived ffmpeg), bounded
//! by [`THUMBNAIL_TIMEOUT`]. In: its own timer, [`StopChild`].
//! Out: the JPEG into the channel's [`StreamEntry`] (served by
//! [`HlsDirectory::thumbnail`](crate::HlsDirectory::thumbnail)) and the object store at
//! `thumbnails/{slug}.jpg`. A failed decode is logged and retried on the next tick; it is not a
//! reason to exit.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use streamhall_media::objects::ObjectStore;
use streamhall_media::transcode::Thumbnailer;
use tracing::Instrument;

use crate::directory::StreamEntry;
use crate::locks::{lock, write};
use crate::supervision::{ChildLink, StopChild};

/// Longest an ffmpeg decode may take.
pub const THUMBNAIL_TIMEOUT: Duration = Duration::from_secs(5);

/// Internal: one decode finished.
#[derive(Message)]
#[rtype(result = "()")]
struct ThumbnailDone(Result<Bytes, String>);

pub struct Thumbnail {
    link: ChildLink,
    slug: String,
    entry: Arc<StreamEntry>,
    objects: Arc<dyn ObjectStore>,
    thumbnailer: Arc<dyn Thumbnailer>,
    interval: Duration,
    busy: bool,
    last_source: Option<Bytes>,
    span: tracing::Span,
}

impl Thumbnail {
    pub fn new(
        link: ChildLink,
        slug: String,
        entry: Arc<StreamEntry>,
        objects: Arc<dyn ObjectStore>,
        thumbnailer: Arc<dyn Thumbnailer>,
        interval: Duration,
        span: tracing::Span,
    ) -> Self {
        Self {
            link,
            slug,
            entry,
            objects,
            thumbnailer,
            interval,
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
        let decode = self.thumbnailer.jpeg(segment);
        let addr = ctx.address();
        tokio::spawn(async move {
            let res = tokio::time::timeout(THUMBNAIL_TIMEOUT, decode)
                .await
                .unwrap_or_else(|_| Err("ffmpeg timed out".into()));
            // One message per decode, and the actor waits for it before the next one.
            addr.do_send(ThumbnailDone(res));
        });
    }
}

impl Actor for Thumbnail {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |act, ctx| {
            let _h = act.link.stats().handling_own();
            act.tick(ctx);
        });
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.link.exited("stopped".into());
    }
}

impl Handler<ThumbnailDone> for Thumbnail {
    type Result = ();

    fn handle(&mut self, msg: ThumbnailDone, _ctx: &mut Self::Context) {
        // The actor's own message (its decode task's answer): never mailbox depth.
        let _h = self.link.stats().handling_own();
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
        let _h = self.link.stats().handling();
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use chrono::Utc;
    use streamhall_media::hls::{LiveWindow, LlWindow};
    use streamhall_media::objects::FsObjectStore;
    use streamhall_media::transcode::FakeThumbnailer;

    use super::*;
    use crate::locks::read;
    use crate::stats::{ActorStats, DeadLetters, Mailbox};
    use crate::supervision::{ChildExited, ChildKind};

    /// Stands in for the stream actor: takes the child's exit report.
    struct Parent;

    impl Actor for Parent {
        type Context = Context<Self>;
    }

    impl Handler<ChildExited> for Parent {
        type Result = ();

        fn handle(&mut self, _: ChildExited, _: &mut Self::Context) {}
    }

    async fn until(what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !ok() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[actix_web::test]
    async fn each_new_segment_becomes_one_picture_and_a_failure_keeps_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let entry = Arc::new(StreamEntry::new(
            1,
            Utc::now(),
            LiveWindow::new(Vec::new(), 3, 1),
            LlWindow::new(0.5, 1.0, 3, 0),
            None,
        ));
        let fake = FakeThumbnailer::new(&b"jpeg-1"[..]);
        let objects: Arc<dyn ObjectStore> = Arc::new(FsObjectStore::new(dir.path()));
        let counted = |kind| ActorStats::new(kind, DeadLetters::default());
        let parent = Mailbox::new(Parent.start(), counted("stream"));
        Thumbnail::new(
            ChildLink::new(
                ChildKind::Thumbnail,
                1,
                parent.recipient(),
                counted("thumbnail"),
            ),
            "chan".into(),
            Arc::clone(&entry),
            Arc::clone(&objects),
            Arc::new(fake.clone()),
            Duration::from_millis(10),
            tracing::Span::none(),
        )
        .start();

        *lock(&entry.latest_low_segment) = Some(Bytes::from_static(b"segment-1"));
        until("the first picture", || read(&entry.thumbnail).is_some()).await;
        assert_eq!(read(&entry.thumbnail).clone().unwrap(), "jpeg-1");
        until("stored", || dir.path().join("thumbnails/chan.jpg").exists()).await;
        // Ticks without a new segment ask nothing more.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(fake.seen().len(), 1);

        fake.fail_with("no frame");
        *lock(&entry.latest_low_segment) = Some(Bytes::from_static(b"segment-2"));
        until("the second request", || fake.seen().len() == 2).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            read(&entry.thumbnail).clone().unwrap(),
            "jpeg-1",
            "a failed picture leaves the last good one"
        );
    }
}
