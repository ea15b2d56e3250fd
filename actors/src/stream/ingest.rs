//! Ingest: one publisher connection feeding the stream.
//!
//! Parent: [`StreamActor`](super::StreamActor), seen as a `CountedRecipient<ChildExited>`. Children:
//! none. In: the publisher's [`IngestEvent`]s (a bounded channel from the RTMP server, added as
//! a stream), [`StopIngest`]. Out: every tag into the [`IngestSession`] (stats, cached sequence
//! headers, the bounded queue to ffmpeg); [`ChildExited`] when the publisher leaves, is kicked
//! or stopped. Dropping the receiver tells the RTMP connection to close.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix::prelude::*;
use streamhall_media::ingest::IngestEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::session::IngestSession;
use crate::supervision::ChildLink;

/// Stop reading from the publisher (it was replaced, or the stream ends).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopIngest;

pub struct Ingest {
    link: ChildLink,
    session: Arc<IngestSession>,
    events: Option<mpsc::Receiver<IngestEvent>>,
    kick: CancellationToken,
    span: tracing::Span,
    exit_reason: String,
}

impl Ingest {
    pub fn new(
        link: ChildLink,
        session: Arc<IngestSession>,
        events: mpsc::Receiver<IngestEvent>,
        kick: CancellationToken,
        span: tracing::Span,
    ) -> Self {
        Self {
            link,
            session,
            events: Some(events),
            kick,
            span,
            exit_reason: "stopped".into(),
        }
    }
}

impl Actor for Ingest {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(rx) = self.events.take() {
            let stream = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|e| (e, rx))
            });
            ctx.add_stream(stream);
        }
        let kick = self.kick.clone();
        ctx.spawn(
            async move { kick.cancelled().await }
                .into_actor(self)
                .map(|_, act, ctx| {
                    act.exit_reason = "publisher kicked".into();
                    ctx.stop();
                }),
        );
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        let _g = self.span.clone().entered();
        tracing::info!(reason = %self.exit_reason, "ingest stopped");
        self.session.queue.close();
        self.link.exited(std::mem::take(&mut self.exit_reason));
    }
}

impl StreamHandler<IngestEvent> for Ingest {
    fn handle(&mut self, event: IngestEvent, _ctx: &mut Self::Context) {
        // Media arrives through the stream, not the mailbox: counted as handled, never as depth.
        let _h = self.link.stats().handling_own();
        self.session
            .observe(event, Instant::now(), SystemTime::now());
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.exit_reason = "publisher disconnected".into();
        ctx.stop();
    }
}

impl Handler<StopIngest> for Ingest {
    type Result = ();

    fn handle(&mut self, _: StopIngest, ctx: &mut Self::Context) {
        let _h = self.link.stats().handling();
        self.exit_reason = "stopped by the stream".into();
        ctx.stop();
    }
}
