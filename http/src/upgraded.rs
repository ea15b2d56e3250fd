//! WebSockets carried after the upgrade by a loop of ours instead of actix-http's HTTP/1
//! dispatcher.
//!
//! The dispatcher keeps an 8 KiB read buffer and an 8 KiB write buffer for the whole life of a
//! connection. For a request-response connection that is nothing; for an idle chat socket it was
//! 16 KiB of the 21 KiB each one cost. actix-http hands a `Connection: upgrade` request, with the
//! connection itself, to a separate service ([`HttpServiceBuilder::upgrade`]); this is that
//! service, and it keeps everything else as it was:
//!
//! - the request goes through the same [`App`](crate::app): routing, middleware and handlers are
//!   unchanged, and a handler still answers with a WebSocket handshake and a WebSocket context;
//! - the handler's payload reads the socket directly, after the bytes the dispatcher had already
//!   read past the request head;
//! - the response head is written here, then the context's frames are copied to the socket, every
//!   frame ready at that moment in one vectored write. A frame is taken from the context only
//!   when the previous batch has been written, so a client that stops reading stops its session
//!   from taking more (see [`chat_ws`](crate::api::chat_ws)'s back-pressure).
//!
//! A handler may also hand its socket's stream over directly ([`DirectBody`]): the loop then
//! pumps it, not the response body the middleware wrapped around it, so a frame does not pass
//! through the request span and the body adapters on its way out.
//!
//! Nothing is buffered between reads or between writes, so an idle socket holds no buffer.
//! A request that is not answered `101 Switching Protocols` (a refused handshake, or an upgrade
//! header on a route that is not a socket) gets its response and the connection closes.
//!
//! [`HttpServiceBuilder::upgrade`]: actix_http::HttpServiceBuilder::upgrade

use std::cell::RefCell;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use actix_codec::{Framed, FramedParts};
use actix_http::{
    Payload, Request, StatusCode,
    body::{BodySize, BodyStream, MessageBody},
    error::PayloadError,
    h1,
    header::{self, HeaderMap},
};
use actix_service::{Service, ServiceFactory, fn_factory, fn_service};
use actix_web::{dev::ServiceResponse, rt::net::TcpStream};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;

use crate::socket::{Conn, pump, write_all};

/// Bytes read from the socket at a time, into a buffer on the stack.
const READ_CHUNK: usize = 8 * 1024;

/// A socket's frames, as a stream.
pub type Frames = Pin<Box<dyn Stream<Item = Result<Bytes, actix_web::Error>>>>;

/// A WebSocket handler's frames, handed to this loop directly: put it in the `101` response's
/// extensions and answer with [`DirectBody::body`]. After the `101` the loop takes the frames
/// from here and drops the response body, which only forwards to them (and is what a server
/// without this loop would carry).
pub struct DirectBody(Rc<RefCell<Option<Frames>>>);

impl DirectBody {
    pub fn new(frames: Frames) -> Self {
        Self(Rc::new(RefCell::new(Some(frames))))
    }

    /// A response body yielding the frames, for as long as the loop has not taken them.
    pub fn body(&self) -> impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static {
        let slot = Rc::clone(&self.0);
        futures_util::stream::poll_fn(move |cx| match slot.borrow_mut().as_mut() {
            Some(frames) => frames.as_mut().poll_next(cx),
            None => Poll::Ready(None),
        })
    }

    fn take(&self) -> Option<Frames> {
        self.0.borrow_mut().take()
    }
}

/// The upgrade service: one per worker, calling its own instance of `app`.
pub fn carrier<F, S, B>(
    app: F,
) -> impl ServiceFactory<
    (Request, Framed<Conn, h1::Codec>),
    Config = (),
    Response = (),
    Error = Infallible,
    InitError = (),
>
where
    F: ServiceFactory<Request, Config = (), Service = S, InitError = ()> + 'static,
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    let app = Rc::new(app);
    fn_factory(move || {
        let created = app.new_service(());
        async move {
            let app = Rc::new(created.await?);
            Ok(fn_service(
                move |(req, framed): (Request, Framed<Conn, h1::Codec>)| {
                    carry(Rc::clone(&app), req, framed)
                },
            ))
        }
    })
}

/// Serves one upgrade request and, if the answer is `101`, the socket it opens until either side
/// ends it. A connection ending is not an error of the server's: it is logged at debug level.
async fn carry<S, B>(
    app: Rc<S>,
    req: Request,
    framed: Framed<Conn, h1::Codec>,
) -> Result<(), Infallible>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    if let Err(err) = answer(app, req, framed).await {
        tracing::debug!(error = %err, "upgraded connection ended");
    }
    // The connection closes as the last handle on it (this one's, the payload's) goes.
    Ok(())
}

async fn answer<S, B>(app: Rc<S>, req: Request, framed: Framed<Conn, h1::Codec>) -> io::Result<()>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    // What the dispatcher read past the head (a client may send its first frames at once). Its
    // write buffer, and the read buffer unless it holds such bytes, are dropped here: they are
    // what this module exists to give back.
    let FramedParts { io, read_buf, .. } = framed.into_parts();
    let (io, unread) = io.into_parts();
    let io = Rc::new(io);
    let early = (!read_buf.is_empty() || !unread.is_empty()).then(|| {
        let mut early = BytesMut::with_capacity(read_buf.len() + unread.len());
        early.put_slice(&read_buf);
        early.put_slice(&unread);
        early.freeze()
    });
    drop(read_buf);
    let payload: actix_http::BoxedPayloadStream = Box::pin(SocketPayload {
        io: Rc::clone(&io),
        early,
        done: false,
    });
    let (req, _) = req.replace_payload(Payload::Stream { payload });
    // Boxed: the call's future is large and lives only until the handler answers.
    let res = match Box::pin(app.call(req)).await {
        Ok(res) => res.into_parts().1.map_into_boxed_body(),
        Err(err) => err.error_response(),
    };
    let (mut res, body) = res.into_parts();
    let direct = res.extensions_mut().remove::<DirectBody>();
    let status = res.status();
    let framing = if status == StatusCode::SWITCHING_PROTOCOLS {
        Framing::Upgrade
    } else {
        match body.size() {
            BodySize::Sized(n) => Framing::Length(n),
            BodySize::None => Framing::Length(0),
            BodySize::Stream => Framing::UntilClose,
        }
    };
    let upgraded = matches!(framing, Framing::Upgrade);
    let head = head(status, res.headers(), framing);
    // The response head (its header map is kilobytes) is not kept for the socket's life.
    drop(res);
    write_all(&io, vec![head]).await?;
    if !upgraded {
        return pump(&io, body).await;
    }
    // The socket's life goes on in a task of its own holding only the socket and the session,
    // so the HTTP/1 dispatcher's state (timers, codec, the request's slots) is freed now.
    let frames = direct.and_then(|direct| direct.take());
    actix_web::rt::spawn(async move {
        let ended = match frames {
            Some(frames) => {
                drop(body);
                pump(&io, BodyStream::new(frames)).await
            }
            None => pump(&io, body).await,
        };
        if let Err(err) = ended {
            tracing::debug!(error = %err, "websocket connection ended");
        }
    });
    Ok(())
}

/// How the end of a response is known.
enum Framing {
    /// `101`: the socket is the body from now on.
    Upgrade,
    Length(u64),
    UntilClose,
}

/// The response head as HTTP/1.1 writes it. Connection and length headers are ours: an answer
/// other than `101` closes the connection.
fn head(status: StatusCode, headers: &HeaderMap, framing: Framing) -> Bytes {
    let mut out = BytesMut::with_capacity(256);
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
    for (name, value) in headers {
        if name == header::CONNECTION
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
        {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    match framing {
        Framing::Upgrade => out.put_slice(b"connection: upgrade\r\n"),
        Framing::Length(n) => {
            out.put_slice(b"connection: close\r\ncontent-length: ");
            out.put_slice(n.to_string().as_bytes());
            out.put_slice(b"\r\n");
        }
        Framing::UntilClose => out.put_slice(b"connection: close\r\n"),
    }
    out.put_slice(b"\r\n");
    out.freeze()
}

/// The request payload of an upgraded connection: the bytes read with the head, then the socket.
struct SocketPayload {
    io: Rc<TcpStream>,
    early: Option<Bytes>,
    done: bool,
}

impl Stream for SocketPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(early) = self.early.take() {
            return Poll::Ready(Some(Ok(early)));
        }
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            if let Err(err) = ready!(self.io.poll_read_ready(cx)) {
                self.done = true;
                return Poll::Ready(Some(Err(PayloadError::Io(err))));
            }
            let mut buf = [0u8; READ_CHUNK];
            match self.io.try_read(&mut buf) {
                Ok(0) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Ok(n) => return Poll::Ready(Some(Ok(Bytes::copy_from_slice(&buf[..n])))),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(PayloadError::Io(err))));
                }
            }
        }
    }
}
