//! One RTMP connection: handshake, then messages until the peer leaves, misbehaves, is kicked,
//! or the server shuts down. Commands get the replies encoders wait for; audio, video and
//! metadata of a granted publish go to the grant's sink.
//!
//! This file holds the connection's state and its read loop, flow control (acknowledgements,
//! chunk size, pings) and the dispatch by message type; `commands` answers the NetConnection
//! and NetStream commands (connect, createStream, publish, …) and `media` forwards audio,
//! video and metadata to the publish's sink.

mod commands;
mod media;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span};

use super::amf0::{self, Amf0Error, Amf0Value};
use super::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, Message};
use super::handshake::{self, HandshakeError};
use super::{IngestEvent, PublishHandler, PublishRejected, RtmpConfig};
use crate::flv::TagKind;
use crate::ingest::FailureLimiter;

/// Our chunk size for what we send, announced right after `connect`.
const OUT_CHUNK_SIZE: u32 = 4096;
/// Window Acknowledgement Size and Set Peer Bandwidth we announce.
const WINDOW_SIZE: u32 = 2_500_000;
/// Streams one connection may create (encoders create one).
const MAX_STREAMS: u32 = 8;
/// Bytes asked of the socket per read.
const READ_SIZE: usize = 64 * 1024;
const MAX_ENCODER_NAME: usize = 256;

const CSID_PROTOCOL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_STREAM: u32 = 5;

mod msg_type {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACK: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const DATA_AMF3: u8 = 15;
    pub const COMMAND_AMF3: u8 = 17;
    pub const DATA_AMF0: u8 = 18;
    pub const COMMAND_AMF0: u8 = 20;
    pub const AGGREGATE: u8 = 22;
}

/// What every connection shares.
pub(super) struct Shared {
    pub cfg: RtmpConfig,
    pub handler: Arc<dyn PublishHandler>,
    pub limiter: Arc<FailureLimiter>,
    pub epoch: Instant,
}

/// Why a connection closed badly. None of these carries the stream key.
#[derive(Debug, thiserror::Error)]
pub(super) enum SessionError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("handshake or connect timed out")]
    HandshakeTimeout,
    #[error("no media for too long")]
    IdleTimeout,
    #[error("connected but did not publish in time")]
    PublishTimeout,
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("SetChunkSize {0} is over the limit")]
    ChunkSizeTooLarge(u32),
    #[error("AMF0: {0}")]
    Amf(#[from] Amf0Error),
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    #[error("unknown application")]
    UnknownApp,
    #[error("publish rejected: {0}")]
    Rejected(PublishRejected),
    #[error("publish handler did not decide in time")]
    DecisionTimeout,
    #[error("the ingest consumer went away")]
    ConsumerGone,
    #[error("peer does not read what we send")]
    WriteTimeout,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How a connection ended without a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    PeerClosed,
    Kicked,
    Shutdown,
}

pub(super) async fn run<S>(
    io: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let span = info_span!("rtmp", %peer);
    async move {
        debug!("connection accepted");
        let mut session = Session::new(io, peer, shared, shutdown);
        match session.run().await {
            Ok(end) => debug!(?end, "connection closed"),
            Err(SessionError::Rejected(_)) => {} // logged where it happened
            Err(e) => info!(error = %e, "connection closed"),
        }
        if session.publishing.take().is_some() {
            info!("publish ended");
        }
    }
    .instrument(span)
    .await
}

struct Publishing {
    sink: mpsc::Sender<IngestEvent>,
    kick: CancellationToken,
    stream_id: u32,
}

struct Session<S> {
    io: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    rbuf: BytesMut,
    wbuf: BytesMut,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    received: u64,
    acked: u64,
    ack_window: u32,
    connected: bool,
    encoder_name: Option<String>,
    streams_created: u32,
    publishing: Option<Publishing>,
    /// When the connection is closed unless it does what it is here for: connect (after the
    /// handshake), publish (after connecting), send media (while publishing). Control messages
    /// (acknowledgements, pings) do not move it.
    active_until: tokio::time::Instant,
}

type Step = Result<Option<End>, SessionError>;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    fn new(io: S, peer: SocketAddr, shared: Arc<Shared>, shutdown: CancellationToken) -> Self {
        let decoder = ChunkDecoder::new(shared.cfg.max_message_len);
        let active_until = tokio::time::Instant::now() + shared.cfg.handshake_timeout;
        Self {
            io,
            peer,
            shared,
            shutdown,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            decoder,
            encoder: ChunkEncoder::default(),
            received: 0,
            acked: 0,
            ack_window: WINDOW_SIZE,
            connected: false,
            encoder_name: None,
            streams_created: 0,
            publishing: None,
            active_until,
        }
    }

    fn epoch_ms(&self) -> u32 {
        // RTMP timestamps wrap at 2^32 ms.
        self.shared.epoch.elapsed().as_millis() as u32
    }

    async fn run(&mut self) -> Result<End, SessionError> {
        let cfg_handshake = self.shared.cfg.handshake_timeout;
        let epoch_ms = self.epoch_ms();
        tokio::select! {
            _ = self.shutdown.cancelled() => return Ok(End::Shutdown),
            r = tokio::time::timeout(cfg_handshake, handshake::accept(&mut self.io, epoch_ms)) => {
                r.map_err(|_| SessionError::HandshakeTimeout)??;
            }
        }
        self.active_until = tokio::time::Instant::now() + cfg_handshake;

        loop {
            while let Some(msg) = self.decoder.decode(&mut self.rbuf)? {
                let step = self.handle(msg).await;
                if !matches!(step, Ok(None)) {
                    // Best effort: the peer should see our last reply (e.g. BadName) before the close.
                    let _ = self.flush().await;
                }
                if let Some(end) = step? {
                    return Ok(end);
                }
            }
            self.flush().await?;

            let deadline = self.active_until;
            let kick = self.publishing.as_ref().map(|p| p.kick.clone());
            self.rbuf.reserve(READ_SIZE);
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Ok(End::Shutdown),
                _ = cancelled(kick) => return Ok(End::Kicked),
                read = tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.rbuf)) => match read {
                    Err(_) if self.publishing.is_some() => return Err(SessionError::IdleTimeout),
                    Err(_) if self.connected => return Err(SessionError::PublishTimeout),
                    Err(_) => return Err(SessionError::HandshakeTimeout),
                    Ok(Ok(0)) => return Ok(End::PeerClosed),
                    Ok(Ok(n)) => self.count_received(n),
                    Ok(Err(e)) => return Err(e.into()),
                },
            }
        }
    }

    fn count_received(&mut self, n: usize) {
        self.received += n as u64;
        if self.received - self.acked >= u64::from(self.ack_window) {
            self.acked = self.received;
            // The sequence number is the byte count, wrapping at 2^32.
            let seq = (self.received as u32).to_be_bytes();
            self.send_protocol(msg_type::ACK, &seq);
        }
    }

    async fn flush(&mut self) -> Result<(), SessionError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let write = async {
            self.io.write_all(&self.wbuf).await?;
            self.io.flush().await
        };
        tokio::time::timeout(self.shared.cfg.idle_timeout, write)
            .await
            .map_err(|_| SessionError::WriteTimeout)??;
        self.wbuf.clear();
        Ok(())
    }

    fn send_protocol(&mut self, msg_type: u8, payload: &[u8]) {
        self.encoder
            .write(&mut self.wbuf, CSID_PROTOCOL, msg_type, 0, 0, payload);
    }

    fn send_command(&mut self, csid: u32, stream_id: u32, values: &[Amf0Value]) {
        let payload = amf0::encode_all(values);
        self.encoder.write(
            &mut self.wbuf,
            csid,
            msg_type::COMMAND_AMF0,
            stream_id,
            0,
            &payload,
        );
    }

    async fn handle(&mut self, msg: Message) -> Step {
        match msg.msg_type {
            msg_type::SET_CHUNK_SIZE => {
                let size = read_u32(&msg.payload)?;
                if size & 0x8000_0000 != 0 || size == 0 {
                    return Err(SessionError::Protocol("invalid chunk size"));
                }
                if size > self.shared.cfg.max_chunk_size {
                    return Err(SessionError::ChunkSizeTooLarge(size));
                }
                self.decoder.set_chunk_size(size);
            }
            msg_type::ABORT => self.decoder.abort(read_u32(&msg.payload)?),
            msg_type::ACK | msg_type::SET_PEER_BANDWIDTH => {}
            msg_type::WINDOW_ACK_SIZE => self.ack_window = read_u32(&msg.payload)?.max(1),
            msg_type::USER_CONTROL => self.on_user_control(&msg.payload),
            msg_type::AUDIO => {
                return self
                    .on_media(TagKind::Audio, msg.timestamp, msg.payload)
                    .await;
            }
            msg_type::VIDEO => {
                return self
                    .on_media(TagKind::Video, msg.timestamp, msg.payload)
                    .await;
            }
            msg_type::DATA_AMF0 => return self.on_data(msg.timestamp, &msg.payload).await,
            msg_type::DATA_AMF3 => {
                return self
                    .on_data(msg.timestamp, skip_amf3_marker(&msg.payload))
                    .await;
            }
            msg_type::COMMAND_AMF0 => return self.on_command(msg.stream_id, &msg.payload).await,
            msg_type::COMMAND_AMF3 => {
                return self
                    .on_command(msg.stream_id, skip_amf3_marker(&msg.payload))
                    .await;
            }
            msg_type::AGGREGATE => return self.on_aggregate(msg.timestamp, &msg.payload).await,
            other => debug!(msg_type = other, "ignoring message"),
        }
        Ok(None)
    }

    fn on_user_control(&mut self, payload: &[u8]) {
        // PingRequest (6) with a timestamp: answer PingResponse (7) with the same.
        if payload.len() >= 6 && payload[..2] == [0, 6] {
            let mut reply = [0u8; 6];
            reply[1] = 7;
            reply[2..].copy_from_slice(&payload[2..6]);
            self.send_protocol(msg_type::USER_CONTROL, &reply);
        }
    }
}

async fn cancelled(token: Option<CancellationToken>) {
    match token {
        Some(t) => t.cancelled_owned().await,
        None => std::future::pending().await,
    }
}

fn read_u32(payload: &[u8]) -> Result<u32, SessionError> {
    let mut p = payload;
    if p.len() < 4 {
        return Err(SessionError::Protocol("control message too short"));
    }
    Ok(p.get_u32())
}

/// AMF3 data/command messages start with a format byte, then AMF0 values.
fn skip_amf3_marker(payload: &[u8]) -> &[u8] {
    payload.get(1..).unwrap_or_default()
}

fn truncated(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
