//! Opening a broadcast: the channel's lease taken (or refused), the rows written, the HLS entry
//! and the recorder made, the stream actor started as the registry's child.

use std::sync::Arc;

use actix::prelude::*;
use streamhall_entities::channel;
use streamhall_media::hls::{LiveWindow, LlWindow};
use streamhall_media::ingest::PublishRejected;

use super::*;

/// Why a broadcast could not open.
enum OpenFailed {
    Refused(PublishRejected),
    Db(sea_orm::DbErr),
}

/// Takes the channel's lease before its broadcast opens. Another live node holding it refuses
/// the publish; a lease that expired (its node died) is taken over, and what the old owner
/// left open is closed first (exactly once across nodes). With Redis unreachable the database
/// decides: a broadcast of the channel open on another node refuses, else this node goes ahead.
async fn take_ownership(
    cluster: &crate::Cluster,
    db: &sea_orm::DatabaseConnection,
    bus: &crate::Bus,
    channel: &channel::Model,
) -> Result<(), OpenFailed> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use streamhall_entities::{Broadcast, broadcast};
    let me = cluster.node_id();
    let lease = cluster.acquire(&channel.slug).await;
    let open = Broadcast::find()
        .filter(broadcast::Column::ChannelId.eq(channel.id))
        .filter(broadcast::Column::EndedAt.is_null())
        .all(db)
        .await
        .map_err(OpenFailed::Db)?;
    let elsewhere: Vec<&broadcast::Model> = open
        .iter()
        .filter(|b| b.owner_node.as_deref() != Some(me))
        .collect();
    match lease {
        Ok(()) => {
            for b in elsewhere {
                tracing::warn!(channel = %channel.slug, broadcast_id = b.id, owner = b.owner_node.as_deref().unwrap_or("?"), "taking over a channel whose node stopped renewing its lease");
                crate::cluster::close_orphan(db, bus, b.id, me).await;
            }
            Ok(())
        }
        Err(crate::cluster::LeaseRefused::HeldBy(holder)) => {
            tracing::warn!(channel = %channel.slug, owner = %holder.node, "publish refused: the channel is live on another node");
            Err(OpenFailed::Refused(PublishRejected::LiveElsewhere))
        }
        Err(crate::cluster::LeaseRefused::Unavailable(e)) if !elsewhere.is_empty() => {
            tracing::warn!(channel = %channel.slug, error = %e, "publish refused: Redis is unreachable and the channel is open on another node");
            Err(OpenFailed::Refused(PublishRejected::LiveElsewhere))
        }
        Err(crate::cluster::LeaseRefused::Unavailable(e)) => {
            tracing::warn!(channel = %channel.slug, error = %e, "Redis is unreachable: opening the broadcast without a lease (taken when Redis answers)");
            Ok(())
        }
    }
}

impl Registry {
    /// A new broadcast: the row, the HLS entry, the stream actor, the bus event.
    pub(super) fn open(
        &mut self,
        channel: channel::Model,
        attach: AttachPublisher,
    ) -> ResponseActFuture<Self, Result<(), PublishRejected>> {
        let db = self.deps.db.clone();
        let node_id = self.deps.cfg.node_id.clone();
        let cluster = self.deps.cluster.clone();
        let bus = self.deps.bus.clone();
        let fut = async move {
            if let Err(refused) = take_ownership(&cluster, &db, &bus, &channel).await {
                return (channel, Err(refused));
            }
            let res = async {
                let b = crate::db::open_broadcast(&db, &channel, &node_id).await?;
                let v = crate::recording::open_video(&db, &channel, b.id, &node_id).await?;
                Ok::<_, sea_orm::DbErr>((b, v))
            }
            .await;
            if res.is_err() {
                cluster.release(&channel.slug, 0).await;
            }
            (channel, res.map_err(OpenFailed::Db))
        };
        Box::pin(
            actix::fut::wrap_future::<_, Self>(fut).map(move |(channel, res), act, ctx| {
                let (b, video) = match res {
                    Ok(bv) => bv,
                    Err(OpenFailed::Refused(r)) => return Err(r),
                    Err(OpenFailed::Db(e)) => {
                        tracing::error!(channel = %channel.slug, error = %e, "opening the broadcast failed");
                        act.last_error = Some(format!("opening a broadcast: {e}"));
                        return Err(PublishRejected::Internal);
                    }
                };
                let spec = StreamSpec {
                    channel_id: channel.id,
                    slug: channel.slug.clone(),
                    title: b.title.clone(),
                    broadcast_id: b.id,
                    started_at: b.started_at,
                };
                let cfg = &act.deps.cfg;
                // Numbering from the start time keeps segment URLs unique across broadcasts.
                let first_seq = u64::try_from(b.started_at.timestamp()).unwrap_or(0) * 1000;
                let window = LiveWindow::starting_at(
                    Vec::new(),
                    cfg.hls_window,
                    cfg.ladder.segment_seconds,
                    first_seq,
                );
                let ll = LlWindow::new(
                    f64::from(cfg.ladder.part_ms) / 1000.0,
                    f64::from(cfg.ladder.segment_seconds),
                    cfg.hls_window,
                    first_seq,
                );
                let recorder = Recorder::new(
                    &video,
                    &channel.slug,
                    act.deps.db.clone(),
                    Arc::clone(&act.deps.objects),
                    cfg.recording.clone(),
                );
                recorder.start();
                let entry = Arc::new(StreamEntry::new(b.id, b.started_at, window, ll, Some(recorder)));
                act.deps.hls.insert(&spec.slug, Arc::clone(&entry));
                act.deps.presence.begin_broadcast(&spec.slug, b.id);
                let stats = ActorStats::new("stream", act.dead_letters.clone());
                let me = Mailbox::new(ctx.address(), Arc::clone(&act.stats));
                let stream = Mailbox::new(
                    StreamActor::new(
                        spec.clone(),
                        Arc::clone(&act.deps),
                        entry,
                        me.recipient(),
                        attach,
                        Arc::clone(&stats),
                    )
                    .start(),
                    stats,
                );
                act.core.insert(
                    &spec.slug,
                    Slot {
                        addr: stream,
                        channel_id: spec.channel_id,
                        broadcast_id: b.id,
                    },
                );
                tracing::info!(channel = %spec.slug, broadcast_id = b.id, "broadcast started");
                Ok(())
            }),
        )
    }
}
