//! The HLS lane: HTTP/1 requests for `/hls/` served by a loop of ours, so a segment goes from
//! memory to the socket without being copied; every other request goes to actix-http's
//! dispatcher as before.
//!
//! actix-http's dispatcher copies each response body into its write buffer before writing it,
//! and a body larger than 128 KiB makes that buffer grow and be freed again on every response.
//! Players fetch a segment of hundreds of kilobytes every second or two, so serving segments was
//! mostly copying: nginx, with `sendfile`, served a 300 KiB segment 1.3-1.6 times as fast.
//!
//! Each accepted connection starts here. While the requests on it are `GET` or `HEAD` under
//! `/hls/` with no body and no upgrade, this loop answers them:
//!
//! - the request head is decoded by actix-http's own HTTP/1 codec, and the request goes through
//!   the same [`App`](crate::app) (routing, middleware, handlers) with its peer address;
//! - the response head is encoded by the same codec (status, headers, date, keep-alive), then
//!   the head and the body's chunks go out in one vectored write, or, for a live segment (whose
//!   handler finds [`CanSendfile`] on the request and answers with [`Sendfile`]), the head and then
//!   the segment's sealed memory file with `sendfile`, which copies nothing;
//! - pipelined requests are answered in order; the connection closes when the codec says it does
//!   not stay open, when the client is silent for the keep-alive time between requests (or the
//!   head timeout within one), and on a graceful stop while idle.
//!
//! The first request that is anything else hands the connection, with the bytes read past the
//! last request answered here, to the dispatcher for the rest of its life: a browser's pooled
//! connection that fetched segments and then posts a chat message behaves as it always did, and
//! a head the lane cannot decode gets the dispatcher's own error answer.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_codec::{Decoder, Encoder};
use actix_http::{
    Protocol, Request, ServiceConfig,
    body::{BodySize, MessageBody},
    h1::{self, Message, MessageType},
};
use actix_server::GracefulShutdownSignal;
use actix_service::Service;
use actix_web::{dev::ServiceResponse, rt::net::TcpStream};
use bytes::BytesMut;
use streamhall_media::hls::SealedFile;
use tokio::io::AsyncReadExt;

use crate::socket::{Conn, pump, write_all, write_file};

/// Marks a request the lane serves: a handler may answer with [`Sendfile`].
pub struct CanSendfile;

/// In a response's extensions: its body's bytes are `len` bytes of `file` from `offset`, which the
/// lane sends with `sendfile` (the dispatcher ignores it and sends the body).
pub struct Sendfile {
    pub file: Arc<SealedFile>,
    pub offset: u64,
    pub len: u64,
}

/// The request lines this lane answers; anything else goes to the dispatcher.
const LANE: [&[u8]; 2] = [b"GET /hls/", b"HEAD /hls/"];
/// A request head larger than this is not the lane's (the dispatcher answers it).
const MAX_HEAD: usize = 16 * 1024;
/// Bytes asked of the socket at a time.
const READ_AHEAD: usize = 4 * 1024;

/// How long a client may take: for a whole request head once it starts, and between requests
/// on a kept-alive connection.
#[derive(Clone, Copy)]
pub struct Timeouts {
    pub head: Duration,
    pub keep_alive: Duration,
}

/// Serves one connection: the lane's requests here, then (if one is not) the dispatcher's.
/// `dispatcher` is actix-http's HTTP/1 service for the connection.
pub async fn serve<S, B, D>(
    app: Rc<S>,
    dispatcher: Rc<D>,
    config: ServiceConfig,
    timeouts: Timeouts,
    shutdown: GracefulShutdownSignal,
    io: TcpStream,
) -> Result<(), D::Error>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
    D: Service<(Conn, Protocol, Option<SocketAddr>), Response = ()>,
{
    // Chat frames and playlists are small: latency matters more than packet count.
    let _ = io.set_nodelay(true);
    let peer = io.peer_addr().ok();
    let mut lane = Lane {
        codec: h1::Codec::new(config),
        buf: BytesMut::new(),
        io,
        peer,
    };
    let mut first = true;
    loop {
        let wait = if first || !lane.buf.is_empty() {
            timeouts.head
        } else {
            timeouts.keep_alive
        };
        let idle = lane.buf.is_empty();
        let next = tokio::select! {
            next = tokio::time::timeout(wait, lane.next_request()) => next,
            () = shutdown.notified(), if idle => return Ok(()),
        };
        let req = match next {
            Ok(Ok(Next::Request(req))) => req,
            Ok(Ok(Next::Dispatcher)) => break,
            // Silent past the deadline, closed, or failed: the connection ends, as the
            // dispatcher would end it.
            Ok(Ok(Next::Closed)) | Err(_) => return Ok(()),
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "HLS connection ended");
                return Ok(());
            }
        };
        match lane.answer(&*app, req).await {
            Ok(true) => first = false,
            Ok(false) => return Ok(()),
            Err(err) => {
                tracing::debug!(error = %err, "HLS connection ended");
                return Ok(());
            }
        }
    }
    let Lane { io, buf, peer, .. } = lane;
    dispatcher
        .call((Conn::new(io, buf.freeze()), Protocol::Http1, peer))
        .await
}

/// What comes next on a connection.
enum Next {
    /// A request for the lane, decoded.
    Request(Request),
    /// A request for the dispatcher: its bytes are still in the buffer.
    Dispatcher,
    /// The client closed the connection between requests.
    Closed,
}

struct Lane {
    codec: h1::Codec,
    /// Bytes read past the last request decoded.
    buf: BytesMut,
    io: TcpStream,
    peer: Option<SocketAddr>,
}

impl Lane {
    /// Reads until the buffer holds a whole request head the lane answers, or shows one it
    /// does not.
    async fn next_request(&mut self) -> io::Result<Next> {
        loop {
            if let Some(next) = self.decode() {
                return Ok(next);
            }
            self.buf.reserve(READ_AHEAD);
            // `read_buf` rather than `readable` and `try_read_buf`: a read that comes back short
            // marks the socket drained, so the next request is not preceded by a read that
            // finds nothing (which was one more syscall per request).
            match self.io.read_buf(&mut self.buf).await? {
                0 if self.buf.is_empty() => return Ok(Next::Closed),
                // Closed within a head: the dispatcher answers (or drops) what was sent.
                0 => return Ok(Next::Dispatcher),
                _ => {}
            }
        }
    }

    /// The next request if the buffer holds enough to tell: `None` while it needs more bytes.
    fn decode(&mut self) -> Option<Next> {
        if self.buf.is_empty() {
            return None;
        }
        match starts_lane(&self.buf) {
            Some(false) => return Some(Next::Dispatcher),
            None => return None,
            Some(true) => {}
        }
        // Decoded from a copy, so a request that turns out not to be the lane's (a body, an
        // upgrade, a malformed head) goes to the dispatcher byte for byte.
        let mut probe = self.buf.clone();
        match self.codec.decode(&mut probe) {
            Ok(Some(Message::Item(req)))
                if self.codec.message_type() == MessageType::None && !self.codec.upgrade() =>
            {
                self.buf = probe;
                Some(Next::Request(req))
            }
            Ok(None) if self.buf.len() < MAX_HEAD => None,
            _ => Some(Next::Dispatcher),
        }
    }

    /// Answers `req`; whether the connection stays open.
    async fn answer<S, B>(&mut self, app: &S, mut req: Request) -> io::Result<bool>
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody + 'static,
    {
        req.head_mut().peer_addr = self.peer;
        let head_only = req.head().method == actix_http::Method::HEAD;
        if !head_only {
            actix_http::HttpMessage::extensions_mut(&req).insert(CanSendfile);
        }
        // Boxed: the call's future is large and lives only until the handler answers.
        let res = match Box::pin(app.call(req)).await {
            Ok(res) => res.into_parts().1.map_into_boxed_body(),
            Err(err) => err.error_response(),
        };
        let (mut res, body) = res.into_parts();
        let size = body.size();
        let file = res.extensions_mut().remove::<Sendfile>();
        let mut head = BytesMut::with_capacity(512);
        self.codec
            .encode(Message::Item((res.drop_body().into(), size)), &mut head)?;
        // The codec wrote no body framing for HEAD; for a known length the chunks go as they are.
        if head_only || matches!(size, BodySize::None | BodySize::Sized(0)) {
            write_all(&self.io, vec![head.freeze()]).await?;
        } else if let Some(f) = file.filter(|f| size == BodySize::Sized(f.len)) {
            write_file(&self.io, head.freeze(), &f.file, f.offset, f.len).await?;
        } else if let BodySize::Sized(_) = size {
            match body.try_into_bytes() {
                Ok(bytes) => write_all(&self.io, vec![head.freeze(), bytes]).await?,
                Err(body) => {
                    write_all(&self.io, vec![head.freeze()]).await?;
                    pump(&self.io, body).await?;
                }
            }
        } else {
            write_all(&self.io, vec![head.freeze()]).await?;
            self.chunked(body).await?;
        }
        // An idle connection keeps no read buffer.
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
        Ok(self.codec.keep_alive())
    }

    /// A body of unknown length, in the codec's chunked framing.
    async fn chunked<B: MessageBody>(&mut self, body: B) -> io::Result<()> {
        let mut body = std::pin::pin!(body);
        loop {
            let chunk = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await;
            let mut out = BytesMut::new();
            let end = match chunk {
                Some(Ok(chunk)) => {
                    self.codec.encode(Message::Chunk(Some(chunk)), &mut out)?;
                    false
                }
                Some(Err(err)) => {
                    let err: Box<dyn std::error::Error> = err.into();
                    return Err(io::Error::other(err.to_string()));
                }
                None => {
                    self.codec.encode(Message::Chunk(None), &mut out)?;
                    true
                }
            };
            write_all(&self.io, vec![out.freeze()]).await?;
            if end {
                return Ok(());
            }
        }
    }
}

/// Whether the buffered bytes start a request line the lane answers; `None` while too few to
/// tell.
fn starts_lane(buf: &[u8]) -> Option<bool> {
    match LANE
        .iter()
        .find(|p| p.starts_with(&buf[..buf.len().min(p.len())]))
    {
        None => Some(false),
        Some(p) if buf.len() < p.len() => None,
        Some(_) => Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hls_gets_and_heads_take_the_lane() {
        assert_eq!(
            starts_lane(b"GET /hls/a/master.m3u8 HTTP/1.1\r\n"),
            Some(true)
        );
        assert_eq!(
            starts_lane(b"HEAD /hls/a/source/seg-1.ts HTTP/1.1"),
            Some(true)
        );
        assert_eq!(starts_lane(b"GET /api/v1/channels HTTP/1.1"), Some(false));
        assert_eq!(starts_lane(b"POST /hls/a HTTP/1.1"), Some(false));
        assert_eq!(starts_lane(b"GET /hlsx"), Some(false));
        // Not enough bytes to tell yet.
        assert_eq!(starts_lane(b"GE"), None);
        assert_eq!(starts_lane(b"HEAD /hl"), None);
    }
}
