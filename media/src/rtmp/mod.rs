//! The RTMP ingest server: accepts an encoder's publish (OBS, ffmpeg) on one application name,
//! asks a [`PublishHandler`] whether the stream key may publish, and turns the stream into
//! [`IngestEvent`]s on the handler's bounded channel.
//!
//! Handshake, chunk stream and AMF0 are implemented here so that every limit is ours: handshake
//! and idle timeouts, chunk size and message length caps, bounded per-connection state, and a
//! per-source limit on failed publishes. Malformed input closes that connection only.
//! The stream key is never logged nor put in an error.

mod amf0;
mod chunk;
#[doc(hidden)]
pub mod fuzz;
mod handshake;
mod session;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

pub use crate::ingest::{
    FailureLimiter, IngestEvent, Protocol, PublishGrant, PublishHandler, PublishRejected,
    PublishRequest,
};

/// Limits and names of the RTMP server. `Default` suits a public server.
#[derive(Debug, Clone)]
pub struct RtmpConfig {
    /// The application name encoders publish to: `rtmp://host/{app}` (e.g. `live`).
    pub app: String,
    /// Handshake and `connect` must complete within this time.
    pub handshake_timeout: Duration,
    /// A publishing connection that sends no media (audio, video, metadata) for this long is
    /// closed; acknowledgements and pings do not count.
    pub idle_timeout: Duration,
    /// A connected client must publish within this time.
    pub publish_timeout: Duration,
    /// A SetChunkSize from the peer above this closes the connection.
    pub max_chunk_size: u32,
    /// A message longer than this (e.g. a huge keyframe) closes the connection.
    pub max_message_len: u32,
    /// Time the [`PublishHandler`] has to decide; the attempt fails after it.
    pub publish_decision_timeout: Duration,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Connections from one address at once (0 = no limit); more are closed on accept.
    pub max_connections_per_ip: usize,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        Self {
            app: "live".to_owned(),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            publish_timeout: Duration::from_secs(15),
            max_chunk_size: 64 * 1024,
            max_message_len: 8 * 1024 * 1024,
            publish_decision_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_ip: 16,
        }
    }
}

/// Accept connections until `shutdown` is cancelled. One task per connection. Returns once
/// every connection task has ended (they watch `shutdown` too). Failed publishes (bad key,
/// unknown app) count in `limiter`, which the SRT listener shares: a source over its limit is
/// closed on accept.
pub async fn serve(
    listener: TcpListener,
    cfg: RtmpConfig,
    handler: Arc<dyn PublishHandler>,
    limiter: Arc<FailureLimiter>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let mut per_ip = PerIp::new(cfg.max_connections_per_ip);
    let shared = Arc::new(session::Shared {
        cfg,
        handler,
        limiter,
        epoch: Instant::now(),
    });
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    warn!(error = %e, "rtmp connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if shared.limiter.is_blocked(peer.ip(), Instant::now()) {
                        debug!(%peer, "rtmp connection refused: too many failed publishes");
                        continue;
                    }
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        warn!(%peer, "rtmp connection refused: connection limit reached");
                        continue;
                    };
                    let Some(ip_slot) = per_ip.acquire(peer.ip()) else {
                        // Said once a minute at most: a flood must not flood the log.
                        if per_ip.should_warn(Instant::now()) {
                            warn!(%peer, limit = per_ip.max, "rtmp connection refused: too many connections from this address (rtmp.max_connections_per_ip)");
                        } else {
                            debug!(%peer, "rtmp connection refused: too many connections from this address");
                        }
                        continue;
                    };
                    // Latency over throughput for the few control messages we send.
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    tasks.spawn(async move {
                        session::run(stream, peer, shared, shutdown).await;
                        drop((permit, ip_slot));
                    });
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    warn!(error = %e, "rtmp accept failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Open connections per client address, capped.
struct PerIp {
    max: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    last_warning: Option<Instant>,
}

/// One counted connection; released on drop.
struct IpSlot {
    ip: std::net::IpAddr,
    open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

impl PerIp {
    fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
            last_warning: None,
        }
    }

    fn should_warn(&mut self, now: Instant) -> bool {
        let due = self
            .last_warning
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60));
        if due {
            self.last_warning = Some(now);
        }
        due
    }

    fn acquire(&self, ip: std::net::IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_default();
        if self.max != 0 && *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            ip,
            open: Arc::clone(&self.open),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Encoders may append `?query` (tokens, options) to the stream name or the app; it is not
/// part of the name.
fn strip_query(name: &str) -> &str {
    name.split_once('?').map_or(name, |(before, _)| before)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use secrecy::SecretString;

    struct Refuse;

    impl PublishHandler for Refuse {
        fn publish(&self, _: PublishRequest) -> crate::ingest::Decision<PublishGrant> {
            Box::pin(async { Err(PublishRejected::BadKey) })
        }
    }

    /// Whether the server closed `c` within `wait` (EOF), rather than leaving it open.
    async fn closed_within(c: &mut tokio::net::TcpStream, wait: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(wait, c.read(&mut b)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    #[tokio::test]
    async fn one_address_gets_at_most_its_share_of_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cfg = RtmpConfig {
            max_connections_per_ip: 2,
            ..RtmpConfig::default()
        };
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            cfg,
            Arc::new(Refuse),
            Arc::new(FailureLimiter::default()),
            shutdown.clone(),
        ));
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_within(&mut third, Duration::from_secs(5)).await,
            "the third is refused"
        );
        assert!(!closed_within(&mut first, Duration::from_millis(200)).await);
        assert!(!closed_within(&mut second, Duration::from_millis(200)).await);
        // A slot comes back when a connection ends.
        drop(first);
        let mut next = None;
        for _ in 0..50 {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            if !closed_within(&mut c, Duration::from_millis(200)).await {
                next = Some(c);
                break;
            }
        }
        assert!(next.is_some(), "the freed slot is never given out");
        shutdown.cancel();
        server.await.unwrap();
    }

    #[test]
    fn query_suffix_is_stripped() {
        assert_eq!(strip_query("sk_live_abc123"), "sk_live_abc123");
        assert_eq!(
            strip_query("sk_live_abc123?bandwidthtest=true"),
            "sk_live_abc123"
        );
        assert_eq!(strip_query("key?a=1?b=2"), "key");
        assert_eq!(strip_query("?only=query"), "");
        assert_eq!(strip_query(""), "");
    }

    #[test]
    fn request_debug_hides_the_key() {
        let req = PublishRequest {
            stream_key: SecretString::from("sk_live_secret".to_owned()),
            peer: "127.0.0.1:5000".parse().unwrap(),
            encoder: None,
            protocol: Protocol::Rtmp,
        };
        assert!(!format!("{req:?}").contains("sk_live_secret"));
    }
}
