//! Writing to a client's socket without a buffer of our own, for the loops that take a connection
//! from actix-http's HTTP/1 dispatcher ([`upgraded`](crate::upgraded)) or serve it before the
//! dispatcher sees it ([`lane`](crate::lane)).
//!
//! The dispatcher copies every response body into its write buffer before writing it. These
//! helpers write the body's own chunks, every chunk ready at that moment in one vectored write,
//! so a segment held in memory goes from its `Bytes` to the kernel with no copy in between; or,
//! given the segment's sealed memory file, the kernel sends its pages without copying at all.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::body::MessageBody;
use actix_web::rt::net::TcpStream;
use bytes::{Buf, Bytes};
use rustix::net::SendFlags;
use streamhall_media::hls::SealedFile;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// Chunks written in one vectored write at most.
const BATCH: usize = 64;

/// Copies `body` to the socket until it ends: whatever it has ready, one vectored write.
pub(crate) async fn pump<B: MessageBody>(io: &TcpStream, body: B) -> io::Result<()> {
    let mut body = std::pin::pin!(body);
    loop {
        let (batch, end) = poll_fn(|cx| ready_chunks(body.as_mut(), cx)).await?;
        write_all(io, batch).await?;
        if end {
            return Ok(());
        }
    }
}

/// Every chunk `body` has ready now (at most [`BATCH`]), and whether it has ended; pending while
/// it has nothing.
fn ready_chunks<B: MessageBody>(
    mut body: Pin<&mut B>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<(Vec<Bytes>, bool)>> {
    let mut batch = Vec::new();
    while batch.len() < BATCH {
        match body.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if !chunk.is_empty() {
                    batch.push(chunk);
                }
            }
            Poll::Ready(Some(Err(err))) => {
                let err: Box<dyn std::error::Error> = err.into();
                return Poll::Ready(Err(io::Error::other(err.to_string())));
            }
            Poll::Ready(None) => return Poll::Ready(Ok((batch, true))),
            Poll::Pending => break,
        }
    }
    if batch.is_empty() {
        Poll::Pending
    } else {
        Poll::Ready(Ok((batch, false)))
    }
}

/// Writes every byte of `bufs`, waiting for the socket when it is full.
pub(crate) async fn write_all(io: &TcpStream, mut bufs: Vec<Bytes>) -> io::Result<()> {
    let mut first = 0;
    while first < bufs.len() {
        let written = {
            let slices: Vec<IoSlice<'_>> = bufs[first..].iter().map(|b| IoSlice::new(b)).collect();
            match io.try_write_vectored(&slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    io.writable().await?;
                    continue;
                }
                Err(err) => return Err(err),
            }
        };
        let mut left = written;
        while left > 0 {
            let len = bufs[first].len();
            if left >= len {
                left -= len;
                first += 1;
            } else {
                bufs[first].advance(left);
                left = 0;
            }
        }
    }
    Ok(())
}

/// Writes `head`, then `len` bytes of `file` from `offset` with `sendfile`: the kernel attaches
/// the file's pages to the packets instead of copying them.
pub(crate) async fn write_file(
    io: &TcpStream,
    mut head: Bytes,
    file: &SealedFile,
    mut offset: u64,
    len: u64,
) -> io::Result<()> {
    // `MSG_MORE`: the head waits for the body's first bytes and leaves in the same packet.
    while !head.is_empty() {
        let sent = io.try_io(Interest::WRITABLE, || {
            rustix::net::send(io, &head, SendFlags::MORE).map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => head.advance(n),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => io.writable().await?,
            Err(err) => return Err(err),
        }
    }
    let end = offset + len;
    while offset < end {
        let count = usize::try_from(end - offset).unwrap_or(usize::MAX);
        // The call moves `offset` past what it sent.
        let sent = io.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(io, file, Some(&mut offset), count).map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(io::Error::other("the segment's file ended early")),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => io.writable().await?,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// A client connection handed to actix-http's dispatcher with the bytes already read from it,
/// which the dispatcher reads first.
pub struct Conn {
    io: TcpStream,
    unread: Bytes,
}

impl Conn {
    pub(crate) fn new(io: TcpStream, unread: Bytes) -> Self {
        Self { io, unread }
    }

    /// The socket, and what of the bytes read ahead the dispatcher has not taken (normally
    /// nothing: it reads them with its first read).
    pub(crate) fn into_parts(self) -> (TcpStream, Bytes) {
        (self.io, self.unread)
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.unread.is_empty() {
            return Pin::new(&mut self.io).poll_read(cx, buf);
        }
        let n = self.unread.len().min(buf.remaining());
        buf.put_slice(&self.unread[..n]);
        self.unread.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
