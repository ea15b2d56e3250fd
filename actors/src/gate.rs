//! [`IngestGate`]: the RTMP server's [`PublishHandler`]. Looks the stream key up by its hash,
//! compares in constant time, and hands the publish to the [`Registry`]. The key is never
//! logged.

use std::future::Future;
use std::pin::Pin;

use actix::Addr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::ExposeSecret;
use streamhall_entities::{Channel, channel, secret};
use streamhall_media::rtmp::{PublishGrant, PublishHandler, PublishRejected, PublishRequest};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::registry::{PublishRequested, Registry};

/// Events buffered between the RTMP connection and the Ingest actor; when full the
/// connection waits (backpressure onto TCP).
pub const SINK_CAPACITY: usize = 512;

pub struct IngestGate {
    db: DatabaseConnection,
    registry: Addr<Registry>,
}

impl IngestGate {
    pub fn new(db: DatabaseConnection, registry: Addr<Registry>) -> Self {
        Self { db, registry }
    }
}

impl PublishHandler for IngestGate {
    fn publish(
        &self,
        req: PublishRequest,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishRejected>> + Send>> {
        let db = self.db.clone();
        let registry = self.registry.clone();
        Box::pin(async move {
            let hash = secret::sha256_hex(req.stream_key.expose_secret());
            let found = Channel::find()
                .filter(channel::Column::StreamKeyHash.eq(hash.as_str()))
                .one(&db)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "stream key lookup failed");
                    PublishRejected::Internal
                })?;
            let Some(ch) = found.filter(|c| secret::hashes_match(&c.stream_key_hash, &hash)) else {
                tracing::warn!(peer = %req.peer, "publish rejected: unknown stream key");
                return Err(PublishRejected::BadKey);
            };
            tracing::info!(channel = %ch.slug, peer = %req.peer, encoder = ?req.encoder, "publish accepted");
            let (sink, events) = mpsc::channel(SINK_CAPACITY);
            let kick = CancellationToken::new();
            registry
                .send(PublishRequested {
                    channel: ch,
                    events,
                    kick: kick.clone(),
                })
                .await
                .map_err(|_| PublishRejected::Internal)??;
            Ok(PublishGrant { sink, kick })
        })
    }
}
