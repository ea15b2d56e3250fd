//! The stream actor's lifecycle and its handlers: thin, each hands its message to the methods
//! in the parent module (attach), [`super::end`] and [`super::health`].

use std::time::Instant;

use actix::prelude::*;

use super::*;

// ---------------------------------------------------------------------------------------------
// Actor

impl Actor for StreamActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let _g = self.span.clone().entered();
        tracing::info!(work_dir = %self.work_dir.display(), "stream started");
        if let Err(e) = std::fs::create_dir_all(&self.work_dir) {
            tracing::error!(error = %e, "creating the work dir failed");
        }
        self.start_segment(ctx);
        self.start_thumbnail(ctx);
        if let Some(first) = self.first_publisher.take() {
            let _ = self.attach(first, ctx);
        }
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

impl Handler<AttachPublisher> for StreamActor {
    type Result = Result<(), Refused>;

    fn handle(&mut self, msg: AttachPublisher, ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        self.attach(msg, ctx)
    }
}

impl Handler<EndStream> for StreamActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: EndStream, ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        let mut done = self.begin_end(msg.reason, ctx);
        Box::pin(async move {
            // Err: the actor is gone, which only happens after the end.
            let _ = done.wait_for(|d| *d).await;
        })
    }
}

impl Handler<GetStreamHealth> for StreamActor {
    type Result = MessageResult<GetStreamHealth>;

    fn handle(&mut self, _: GetStreamHealth, _ctx: &mut Self::Context) -> Self::Result {
        let _h = self.stats.handling();
        MessageResult(self.health())
    }
}

/// Test builds only: the actor stops without ending its broadcast (as a crash would).
#[cfg(any(test, feature = "fault-injection"))]
impl Handler<crate::supervision::InjectFault> for StreamActor {
    type Result = ();

    fn handle(&mut self, msg: crate::supervision::InjectFault, ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        let reason = msg.reason_or_panic();
        tracing::warn!(%reason, "stream: injected fault");
        ctx.stop();
    }
}

impl Handler<ChildExited> for StreamActor {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, _ctx: &mut Self::Context) {
        let _h = self.stats.handling();
        let _g = self.span.clone().entered();
        let now = Instant::now();
        let action = self
            .core
            .child_exited(msg.kind, msg.generation, &msg.reason, now);
        match action {
            ExitAction::Ignore => {}
            ExitAction::PublisherGone => {
                tracing::info!(grace_s = self.deps.cfg.grace.as_secs_f64(), reason = %msg.reason, "publisher left");
                self.ingest = None;
                if let Some(s) = &self.session {
                    s.queue.close();
                }
            }
            ExitAction::Idle => {
                tracing::info!(reason = %msg.reason, "ffmpeg finished");
                self.transcode = None;
            }
            ExitAction::Restart(delay) => {
                tracing::warn!(child = msg.kind.as_str(), reason = %msg.reason, ?delay, "child exited: restarting");
                match msg.kind {
                    ChildKind::Transcode => self.transcode = None,
                    ChildKind::Thumbnail => self.thumbnail = None,
                    ChildKind::Segment => {
                        self.segment = None;
                        // The core delays ffmpeg's restart as well.
                        self.retire_transcode();
                    }
                    ChildKind::Ingest => {}
                }
            }
        }
    }
}
