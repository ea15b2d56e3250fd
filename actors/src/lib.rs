//! streamhall-actors: the live supervision tree (actix).
//!
//! ```text
//! Registry ─┬─ StreamActor (one per live broadcast) ─┬─ Ingest     publisher events -> session queue
//!  (root)   │                                         ├─ Transcode  one ffmpeg run
//!           │                                         ├─ Segment    ffmpeg output -> LiveWindow
//!           │                                         ├─ Thumbnail  a JPEG every few seconds
//!           │                                         └─ Restream   one per destination
//!           │             (+ a Recorder per broadcast: spool -> object store -> VOD, DVR)
//!           ├─ ChatDirectory ─ ChatRoom (one per channel)
//!           ├─ Presence   viewer counts, peaks, analytics samples (Redis across nodes)
//!           └─ Notifier   go-live fan-out: in-app, email, webhooks
//! ```
//!
//! Every actor above is supervised by its parent (restart strategies in [`registry`],
//! [`chat::rooms`] and [`stream`]); [`Registry`] answers [`GetHealth`] with the whole tree.
//! [`Live::start`] builds it; HTTP reads [`HlsDirectory`] and [`PresenceHandle`] directly, the
//! RTMP server calls [`Live::ingest_gate`], and anything may [`Bus::subscribe`].
//! Restart policy lives in [`supervision`]; logic lives in plain cores ([`StreamCore`],
//! [`RegistryCore`], [`PresenceCore`]) with unit tests.

pub mod analytics;
pub mod bus;
pub mod chat;
pub mod clips;
pub mod cluster;
pub mod db;
pub mod directory;
pub mod disk;
pub mod gate;
pub mod health;
pub mod locks;
pub mod node_trees;
pub mod notify;
pub mod presence;
pub mod pull;
pub mod pull_status;
pub mod recording;
pub mod redis_streams;
pub mod registry;
pub mod sockets;
pub mod stats;
pub mod stream;
pub mod supervision;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{AsyncContext, Context};
use sea_orm::DatabaseConnection;
use stats::Mailbox;
use streamhall_media::ingest::PublishHandler;
use streamhall_media::objects::ObjectStore;
use streamhall_media::transcode::{LadderConfig, Transcoder};

pub use bus::{Bus, BusEvent};
pub use cluster::{Cluster, ClusterConfig, RemoteLive};
pub use directory::{HlsDirectory, LiveInfo, LlPlaylist, RenditionInfo};
pub use gate::IngestGate;
pub use health::{
    ActorHealth, ActorNode, DeadLetterCount, Figure, RenditionHealth, RenditionState, StreamHealth,
    StreamStatus,
};
pub use presence::{Presence, PresenceCore, PresenceHandle, RedisPresence};
pub use registry::{
    GetHealth, HealthTree, Registry, RegistryCore, RestartService, Shutdown, StopStream,
};
pub use stream::{StatusCore, StreamActor, StreamCore};
pub use supervision::{Backoff, ChildExited, ChildKind, ServiceExited, ServiceKind};

/// Settings of the live tree.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// A broadcast survives its publisher dropping for this long.
    pub grace: Duration,
    pub thumbnail_interval: Duration,
    /// Segments per media playlist.
    pub hls_window: usize,
    pub ladder: LadderConfig,
    /// ffmpeg's output goes under `{work_dir}/{channel}/{broadcast_id}`, removed at the end.
    pub work_dir: PathBuf,
    /// Ended playlists (with ENDLIST) stay served this long.
    pub ended_retention: Duration,
    /// This node's name: on the broadcasts it owns, in Redis presence, leases and chat.
    pub node_id: String,
    /// Leases and the other nodes' broadcasts (with Redis).
    pub cluster: ClusterConfig,
    /// A broadcast that has produced no video this long after its publisher connected is
    /// `failed` (it is announced only once there is video, however long that takes).
    pub start_deadline: Duration,
    pub chat: chat::ChatConfig,
    pub notify: notify::NotifyConfig,
    /// The URL people open, for links in emails.
    pub public_url: String,
    pub analytics: analytics::AnalyticsConfig,
    /// Recordings, DVR and clips.
    pub recording: recording::RecordingConfig,
    /// Seals what the server must present again: camera credentials, SRT passphrases,
    /// restream keys.
    pub sealer: streamhall_entities::secret::Sealer,
    /// Private, loopback or link-local addresses (or CIDRs) that RTSP pull URLs and restream
    /// destinations may reach; everything else private is refused.
    pub ingest_allow_private: Vec<String>,
    /// Ingest refuses the stream keys of channels whose owner has not verified their email
    /// address (`accounts.require_email_verification`).
    pub require_verified_email: bool,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(30),
            thumbnail_interval: Duration::from_secs(10),
            hls_window: streamhall_media::hls::DEFAULT_WINDOW,
            ladder: LadderConfig::default(),
            work_dir: std::env::temp_dir().join("streamhall-live"),
            ended_retention: Duration::from_secs(60),
            node_id: {
                use std::hash::{BuildHasher, Hasher};
                // Unique even for two servers in one process (tests).
                let salt = std::hash::RandomState::new().build_hasher().finish();
                format!("node-{}-{:08x}", std::process::id(), salt as u32)
            },
            cluster: ClusterConfig::default(),
            start_deadline: Duration::from_secs(30),
            chat: chat::ChatConfig::default(),
            notify: notify::NotifyConfig::default(),
            public_url: "http://127.0.0.1:8080".into(),
            analytics: analytics::AnalyticsConfig::default(),
            recording: recording::RecordingConfig::default(),
            sealer: {
                // A random key: what it seals does not outlive the process (tests). The
                // binary passes a key from config or `{data_dir}/credentials_key`.
                let mut key = [0u8; 32];
                let _ = getrandom::fill(&mut key);
                streamhall_entities::secret::Sealer::new(&key)
            },
            ingest_allow_private: Vec::new(),
            require_verified_email: false,
        }
    }
}

/// Removes `{work_dir}/{channel}/{broadcast_id}` directories (nothing is live at startup).
/// Only entries of that shape are touched, in case the work dir was pointed somewhere shared.
fn remove_stale_work_dirs(work_dir: &std::path::Path) -> usize {
    let mut removed = 0;
    let Ok(channels) = std::fs::read_dir(work_dir) else {
        return 0;
    };
    for ch in channels.flatten() {
        let Ok(broadcasts) = std::fs::read_dir(ch.path()) else {
            continue;
        };
        for b in broadcasts.flatten() {
            let name = b.file_name();
            let is_id = name
                .to_str()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
            if is_id && b.path().is_dir() && std::fs::remove_dir_all(b.path()).is_ok() {
                removed += 1;
            }
        }
        // Only succeeds when empty.
        let _ = std::fs::remove_dir(ch.path());
    }
    removed
}

/// What every stream needs, shared.
pub(crate) struct LiveDeps {
    pub cfg: LiveConfig,
    pub db: DatabaseConnection,
    pub transcoder: Arc<dyn Transcoder>,
    pub objects: Arc<dyn ObjectStore>,
    pub bus: Bus,
    pub presence: PresenceHandle,
    pub hls: HlsDirectory,
    pub cluster: Cluster,
}

/// The running live tree.
#[derive(Clone)]
pub struct Live {
    pub registry: Mailbox<Registry>,
    pub hls: HlsDirectory,
    pub presence: PresenceHandle,
    pub bus: Bus,
    pub chat: chat::ChatHandle,
    pub notifier: notify::NotifierHandle,
    pub clips: clips::ClipJobs,
    /// Which node owns which broadcast; the other nodes' broadcasts.
    pub cluster: Cluster,
    /// Opens the channel credentials the API stores sealed.
    pub sealer: streamhall_entities::secret::Sealer,
    /// Channels whose source is an RTSP camera.
    pub pulls: pull::Pulls,
    /// `[ingest] allow_private`, for checking pull URLs.
    pub ingest_allow_private: Vec<String>,
    /// This node's signed-in sockets by user, closed when the user's sessions are revoked.
    pub sockets: sockets::UserSockets,
    /// The other nodes' supervision trees, for the admin page.
    pub node_trees: node_trees::NodeTrees,
    /// Ingest refuses channels whose owner's email address is unverified.
    pub require_verified_email: bool,
    db: DatabaseConnection,
}

impl Live {
    /// Must be called inside a running actix System (the binary uses actix_web::rt::System,
    /// tests `#[actix_web::test]`). Closes broadcasts a crash left open first.
    pub async fn start(
        db: DatabaseConnection,
        cfg: LiveConfig,
        transcoder: Arc<dyn Transcoder>,
        objects: Arc<dyn ObjectStore>,
        redis: Option<(deadpool_redis::Pool, String)>,
    ) -> anyhow::Result<Live> {
        cfg.ladder
            .validate()
            .map_err(|e| anyhow::anyhow!("live.ladder: {e}"))?;
        let cluster = match &redis {
            Some((pool, prefix)) => Cluster::with_redis(
                cfg.node_id.clone(),
                cfg.cluster.clone(),
                pool.clone(),
                prefix.clone(),
            ),
            None => Cluster::single(cfg.node_id.clone()),
        };
        let left_open = cluster.broadcasts_left_open(&db).await?;
        let (channels, broadcasts) = db::close_left_open(&db, left_open).await?;
        clips::fail_interrupted(&db, cluster.is_shared()).await?;
        recording::recover(
            db.clone(),
            Arc::clone(&objects),
            cfg.recording.clone(),
            cluster.is_shared().then_some(cfg.node_id.as_str()),
        )
        .await?;
        recording::spawn_retention(
            db.clone(),
            Arc::clone(&objects),
            cfg.recording.retention_every,
        );
        if channels + broadcasts > 0 {
            tracing::warn!(
                channels,
                broadcasts,
                "closed broadcasts left open by an unclean stop"
            );
        }
        std::fs::create_dir_all(&cfg.work_dir)?;
        let stale = remove_stale_work_dirs(&cfg.work_dir);
        if stale > 0 {
            tracing::warn!(stale, "removed ffmpeg work dirs left by an unclean stop");
        }
        let hls = HlsDirectory::new();
        let bus = match &redis {
            Some((pool, prefix)) => {
                Bus::with_redis(pool.clone(), prefix.clone(), cfg.node_id.clone())
            }
            None => Bus::new(),
        };
        let presence = PresenceHandle::new();
        // The registry's address exists before it runs, so its children can report to it.
        let registry_ctx = Context::<Registry>::new();
        let dead_letters = stats::DeadLetters::default();
        // Every handle on the registry counts its sends with these, so its depth is real.
        let registry_stats = stats::ActorStats::new("registry", dead_letters.clone());
        let registry = Mailbox::new(registry_ctx.address(), Arc::clone(&registry_stats));
        let chat_redis = redis
            .clone()
            .map(|(pool, prefix)| (pool, prefix, cfg.node_id.clone()));
        let services = registry::Services::start(
            registry.recipient(),
            &dead_letters,
            registry::PresenceSpec {
                handle: presence.clone(),
                hls: hls.clone(),
                db: db.clone(),
                redis: redis
                    .clone()
                    .map(|(pool, prefix)| RedisPresence::new(pool, prefix, cfg.node_id.clone())),
                analytics: cfg.analytics.clone(),
            },
            |stats, exit| {
                chat::ChatHandle::start(
                    cfg.chat.clone(),
                    db.clone(),
                    presence.clone(),
                    chat_redis,
                    stats,
                    exit,
                )
            },
            |stats, exit| {
                notify::NotifierHandle::start(
                    db.clone(),
                    cfg.notify.clone(),
                    bus.clone(),
                    cfg.node_id.clone(),
                    cfg.public_url.clone(),
                    stats,
                    exit,
                )
            },
        )?;
        let chat = services.chat.clone();
        let notifier = services.notifier.clone();
        let sealer = cfg.sealer.clone();
        let ingest_allow_private = cfg.ingest_allow_private.clone();
        let require_verified_email = cfg.require_verified_email;
        let deps = Arc::new(LiveDeps {
            cfg,
            db: db.clone(),
            transcoder,
            objects,
            bus: bus.clone(),
            presence: presence.clone(),
            hls: hls.clone(),
            cluster: cluster.clone(),
        });
        let clips = clips::ClipJobs::new(
            db.clone(),
            Arc::clone(&deps.objects),
            hls.clone(),
            deps.cfg.recording.clone(),
        );
        registry_ctx.run(Registry::new(
            Arc::clone(&deps),
            services,
            registry_stats,
            dead_letters,
        ));
        let node_trees = node_trees::NodeTrees::new(
            redis.clone().filter(|_| cluster.is_shared()),
            cluster.node_id().to_owned(),
        );
        registry::follow_stream_ends(&bus, registry.clone());
        if cluster.is_shared() {
            tokio::spawn(cluster::run(cluster.clone(), deps, registry.recipient()));
            tokio::spawn(node_trees::run(node_trees.clone(), registry.clone()));
        }
        let pulls = pull::Pulls::new(
            db.clone(),
            registry.clone(),
            cluster.clone(),
            sealer.clone(),
            &ingest_allow_private,
            require_verified_email,
        );
        pulls.start().await?;
        let sockets = sockets::UserSockets::default();
        sockets.follow(&bus);
        Ok(Live {
            node_trees,
            require_verified_email,
            sockets,
            sealer,
            pulls,
            ingest_allow_private,
            cluster,
            registry,
            clips,
            hls,
            presence,
            bus,
            chat,
            notifier,
            db,
        })
    }

    /// The RTMP and SRT listeners' publish handler.
    pub fn ingest_gate(&self) -> Arc<dyn PublishHandler> {
        Arc::new(
            IngestGate::new(self.db.clone(), self.registry.clone(), self.sealer.clone())
                .requiring_verified_email(self.require_verified_email),
        )
    }

    /// The whole tree, from its root. The registry answers within a few seconds (each part
    /// it asks has a timeout); if it cannot answer at all, the tree says so.
    pub async fn health(&self) -> HealthTree {
        let (mine, others) =
            futures_util::future::join(self.registry.send(GetHealth), self.node_trees.others())
                .await;
        let (other_nodes, other_nodes_error) = match others {
            Ok(trees) => (trees, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        match mine {
            Ok(tree) => HealthTree {
                other_nodes,
                other_nodes_error,
                pulls: self.pulls.health(),
                ..tree
            },
            Err(e) => {
                let registry = ActorHealth {
                    last_error: Some(e.to_string()),
                    ..ActorHealth::new("registry", "registry", "unresponsive")
                };
                HealthTree {
                    node: self.cluster.node_id().to_owned(),
                    root: ActorNode::leaf(registry.clone()),
                    dead_letters: Vec::new(),
                    registry,
                    streams: Vec::new(),
                    presence: ActorHealth::new("presence", "presence", "unknown"),
                    chat: None,
                    notifier: None,
                    other_nodes,
                    other_nodes_error,
                    pulls: self.pulls.health(),
                }
            }
        }
    }

    /// Admin: restart one of the registry's services. `false` if it is not running now.
    pub async fn restart_service(&self, kind: ServiceKind) -> bool {
        self.registry
            .send(RestartService(kind))
            .await
            .unwrap_or(false)
    }

    /// Test builds only: make one of the registry's services fail.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn inject_service_fault(&self, kind: ServiceKind) {
        self.registry
            .do_send(registry::InjectServiceFault { kind, panic: false });
    }

    /// Test builds only: make a service's handler panic (it is dropped, not stopped).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn inject_service_panic(&self, kind: ServiceKind) {
        self.registry
            .do_send(registry::InjectServiceFault { kind, panic: true });
    }

    /// Test builds only: make the channel's stream actor stop (or, with `panic`, its handler
    /// panic) without ending its broadcast.
    #[cfg(any(test, feature = "fault-injection"))]
    pub async fn inject_stream_fault(&self, slug: &str, panic: bool) -> bool {
        self.registry
            .send(registry::InjectStreamFault {
                slug: slug.to_owned(),
                panic,
            })
            .await
            .unwrap_or(false)
    }

    /// Admin: kick the publisher and end the broadcast now. `false` if the channel was not live.
    pub async fn stop_stream(&self, slug: &str) -> bool {
        self.registry
            .send(StopStream {
                slug: slug.to_owned(),
            })
            .await
            .unwrap_or(false)
    }

    /// Ends these channels' broadcasts wherever they run: here at once, on another node through
    /// the bus ([`BusEvent::EndStreams`]). Returns how many ended here.
    pub async fn end_streams_anywhere(&self, slugs: impl IntoIterator<Item = String>) -> usize {
        let mut here = 0;
        let mut elsewhere = Vec::new();
        for slug in slugs {
            if self.stop_stream(&slug).await {
                here += 1;
            } else {
                elsewhere.push(slug);
            }
        }
        if !elsewhere.is_empty() {
            tracing::info!(channels = ?elsewhere, "asking the other nodes to end these streams");
            self.bus.publish(BusEvent::EndStreams { slugs: elsewhere });
        }
        here
    }

    /// Ends every broadcast cleanly (ENDLIST, rows closed, ffmpeg killed, work dirs removed).
    pub async fn shutdown(&self) {
        self.pulls.stop_all();
        let _ = self.registry.send(Shutdown).await;
    }
}
