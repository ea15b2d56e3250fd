//! `spawn_live()`: the live tree on a fresh SQLite database in a temp dir, one channel with a
//! known stream key, the fake transcoder; plus synthetic FLV and polling with deadlines.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, Set};
use secrecy::SecretString;
use streamhall_actors::{Live, LiveConfig, StreamHealth};
use streamhall_entities::{Broadcast, Channel, broadcast, channel, secret, user};
use streamhall_media::flv::{FlvTag, TagKind};
use streamhall_media::ingest::{
    IngestEvent, Protocol, PublishGrant, PublishRejected, PublishRequest,
};
use streamhall_media::objects::FsObjectStore;
use streamhall_media::transcode::{FakeProcessHandle, FakeTranscoder, Transcoder};
use streamhall_migration::{Migrator, MigratorTrait};
use tempfile::TempDir;

pub const KEY: &str = "live_00112233445566778899aabbccddeeff";
pub const SLUG: &str = "testchan";

pub struct TestLive {
    pub live: Live,
    pub db: DatabaseConnection,
    pub fake: FakeTranscoder,
    pub channel: channel::Model,
    pub dir: TempDir,
}

pub fn test_config(dir: &TempDir) -> LiveConfig {
    LiveConfig {
        grace: Duration::from_secs(2),
        thumbnail_interval: Duration::from_secs(1),
        work_dir: dir.path().join("work"),
        ended_retention: Duration::from_secs(1),
        node_id: "test-node".into(),
        ..LiveConfig::default()
    }
}

pub async fn database(dir: &TempDir) -> DatabaseConnection {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    let db = Database::connect(&url).await.unwrap();
    db.execute_unprepared("PRAGMA foreign_keys=ON")
        .await
        .unwrap();
    Migrator::up(&db, None).await.unwrap();
    db
}

pub async fn create_channel(db: &DatabaseConnection) -> channel::Model {
    let now = Utc::now();
    let u = user::ActiveModel {
        username: Set("streamer".into()),
        username_key: Set("streamer".into()),
        email: Set("streamer@example.invalid".into()),
        display_name: Set("Streamer".into()),
        bio: Set(String::new()),
        password_hash: Set("x".into()),
        role: Set("user".into()),
        token_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    channel::ActiveModel {
        owner_id: Set(u.id),
        slug: Set(SLUG.into()),
        title: Set("Speedrun night".into()),
        description: Set(String::new()),
        category: Set("games".into()),
        is_live: Set(false),
        stream_key_hash: Set(secret::sha256_hex(KEY)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
}

pub async fn spawn_live() -> TestLive {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(&dir);
    spawn_live_with(dir, cfg, None).await
}

pub async fn spawn_live_with(
    dir: TempDir,
    cfg: LiveConfig,
    transcoder: Option<Arc<dyn Transcoder>>,
) -> TestLive {
    let db = database(&dir).await;
    let channel = create_channel(&db).await;
    let fake = FakeTranscoder::new();
    let transcoder = transcoder.unwrap_or_else(|| Arc::new(fake.clone()));
    let objects = Arc::new(FsObjectStore::new(dir.path().join("objects")));
    let live = Live::start(db.clone(), cfg, transcoder, objects, None)
        .await
        .unwrap();
    TestLive {
        live,
        db,
        fake,
        channel,
        dir,
    }
}

impl TestLive {
    pub async fn publish(&self, key: &str) -> Result<PublishGrant, PublishRejected> {
        self.live
            .ingest_gate()
            .publish(PublishRequest {
                stream_key: SecretString::from(key.to_owned()),
                peer: "127.0.0.1:50000".parse().unwrap(),
                encoder: Some("obs-output module (libobs version 30.0.0)".into()),
                protocol: Protocol::Rtmp,
            })
            .await
    }

    pub async fn broadcasts(&self) -> Vec<broadcast::Model> {
        Broadcast::find().all(&self.db).await.unwrap()
    }

    pub async fn is_live(&self) -> bool {
        Channel::find_by_id(self.channel.id)
            .one(&self.db)
            .await
            .unwrap()
            .unwrap()
            .is_live
    }

    /// Plays ffmpeg's part for the newest running process: one segment of every rendition its argv names,
    /// so the stream has video. Returns the process.
    pub async fn produce_segments(&self) -> FakeProcessHandle {
        let proc = eventually("ffmpeg running", Duration::from_secs(10), || async {
            self.fake.last().filter(|p| p.exit_status().is_none())
        })
        .await;
        for r in renditions_of(&proc) {
            proc.write_segment(&r, 1.0, b"segment").unwrap();
        }
        proc
    }

    /// Feeds a second of video, produces segments and waits until the channel is live.
    pub async fn go_live(&self, grant: &PublishGrant) -> FakeProcessHandle {
        send_stream(grant, 0, 1).await;
        let proc = self.produce_segments().await;
        eventually("live", Duration::from_secs(10), || async {
            self.is_live().await.then_some(())
        })
        .await;
        proc
    }

    pub async fn stream_health(&self) -> Option<StreamHealth> {
        self.live
            .health()
            .await
            .streams
            .into_iter()
            .find(|s| s.slug == SLUG)
    }
}

/// The renditions a run writes, from its argv (`.../{rendition}/index.m3u8`).
pub fn renditions_of(proc: &FakeProcessHandle) -> Vec<String> {
    // Plain `{rendition}/index.m3u8` outputs, or the MPEG-TS side of a tee
    // (`[f=hls:…]{rendition}/index.m3u8|[f=mp4:…]unix:…`).
    let outputs: Vec<String> = proc
        .argv()
        .iter()
        .flat_map(|a| {
            a.to_string_lossy()
                .split('|')
                .map(|o| o.rsplit(']').next().unwrap_or(o).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    outputs
        .iter()
        .filter_map(|a| {
            let p = std::path::Path::new(a);
            (p.file_name()? == "index.m3u8")
                .then(|| p.parent()?.file_name()?.to_str().map(str::to_owned))
                .flatten()
        })
        .collect()
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// AVC sequence header of a 1280x720 stream (High profile SPS).
pub const AVC_720P: [u8; 43] = [
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0x00, 0x17, 0x67, 0x42, 0xc0,
    0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0f,
    0x03, 0xc6, 0x0c, 0xa8, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8,
];
/// AAC-LC 48 kHz stereo AudioSpecificConfig.
pub const AAC_CONFIG: [u8; 4] = [0xAF, 0x00, 0x11, 0x90];

pub fn tag(kind: TagKind, ts: u32, data: Vec<u8>) -> IngestEvent {
    IngestEvent::Tag(FlvTag {
        kind,
        timestamp_ms: ts,
        data: Bytes::from(data),
    })
}

pub fn headers() -> Vec<IngestEvent> {
    vec![
        tag(TagKind::Video, 0, AVC_720P.to_vec()),
        tag(TagKind::Audio, 0, AAC_CONFIG.to_vec()),
    ]
}

pub fn frame(ts: u32, key: bool) -> IngestEvent {
    let mut data = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    data.extend_from_slice(&[0x65; 64]);
    tag(TagKind::Video, ts, data)
}

/// Sends the sequence headers and `secs` seconds of 30 fps video (keyframe every second).
pub async fn send_stream(grant: &PublishGrant, from_ms: u32, secs: u32) {
    for e in headers() {
        grant.sink.send(e).await.unwrap();
    }
    send_frames(grant, from_ms, secs).await;
}

pub async fn send_frames(grant: &PublishGrant, from_ms: u32, secs: u32) {
    for i in 0..secs * 30 {
        let ts = from_ms + i * 1000 / 30;
        if grant.sink.send(frame(ts, i % 30 == 0)).await.is_err() {
            return;
        }
    }
}

/// The FLV file header ffmpeg must see first.
pub fn starts_with_flv_header(bytes: &[u8]) -> bool {
    bytes.starts_with(b"FLV\x01")
}
