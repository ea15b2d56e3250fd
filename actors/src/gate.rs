//! [`IngestGate`]: the RTMP and SRT listeners' [`PublishHandler`]. Looks the stream key up by
//! its hash, compares in constant time, and hands the publish to the [`Registry`]. The key is
//! never logged.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::{ExposeSecret, SecretString};
use streamhall_entities::secret::Sealer;
use streamhall_entities::{Channel, User, channel, secret, user};
use streamhall_media::ingest::{
    Admission, Decision, PublishGrant, PublishHandler, PublishRejected, PublishRequest,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::registry::{PublishRequested, Registry};
use crate::stats::Mailbox;

/// Events buffered between the publisher's connection and the Ingest actor; when full the
/// connection waits (backpressure onto TCP, or SRT's receive buffer).
pub const SINK_CAPACITY: usize = 512;

pub struct IngestGate {
    db: DatabaseConnection,
    registry: Mailbox<Registry>,
    sealer: Sealer,
    require_verified_email: bool,
}

impl IngestGate {
    pub fn new(db: DatabaseConnection, registry: Mailbox<Registry>, sealer: Sealer) -> Self {
        Self {
            db,
            registry,
            sealer,
            require_verified_email: false,
        }
    }

    /// Refuses channels whose owner has not verified their email address.
    pub fn requiring_verified_email(mut self, required: bool) -> Self {
        self.require_verified_email = required;
        self
    }
}

/// The channel whose stream key this is; `BadKey` if none.
async fn channel_for_key(
    db: &DatabaseConnection,
    req: &PublishRequest,
    require_verified_email: bool,
) -> Result<channel::Model, PublishRejected> {
    let hash = secret::sha256_hex(req.stream_key.expose_secret());
    let found = Channel::find()
        .filter(channel::Column::StreamKeyHash.eq(hash.as_str()))
        .one(db)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "stream key lookup failed");
            PublishRejected::Internal
        })?;
    let Some(ch) = found.filter(|c| secret::hashes_match(&c.stream_key_hash, &hash)) else {
        tracing::warn!(peer = %req.peer, protocol = %req.protocol, "publish rejected: unknown stream key");
        return Err(PublishRejected::BadKey);
    };
    let owner = User::find_by_id(ch.owner_id).one(db).await.map_err(|e| {
        tracing::error!(error = %e, "channel owner lookup failed");
        PublishRejected::Internal
    })?;
    let barred = owner_barred(owner.as_ref(), require_verified_email, chrono::Utc::now());
    if matches!(barred, Some(OwnerBar::Gone | OwnerBar::Suspended)) {
        tracing::warn!(channel = %ch.slug, peer = %req.peer, protocol = %req.protocol, "publish rejected: the channel's owner is suspended or gone");
        return Err(PublishRejected::BadKey);
    }
    if ch.source == "pull" {
        // Its video comes from a camera the server pulls; an encoder would fight it.
        tracing::warn!(channel = %ch.slug, peer = %req.peer, protocol = %req.protocol, "publish rejected: the channel pulls its source");
        return Err(PublishRejected::Busy);
    }
    if barred == Some(OwnerBar::Unverified) {
        tracing::warn!(channel = %ch.slug, peer = %req.peer, protocol = %req.protocol, "publish rejected: the owner's email address is not verified");
        return Err(PublishRejected::Unverified);
    }
    Ok(ch)
}

/// Why a channel's owner may not stream now, by push or pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerBar {
    /// No such account, or a deleted one.
    Gone,
    Suspended,
    /// The server requires a verified email address and theirs is not.
    Unverified,
}

/// What keeps `owner` from streaming at `now`, if anything: the one rule for the ingest gate
/// and for RTSP pulls.
pub fn owner_barred(
    owner: Option<&user::Model>,
    require_verified_email: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<OwnerBar> {
    let Some(owner) = owner.filter(|o| o.deleted_at.is_none()) else {
        return Some(OwnerBar::Gone);
    };
    if owner.suspension(now).is_some() {
        Some(OwnerBar::Suspended)
    } else if require_verified_email && !owner.email_verified() {
        Some(OwnerBar::Unverified)
    } else {
        None
    }
}

impl PublishHandler for IngestGate {
    fn publish(&self, req: PublishRequest) -> Decision<PublishGrant> {
        let db = self.db.clone();
        let registry = self.registry.clone();
        let require_verified_email = self.require_verified_email;
        Box::pin(async move {
            let ch = channel_for_key(&db, &req, require_verified_email).await?;
            tracing::info!(channel = %ch.slug, peer = %req.peer, protocol = %req.protocol, encoder = ?req.encoder, "publish accepted");
            let (sink, events) = mpsc::channel(SINK_CAPACITY);
            let kick = CancellationToken::new();
            registry
                .send(PublishRequested {
                    channel: ch,
                    events,
                    kick: kick.clone(),
                    protocol: req.protocol,
                })
                .await
                .map_err(|_| PublishRejected::Internal)??;
            Ok(PublishGrant { sink, kick })
        })
    }

    fn admit(&self, req: PublishRequest) -> Decision<Admission> {
        let db = self.db.clone();
        let sealer = self.sealer.clone();
        let require_verified_email = self.require_verified_email;
        Box::pin(async move {
            let ch = channel_for_key(&db, &req, require_verified_email).await?;
            let passphrase = match &ch.srt_passphrase {
                None => None,
                Some(sealed) => match sealer.open(sealed) {
                    Ok(p) => Some(SecretString::from(p)),
                    Err(e) => {
                        tracing::error!(channel = %ch.slug, error = %e, "srt passphrase unreadable");
                        return Err(PublishRejected::Internal);
                    }
                },
            };
            Ok(Admission { passphrase })
        })
    }
}
