//! Wiring: connect storage, migrate, make sure there is an admin and a signing secret, bind
//! the listeners, and run until told to stop.

use std::{
    net::{SocketAddr, TcpListener},
    path::Path,
    sync::Arc,
    time::Duration,
};

use streamhall_actors::chat::{ChatConfig, RoomLimits};
use streamhall_actors::recording::RecordingConfig;
use streamhall_actors::{ClusterConfig, Live, LiveConfig};
use streamhall_media::{
    ingest::FailureLimiter,
    objects::{ObjectStore, open_store},
    rtmp,
    srt::{SrtConfig, SrtServer},
    transcode::FfmpegTranscoder,
};
use tokio_util::sync::CancellationToken;

use actix_web::{dev::Server, web};
use anyhow::Context;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ConnectOptions, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    Set,
};
use sea_orm_migration::MigratorTrait;
use secrecy::{ExposeSecret, SecretString};
use streamhall_entities::{User, secret::Sealer, user};
use streamhall_http::{
    auth::TokenKeys,
    cache::ResponseCache,
    metrics::Metrics,
    playback::PlaybackKeys,
    ratelimit::RateLimiter,
    relay::{HlsRelay, RelayConfig},
    state::AppState,
    ws_admission::{ConnLimiter, TicketStore},
};
use streamhall_migration::Migrator;

use crate::config::Config;

fn live_config(
    config: &Config,
    public_url: &str,
    node_id: String,
    advertise_url: String,
) -> LiveConfig {
    LiveConfig {
        node_id,
        cluster: ClusterConfig {
            advertise_url,
            lease: Duration::from_secs(config.cluster.lease_secs.max(1)),
        },
        grace: Duration::from_secs(config.live.grace_secs),
        thumbnail_interval: Duration::from_secs(config.live.thumbnail_interval_secs.max(1)),
        hls_window: config.live.hls_window.max(3),
        start_deadline: Duration::from_secs(config.live.start_deadline_secs.max(5)),
        ladder: config.live.ladder.clone(),
        work_dir: config.data_dir.join("live"),
        chat: chat_config(&config.chat),
        notify: config.notify.clone(),
        analytics: config.analytics.clone(),
        public_url: public_url.to_owned(),
        ingest_allow_private: config.ingest.allow_private.clone(),
        require_verified_email: config
            .accounts
            .verification_required(config.notify.smtp.is_some()),
        recording: RecordingConfig {
            spool_dir: config.data_dir.join("spool"),
            spool_limit: config.recording.spool_mb.max(64) << 20,
            dvr: Duration::from_secs(config.live.dvr_minutes.max(1) * 60),
            retention_every: Duration::from_secs(config.recording.retention_check_secs.max(1)),
            ffmpeg_path: config.live.ladder.ffmpeg_path.clone(),
        },
        ..LiveConfig::default()
    }
}

fn chat_config(c: &crate::config::ChatSection) -> ChatConfig {
    let defaults = ChatConfig::default();
    ChatConfig {
        limits: RoomLimits {
            rate_messages: c.messages_per_window.max(1),
            rate_messages_moderator: c.moderator_messages_per_window.max(1),
            rate_window: Duration::from_secs(c.window_secs.max(1)),
            max_pending: c.max_pending.max(1),
            ..defaults.limits
        },
        session_queue: c.session_queue.max(2),
        idle_timeout: Duration::from_secs(c.idle_room_secs.max(1)),
        retention: Duration::from_secs(u64::from(c.retention_days.max(1)) * 24 * 3600),
        ..defaults
    }
}

/// A running server: its bound address and the future that drives it.
pub struct Application {
    http_addr: SocketAddr,
    rtmp_addr: SocketAddr,
    srt_addr: SocketAddr,
    live: Live,
    rtmp_stop: CancellationToken,
    public_url: String,
    data_dir: std::path::PathBuf,
    server: Server,
    db: DatabaseConnection,
    objects: Arc<dyn ObjectStore>,
    /// Set when this start created the first admin account: shown once, then dropped.
    pub first_admin: Option<FirstAdmin>,
}

pub struct FirstAdmin {
    pub username: String,
    pub password: SecretString,
}

impl Application {
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        // Idempotent; `main` already did it, tests and embedders may not have.
        config
            .resolve_paths()
            .context("resolving data_dir against the current directory")?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        // Before anything else touches storage: a store that cannot be used stops the start
        // with the config key to fix.
        let objects = open_store(&config.objects, &config.data_dir)
            .await
            .map_err(anyhow::Error::msg)?;
        let db = connect(&config).await?;
        Migrator::up(&db, None)
            .await
            .context("running migrations")?;
        let first_admin = ensure_admin(&db).await?;
        if config.accounts.require_email_verification == Some(true) && config.notify.smtp.is_none()
        {
            tracing::warn!(
                "accounts.require_email_verification is on but notify.smtp is not set: new accounts cannot verify their address, so they cannot stream"
            );
        }
        let secret = jwt_secret(&config)?;

        let redis = match &config.redis.url {
            None => None,
            Some(url) => Some(redis_pool(url, config.redis.pool_size).await?),
        };

        let listener = TcpListener::bind(config.http.listen)
            .with_context(|| format!("binding HTTP on {}", config.http.listen))?;
        let http_addr = listener.local_addr()?;
        let public_url = config.public_url(http_addr);
        // Both ports before any actor starts: a port in use is a plain error, not a
        // half-started tree.
        let rtmp_listener = tokio::net::TcpListener::bind(config.rtmp.listen)
            .await
            .with_context(|| format!("binding RTMP on {}", config.rtmp.listen))?;
        let rtmp_addr = rtmp_listener.local_addr()?;
        let srt_server = SrtServer::bind(
            config.srt.listen,
            SrtConfig {
                latency: Duration::from_millis(config.srt.latency_ms),
                ..SrtConfig::default()
            },
        )
        .await
        .with_context(|| format!("binding SRT on {} (UDP)", config.srt.listen))?;
        let srt_addr = srt_server.local_addr();
        let sealer = Sealer::new(credentials_key(&config)?.expose_secret().as_bytes());

        let node_id = node_id(&config)?;
        let advertise_url = config.advertise_url(http_addr);
        let live = Live::start(
            db.clone(),
            LiveConfig {
                sealer,
                ..live_config(&config, &public_url, node_id.clone(), advertise_url.clone())
            },
            Arc::new(FfmpegTranscoder::new(
                config.live.ladder.ffmpeg_path.clone(),
            )),
            Arc::clone(&objects),
            redis
                .clone()
                .map(|pool| (pool, config.redis.key_prefix.clone())),
        )
        .await
        .context("starting the live tree")?;
        let rtmp_stop = CancellationToken::new();
        // A source that keeps failing to publish is refused on both protocols.
        let publish_failures = Arc::new(FailureLimiter::default());
        actix_web::rt::spawn(rtmp::serve(
            rtmp_listener,
            config.rtmp.server(),
            live.ingest_gate(),
            Arc::clone(&publish_failures),
            rtmp_stop.clone(),
        ));
        actix_web::rt::spawn(srt_server.serve(
            live.ingest_gate(),
            publish_failures,
            rtmp_stop.clone(),
        ));
        let limiter = match &redis {
            Some(pool) => RateLimiter::redis(pool.clone(), config.redis.key_prefix.clone()),
            None => RateLimiter::memory(),
        };

        let chat_tickets = match &redis {
            Some(pool) => TicketStore::redis(pool.clone(), config.redis.key_prefix.clone()),
            None => TicketStore::memory(),
        };
        let playback = PlaybackKeys::new(
            secret.expose_secret().as_bytes(),
            config.auth.playback.token_ttl_secs,
        );
        let playback_relay_auth = playback.relay_auth().to_owned();
        let state = web::Data::new(AppState {
            db: db.clone(),
            redis,
            tokens: TokenKeys::new(
                secret.expose_secret().as_bytes(),
                &config.auth.issuer,
                &config.auth.audience,
                config.auth.access_token_ttl_secs,
            ),
            playback,
            limiter,
            metrics: Metrics::new()?,
            cache: ResponseCache::new(Duration::from_secs(1), 4096),
            http: config.http.clone(),
            auth: config.auth.clone(),
            accounts: streamhall_http::accounts::Accounts::new(
                config.accounts.clone(),
                live.notifier.mailer().cloned(),
            ),
            dmca: config.dmca.clone(),
            public_url: public_url.clone(),
            rtmp_url: streamhall_http::api::server::rtmp_url(&public_url, rtmp_addr),
            srt_url: streamhall_http::api::server::srt_url(&public_url, srt_addr),
            live: live.clone(),
            objects: Arc::clone(&objects),
            data_dir: config.data_dir.clone(),
            disk_guard: streamhall_http::disk_guard::DiskGuard::for_database(
                &config.database_url(),
                config.http.disk_reserve_mb,
            ),
            viewer_hasher: std::hash::RandomState::new(),
            chat_tickets,
            chat_conns: ConnLimiter::new(config.chat.max_connections_per_ip),
            requests_in_flight: ConnLimiter::new(config.http.max_requests_per_ip),
            relay: HlsRelay::with_header(
                RelayConfig::default(),
                streamhall_http::playback::RELAY_AUTH_HEADER,
                playback_relay_auth.as_str(),
            ),
        });
        // Restores that counter-notices scheduled, on every node (each claimed once).
        actix_web::rt::spawn(streamhall_http::dmca::restore::run(
            db.clone(),
            Duration::from_secs(config.dmca.check_every_secs),
            rtmp_stop.clone(),
        ));
        let workers = match config.http.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n,
        };
        let server = streamhall_http::serve::serve(
            listener,
            state,
            streamhall_http::serve::ServeOptions {
                workers,
                head_timeout: Duration::from_secs(config.http.head_timeout_secs.max(1)),
                shutdown_timeout_secs: 30,
            },
        )?;
        tracing::info!(http = %http_addr, rtmp = %rtmp_addr, srt = %srt_addr, %public_url, data_dir = %config.data_dir.display(), database = backend_name(&db), redis = config.redis.url.is_some(), node = %node_id, advertise_url = %advertise_url, objects = %objects.describe(), "listening");
        Ok(Self {
            http_addr,
            rtmp_addr,
            srt_addr,
            live,
            rtmp_stop,
            public_url,
            data_dir: config.data_dir.clone(),
            server,
            db,
            objects,
            first_admin,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where encoders push (`rtmp://{rtmp_addr}/live/{key}`).
    pub fn rtmp_addr(&self) -> SocketAddr {
        self.rtmp_addr
    }

    /// Where encoders push over SRT (UDP).
    pub fn srt_addr(&self) -> SocketAddr {
        self.srt_addr
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The data directory in use, absolute.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The object store in use.
    pub fn objects(&self) -> &dyn ObjectStore {
        self.objects.as_ref()
    }

    /// The live tree (tests subscribe to its bus).
    pub fn live(&self) -> &Live {
        &self.live
    }

    /// A handle to stop the server (gracefully or not) from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Runs until the server is stopped, then closes the database pool.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        // No new publishers; every broadcast ends cleanly (playlists closed, rows updated).
        self.rtmp_stop.cancel();
        self.live.shutdown().await;
        self.db.close().await?;
        tracing::info!("stopped");
        Ok(())
    }
}

pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url();
    let mut options = ConnectOptions::new(url.clone());
    options
        .max_connections(config.database.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // On every pooled connection (these settings are per connection, except WAL): WAL lets
        // readers run beside the writer; NORMAL syncs at checkpoints, not at every commit
        // (a power cut may lose the last commits, never corrupt); foreign keys make deletes
        // cascade; writers wait for each other instead of failing at once.
        options.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    }
    let db = Database::connect(options)
        .await
        .context("connecting to the database")?;
    Ok(db)
}

fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => "sqlite",
        sea_orm::DbBackend::Postgres => "postgres",
        _ => "other",
    }
}

async fn redis_pool(url: &SecretString, size: usize) -> anyhow::Result<deadpool_redis::Pool> {
    let mut cfg = deadpool_redis::Config::from_url(url.expose_secret());
    cfg.pool = Some(deadpool_redis::PoolConfig::new(size));
    let pool = cfg
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .context("creating the Redis pool")?;
    let mut conn = pool.get().await.context("connecting to Redis")?;
    deadpool_redis::redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .context("pinging Redis")?;
    Ok(pool)
}

/// The configured secret, or the one generated on first start under the data directory.
fn jwt_secret(config: &Config) -> anyhow::Result<SecretString> {
    if let Some(secret) = &config.auth.jwt_secret {
        anyhow::ensure!(
            secret.expose_secret().len() >= 32,
            "auth.jwt_secret must be at least 32 bytes"
        );
        return Ok(secret.clone());
    }
    let path = config.data_dir.join("jwt_secret");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Ok(SecretString::from(text.trim().to_owned()));
    }
    let secret = random_hex(32)?;
    write_private(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated a JWT signing secret");
    Ok(SecretString::from(secret))
}

/// The configured credentials key, or the one generated on first start under the data
/// directory (like the JWT secret).
fn credentials_key(config: &Config) -> anyhow::Result<SecretString> {
    if let Some(key) = &config.ingest.credentials_key {
        anyhow::ensure!(
            key.expose_secret().len() >= 32,
            "ingest.credentials_key must be at least 32 bytes"
        );
        return Ok(key.clone());
    }
    let path = config.data_dir.join("credentials_key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Ok(SecretString::from(text.trim().to_owned()));
    }
    let key = random_hex(32)?;
    write_private(&path, &key)?;
    tracing::info!(path = %path.display(), "generated a credentials key");
    Ok(SecretString::from(key))
}

/// The configured node name, or the one generated on first start under the data directory
/// (so a restarted node is the same node: it closes what it left open, and only that).
fn node_id(config: &Config) -> anyhow::Result<String> {
    let valid = |id: &str| {
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if let Some(id) = &config.cluster.node_id {
        anyhow::ensure!(
            valid(id),
            "cluster.node_id must be 1-64 letters, digits, '-', '_' or '.'"
        );
        return Ok(id.clone());
    }
    let path = config.data_dir.join("node_id");
    if path.exists() {
        let id = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned();
        anyhow::ensure!(
            valid(&id),
            "{} does not hold a valid node name",
            path.display()
        );
        return Ok(id);
    }
    let id = format!("node-{}", random_hex(6)?);
    write_private(&path, &id)?;
    Ok(id)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    Ok(hex::encode(buf))
}

/// On an empty database, creates `admin` with a random password, returned to be shown once.
async fn ensure_admin(db: &DatabaseConnection) -> anyhow::Result<Option<FirstAdmin>> {
    if User::find().count(db).await? > 0 {
        return Ok(None);
    }
    let password = random_hex(12)?;
    create_user(db, "admin", "admin@streamhall.invalid", &password, true).await?;
    Ok(Some(FirstAdmin {
        username: "admin".into(),
        password: SecretString::from(password),
    }))
}

pub async fn create_user(
    db: &DatabaseConnection,
    username: &str,
    email: &str,
    password: &str,
    admin: bool,
) -> anyhow::Result<user::Model> {
    streamhall_http::validate::username(username).map_err(|e| anyhow::anyhow!("{e}"))?;
    streamhall_http::validate::email(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    streamhall_http::validate::password("password", password)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = streamhall_http::auth::hash_password(password.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = Utc::now();
    let model = user::ActiveModel {
        username: Set(username.to_owned()),
        username_key: Set(username.to_lowercase()),
        email: Set(email.to_lowercase()),
        display_name: Set(username.to_owned()),
        bio: Set(String::new()),
        password_hash: Set(hash),
        role: Set(if admin {
            user::ROLE_ADMIN
        } else {
            user::ROLE_USER
        }
        .to_owned()),
        token_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        // The operator made it: its address counts as verified.
        email_verified_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(model)
}
