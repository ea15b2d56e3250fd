//! Layered configuration: built-in defaults, then an optional TOML file, then environment
//! variables `STREAMHALL_SECTION__KEY` (e.g. `STREAMHALL_HTTP__LISTEN=127.0.0.1:0`,
//! `STREAMHALL_DATA_DIR=/tmp/x`). Unknown keys are errors. Secrets are `SecretString`s, so
//! `Debug` never prints them. `streamhall.example.toml` documents every key.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use streamhall_http::config::{AuthConfig, HttpConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite database, the generated JWT secret and objects live.
    pub data_dir: PathBuf,
    /// The URL people open (used in links and CORS). Default: `http://{http.listen}`.
    pub public_url: Option<String>,
    pub http: HttpConfig,
    pub rtmp: RtmpConfig,
    pub srt: SrtSection,
    /// Pulled sources, restreaming, and the key that seals their credentials.
    pub ingest: IngestSection,
    pub live: LiveSection,
    pub chat: ChatSection,
    pub recording: RecordingSection,
    /// Go-live notifications: in-app, email (SMTP), webhooks.
    pub notify: streamhall_actors::notify::NotifyConfig,
    pub analytics: streamhall_actors::analytics::AnalyticsConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    /// Several nodes on one database and Redis: this node's name and address.
    pub cluster: ClusterSection,
    /// Where thumbnails, VODs and clips are kept: files under `{data_dir}/objects`, or S3.
    pub objects: streamhall_media::objects::ObjectsConfig,
    pub auth: AuthConfig,
    /// Password reset and email verification links; whether streaming needs a verified
    /// email address.
    pub accounts: streamhall_http::accounts::AccountsConfig,
    /// DMCA notices: the wait from a counter-notice to the restore, the notice throttle.
    pub dmca: streamhall_http::config::DmcaConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            public_url: None,
            http: HttpConfig::default(),
            rtmp: RtmpConfig::default(),
            srt: SrtSection::default(),
            ingest: IngestSection::default(),
            live: LiveSection::default(),
            chat: ChatSection::default(),
            recording: RecordingSection::default(),
            notify: Default::default(),
            analytics: Default::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            cluster: ClusterSection::default(),
            objects: Default::default(),
            auth: AuthConfig::default(),
            accounts: Default::default(),
            dmca: Default::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtmpConfig {
    /// Where encoders (OBS, ffmpeg) push: `rtmp://HOST:PORT/live` + the stream key.
    pub listen: SocketAddr,
    /// Connections at once, from everyone; more are closed on accept.
    pub max_connections: usize,
    /// Connections at once from one address (0 = no limit): an encoder uses one per stream.
    pub max_connections_per_ip: usize,
    /// A connected encoder must publish within this many seconds.
    pub publish_timeout_secs: u64,
    /// A publishing encoder that sends no media for this many seconds is disconnected
    /// (acknowledgements and pings do not count).
    pub idle_timeout_secs: u64,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        let media = streamhall_media::rtmp::RtmpConfig::default();
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 1935)),
            max_connections: media.max_connections,
            max_connections_per_ip: media.max_connections_per_ip,
            publish_timeout_secs: media.publish_timeout.as_secs(),
            idle_timeout_secs: media.idle_timeout.as_secs(),
        }
    }
}

impl RtmpConfig {
    /// The RTMP server's settings: these limits over its defaults.
    pub fn server(&self) -> streamhall_media::rtmp::RtmpConfig {
        streamhall_media::rtmp::RtmpConfig {
            max_connections: self.max_connections.max(1),
            max_connections_per_ip: self.max_connections_per_ip,
            publish_timeout: std::time::Duration::from_secs(self.publish_timeout_secs.max(1)),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs.max(1)),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SrtSection {
    /// Where encoders push over SRT (UDP): `srt://HOST:PORT?streamid=#!::r=live/KEY,m=publish`.
    pub listen: SocketAddr,
    /// Receive latency in milliseconds (SRT's loss-recovery buffer; the caller's own setting
    /// wins when larger).
    pub latency_ms: u64,
}

impl Default for SrtSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9000)),
            latency_ms: 200,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestSection {
    /// Seals camera credentials, SRT passphrases and restream keys in the database (at least
    /// 32 bytes). Default: generated on first start into `{data_dir}/credentials_key`. Every
    /// node of a cluster needs the same key.
    pub credentials_key: Option<SecretString>,
    /// Private, loopback or link-local addresses or CIDRs that RTSP pull URLs and restream
    /// destinations may reach (cameras usually sit on a private network). Default: none.
    pub allow_private: Vec<String>,
}

/// How live streams are kept and transcoded.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveSection {
    /// Seconds a dropped publisher may take to come back and continue the same broadcast.
    pub grace_secs: u64,
    /// Seconds between thumbnails.
    pub thumbnail_interval_secs: u64,
    /// Segments per media playlist.
    pub hls_window: usize,
    /// A broadcast with no video this many seconds after its publisher connected is `failed`
    /// (shown to the streamer, the viewers and admins; nobody is notified).
    pub start_deadline_secs: u64,
    /// How far back live viewers may rewind (the DVR window, read from the recording).
    pub dvr_minutes: u64,
    /// The ABR ladder: segment length, renditions, encoder.
    pub ladder: streamhall_media::transcode::LadderConfig,
}

impl Default for LiveSection {
    fn default() -> Self {
        Self {
            grace_secs: 30,
            thumbnail_interval_secs: 10,
            hls_window: 10,
            start_deadline_secs: 30,
            dvr_minutes: 30,
            ladder: streamhall_media::transcode::LadderConfig::default(),
        }
    }
}

/// Recording every broadcast to the object store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingSection {
    /// Megabytes of segments one recording may hold on local disk (`{data_dir}/spool`) while
    /// the object store is unreachable; beyond it the oldest waiting segments of the lower
    /// renditions are dropped first (the highest is kept longest).
    pub spool_mb: u64,
    /// Seconds between passes of the job that deletes VODs past their channel's retention.
    pub retention_check_secs: u64,
}

impl Default for RecordingSection {
    fn default() -> Self {
        Self {
            spool_mb: 2048,
            retention_check_secs: 600,
        }
    }
}

/// Chat rooms: limits, retention, and how much a slow client may fall behind.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSection {
    /// Messages older than this many days are deleted.
    pub retention_days: u32,
    /// Chat sockets one client address may hold (0 = no limit).
    pub max_connections_per_ip: u32,
    /// Messages a viewer may send per window, per room.
    pub messages_per_window: u32,
    /// The same for moderators.
    pub moderator_messages_per_window: u32,
    pub window_secs: u64,
    /// Frame batches queued for one socket before it is closed as a slow consumer (batches
    /// go out every 10 ms at most, so this is a few seconds of falling behind at full rate).
    pub session_queue: usize,
    /// Messages accepted and waiting for the database, per room, before new ones are
    /// rejected as `overloaded`.
    pub max_pending: usize,
    /// A room nobody has joined for this many seconds stops.
    pub idle_room_secs: u64,
}

impl Default for ChatSection {
    fn default() -> Self {
        Self {
            retention_days: 30,
            max_connections_per_ip: 100,
            messages_per_window: 20,
            moderator_messages_per_window: 100,
            window_secs: 30,
            session_queue: 256,
            max_pending: 2000,
            idle_room_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH?mode=rwc` or `postgres://USER:PASSWORD@HOST/DB`. Default: SQLite at
    /// `{data_dir}/streamhall.db`.
    pub url: Option<SecretString>,
    /// Pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://HOST:PORT/DB`. Unset: rate limits (and later chat and presence) stay in this
    /// process, which is right for a single node.
    pub url: Option<SecretString>,
    /// Prefix of every key this deployment writes.
    pub key_prefix: String,
    pub pool_size: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "streamhall:".into(),
            pool_size: 16,
        }
    }
}

/// Several nodes sharing one database, Redis and object store (`redis.url` set).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// This node's name, unique in the cluster and stable across restarts (the broadcasts it
    /// owns carry it). Default: generated once into `{data_dir}/node_id`.
    pub node_id: Option<String>,
    /// How the other nodes reach this node's HTTP server, e.g. `http://10.0.0.5:8080`: they
    /// fetch the HLS of the streams this node ingests from it. Default: `http://{http.listen}`
    /// (127.0.0.1 for an unspecified address, which only suits nodes on one machine).
    pub advertise_url: Option<String>,
    /// Seconds a node's claim on a live stream lasts without renewal (renewed every second).
    /// When a node dies, another node ends its broadcasts this long (and one sweep) later.
    pub lease_secs: u64,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            node_id: None,
            advertise_url: None,
            lease_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,streamhall_http=debug`. `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

impl Config {
    /// Defaults, then `file` (if given, it must exist; otherwise `./streamhall.toml` if present),
    /// then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::new();
        match file {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None => figment = figment.merge(Toml::file("streamhall.toml")),
        }
        Self::from_figment(figment.merge(env()))
    }

    pub fn from_figment(figment: Figment) -> Result<Self, Box<figment::Error>> {
        figment.extract().map_err(Box::new)
    }

    /// Makes `data_dir`, and every configured path that is not a bare program name, absolute
    /// against the current directory. Called once at startup, before anything uses a path:
    /// ffmpeg runs in a working directory of its own, so a relative `./data/...` handed to it
    /// names a directory that does not exist (every segment rename failed that way).
    pub fn resolve_paths(&mut self) -> std::io::Result<()> {
        self.data_dir = absolute(&self.data_dir)?;
        let ladder = &mut self.live.ladder;
        // A bare name (`ffmpeg`) is looked up in PATH; anything with a slash is a path.
        if ladder.ffmpeg_path.components().count() > 1 {
            ladder.ffmpeg_path = absolute(&ladder.ffmpeg_path)?;
        }
        ladder.vaapi_device = absolute(&ladder.vaapi_device)?;
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("streamhall.db").display()
            ),
        }
    }

    /// `cluster.advertise_url` without a trailing slash; derived from the bound HTTP address
    /// when unset.
    pub fn advertise_url(&self, bound: SocketAddr) -> String {
        match &self.cluster.advertise_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if bound.ip().is_unspecified() => format!("http://127.0.0.1:{}", bound.port()),
            None => format!("http://{bound}"),
        }
    }

    /// `public_url` without a trailing slash; derived from `http.listen` when unset.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if bound.ip().is_unspecified() => format!("http://127.0.0.1:{}", bound.port()),
            None => format!("http://{bound}"),
        }
    }
}

/// `path` made absolute against the current directory, with `.` components dropped (the
/// path need not exist; symlinks are kept).
fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    Ok(abs
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect())
}

/// `STREAMHALL_*` variables, minus the ones that are not config keys (`STREAMHALL_CONFIG`
/// names the file; `STREAMHALL_TEST_*` belong to the test suite).
fn env() -> Env {
    Env::prefixed("STREAMHALL_")
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            key != "config" && !key.starts_with("test_")
        })
        .split("__")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_file_then_env() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "streamhall.toml",
                r#"
                data_dir = "/srv/streamhall"
                [http]
                listen = "0.0.0.0:9000"
                [database]
                url = "postgres://u:hunter2@db/streamhall"
                "#,
            )?;
            jail.set_env("STREAMHALL_HTTP__LISTEN", "127.0.0.1:0");
            jail.set_env("STREAMHALL_LOG__FORMAT", "json");
            jail.set_env("STREAMHALL_TEST_POSTGRES", "ignored");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.data_dir, PathBuf::from("/srv/streamhall"));
            assert_eq!(config.http.listen, "127.0.0.1:0".parse().unwrap());
            assert_eq!(config.log.format, LogFormat::Json);
            assert_eq!(config.rtmp.listen, "0.0.0.0:1935".parse().unwrap());
            assert_eq!(config.database_url(), "postgres://u:hunter2@db/streamhall");
            assert!(
                !format!("{config:?}").contains("hunter2"),
                "secrets must not print"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_errors() {
        Jail::expect_with(|jail| {
            jail.create_file("streamhall.toml", "[http]\nlisten_addr = \"x\"\n")?;
            let err = Config::load(None).unwrap_err();
            assert!(err.to_string().contains("listen_addr"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("streamhall.example.toml");
        let config = Config::from_figment(Figment::new().merge(Toml::file_exact(path))).unwrap();
        let defaults = Config::default();
        assert_eq!(config.http.listen, defaults.http.listen);
        assert_eq!(config.rtmp.listen, defaults.rtmp.listen);
        assert_eq!(
            config.auth.throttle.login_failures_per_account,
            defaults.auth.throttle.login_failures_per_account
        );
        assert_eq!(config.data_dir, defaults.data_dir);
        assert_eq!(config.live.ladder, defaults.live.ladder);
        assert_eq!(config.live.grace_secs, defaults.live.grace_secs);
        assert_eq!(config.chat, defaults.chat);
        assert_eq!(config.notify.webhooks, defaults.notify.webhooks);
        assert_eq!(config.notify.batch_size, defaults.notify.batch_size);
        assert_eq!(config.analytics, defaults.analytics);
        assert_eq!(config.cluster, defaults.cluster);
        assert_eq!(config.dmca, defaults.dmca);
        assert_eq!(config.dmca.restore_after_secs, 10 * 24 * 3600);
        assert_eq!(config.objects.backend, defaults.objects.backend);
        assert_eq!(config.objects.s3.region, defaults.objects.s3.region);
        assert_eq!(config.objects.s3.presign, defaults.objects.s3.presign);
        assert_eq!(
            config.objects.s3.presign_ttl_secs,
            defaults.objects.s3.presign_ttl_secs
        );
    }

    #[test]
    fn objects_from_the_environment_with_the_secret_hidden() {
        Jail::expect_with(|jail| {
            jail.set_env("STREAMHALL_OBJECTS__BACKEND", "s3");
            jail.set_env("STREAMHALL_OBJECTS__S3__ENDPOINT", "http://127.0.0.1:3900");
            jail.set_env("STREAMHALL_OBJECTS__S3__BUCKET", "streamhall");
            jail.set_env(
                "STREAMHALL_OBJECTS__S3__ACCESS_KEY",
                "GK31c2f218a2e44f485b94239e",
            );
            jail.set_env(
                "STREAMHALL_OBJECTS__S3__SECRET_KEY",
                "hunter2-object-secret",
            );
            let config = Config::load(None).map_err(|e| e.to_string())?;
            let objects = &config.objects;
            assert_eq!(
                objects.backend,
                streamhall_media::objects::ObjectsBackend::S3
            );
            assert_eq!(objects.s3.endpoint, "http://127.0.0.1:3900");
            assert_eq!(objects.s3.bucket, "streamhall");
            assert_eq!(
                objects.s3.secret_key.expose_secret(),
                "hunter2-object-secret"
            );
            assert!(
                !format!("{config:?}").contains("hunter2"),
                "secrets must not print"
            );
            Ok(())
        });
    }

    #[test]
    fn relative_paths_are_made_absolute_once_at_startup() {
        Jail::expect_with(|jail| {
            jail.set_env("STREAMHALL_LIVE__LADDER__FFMPEG_PATH", "./bin/ffmpeg");
            let mut config = Config::load(None).map_err(|e| e.to_string())?;
            config.resolve_paths().unwrap();
            let cwd = std::env::current_dir().unwrap();
            // The default `./data` is under the directory the server was started in.
            assert_eq!(config.data_dir, cwd.join("data"));
            assert_eq!(config.live.ladder.ffmpeg_path, cwd.join("bin/ffmpeg"));
            let db = cwd.join("data/streamhall.db");
            assert!(config.database_url().contains(&*db.to_string_lossy()));
            // Bare program names stay names (looked up in PATH); absolute paths stay as given.
            let mut bare = Config {
                data_dir: PathBuf::from("/srv/x"),
                ..Config::default()
            };
            bare.resolve_paths().unwrap();
            assert_eq!(bare.live.ladder.ffmpeg_path, PathBuf::from("ffmpeg"));
            assert_eq!(bare.data_dir, PathBuf::from("/srv/x"));
            Ok(())
        });
    }

    #[test]
    fn default_database_is_sqlite_under_data_dir() {
        let config = Config {
            data_dir: PathBuf::from("/tmp/x"),
            ..Config::default()
        };
        assert_eq!(
            config.database_url(),
            "sqlite:///tmp/x/streamhall.db?mode=rwc"
        );
        assert_eq!(config.http.listen, "127.0.0.1:8080".parse().unwrap());
    }
}
