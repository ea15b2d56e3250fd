//! The SRT ingest listener: an encoder (OBS, ffmpeg) calls `srt://HOST:9000` with the stream
//! key in its stream id; the [`PublishHandler`] admits it before the handshake completes (an
//! unknown key is rejected in the handshake, with a reject code) and tells which passphrase
//! the channel encrypts with; the MPEG-TS payload becomes the same [`IngestEvent`]s an RTMP
//! publisher produces.
//!
//! SRT itself comes from `srt-tokio`, whose upstream calls it unmaintained and not production
//! ready: it stays behind this module, and its interoperation with ffmpeg's libsrt is tested.
//! What was learned: a wrong passphrase is not a handshake reject there, `accept()` returns an
//! opaque error (counted here as a failed publish); the listener offers no per-IP limits, so
//! this module applies ours (the [`FailureLimiter`] shared with RTMP, a connection cap).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use srt_protocol::settings::KeySettings;
use srt_tokio::SrtListener;
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::options::{KeySize, Passphrase};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::flv::FlvTag;
use crate::ingest::{
    Admission, FailureLimiter, IngestEvent, Protocol, PublishHandler, PublishRejected,
    PublishRequest,
};
use crate::ts::{TsDemuxer, TsError};

/// Limits of the SRT listener. `Default` suits a public server.
#[derive(Debug, Clone)]
pub struct SrtConfig {
    /// The receive latency the listener asks for (the larger of both sides' wins). SRT holds
    /// packets this long to recover losses: glass-to-glass latency grows by it.
    pub latency: Duration,
    /// The handler must admit or refuse within this time.
    pub publish_decision_timeout: Duration,
    /// An admitted caller that sends no payload for this long is closed.
    pub idle_timeout: Duration,
    /// Publishers served at once; further callers are rejected with `Overload`.
    pub max_connections: usize,
}

impl Default for SrtConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(200),
            publish_decision_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// A bound SRT listener, not yet serving: binding first makes a port in use a plain error.
pub struct SrtServer {
    listener: SrtListener,
    incoming: srt_tokio::SrtIncoming,
    local_addr: SocketAddr,
    cfg: SrtConfig,
}

impl SrtServer {
    pub async fn bind(addr: SocketAddr, cfg: SrtConfig) -> std::io::Result<Self> {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        let local_addr = socket.local_addr()?;
        let (listener, incoming) = SrtListener::builder()
            .latency(cfg.latency)
            .socket(socket)
            .bind(local_addr)
            .await?;
        Ok(Self {
            listener,
            incoming,
            local_addr,
            cfg,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Admit callers until `shutdown` is cancelled; returns once every publisher has ended.
    /// srt-tokio's listener task can die (it panics on some handshakes this module does not
    /// foresee): the listener is then bound again on the same address, after a pause, with an
    /// error in the log; publishers already connected are not affected.
    pub async fn serve(
        self,
        handler: Arc<dyn PublishHandler>,
        limiter: Arc<FailureLimiter>,
        shutdown: CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(self.cfg.max_connections));
        let shared = Arc::new(Shared {
            cfg: self.cfg.clone(),
            handler,
            limiter,
        });
        let mut tasks = JoinSet::new();
        let (addr, cfg) = (self.local_addr, self.cfg.clone());
        let mut server = Some(self);
        let mut restarts = 0u32;
        while !shutdown.is_cancelled() {
            let current = match server.take() {
                Some(s) => s,
                None => match Self::bind(addr, cfg.clone()).await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(%addr, error = %e, "srt listener not bound again; retrying");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                },
            };
            if current
                .accept_until(&shared, &slots, &mut tasks, &shutdown)
                .await
            {
                break;
            }
            restarts += 1;
            tracing::error!(%addr, restarts, "srt listener died; binding it again");
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// `true` when stopped by `shutdown`, `false` when the listener died under it.
    async fn accept_until(
        mut self,
        shared: &Arc<Shared>,
        slots: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) -> bool {
        let incoming = self.incoming.incoming();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        warn!(error = %e, "srt connection task failed");
                    }
                }
                request = incoming.next() => {
                    // The listener task is gone; closing it would panic on its join.
                    let Some(request) = request else { return false };
                    let peer = request.remote();
                    if shared.limiter.is_blocked(peer.ip(), Instant::now()) {
                        debug!(%peer, "srt caller refused: too many failed publishes");
                        tasks.spawn(reject(request, ServerRejectReason::Forbidden));
                        continue;
                    }
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        warn!(%peer, "srt caller refused: connection limit reached");
                        tasks.spawn(reject(request, ServerRejectReason::Overload));
                        continue;
                    };
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    tasks.spawn(
                        async move {
                            admit(request, shared, shutdown).await;
                            drop(permit);
                        }
                        .instrument(info_span!("srt", %peer)),
                    );
                }
            }
        }
        self.listener.close().await;
        true
    }
}

struct Shared {
    cfg: SrtConfig,
    handler: Arc<dyn PublishHandler>,
    limiter: Arc<FailureLimiter>,
}

async fn reject(request: srt_tokio::ConnectionRequest, reason: ServerRejectReason) {
    if let Err(e) = request.reject(RejectReason::Server(reason)).await {
        debug!(error = %e, "srt reject not sent");
    }
}

/// What a caller asks for in its stream id.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamIdError {
    /// No stream id, or no key in it.
    MissingKey,
    /// `m=request` (playback) or another mode than publish.
    NotPublish,
}

/// The stream key from an SRT stream id: the access-control form `#!::r=live/KEY,m=publish`
/// (also `r=KEY`, any key order, `m` absent meaning publish as ffmpeg's `-f mpegts` callers
/// leave it), or the bare key (`KEY` or `live/KEY`).
pub fn stream_key_from_id(id: &str) -> Result<SecretString, StreamIdError> {
    let resource = match id.strip_prefix("#!::") {
        Some(pairs) => {
            let mut resource = None;
            for pair in pairs.split(',') {
                match pair.split_once('=') {
                    Some(("r", v)) => resource = Some(v),
                    Some(("m", mode)) if mode != "publish" => {
                        return Err(StreamIdError::NotPublish);
                    }
                    _ => {}
                }
            }
            resource.ok_or(StreamIdError::MissingKey)?
        }
        None => id,
    };
    let key = resource.rsplit('/').next().unwrap_or_default();
    let key = key.split_once('?').map_or(key, |(k, _)| k).trim();
    if key.is_empty() {
        return Err(StreamIdError::MissingKey);
    }
    Ok(SecretString::from(key.to_owned()))
}

fn reject_reason(rejected: PublishRejected) -> ServerRejectReason {
    match rejected {
        PublishRejected::BadKey => ServerRejectReason::Unauthorized,
        PublishRejected::Busy | PublishRejected::LiveElsewhere => ServerRejectReason::Conflict,
        PublishRejected::Unsupported => ServerRejectReason::NotSupMedia,
        PublishRejected::Unverified => ServerRejectReason::Forbidden,
        PublishRejected::Internal => ServerRejectReason::InternalServerError,
    }
}

fn key_settings(passphrase: &SecretString, key_size: KeySize) -> Option<KeySettings> {
    let passphrase = Passphrase::try_from(passphrase.expose_secret().to_owned()).ok()?;
    Some(KeySettings {
        key_size,
        passphrase,
    })
}

async fn admit(
    request: srt_tokio::ConnectionRequest,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let peer = request.remote();
    let id = request
        .stream_id()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let stream_key = match stream_key_from_id(&id) {
        Ok(k) => k,
        Err(e) => {
            // The stream id may hold a mistyped key: not logged.
            warn!(error = ?e, "srt caller refused: no stream key in its stream id");
            shared.limiter.record_failure(peer.ip(), Instant::now());
            let reason = match e {
                StreamIdError::MissingKey => ServerRejectReason::BadRequest,
                StreamIdError::NotPublish => ServerRejectReason::BadMode,
            };
            return reject(request, reason).await;
        }
    };
    let req = PublishRequest {
        stream_key,
        peer,
        encoder: None,
        protocol: Protocol::Srt,
    };
    let timeout = shared.cfg.publish_decision_timeout;
    let admission = match tokio::time::timeout(timeout, shared.handler.admit(req.clone())).await {
        Ok(Ok(a)) => a,
        Ok(Err(rejected)) => {
            if rejected == PublishRejected::BadKey {
                shared.limiter.record_failure(peer.ip(), Instant::now());
            }
            warn!(reason = %rejected, "srt publish rejected");
            return reject(request, reject_reason(rejected)).await;
        }
        Err(_) => {
            warn!("srt publish rejected: no decision in time");
            return reject(request, ServerRejectReason::Down).await;
        }
    };
    let Admission { passphrase } = admission;
    // Decided here, before srt-tokio sees it: its handshake panics (`unimplemented!`) when
    // the caller encrypts and the listener does not, or with another key length.
    let offered = request.key_size();
    let keys = match (&passphrase, offered) {
        (None, KeySize::Unspecified) => None,
        (None, _) => {
            warn!("srt publish rejected: the caller encrypts, the channel has no SRT passphrase");
            return reject(request, ServerRejectReason::Unacceptable).await;
        }
        (Some(_), KeySize::Unspecified) => {
            shared.limiter.record_failure(peer.ip(), Instant::now());
            warn!("srt publish rejected: the channel requires an SRT passphrase");
            return reject(request, ServerRejectReason::Unauthorized).await;
        }
        (Some(p), size) => match key_settings(p, size) {
            Some(k) => Some(k),
            None => {
                warn!("srt publish rejected: the channel's passphrase is not 10-79 characters");
                return reject(request, ServerRejectReason::InternalServerError).await;
            }
        },
    };
    let encrypted = keys.is_some();
    let socket = match tokio::time::timeout(timeout, request.accept(keys)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            // srt-tokio reports a wrong or missing passphrase this way, with no detail.
            shared.limiter.record_failure(peer.ip(), Instant::now());
            warn!(error = %e, encrypted, "srt handshake failed (a wrong or missing passphrase?)");
            return;
        }
        Err(_) => {
            warn!(encrypted, "srt handshake did not complete in time");
            return;
        }
    };
    let grant = match tokio::time::timeout(timeout, shared.handler.publish(req)).await {
        Ok(Ok(g)) => g,
        Ok(Err(rejected)) => {
            warn!(reason = %rejected, "srt publish rejected after the handshake");
            return;
        }
        Err(_) => {
            warn!("srt publish rejected: no decision in time");
            return;
        }
    };
    info!(encrypted, "srt publish started");
    let end = pump(
        socket,
        &grant.sink,
        &grant.kick,
        &shutdown,
        shared.cfg.idle_timeout,
    )
    .await;
    info!(reason = end.as_str(), "srt publish ended");
}

/// Why a publish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    PeerClosed,
    Idle,
    Kicked,
    Shutdown,
    ConsumerGone,
    Unsupported,
    Failed,
}

impl End {
    fn as_str(self) -> &'static str {
        match self {
            End::PeerClosed => "caller closed",
            End::Idle => "no data for too long",
            End::Kicked => "kicked",
            End::Shutdown => "server shutting down",
            End::ConsumerGone => "the stream stopped reading",
            End::Unsupported => "unsupported codec",
            End::Failed => "socket error",
        }
    }
}

/// SRT payloads (MPEG-TS) to FLV tags on the sink, until the caller leaves or is stopped.
/// Backpressure: while the sink is full, SRT's own receive buffer fills and drops late packets.
async fn pump(
    mut socket: srt_tokio::SrtSocket,
    sink: &tokio::sync::mpsc::Sender<IngestEvent>,
    kick: &CancellationToken,
    shutdown: &CancellationToken,
    idle_timeout: Duration,
) -> End {
    let mut demuxer = TsDemuxer::new();
    let mut tags: Vec<FlvTag> = Vec::new();
    let end = loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break End::Shutdown,
            _ = kick.cancelled() => break End::Kicked,
            n = tokio::time::timeout(idle_timeout, socket.next()) => n,
        };
        let payload = match next {
            Err(_) => break End::Idle,
            Ok(None) => break End::PeerClosed,
            Ok(Some(Err(e))) => {
                info!(error = %e, "srt socket failed");
                break End::Failed;
            }
            Ok(Some(Ok((_, payload)))) => payload,
        };
        match demuxer.push(&payload, &mut tags) {
            Ok(()) => {}
            Err(TsError::UnsupportedCodec(codec)) => {
                warn!(
                    codec,
                    "srt publish refused: this server takes H.264 video with AAC audio"
                );
                break End::Unsupported;
            }
            Err(e) => debug!(error = %e, "malformed MPEG-TS skipped"),
        }
        if let Some(end) = send_all(&mut tags, sink, kick, shutdown).await {
            break end;
        }
    };
    if end == End::PeerClosed {
        demuxer.finish(&mut tags);
        let _ = send_all(&mut tags, sink, kick, shutdown).await;
    }
    // Closing the socket tells the caller at once, rather than after its peer idle timeout.
    let _ = futures_util::SinkExt::close(&mut socket).await;
    end
}

async fn send_all(
    tags: &mut Vec<FlvTag>,
    sink: &tokio::sync::mpsc::Sender<IngestEvent>,
    kick: &CancellationToken,
    shutdown: &CancellationToken,
) -> Option<End> {
    for tag in tags.drain(..) {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return Some(End::Shutdown),
            _ = kick.cancelled() => return Some(End::Kicked),
            sent = sink.send(IngestEvent::Tag(tag)) => if sent.is_err() {
                return Some(End::ConsumerGone);
            },
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn key(id: &str) -> Result<String, StreamIdError> {
        stream_key_from_id(id).map(|k| k.expose_secret().to_owned())
    }

    #[test]
    fn stream_ids_as_encoders_send_them() {
        assert_eq!(key("#!::r=live/live_abc,m=publish").unwrap(), "live_abc");
        assert_eq!(key("#!::m=publish,r=live_abc").unwrap(), "live_abc");
        assert_eq!(key("#!::r=live/live_abc").unwrap(), "live_abc");
        assert_eq!(
            key("#!::u=bob,r=live/live_abc,m=publish").unwrap(),
            "live_abc"
        );
        assert_eq!(key("live_abc").unwrap(), "live_abc");
        assert_eq!(key("live/live_abc").unwrap(), "live_abc");
        assert_eq!(key("live/live_abc?x=1").unwrap(), "live_abc");
    }

    #[test]
    fn stream_ids_without_a_key_or_for_playback_are_refused() {
        assert_eq!(key(""), Err(StreamIdError::MissingKey));
        assert_eq!(key("live/"), Err(StreamIdError::MissingKey));
        assert_eq!(key("#!::m=publish"), Err(StreamIdError::MissingKey));
        assert_eq!(
            key("#!::r=live/live_abc,m=request"),
            Err(StreamIdError::NotPublish)
        );
    }

    #[test]
    fn rejections_map_to_srt_reject_codes() {
        assert_eq!(
            reject_reason(PublishRejected::BadKey),
            ServerRejectReason::Unauthorized
        );
        assert_eq!(
            reject_reason(PublishRejected::Busy),
            ServerRejectReason::Conflict
        );
    }

    #[test]
    fn short_passphrases_give_no_key_settings() {
        let short = SecretString::from("short".to_owned());
        assert!(key_settings(&short, KeySize::AES128).is_none());
        let long = SecretString::from("long enough passphrase".to_owned());
        assert!(key_settings(&long, KeySize::AES256).is_some());
    }
}
