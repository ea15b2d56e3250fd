//! Storing messages: one batch at a time, and after a failed store, settling what the
//! database holds before the next write (so a retry of a message whose commit went through
//! is acked, not stored twice).

use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;

use super::super::core::RoomCore;
use super::super::store;
use super::{ChatRoom, RoomEvent};
use crate::locks::lock;

/// How long one store (or the read that settles a failed one) may take before its senders
/// are told to retry: a database that is down makes connecting wait much longer.
const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// `fut`, failing with a timeout after [`STORE_TIMEOUT`] (dropping it rolls back whatever it
/// had begun; a commit already sent is found by [`ChatRoom::settle`]).
async fn in_time<T>(
    fut: impl Future<Output = Result<T, sea_orm::DbErr>>,
) -> Result<T, sea_orm::DbErr> {
    tokio::time::timeout(STORE_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| {
            Err(sea_orm::DbErr::Custom(format!(
                "no answer from the database within {} s",
                STORE_TIMEOUT.as_secs()
            )))
        })
}

impl ChatRoom {
    /// Starts storing the next batch unless one is being stored.
    pub(super) fn write_next(&mut self, ctx: &mut Context<Self>) {
        if self.writing {
            return;
        }
        if self.unsure {
            self.settle(ctx);
            return;
        }
        let Some(batch) = self.core.as_mut().and_then(RoomCore::take_batch) else {
            return;
        };
        self.writing = true;
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        let sent_at = Utc::now();
        let fut =
            in_time(async move { store::insert_batch(&db, channel_id, &batch, sent_at).await });
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            act.writing = false;
            let Some(core) = act.core.as_mut() else { return };
            match res {
                Ok(first) => {
                    let stored = core.batch_committed(first, sent_at);
                    if let Some(cluster) = &act.deps.cluster {
                        for m in stored {
                            cluster.publish(channel_id, RoomEvent::Message(m));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(channel = %act.key.slug, error = %e, "chat: storing messages failed; senders told to retry");
                    *lock(&act.stats.last_error) = Some(format!("storing messages: {e}"));
                    core.batch_failed(why_not_stored(&e));
                    act.unsure = true;
                }
            }
            act.schedule_flush(ctx);
            act.update_stats();
            act.write_next(ctx);
        }));
    }

    /// After a failed store: delivers what the database holds past the head (a commit whose
    /// reply was lost among it), acks waiting retries of those messages with their ids, and
    /// only then stores the rest. While the database stays away, waiting sends are refused.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        let Some(head) = self
            .core
            .as_ref()
            .filter(|c| c.pending() > 0)
            .map(RoomCore::head)
        else {
            return;
        };
        self.writing = true;
        let db = self.deps.db.clone();
        let channel_id = self.key.channel_id;
        let fut = in_time(async move {
            let last = store::last_message_id(&db, channel_id).await?;
            if last > head {
                store::range(&db, channel_id, head + 1, last).await
            } else {
                Ok(Vec::new())
            }
        });
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            act.writing = false;
            let Some(core) = act.core.as_mut() else { return };
            match res {
                Ok(rows) => {
                    let now = Instant::now();
                    for m in rows {
                        core.accept(m, now);
                    }
                    let settled = core.settle_stored();
                    if settled > 0 {
                        tracing::info!(channel = %act.key.slug, settled, "chat: retried messages were stored before the failure; acked, not stored again");
                    }
                    act.unsure = false;
                }
                Err(e) => {
                    *lock(&act.stats.last_error) = Some(format!("storing messages: {e}"));
                    core.fail_waiting(why_not_stored(&e));
                }
            }
            act.schedule_flush(ctx);
            act.update_stats();
            if !act.unsure {
                act.write_next(ctx);
            }
        }));
    }
}

/// What a sender is told when its message could not be stored.
fn why_not_stored(e: &sea_orm::DbErr) -> &'static str {
    if crate::disk::db_full(e) {
        "the server's storage is full"
    } else {
        "the database is unavailable"
    }
}
