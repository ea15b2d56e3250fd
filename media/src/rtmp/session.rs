//! One RTMP connection: handshake, then messages until the peer leaves, misbehaves, is kicked,
//! or the server shuts down. Commands get the replies encoders wait for; audio, video and
//! metadata of a granted publish go to the grant's sink.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::amf0::{self, Amf0Error, Amf0Value};
use super::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, Message};
use super::handshake::{self, HandshakeError};
use super::{
    IngestEvent, PublishHandler, PublishRejected, PublishRequest, RtmpConfig, strip_query,
};
use crate::flv::{FlvTag, StreamMetadata, TagKind};
use crate::ingest::{FailureLimiter, Protocol};

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

    async fn on_command(&mut self, stream_id: u32, payload: &[u8]) -> Step {
        let values = amf0::decode_all(payload)?;
        let name = values
            .first()
            .and_then(Amf0Value::as_str)
            .ok_or(SessionError::Protocol("command without a name"))?;
        let txn = values.get(1).and_then(Amf0Value::as_number).unwrap_or(0.0);
        if !self.connected && name != "connect" {
            return Err(SessionError::Protocol("command before connect"));
        }
        match name {
            "connect" => self.on_connect(txn, values.get(2)),
            "releaseStream" | "FCPublish" => {
                self.send_command(
                    CSID_COMMAND,
                    0,
                    &[
                        result(),
                        Amf0Value::Number(txn),
                        Amf0Value::Null,
                        Amf0Value::Undefined,
                    ],
                );
                Ok(None)
            }
            "createStream" => {
                if self.streams_created >= MAX_STREAMS {
                    return Err(SessionError::Protocol("too many streams"));
                }
                self.streams_created += 1;
                let id = f64::from(self.streams_created);
                self.send_command(
                    CSID_COMMAND,
                    0,
                    &[
                        result(),
                        Amf0Value::Number(txn),
                        Amf0Value::Null,
                        Amf0Value::Number(id),
                    ],
                );
                Ok(None)
            }
            "publish" => {
                let key = values
                    .get(3)
                    .and_then(Amf0Value::as_str)
                    .map(strip_query)
                    .unwrap_or_default();
                let key = SecretString::from(key.to_owned());
                drop(values);
                self.on_publish(stream_id, key).await
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                if let Some(p) = self.publishing.take() {
                    info!("publish ended by the encoder");
                    if name == "FCUnpublish" {
                        self.send_command(
                            CSID_STREAM,
                            p.stream_id,
                            &on_status(
                                "status",
                                "NetStream.Unpublish.Success",
                                "Stopped publishing.",
                            ),
                        );
                    }
                }
                Ok(None)
            }
            "play" | "play2" => Err(SessionError::Protocol("playback is not served over RTMP")),
            _ => {
                debug!(command = %truncated(name, 64), "ignoring command");
                Ok(None)
            }
        }
    }

    fn on_connect(&mut self, txn: f64, cmd: Option<&Amf0Value>) -> Step {
        if self.connected {
            return Err(SessionError::Protocol("second connect"));
        }
        let app = cmd
            .and_then(|c| c.get("app"))
            .and_then(Amf0Value::as_str)
            .unwrap_or_default();
        let app = strip_query(app).trim_end_matches('/');
        if app != self.shared.cfg.app {
            self.send_command(
                CSID_COMMAND,
                0,
                &[
                    Amf0Value::String("_error".into()),
                    Amf0Value::Number(txn),
                    Amf0Value::Null,
                    status_object(
                        "error",
                        "NetConnection.Connect.Rejected",
                        "Unknown application.",
                    ),
                ],
            );
            self.shared
                .limiter
                .record_failure(self.peer.ip(), Instant::now());
            warn!("connect rejected: unknown application");
            return Err(SessionError::UnknownApp);
        }
        self.encoder_name = cmd
            .and_then(|c| c.get("flashVer"))
            .and_then(Amf0Value::as_str)
            .map(|s| truncated(s, MAX_ENCODER_NAME).to_owned());
        self.connected = true;
        self.active_until = tokio::time::Instant::now() + self.shared.cfg.publish_timeout;

        self.send_protocol(msg_type::WINDOW_ACK_SIZE, &WINDOW_SIZE.to_be_bytes());
        let mut bw = [2u8; 5]; // limit type 2: dynamic
        bw[..4].copy_from_slice(&WINDOW_SIZE.to_be_bytes());
        self.send_protocol(msg_type::SET_PEER_BANDWIDTH, &bw);
        self.send_protocol(msg_type::SET_CHUNK_SIZE, &OUT_CHUNK_SIZE.to_be_bytes());
        self.encoder.set_chunk_size(OUT_CHUNK_SIZE);
        let mut info = status_object(
            "status",
            "NetConnection.Connect.Success",
            "Connection succeeded.",
        );
        if let Amf0Value::Object(props) = &mut info {
            props.push(("objectEncoding".into(), Amf0Value::Number(0.0)));
        }
        self.send_command(
            CSID_COMMAND,
            0,
            &[
                result(),
                Amf0Value::Number(txn),
                Amf0Value::Object(vec![
                    ("fmsVer".into(), Amf0Value::String("FMS/3,0,1,123".into())),
                    ("capabilities".into(), Amf0Value::Number(31.0)),
                ]),
                info,
            ],
        );
        Ok(None)
    }

    async fn on_publish(&mut self, stream_id: u32, stream_key: SecretString) -> Step {
        if self.publishing.is_some() {
            return Err(SessionError::Protocol("publish while publishing"));
        }
        let req = PublishRequest {
            stream_key,
            peer: self.peer,
            encoder: self.encoder_name.clone(),
            protocol: Protocol::Rtmp,
        };
        let decision = tokio::select! {
            _ = self.shutdown.cancelled() => return Ok(Some(End::Shutdown)),
            d = tokio::time::timeout(self.shared.cfg.publish_decision_timeout, self.shared.handler.publish(req)) => d,
        };
        let rejected = match decision {
            Ok(Ok(grant)) => {
                if grant.kick.is_cancelled() {
                    return Ok(Some(End::Kicked));
                }
                // User control StreamBegin, then the status encoders wait for.
                let mut begin = [0u8; 6];
                begin[2..].copy_from_slice(&stream_id.to_be_bytes());
                self.send_protocol(msg_type::USER_CONTROL, &begin);
                self.send_command(
                    CSID_STREAM,
                    stream_id,
                    &on_status("status", "NetStream.Publish.Start", "Publishing."),
                );
                self.publishing = Some(Publishing {
                    sink: grant.sink,
                    kick: grant.kick,
                    stream_id,
                });
                self.active_until = tokio::time::Instant::now() + self.shared.cfg.idle_timeout;
                info!(
                    encoder = self.encoder_name.as_deref().unwrap_or(""),
                    "publish started"
                );
                return Ok(None);
            }
            Ok(Err(rejected)) => rejected,
            Err(_) => PublishRejected::Internal,
        };
        let description = match rejected {
            PublishRejected::BadKey => "Invalid stream key.",
            PublishRejected::Busy => "Stream is already live.",
            PublishRejected::LiveElsewhere => {
                "Stream is already live through another server of this site; stop that encoder first."
            }
            PublishRejected::Unsupported => "This stream cannot be taken.",
            PublishRejected::Unverified => {
                "The channel owner's email address is not verified; open the link in the verification email (or resend it from the dashboard), then go live."
            }
            PublishRejected::Internal => "Try again later.",
        };
        self.send_command(
            CSID_STREAM,
            stream_id,
            &on_status("error", "NetStream.Publish.BadName", description),
        );
        if rejected == PublishRejected::BadKey {
            self.shared
                .limiter
                .record_failure(self.peer.ip(), Instant::now());
        }
        warn!(reason = %rejected, "publish rejected");
        if decision.is_err() {
            return Err(SessionError::DecisionTimeout);
        }
        Err(SessionError::Rejected(rejected))
    }

    async fn on_media(&mut self, kind: TagKind, timestamp_ms: u32, data: Bytes) -> Step {
        if data.is_empty() || self.publishing.is_none() {
            return Ok(None);
        }
        self.active_until = tokio::time::Instant::now() + self.shared.cfg.idle_timeout;
        self.emit(IngestEvent::Tag(FlvTag {
            kind,
            timestamp_ms,
            data,
        }))
        .await
    }

    async fn on_data(&mut self, timestamp_ms: u32, payload: &[u8]) -> Step {
        if self.publishing.is_none() {
            return Ok(None);
        }
        let values = amf0::decode_all(payload)?;
        let mut values = values.as_slice();
        if values.first().and_then(Amf0Value::as_str) == Some("@setDataFrame") {
            values = &values[1..];
        }
        let (Some(Amf0Value::String(name)), Some(meta)) = (values.first(), values.get(1)) else {
            return Ok(None);
        };
        if name != "onMetaData" || meta.properties().is_none() {
            return Ok(None);
        }
        let metadata = stream_metadata(meta);
        let script =
            amf0::encode_all(&[Amf0Value::String("onMetaData".into()), meta.clone()]).freeze();
        if let Some(end) = self.emit(IngestEvent::Metadata(metadata)).await? {
            return Ok(Some(end));
        }
        self.emit(IngestEvent::Tag(FlvTag {
            kind: TagKind::Script,
            timestamp_ms,
            data: script,
        }))
        .await
    }

    /// An aggregate message: FLV tags back to back, timestamps relative to the first.
    async fn on_aggregate(&mut self, timestamp_ms: u32, mut payload: &[u8]) -> Step {
        let mut first_ts = None;
        while payload.len() >= 11 {
            let tag_type = payload[0];
            let len = (usize::from(payload[1]) << 16)
                | (usize::from(payload[2]) << 8)
                | usize::from(payload[3]);
            let ts = u32::from_be_bytes([payload[7], payload[4], payload[5], payload[6]]);
            let Some(data) = payload.get(11..11 + len) else {
                return Err(SessionError::Protocol("truncated aggregate message"));
            };
            let data = Bytes::copy_from_slice(data);
            payload = payload.get(11 + len + 4..).unwrap_or_default();
            let first = *first_ts.get_or_insert(ts);
            let ts = timestamp_ms.wrapping_add(ts.wrapping_sub(first));
            let kind = match tag_type {
                msg_type::AUDIO => TagKind::Audio,
                msg_type::VIDEO => TagKind::Video,
                _ => continue,
            };
            if let Some(end) = self.on_media(kind, ts, data).await? {
                return Ok(Some(end));
            }
        }
        Ok(None)
    }

    /// Sends to the sink of the current publish, waiting while it is full.
    async fn emit(&mut self, event: IngestEvent) -> Step {
        let Some(p) = &self.publishing else {
            return Ok(None);
        };
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Ok(Some(End::Shutdown)),
            _ = p.kick.cancelled() => Ok(Some(End::Kicked)),
            sent = p.sink.send(event) => match sent {
                Ok(()) => Ok(None),
                Err(_) => Err(SessionError::ConsumerGone),
            },
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

fn result() -> Amf0Value {
    Amf0Value::String("_result".into())
}

fn status_object(level: &str, code: &str, description: &str) -> Amf0Value {
    Amf0Value::Object(vec![
        ("level".into(), Amf0Value::String(level.into())),
        ("code".into(), Amf0Value::String(code.into())),
        ("description".into(), Amf0Value::String(description.into())),
    ])
}

fn on_status(level: &str, code: &str, description: &str) -> [Amf0Value; 4] {
    [
        Amf0Value::String("onStatus".into()),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        status_object(level, code, description),
    ]
}

fn stream_metadata(meta: &Amf0Value) -> StreamMetadata {
    let number = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| meta.get(k).and_then(Amf0Value::as_number))
    };
    StreamMetadata {
        width: number(&["width"]),
        height: number(&["height"]),
        framerate: number(&["framerate", "videoframerate", "fps"]),
        video_bitrate_kbps: number(&["videodatarate"]),
        audio_bitrate_kbps: number(&["audiodatarate"]),
        encoder: meta
            .get("encoder")
            .and_then(Amf0Value::as_str)
            .map(|s| truncated(s, MAX_ENCODER_NAME).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::future::Future;
    use std::pin::Pin;
    use std::time::Duration;

    use secrecy::ExposeSecret;
    use tokio::io::DuplexStream;

    use super::*;
    use crate::rtmp::PublishGrant;

    type Granted = (PublishRequest, mpsc::Receiver<IngestEvent>);

    /// Grants the key `good`, rejects everything else.
    struct FakeHandler {
        granted: mpsc::Sender<Granted>,
    }

    impl PublishHandler for FakeHandler {
        fn publish(
            &self,
            req: PublishRequest,
        ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishRejected>> + Send>> {
            let granted = self.granted.clone();
            Box::pin(async move {
                if req.stream_key.expose_secret() != "good" {
                    return Err(PublishRejected::BadKey);
                }
                let (sink, rx) = mpsc::channel(16);
                granted
                    .send((req, rx))
                    .await
                    .map_err(|_| PublishRejected::Internal)?;
                Ok(PublishGrant {
                    sink,
                    kick: CancellationToken::new(),
                })
            })
        }
    }

    /// A scripted client speaking through the session's own chunk codec and AMF0.
    struct Client {
        io: DuplexStream,
        enc: ChunkEncoder,
        dec: ChunkDecoder,
        rbuf: BytesMut,
        sent: u64,
    }

    impl Client {
        async fn write(&mut self, bytes: &[u8]) {
            self.io.write_all(bytes).await.unwrap();
            self.sent += bytes.len() as u64;
        }

        async fn send(&mut self, csid: u32, msg_type: u8, stream_id: u32, ts: u32, payload: &[u8]) {
            let mut out = BytesMut::new();
            self.enc
                .write(&mut out, csid, msg_type, stream_id, ts, payload);
            self.write(&out).await;
        }

        async fn command(&mut self, stream_id: u32, values: &[Amf0Value]) {
            let payload = amf0::encode_all(values);
            self.send(3, msg_type::COMMAND_AMF0, stream_id, 0, &payload)
                .await;
        }

        async fn recv(&mut self) -> Message {
            tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    if let Some(m) = self.dec.decode(&mut self.rbuf).unwrap() {
                        if m.msg_type == msg_type::SET_CHUNK_SIZE {
                            self.dec.set_chunk_size(read_u32(&m.payload).unwrap());
                        }
                        return m;
                    }
                    assert!(
                        self.io.read_buf(&mut self.rbuf).await.unwrap() > 0,
                        "server closed"
                    );
                }
            })
            .await
            .expect("no message from the server")
        }

        async fn recv_command(&mut self) -> Vec<Amf0Value> {
            let m = self.recv().await;
            assert_eq!(m.msg_type, msg_type::COMMAND_AMF0, "{m:?}");
            amf0::decode_all(&m.payload).unwrap()
        }

        async fn expect_closed(&mut self) {
            let mut rest = Vec::new();
            tokio::time::timeout(Duration::from_secs(5), self.io.read_to_end(&mut rest))
                .await
                .unwrap()
                .unwrap();
        }
    }

    fn start(cfg: RtmpConfig) -> (Client, mpsc::Receiver<Granted>, Arc<Shared>) {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let (granted_tx, granted) = mpsc::channel(4);
        let limiter = Arc::new(FailureLimiter::new(5, Duration::from_secs(60), 16));
        let shared = Arc::new(Shared {
            cfg,
            handler: Arc::new(FakeHandler {
                granted: granted_tx,
            }),
            limiter,
            epoch: Instant::now(),
        });
        let peer = "192.0.2.10:50000".parse().unwrap();
        tokio::spawn(run(
            server_io,
            peer,
            shared.clone(),
            CancellationToken::new(),
        ));
        let client = Client {
            io: client_io,
            enc: ChunkEncoder::default(),
            dec: ChunkDecoder::new(1 << 20),
            rbuf: BytesMut::new(),
            sent: 0,
        };
        (client, granted, shared)
    }

    async fn handshake(c: &mut Client) {
        let mut c0c1 = vec![3u8];
        c0c1.resize(1537, 7);
        c.write(&c0c1).await;
        let mut s0s1s2 = vec![0u8; 3073];
        c.io.read_exact(&mut s0s1s2).await.unwrap();
        c.write(&s0s1s2[1..1537]).await;
    }

    fn s(v: &str) -> Amf0Value {
        Amf0Value::String(v.into())
    }

    fn n(v: f64) -> Amf0Value {
        Amf0Value::Number(v)
    }

    async fn connect(c: &mut Client, app: &str) {
        let cmd = Amf0Value::Object(vec![
            ("app".into(), s(app)),
            ("flashVer".into(), s("FMLE/3.0 (compatible; test)")),
            ("tcUrl".into(), s("rtmp://localhost/live")),
        ]);
        c.command(0, &[s("connect"), n(1.0), cmd]).await;
    }

    /// Handshake, `connect` to `live` (and its four replies), `createStream` (stream 1).
    async fn ready_to_publish(c: &mut Client) {
        handshake(c).await;
        connect(c, "live").await;
        for _ in 0..4 {
            c.recv().await;
        }
        c.command(0, &[s("createStream"), n(2.0), Amf0Value::Null])
            .await;
        c.recv_command().await;
    }

    fn status_code(values: &[Amf0Value]) -> (&str, &str) {
        let info = &values[3];
        (
            info.get("level").and_then(Amf0Value::as_str).unwrap(),
            info.get("code").and_then(Amf0Value::as_str).unwrap(),
        )
    }

    #[tokio::test]
    async fn publish_conversation_as_encoders_have_it() {
        let (mut c, mut granted, _) = start(RtmpConfig::default());
        handshake(&mut c).await;
        connect(&mut c, "live/").await;

        // Window Ack Size, Set Peer Bandwidth, Set Chunk Size, then _result.
        let m = c.recv().await;
        assert_eq!(
            (m.msg_type, &m.payload[..]),
            (msg_type::WINDOW_ACK_SIZE, &WINDOW_SIZE.to_be_bytes()[..])
        );
        let m = c.recv().await;
        assert_eq!(m.msg_type, msg_type::SET_PEER_BANDWIDTH);
        assert_eq!(m.payload.len(), 5);
        let m = c.recv().await;
        assert_eq!(
            (m.msg_type, &m.payload[..]),
            (msg_type::SET_CHUNK_SIZE, &OUT_CHUNK_SIZE.to_be_bytes()[..])
        );
        let reply = c.recv_command().await;
        assert_eq!((&reply[0], &reply[1]), (&s("_result"), &n(1.0)));
        assert_eq!(
            status_code(&reply),
            ("status", "NetConnection.Connect.Success")
        );

        c.command(0, &[s("releaseStream"), n(2.0), Amf0Value::Null, s("good")])
            .await;
        c.command(0, &[s("FCPublish"), n(3.0), Amf0Value::Null, s("good")])
            .await;
        c.command(0, &[s("createStream"), n(4.0), Amf0Value::Null])
            .await;
        assert_eq!(c.recv_command().await[..2], [s("_result"), n(2.0)]);
        assert_eq!(c.recv_command().await[..2], [s("_result"), n(3.0)]);
        assert_eq!(
            c.recv_command().await,
            [s("_result"), n(4.0), Amf0Value::Null, n(1.0)]
        );

        c.command(
            1,
            &[
                s("publish"),
                n(5.0),
                Amf0Value::Null,
                s("good?sig=123"),
                s("live"),
            ],
        )
        .await;
        let m = c.recv().await;
        assert_eq!(
            (m.msg_type, &m.payload[..]),
            (msg_type::USER_CONTROL, &[0, 0, 0, 0, 0, 1][..])
        );
        let status = c.recv_command().await;
        assert_eq!(status[0], s("onStatus"));
        assert_eq!(status_code(&status), ("status", "NetStream.Publish.Start"));
        let (req, mut rx) = granted.recv().await.unwrap();
        assert_eq!(req.stream_key.expose_secret(), "good");
        assert_eq!(req.encoder.as_deref(), Some("FMLE/3.0 (compatible; test)"));

        // Metadata, then a video message bigger than the chunk size the client announces.
        let meta = Amf0Value::EcmaArray(vec![
            ("width".into(), n(640.0)),
            ("framerate".into(), n(25.0)),
        ]);
        let data = amf0::encode_all(&[s("@setDataFrame"), s("onMetaData"), meta.clone()]);
        c.send(4, msg_type::DATA_AMF0, 1, 0, &data).await;
        let mut chunk_size = BytesMut::new();
        c.enc.write(
            &mut chunk_size,
            2,
            msg_type::SET_CHUNK_SIZE,
            0,
            0,
            &1000u32.to_be_bytes(),
        );
        c.write(&chunk_size).await;
        c.enc.set_chunk_size(1000);
        let mut video = vec![0x17, 0x01, 0, 0, 0];
        video.resize(3000, 0xEE);
        c.send(6, msg_type::VIDEO, 1, 40, &video).await;

        match rx.recv().await.unwrap() {
            IngestEvent::Metadata(m) => {
                assert_eq!((m.width, m.framerate), (Some(640.0), Some(25.0)))
            }
            other => panic!("expected metadata, got {other:?}"),
        }
        match rx.recv().await.unwrap() {
            IngestEvent::Tag(t) => {
                assert_eq!(t.kind, TagKind::Script);
                assert_eq!(
                    amf0::decode_all(&t.data).unwrap(),
                    vec![s("onMetaData"), meta]
                );
            }
            other => panic!("expected the script tag, got {other:?}"),
        }
        match rx.recv().await.unwrap() {
            IngestEvent::Tag(t) => {
                assert_eq!(
                    (t.kind, t.timestamp_ms, &t.data[..]),
                    (TagKind::Video, 40, &video[..])
                );
                assert!(t.is_video_keyframe());
            }
            other => panic!("expected video, got {other:?}"),
        }

        // The client asks for an acknowledgement every 5000 bytes.
        let mut ack_size = BytesMut::new();
        c.enc.write(
            &mut ack_size,
            2,
            msg_type::WINDOW_ACK_SIZE,
            0,
            0,
            &5000u32.to_be_bytes(),
        );
        c.write(&ack_size).await;
        let audio = [0xAFu8, 0x01, 0x21, 0x10];
        let mut ts = 40;
        while c.sent < 3 * 5000 + 3073 {
            ts += 1;
            c.send(4, msg_type::AUDIO, 1, ts, &audio).await;
            assert!(
                matches!(rx.recv().await, Some(IngestEvent::Tag(t)) if t.kind == TagKind::Audio)
            );
        }

        // deleteStream ends the publish: the sink closes. Acks come before the status reply.
        c.command(0, &[s("FCUnpublish"), n(6.0), Amf0Value::Null, s("good")])
            .await;
        c.command(0, &[s("deleteStream"), n(7.0), Amf0Value::Null, n(1.0)])
            .await;
        assert!(
            tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .is_none()
        );
        let mut acks = Vec::new();
        let status = loop {
            let m = c.recv().await;
            if m.msg_type == msg_type::ACK {
                acks.push(u64::from(read_u32(&m.payload).unwrap()));
                continue;
            }
            break amf0::decode_all(&m.payload).unwrap();
        };
        assert_eq!(
            status_code(&status),
            ("status", "NetStream.Unpublish.Success")
        );
        // One acknowledgement per 5000 bytes received, each with the byte count so far.
        assert!(acks.len() >= 2, "acks {acks:?}");
        assert!(
            acks.windows(2).all(|w| w[1] - w[0] >= 5000),
            "acks {acks:?}"
        );
        assert!(
            acks.iter().all(|&a| a <= c.sent),
            "acks {acks:?} of {} sent",
            c.sent
        );
    }

    #[tokio::test]
    async fn bad_key_gets_bad_name_then_close_and_counts_as_failure() {
        let (mut c, mut granted, shared) = start(RtmpConfig::default());
        ready_to_publish(&mut c).await;
        c.command(
            1,
            &[
                s("publish"),
                n(3.0),
                Amf0Value::Null,
                s("sk_wrong"),
                s("live"),
            ],
        )
        .await;
        let status = c.recv_command().await;
        assert_eq!(status_code(&status), ("error", "NetStream.Publish.BadName"));
        let description = status[3]
            .get("description")
            .and_then(Amf0Value::as_str)
            .unwrap();
        assert!(!description.contains("sk_wrong"));
        c.expect_closed().await;
        assert!(granted.try_recv().is_err());
        // Four more failures reach the limit of five.
        for _ in 0..4 {
            shared
                .limiter
                .record_failure("192.0.2.10".parse().unwrap(), Instant::now());
        }
        assert!(
            shared
                .limiter
                .is_blocked("192.0.2.10".parse().unwrap(), Instant::now())
        );
    }

    #[tokio::test]
    async fn unknown_app_is_rejected() {
        let (mut c, _granted, _) = start(RtmpConfig::default());
        handshake(&mut c).await;
        connect(&mut c, "admin").await;
        let reply = c.recv_command().await;
        assert_eq!(reply[0], s("_error"));
        assert_eq!(
            status_code(&reply),
            ("error", "NetConnection.Connect.Rejected")
        );
        c.expect_closed().await;
    }

    #[tokio::test]
    async fn commands_before_connect_close_the_connection() {
        let (mut c, _granted, _) = start(RtmpConfig::default());
        handshake(&mut c).await;
        c.command(0, &[s("publish"), n(1.0), Amf0Value::Null, s("good")])
            .await;
        c.expect_closed().await;
    }

    #[tokio::test(start_paused = true)]
    async fn silent_peers_time_out() {
        let cfg = RtmpConfig {
            idle_timeout: Duration::from_secs(30),
            ..RtmpConfig::default()
        };
        // Connected, then silent: the publish timeout (15 s).
        let (mut c, _granted, _) = start(cfg.clone());
        handshake(&mut c).await;
        connect(&mut c, "live").await;
        for _ in 0..4 {
            c.recv().await;
        }
        let before = tokio::time::Instant::now();
        let mut rest = Vec::new();
        c.io.read_to_end(&mut rest).await.unwrap();
        let waited = before.elapsed();
        assert!(
            waited >= Duration::from_secs(15) && waited < Duration::from_secs(30),
            "{waited:?}"
        );

        // Handshaken but never connecting: the handshake timeout.
        let (mut c, _granted, _) = start(cfg);
        handshake(&mut c).await;
        let before = tokio::time::Instant::now();
        c.io.read_to_end(&mut rest).await.unwrap();
        let waited = before.elapsed();
        assert!(
            waited >= Duration::from_secs(9) && waited < Duration::from_secs(30),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_media_keeps_a_publisher_connected() {
        let (mut c, mut granted, _) = start(RtmpConfig::default());
        ready_to_publish(&mut c).await;
        c.command(
            1,
            &[s("publish"), n(3.0), Amf0Value::Null, s("good"), s("live")],
        )
        .await;
        c.recv().await; // StreamBegin
        assert_eq!(
            status_code(&c.recv_command().await),
            ("status", "NetStream.Publish.Start")
        );
        let (_req, mut rx) = granted.recv().await.unwrap();
        // Media keeps it open past the idle timeout...
        for i in 0..8u32 {
            c.send(6, msg_type::VIDEO, 1, i * 8000, &[0x17, 0x01, 0, 0, 0, 1])
                .await;
            tokio::time::sleep(Duration::from_secs(8)).await;
        }
        assert!(rx.recv().await.is_some());
        // ...an acknowledgement every 8 s does not (it used to: 500 such sockets were held).
        let before = tokio::time::Instant::now();
        let closed = async {
            loop {
                let mut ack = BytesMut::new();
                c.enc.write(
                    &mut ack,
                    2,
                    msg_type::ACK,
                    0,
                    0,
                    &(c.sent as u32).to_be_bytes(),
                );
                if c.io.write_all(&ack).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(8)).await;
                let mut b = [0u8; 4096];
                loop {
                    match tokio::time::timeout(Duration::from_millis(1), c.io.read(&mut b)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => return,
                        Ok(Ok(_)) => continue,
                        Err(_) => break,
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(120), closed)
            .await
            .expect("still open after two minutes of acknowledgements");
        let waited = before.elapsed();
        assert!(waited <= Duration::from_secs(40), "{waited:?}");
    }

    #[test]
    fn metadata_from_obs_style_array() {
        let meta = Amf0Value::EcmaArray(vec![
            ("width".into(), Amf0Value::Number(1920.0)),
            ("height".into(), Amf0Value::Number(1080.0)),
            ("videodatarate".into(), Amf0Value::Number(6000.0)),
            ("framerate".into(), Amf0Value::Number(60.0)),
            ("audiodatarate".into(), Amf0Value::Number(160.0)),
            (
                "encoder".into(),
                Amf0Value::String("obs-output module (libobs version 30.0.0)".into()),
            ),
        ]);
        assert_eq!(
            stream_metadata(&meta),
            StreamMetadata {
                width: Some(1920.0),
                height: Some(1080.0),
                framerate: Some(60.0),
                video_bitrate_kbps: Some(6000.0),
                audio_bitrate_kbps: Some(160.0),
                encoder: Some("obs-output module (libobs version 30.0.0)".into()),
            }
        );
        assert_eq!(
            stream_metadata(&Amf0Value::EcmaArray(vec![])),
            StreamMetadata::default()
        );
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncated("äöü", 2), "äö");
        assert_eq!(truncated("ab", 5), "ab");
    }
}
