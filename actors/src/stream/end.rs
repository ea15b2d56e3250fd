//! How a broadcast ends: once, whatever ends it (grace expiry, an admin, shutdown, the actor
//! going abnormally): children stopped, `#EXT-X-ENDLIST`, rows closed, the lease released, the
//! bus told, the registry told last.

use std::future::Future;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;
use tracing::Instrument;

use super::*;

impl StreamActor {
    /// Ends the broadcast (once): children stopped, `#EXT-X-ENDLIST`, rows closed, bus told,
    /// the registry told last, then the actor stops. Meanwhile it still answers health queries
    /// and refuses publishers (the registry then opens the next broadcast). Returns a receiver
    /// that turns `true` when done.
    pub(super) fn begin_end(
        &mut self,
        reason: EndReason,
        ctx: &mut Context<Self>,
    ) -> watch::Receiver<bool> {
        if self.ending {
            return self.ended.subscribe();
        }
        let end = self.end(reason);
        ctx.spawn(end);
        self.ended.subscribe()
    }

    pub(super) fn end(&mut self, reason: EndReason) -> impl ActorFuture<Self, Output = ()> + use<> {
        let fut = self.end_work(reason);
        actix::fut::wrap_future::<_, Self>(fut).map(|_, act, ctx| {
            act.ended.send_replace(true);
            ctx.stop();
        })
    }

    /// The work of ending, as a plain future (it needs no actor, so `Drop` can run it too).
    pub(super) fn end_work(&mut self, reason: EndReason) -> impl Future<Output = ()> + use<> {
        self.ending = true;
        self.core.end();
        if let Some(i) = self.ingest.take() {
            i.do_send(StopIngest);
        }
        if let Some(s) = self.session.take() {
            s.queue.close();
        }
        self.retire_transcode();
        if let Some(t) = self.thumbnail.take() {
            t.do_send(StopChild);
        }
        self.restreams.stop_all();
        let segment = self.segment.take();
        let deps = Arc::clone(&self.deps);
        let entry = Arc::clone(&self.entry);
        let spec = self.spec.clone();
        let work_dir = self.work_dir.clone();
        let parent = self.parent.clone();
        let span = self.span.clone();
        let announced = self.status.announced();
        let fut = async move {
            tracing::info!(?reason, "broadcast ending");
            match segment {
                Some(seg) => {
                    let _ = seg.send(FinishSegments).await;
                    seg.do_send(StopChild);
                }
                None => entry.end(),
            }
            // Uploads what is left and writes the VOD in the background: the broadcast ends
            // now, the video is `processing` until then.
            if let Some(rec) = &entry.recorder {
                rec.finish();
            }
            if let Err(e) = tokio::fs::remove_dir_all(&work_dir).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(error = %e, dir = %work_dir.display(), "removing the work dir failed");
            }
            let peak = deps.presence.end_broadcast(&spec.slug, spec.broadcast_id);
            if let Err(e) =
                crate::db::close_broadcast(&deps.db, spec.channel_id, spec.broadcast_id, peak).await
            {
                tracing::error!(error = %e, "closing the broadcast row failed");
            }
            // Other nodes stop listing it at their next refresh (within a second).
            deps.cluster.release(&spec.slug, spec.broadcast_id).await;
            // Subscribers heard of the broadcast only if it was announced.
            if announced {
                deps.bus.publish(BusEvent::StreamWentOffline {
                    channel_id: spec.channel_id,
                    slug: spec.slug.clone(),
                    broadcast_id: spec.broadcast_id,
                });
            }
            // Players get the ENDLIST for a while, then the channel has no HLS until next time.
            let hls = deps.hls.clone();
            let retention = deps.cfg.ended_retention;
            let (slug, id) = (spec.slug.clone(), spec.broadcast_id);
            tokio::spawn(async move {
                tokio::time::sleep(retention).await;
                hls.remove_if(&slug, id);
            });
            // Exactly one per stream, to its one parent.
            parent.do_send(StreamStopped {
                slug: spec.slug,
                broadcast_id: spec.broadcast_id,
                abnormal: match reason {
                    EndReason::Abnormal(why) => Some(why),
                    _ => None,
                },
            });
            tracing::info!("broadcast ended");
        };
        fut.instrument(span)
    }
}

/// A stream actor that goes without ending its broadcast (stopped abnormally, or dropped by a
/// panic in a handler) still ends it: children stopped, ENDLIST, rows closed, the lease
/// released, `StreamWentOffline` if announced, and `StreamStopped` to the registry.
impl Drop for StreamActor {
    fn drop(&mut self) {
        self.stats.stopped();
        if self.ending {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let _g = self.span.clone().entered();
        tracing::error!("stream actor stopped without ending its broadcast: ending it now");
        let why = if self.stats.take_panicked() {
            "a handler panicked"
        } else {
            "stopped without ending its broadcast"
        };
        rt.spawn(self.end_work(EndReason::Abnormal(why)));
    }
}
