//! Limits every HTTP request passes before a handler sees it: requests in flight per client
//! address (keyed by the forwarded address when `trust_proxy_headers` is set), with SQLite
//! the disk reserve ([`crate::disk_guard`]), and a deadline for the request body, so a client that announces a body and trickles it cannot hold a
//! connection and a worker's attention for as long as it likes.
//!
//! Connections that never finish their request head are closed by actix-http's own
//! `client_request_timeout` (see `src/startup.rs`); the body is what actix reads on demand,
//! with no clock of its own.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::{
    Error, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    error::PayloadError,
    http::header,
    middleware::Next,
    web,
};
use bytes::Bytes;
use futures_util::Stream;

use crate::{auth::client_ip, error::ApiError, state::AppState};

/// Counts the request against its address (429 with `Retry-After: 1` over
/// `http.max_requests_per_ip`) and puts the body, when there is one, under
/// `http.body_timeout_secs`.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let ip = client_ip(req.request(), state.http.trust_proxy_headers);
    let Some(_slot) = state.requests_in_flight.acquire(ip) else {
        state
            .metrics
            .requests_refused
            .with_label_values(&["in_flight_per_ip"])
            .inc();
        let res = ApiError::TooManyRequests {
            retry_after_secs: 1,
        }
        .error_response();
        return Ok(req.into_response(res).map_into_right_body());
    };
    if let Some(guard) = &state.disk_guard
        && crate::disk_guard::writes(&req)
        && guard.short()
    {
        state
            .metrics
            .requests_refused
            .with_label_values(&["storage_full"])
            .inc();
        let res = ApiError::StorageFull.error_response();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let req = if has_body(&req) {
        let deadline = Duration::from_secs(state.http.body_timeout_secs.max(1));
        let (http, payload) = req.into_parts();
        let timed: actix_http::BoxedPayloadStream = Box::pin(Deadline::new(payload, deadline));
        ServiceRequest::from_parts(http, Payload::from(timed))
    } else {
        req
    };
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The body stream, cut off with a `TimedOut` error once `deadline` has passed since the
/// request started (whatever has arrived by then).
struct Deadline {
    body: Payload,
    timer: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl Deadline {
    fn new(body: Payload, deadline: Duration) -> Self {
        Self {
            body,
            timer: Box::pin(tokio::time::sleep(deadline)),
            expired: false,
        }
    }
}

/// The message a body that took too long ends with (a `TimedOut` I/O error, which
/// [`crate::error::payload_error`] answers with 408).
const TIMED_OUT: &str = "the request body did not arrive in time";

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                TIMED_OUT,
            )))));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use futures_util::StreamExt;

    #[actix_web::test]
    async fn a_body_that_stalls_ends_with_a_timeout_and_a_quick_one_passes() {
        let (mut tx, rx) = actix_http::h1::Payload::create(false);
        let mut body = Deadline::new(Payload::from(rx), Duration::from_millis(100));
        tx.feed_data(Bytes::from_static(b"{\"a\":"));
        assert_eq!(body.next().await.unwrap().unwrap(), "{\"a\":");
        // Nothing more arrives: the deadline ends it, once.
        let err = body.next().await.unwrap().unwrap_err();
        assert!(matches!(&err, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut));
        assert!(body.next().await.is_none());
        assert_eq!(crate::error::payload_error(&err).status_code(), 408);

        let (mut tx, rx) = actix_http::h1::Payload::create(false);
        let mut body = Deadline::new(Payload::from(rx), Duration::from_secs(5));
        tx.feed_data(Bytes::from_static(b"{}"));
        tx.feed_eof();
        assert_eq!(body.next().await.unwrap().unwrap(), "{}");
        assert!(body.next().await.is_none());
    }
}
