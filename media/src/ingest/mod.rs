//! The ingest seam: every way a stream comes in (an RTMP or SRT publisher, an RTSP camera the
//! server pulls) ends as the same bounded channel of [`IngestEvent`]s (FLV tags), granted by one
//! [`PublishHandler`]. What follows the seam (transcode, segments, thumbnails, recording, the
//! grace window, restarts) does not know which protocol fed it.

pub mod limiter;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use secrecy::SecretString;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::flv;

pub use limiter::FailureLimiter;

/// How a stream reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Pushed by an encoder over RTMP (OBS's default).
    Rtmp,
    /// Pushed by an encoder over SRT (MPEG-TS payload).
    Srt,
    /// Pulled by the server from an RTSP source (an IP camera).
    Rtsp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Rtmp, Protocol::Srt, Protocol::Rtsp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Srt => "srt",
            Protocol::Rtsp => "rtsp",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A publish handler's answer, decided asynchronously.
pub type Decision<T> = Pin<Box<dyn Future<Output = Result<T, PublishRejected>> + Send>>;

/// Decides who may publish. Implemented by the platform (key lookup in constant time, one live
/// broadcast per channel), and by fakes in tests.
pub trait PublishHandler: Send + Sync + 'static {
    /// Decide whether this key may publish. Called once per publish command.
    fn publish(&self, req: PublishRequest) -> Decision<PublishGrant>;

    /// Before an SRT handshake completes: may this key publish, and with which passphrase
    /// (the encryption key is derived from it during the handshake)? `BadKey` for an unknown
    /// key; `Busy` or `LiveElsewhere` when a publish would be refused anyway. [`publish`]
    /// still decides afterwards. The default refuses, for handlers that take no SRT.
    ///
    /// [`publish`]: PublishHandler::publish
    fn admit(&self, req: PublishRequest) -> Decision<Admission> {
        let _ = req;
        Box::pin(async { Err(PublishRejected::Internal) })
    }
}

/// What [`PublishHandler::admit`] allows.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// The channel's SRT passphrase (10-79 characters); `None` for an unencrypted stream.
    pub passphrase: Option<SecretString>,
}

/// One publish attempt. `Debug` does not show the key.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// The stream name from `publish`, with any `?query` suffix removed.
    pub stream_key: SecretString,
    pub peer: SocketAddr,
    /// The encoder's `flashVer` from `connect`, if sent (at most 256 characters).
    pub encoder: Option<String>,
    pub protocol: Protocol,
}

/// Permission to publish: where the stream goes and how to stop it.
#[derive(Debug, Clone)]
pub struct PublishGrant {
    /// Bounded; the connection waits on it (backpressure onto TCP), and closes when the
    /// receiver is gone. Dropped when the publish ends: `recv()` then returns `None`.
    pub sink: mpsc::Sender<IngestEvent>,
    /// When cancelled, the server closes this publisher's connection (a newer publisher
    /// replaced it, or an admin stopped the stream).
    pub kick: CancellationToken,
}

/// Why a publish was refused. An RTMP encoder is told `NetStream.Publish.BadName` in every
/// case, an SRT caller gets a handshake reject code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishRejected {
    /// Unknown or revoked key; counts towards the per-source failure limit.
    #[error("invalid stream key")]
    BadKey,
    /// The channel is live from another connection and this one may not replace it.
    #[error("stream already live")]
    Busy,
    /// The channel is live through another node of the cluster, whose ownership lease is
    /// still held (its encoder is connected there, or may come back there).
    #[error("stream live on another node")]
    LiveElsewhere,
    /// The stream's content cannot be taken (e.g. an unsupported codec).
    #[error("unsupported media")]
    Unsupported,
    /// The channel's owner has not verified their email address yet.
    #[error("email address not verified")]
    Unverified,
    #[error("internal error")]
    Internal,
}

/// What a publishing connection delivers, in arrival order.
#[derive(Debug, Clone)]
pub enum IngestEvent {
    /// Parsed from `@setDataFrame`/`onMetaData`; also delivered as a script [`flv::FlvTag`]
    /// (`onMetaData` + the encoder's array) so an FLV writer can pass it on.
    Metadata(flv::StreamMetadata),
    Tag(flv::FlvTag),
}
