//! What every handler can reach: the database, token keys, the rate limiter, metrics and
//! the settings. Built once by the binary and shared by all workers.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::{
    cache::ResponseCache,
    config::{AuthConfig, HttpConfig},
    metrics::Metrics,
    ratelimit::RateLimiter,
    tokens::TokenKeys,
    ws_admission::{ConnLimiter, TicketStore, origin_allowed},
};

pub struct AppState {
    pub db: DatabaseConnection,
    pub redis: Option<deadpool_redis::Pool>,
    pub tokens: TokenKeys,
    /// Playback tokens of channels that are not public, and which channels need them.
    pub playback: crate::playback::PlaybackKeys,
    pub limiter: RateLimiter,
    pub metrics: Metrics,
    /// Public channel reads, reused for a second.
    pub cache: ResponseCache,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    /// Password reset and email verification links, and the mailer that sends them.
    pub accounts: crate::accounts::Accounts,
    /// DMCA notices: the throttle and the wait before a counter-notice restores.
    pub dmca: crate::config::DmcaConfig,
    /// The live-streaming side: HLS windows, presence, the registry.
    pub live: streamhall_actors::Live,
    /// With SQLite: refuses writes while its disk is nearly full (see [`crate::disk_guard`]).
    pub disk_guard: Option<crate::disk_guard::DiskGuard>,
    /// The data directory (its free space is reported by `/readyz`).
    pub data_dir: std::path::PathBuf,
    /// Thumbnails, VODs and clips (checked by `/readyz`).
    pub objects: std::sync::Arc<dyn streamhall_media::objects::ObjectStore>,
    /// Keys the hash that turns a client address into an anonymous viewer id.
    pub viewer_hasher: std::hash::RandomState,
    /// The URL users open, without a trailing slash (e.g. `http://127.0.0.1:8080`).
    pub public_url: String,
    /// Where encoders push, e.g. `rtmp://127.0.0.1:1935/live` (see [`crate::api::server`]).
    pub rtmp_url: String,
    /// `srt://HOST:PORT` encoders call (the stream id goes in a query).
    pub srt_url: String,
    /// Single-use chat socket tickets.
    pub chat_tickets: TicketStore,
    /// Chat sockets per client address.
    pub chat_conns: ConnLimiter,
    /// HTTP requests in flight per client address (`http.max_requests_per_ip`).
    pub requests_in_flight: ConnLimiter,
    /// Fetches the HLS of streams another node owns from that node (coalesced, cached).
    pub relay: crate::relay::HlsRelay,
}

impl AppState {
    pub fn refresh_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.refresh_token_ttl_days * 24 * 3600)
    }

    /// Whether a browser on this request's `Origin` may open a socket: the app itself or a
    /// configured CORS origin (clients that send no `Origin` are not browsers and pass).
    pub fn origin_allowed(&self, req: &actix_web::HttpRequest) -> bool {
        origin_allowed(req, &self.public_url, &self.http.cors_origins)
    }
}
