//! Entry points for the fuzz targets in `tests/fuzz/` (not an API): the handshake, the chunk
//! stream, AMF0 and whole sessions are private to [`rtmp`](super), so each target reaches them
//! through one function here that takes arbitrary bytes. Every function returns without
//! panicking whatever the bytes are; the checks in them panic when a property breaks.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::amf0;
use super::chunk::{ChunkDecoder, ChunkError, Message};
use super::handshake::{self, HANDSHAKE_SIZE, RTMP_VERSION};
use super::session::{self, Shared};
use super::{
    FailureLimiter, IngestEvent, PublishGrant, PublishHandler, PublishRejected, PublishRequest,
    RtmpConfig,
};
use crate::ingest::Decision;

/// AMF0: decoding never panics, and what decodes re-encodes to bytes that decode to the same
/// encoding (compared as bytes, so that NaN numbers compare equal).
pub fn amf0(data: &[u8]) {
    let Ok(values) = amf0::decode_all(data) else {
        return;
    };
    let once = amf0::encode_all(&values);
    let again = amf0::decode_all(&once).unwrap_or_else(|e| {
        panic!("re-encoded AMF0 does not decode: {e}");
    });
    assert_eq!(
        amf0::encode_all(&again),
        once,
        "AMF0 re-encoding is not stable"
    );
}

/// The chunk stream. The first three bytes choose the chunk size, the message length cap and
/// the read size; the rest is what the peer sends. Feeding it in reads of that size must give
/// the same messages, and the same error, as feeding it at once; a decoder never holds more
/// than its cap in unfinished messages.
pub fn chunk_stream(data: &[u8]) {
    let [a, b, c, rest @ ..] = data else {
        return;
    };
    let chunk_size = 1 + (u32::from(*a) << 8 | u32::from(*b)); // 1..=65536
    let max_message_len = 1u32 << (c & 0x0F).min(24); // 1 B ..= 16 MiB
    let step = usize::from(c >> 4) + 1;
    let at_once = decode_chunks(chunk_size, max_message_len, rest, rest.len().max(1));
    let in_steps = decode_chunks(chunk_size, max_message_len, rest, step);
    assert_eq!(
        at_once, in_steps,
        "read size changes what the chunk stream decodes to"
    );
}

fn decode_chunks(
    chunk_size: u32,
    max_message_len: u32,
    wire: &[u8],
    step: usize,
) -> (Vec<Message>, Option<ChunkError>) {
    let mut dec = ChunkDecoder::new(max_message_len);
    dec.set_chunk_size(chunk_size);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in wire.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(m)) => {
                    assert!(m.payload.len() <= max_message_len as usize);
                    out.push(m);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        assert!(
            dec.buffered() <= 2 * max_message_len as usize,
            "unfinished messages hold more than the cap"
        );
    }
    (out, None)
}

/// The server side of the handshake over whatever the client sends: it completes or fails, and
/// answers at most S0+S1+S2.
pub fn handshake(data: &[u8]) {
    let mut io = Scripted::new(data, 1 + HANDSHAKE_SIZE);
    let done = runtime().block_on(handshake::accept(&mut io, 7));
    assert!(io.written <= 1 + 2 * HANDSHAKE_SIZE);
    if done.is_ok() {
        assert_eq!(io.written, 1 + 2 * HANDSHAKE_SIZE);
    }
}

/// A whole connection: a valid handshake, then `data` as the chunk stream (in reads of up to
/// 4 KiB), against a handler that grants every key except `bad`. The session ends when the
/// bytes run out, whatever they said.
pub fn session(data: &[u8]) {
    let mut wire = vec![RTMP_VERSION];
    wire.resize(1 + 2 * HANDSHAKE_SIZE, 0);
    wire.extend_from_slice(data);
    let io = Scripted::new(&wire, 4096);
    let shared = Arc::new(Shared {
        cfg: RtmpConfig {
            // Small enough that a fuzzer reaches the cap.
            max_message_len: 64 * 1024,
            ..RtmpConfig::default()
        },
        handler: Arc::new(GrantAll),
        limiter: Arc::new(FailureLimiter::default()),
        epoch: Instant::now(),
    });
    let peer = SocketAddr::from(([192, 0, 2, 1], 50_000));
    let rt = runtime();
    let ended = rt.block_on(async {
        let run = session::run(io, peer, shared, CancellationToken::new());
        // Every byte is there at once and the handler answers at once: a session that is
        // still running after this long is stuck.
        tokio::time::timeout(Duration::from_secs(5), run).await
    });
    assert!(ended.is_ok(), "the session did not end when its input did");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("no tokio runtime: {e}"))
}

/// Grants every stream key except `bad`; what the grant's sink receives is drained.
struct GrantAll;

impl PublishHandler for GrantAll {
    fn publish(&self, req: PublishRequest) -> Decision<PublishGrant> {
        use secrecy::ExposeSecret;
        let bad = req.stream_key.expose_secret() == "bad";
        Box::pin(async move {
            if bad {
                return Err(PublishRejected::BadKey);
            }
            let (sink, mut rx) = mpsc::channel::<IngestEvent>(64);
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            Ok(PublishGrant {
                sink,
                kick: CancellationToken::new(),
            })
        })
    }
}

/// A connection whose peer sends `data` in reads of at most `read_size` bytes, then closes;
/// what the server writes is counted and dropped.
struct Scripted {
    data: Vec<u8>,
    pos: usize,
    read_size: usize,
    written: usize,
}

impl Scripted {
    fn new(data: &[u8], read_size: usize) -> Self {
        Self {
            data: data.to_vec(),
            pos: 0,
            read_size,
            written: 0,
        }
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = (self.data.len() - self.pos)
            .min(self.read_size)
            .min(buf.remaining());
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written += buf.len();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
