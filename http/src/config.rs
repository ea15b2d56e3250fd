//! The `[http]`, `[auth]` and `[dmca]` sections of the config file. Defaults run with nothing else
//! installed; every field can be overridden by `STREAMHALL_HTTP__…` / `STREAMHALL_AUTH__…`.

use std::net::SocketAddr;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the HTTP server binds (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Origins allowed to call the API from a browser (CORS), e.g. `https://watch.example.com`.
    /// The server's own `public_url` is always allowed.
    pub cors_origins: Vec<String>,
    /// Largest JSON request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Worker threads; 0 = one per CPU core.
    pub workers: usize,
    /// Take the client address from `X-Forwarded-For` / `Forwarded` (only behind a proxy you
    /// run: otherwise clients can pick their own address for rate limits).
    pub trust_proxy_headers: bool,
    /// Distinct viewers one client address (an IPv6 /64) adds to a channel's count; its
    /// further viewer ids are not counted (0 = no cap). Viewers are counted on segment
    /// requests. Behind a reverse proxy, set `trust_proxy_headers`, or every viewer shares
    /// the proxy's address.
    pub viewer_ids_per_address: usize,
    /// When set, `/metrics` answers only `Authorization: Bearer <this token>` (Prometheus:
    /// `authorization: { credentials: ... }`); unset, it is public like `/healthz`.
    pub metrics_token: Option<SecretString>,
    /// Requests one client address may have in flight at once (behind a proxy with
    /// `trust_proxy_headers`, the forwarded address); more get 429. 0 = no cap.
    pub max_requests_per_ip: u32,
    /// Seconds a request body may take to arrive in full; slower ones get 408 and the
    /// connection is closed.
    pub body_timeout_secs: u64,
    /// Seconds a client has to send a request's head (line and headers) once it connects or
    /// between keep-alive requests; slower connections are closed.
    pub head_timeout_secs: u64,
    /// `/readyz` says `degraded` when the data directory has less than this many MiB free
    /// (writes that find the disk full are refused with 507 `storage_full`).
    pub disk_low_mb: u64,
    /// With SQLite: while the database's directory has less than this many MiB free,
    /// requests that write (POST, PUT, PATCH; not signing in) get 507 `storage_full` (0 = off).
    pub disk_reserve_mb: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cors_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
            workers: 0,
            trust_proxy_headers: false,
            viewer_ids_per_address: streamhall_actors::presence::DEFAULT_VIEWER_IDS_PER_ADDRESS,
            metrics_token: None,
            max_requests_per_ip: 256,
            body_timeout_secs: 30,
            head_timeout_secs: 5,
            disk_low_mb: 256,
            disk_reserve_mb: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 signing secret (at least 32 bytes). Empty: generated once and kept in
    /// `{data_dir}/jwt_secret`. Every node of a cluster needs the same secret.
    pub jwt_secret: Option<SecretString>,
    /// Access token lifetime in seconds.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in days.
    pub refresh_token_ttl_days: u64,
    /// The `iss` and `aud` claims.
    pub issuer: String,
    pub audience: String,
    /// Playback tokens of channels that are not public (`[auth.playback]`).
    pub playback: crate::playback::PlaybackConfig,
    pub throttle: ThrottleConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            issuer: "streamhall".into(),
            audience: "streamhall-api".into(),
            playback: crate::playback::PlaybackConfig::default(),
            throttle: ThrottleConfig::default(),
        }
    }
}

/// Failed-login and registration limits. A window is fixed: its counter resets when it ends,
/// so a lockout never lasts longer than one window.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failed logins from one client address, per `ip_window_secs`.
    pub login_failures_per_ip: u32,
    pub ip_window_secs: u64,
    /// Failed logins for one account from one address, per `account_ip_window_secs`.
    pub login_failures_per_account_ip: u32,
    pub account_ip_window_secs: u64,
    /// Failed logins for one account from all addresses, per `account_window_secs`. Kept
    /// short so an attacker cannot keep a victim out for long.
    pub login_failures_per_account: u32,
    pub account_window_secs: u64,
    /// Registrations from one client address, per `register_window_secs`.
    pub registrations_per_ip: u32,
    pub register_window_secs: u64,
    /// Email changes one user may try, per `email_change_window_secs` ("that email is already
    /// taken" must not become a way to test addresses). A wrong current password on a password
    /// change counts as a failed login.
    pub email_changes_per_user: u32,
    pub email_change_window_secs: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            login_failures_per_ip: 30,
            ip_window_secs: 300,
            login_failures_per_account_ip: 5,
            account_ip_window_secs: 300,
            login_failures_per_account: 20,
            account_window_secs: 60,
            registrations_per_ip: 20,
            register_window_secs: 600,
            email_changes_per_user: 10,
            email_change_window_secs: 3600,
        }
    }
}

/// The `[dmca]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DmcaConfig {
    /// Seconds from a counter-notice to the restore of the uploader's items, unless an admin
    /// records legal action first. Default 864000 (10 days): the law asks for 10 to 14
    /// business days, so an operator under US law may want 1209600 (14 days) or more.
    pub restore_after_secs: u64,
    /// How often each node looks for restores that are due, in seconds.
    pub check_every_secs: u64,
    /// Notices one client address may send per `notice_window_secs`.
    pub notices_per_ip: u32,
    pub notice_window_secs: u64,
}

/// The default wait between a counter-notice and the restore: ten days.
pub const DEFAULT_RESTORE_AFTER_SECS: u64 = 10 * 24 * 3600;

impl Default for DmcaConfig {
    fn default() -> Self {
        Self {
            restore_after_secs: DEFAULT_RESTORE_AFTER_SECS,
            check_every_secs: 60,
            notices_per_ip: 5,
            notice_window_secs: 3600,
        }
    }
}

impl DmcaConfig {
    pub fn restore_after(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.restore_after_secs).unwrap_or(i64::MAX / 2))
    }
}
