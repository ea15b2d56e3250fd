//! `streamhall backup` and `streamhall restore` as an operator runs them: the real binary, with
//! `STREAMHALL_*` variables pointing at a server that keeps running (users, a channel, a
//! follow, chat history and a VOD recorded from a real ffmpeg push). The backup is restored
//! into a fresh database and data directory (and bucket, on S3), the old server is dropped
//! with everything it had, and a server booted on the restored config must serve the same
//! accounts, channel, follow, history and video, byte for byte.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use streamhall::config::Config;
use streamhall_media::objects::ObjectsBackend;

use crate::{
    chat::Chat,
    helpers::{Backend, Session, TestApp, fresh_database, poll_until, restart, spawn_app_with},
    media_tools::{exits, publish, segments},
};

#[actix_web::test]
async fn sqlite_and_files() {
    backup_restore_round_trip(Backend::Sqlite, None).await;
}

#[actix_web::test]
async fn postgres_and_files() {
    backup_restore_round_trip(Backend::Postgres, None).await;
}

#[actix_web::test]
async fn postgres_and_s3() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    backup_restore_round_trip(Backend::Postgres, Some(endpoint)).await;
}

/// What the populated server served, to compare with the restored one.
struct Before {
    alice: Session,
    bob: Session,
    video_id: String,
    /// (path, bytes) of the VOD's master, its `source` playlist, a segment and the thumbnail.
    files: Vec<(String, Vec<u8>)>,
    segment_key: String,
    history: Value,
}

async fn backup_restore_round_trip(backend: Backend, s3: Option<String>) {
    let source_bucket = match &s3 {
        Some(endpoint) => Some(fresh_bucket(endpoint).await),
        None => None,
    };
    let mut app = spawn_app_with(backend, |c| {
        c.live.grace_secs = 2;
        // The server generates its signing secret under data_dir, as on a default install:
        // the backup must carry it for old sessions to stay valid.
        c.auth.jwt_secret = None;
        if let (Some(endpoint), Some(bucket)) = (&s3, &source_bucket) {
            use_s3(c, endpoint, bucket);
        }
    })
    .await;
    let before = populate(&app).await;

    // Back up while the server runs.
    let backups = tempfile::tempdir().unwrap();
    let out = backups.path().join("nightly");
    let started = Instant::now();
    let run = streamhall(
        &["backup", "--out", out.to_str().unwrap()],
        &app.config,
        backups.path(),
    )
    .await;
    let took = started.elapsed();
    assert_ok(&run, "backup");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("objects: "), "progress: {stdout}");
    assert_eq!(
        std::fs::read_dir(backups.path()).unwrap().count(),
        1,
        "only the finished backup is left, no partial directory"
    );
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let (db_name, db_file) = match backend {
        Backend::Sqlite => ("sqlite", "database.sqlite"),
        Backend::Postgres => ("postgres", "database.pgdump"),
    };
    assert_eq!(manifest["format_version"], 1, "{manifest}");
    assert_eq!(manifest["database"], db_name, "{manifest}");
    assert!(out.join(db_file).is_file());
    // admin, alice, bob; one channel, one follow, three messages, one video.
    assert_eq!(
        manifest["counts"],
        json!({"users": 3, "channels": 1, "follows": 1, "chat_messages": 3, "videos": 1}),
        "{manifest}"
    );
    assert!(
        manifest["migrations"]
            .as_array()
            .is_some_and(|m| m.len() >= 5),
        "{manifest}"
    );
    let files = files_under(&out.join("objects"));
    assert_eq!(manifest["objects"]["count"], files.len() as u64);
    assert_eq!(
        manifest["objects"]["bytes"],
        files.iter().map(|f| f.1).sum::<u64>()
    );
    let segment = &before.files[2].1;
    assert_eq!(
        &std::fs::read(out.join("objects").join(&before.segment_key)).unwrap(),
        segment,
        "the segment's bytes in the backup"
    );
    assert_eq!(
        std::fs::read(out.join("secrets/jwt_secret")).unwrap(),
        std::fs::read(app.config.data_dir.join("jwt_secret")).unwrap()
    );
    assert_eq!(
        std::fs::read(out.join("secrets/credentials_key")).unwrap(),
        std::fs::read(app.config.data_dir.join("credentials_key")).unwrap(),
        "sealed credentials need their key in the backup"
    );
    eprintln!(
        "backup of the populated server ({backend:?}, {}): {:.2} s, {} objects, {} bytes in total",
        if s3.is_some() { "s3" } else { "fs" },
        took.as_secs_f64(),
        files.len(),
        size_of_dir(&out)
    );

    // A backup of one database kind does not go into the other.
    let scratch = tempfile::tempdir().unwrap();
    let mut wrong = app.config.clone();
    wrong.data_dir = scratch.path().to_owned();
    wrong.database.url = Some(SecretString::from(match backend {
        Backend::Sqlite => "postgres://postgres@127.0.0.1:1/nowhere".to_owned(),
        Backend::Postgres => format!(
            "sqlite://{}?mode=rwc",
            scratch.path().join("streamhall.db").display()
        ),
    }));
    let run = streamhall(
        &["restore", "--from", out.to_str().unwrap()],
        &wrong,
        scratch.path(),
    )
    .await;
    assert_refused(&run, "restoring across database backends is not supported");

    // Restore into a fresh database, data directory (and bucket).
    let target_dir = tempfile::tempdir().unwrap();
    let (target_url, pg) = fresh_database(backend, target_dir.path()).await;
    let mut target = app.config.clone();
    target.data_dir = target_dir.path().to_owned();
    target.database.url = Some(SecretString::from(target_url));
    let prefix = format!("streamhall_test:{}:", uuid::Uuid::new_v4().simple());
    target.redis.key_prefix = prefix.clone();
    let _leftovers = Leftovers {
        pg,
        redis: target.redis.url.is_some().then(|| prefix.clone()),
    };
    if let Some(endpoint) = &s3 {
        target.objects.s3.bucket = fresh_bucket(endpoint).await;
    }
    let started = Instant::now();
    let run = streamhall(
        &["restore", "--from", out.to_str().unwrap()],
        &target,
        target_dir.path(),
    )
    .await;
    assert_ok(&run, "restore");
    eprintln!("restore: {:.2} s", started.elapsed().as_secs_f64());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("restore complete"), "{stdout}");

    // Boot on the restored config and let the old server go, with its database and files.
    let old_data_dir = app.config.data_dir.clone();
    app.config = target.clone();
    let restored = restart(&app).await;
    drop(app);
    assert!(!old_data_dir.exists(), "the old server's files are gone");
    check_restored(&restored, &before).await;

    // Restoring over a database with accounts is refused, and changes nothing.
    let run = streamhall(
        &["restore", "--from", out.to_str().unwrap()],
        &target,
        target_dir.path(),
    )
    .await;
    assert_refused(&run, "is not empty (3 users)");
    assert_refused(&run, "--force");
    assert_eq!(
        restored
            .login("alice", &before.alice.password)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn populate(app: &TestApp) -> Before {
    let alice = app.register("alice").await;
    let key = app.create_channel(&alice.access, "vault").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = app.register("bob").await;
    let res = app
        .post_json("/channels/vault/follow", &json!({}), Some(&bob.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut chat = Chat::join(app, &bob, "vault").await;
    for (i, text) in ["first", "second :)", "third, and last"].iter().enumerate() {
        let ack = chat.say(&format!("m{i}"), text).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let history = app.get_json("/chat/vault/messages").await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        3,
        "{history}"
    );

    // A real recording: 6 s pushed, the broadcast ends after the grace, the VOD is ready.
    let mut obs = publish(&app.rtmp_url(&key), 640, 360, 6);
    assert!(
        exits(&mut obs, Duration::from_secs(60)).await,
        "ffmpeg push failed"
    );
    let video = poll_until(Duration::from_secs(90), "the VOD to be ready", || async {
        let body = app
            .get_auth_json("/channels/vault/videos", &alice.access)
            .await;
        let v = body["items"].as_array()?.first()?.clone();
        assert_ne!(v["status"], "failed", "the recording failed: {v}");
        (v["status"] == "ready").then_some(v)
    })
    .await;
    let video_id = video["id"].as_str().unwrap().to_owned();
    let master = format!("/vod/{video_id}/master.m3u8");
    let playlist_path = format!("/vod/{video_id}/source/index.m3u8");
    let playlist = app.text(&playlist_path).await.expect("VOD playlist");
    let first = segments(&playlist)
        .first()
        .map(|s| s.1.clone())
        .expect("a segment");
    let segment_path = format!("/vod/{video_id}/source/{first}");
    let mut files = Vec::new();
    for path in [
        master,
        playlist_path,
        segment_path,
        format!("/vod/{video_id}/thumb.jpg"),
    ] {
        let bytes = app
            .bytes(&path)
            .await
            .unwrap_or_else(|| panic!("GET {path}"));
        files.push((path, bytes));
    }
    assert!(files[2].1.len() > 10_000, "a real segment");
    Before {
        alice,
        bob,
        segment_key: format!("vod/{video_id}/source/{first}"),
        video_id,
        files,
        history,
    }
}

async fn check_restored(app: &TestApp, before: &Before) {
    // Old passwords log in; an access token the old server issued is still good (the
    // generated signing secret came along).
    for (name, s) in [("alice", &before.alice), ("bob", &before.bob)] {
        let res = app.login(name, &s.password).await;
        assert_eq!(res.status(), StatusCode::OK, "login {name}");
    }
    let me = app.get_auth("/users/me", &before.bob.access).await;
    assert_eq!(me.status(), StatusCode::OK, "the old access token");
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "bob", "{me}");

    let channel = app.channel("vault").await;
    assert_eq!(channel["slug"], "vault", "{channel}");
    assert_eq!(channel["title"], "vault live", "{channel}");
    let follow = app
        .get_auth_json("/channels/vault/follow", &before.bob.access)
        .await;
    assert_eq!(follow["following"], true, "{follow}");
    assert_eq!(follow["followers"], 1, "{follow}");

    let history = app.get_json("/chat/vault/messages").await;
    assert_eq!(history, before.history);
    // The room carries on from the restored ids.
    let last = before.history["messages"][0]["id"].as_i64().unwrap();
    let mut chat = Chat::join(app, &before.bob, "vault").await;
    let ack = chat.say("after", "back again").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["id"].as_i64().unwrap(), last + 1, "{ack}");

    let videos = app
        .get_auth_json("/channels/vault/videos", &before.alice.access)
        .await;
    assert_eq!(videos["items"][0]["id"], before.video_id.as_str());
    assert_eq!(videos["items"][0]["status"], "ready");
    for (path, bytes) in &before.files {
        let got = app
            .bytes(path)
            .await
            .unwrap_or_else(|| panic!("GET {path} after the restore"));
        assert!(got == *bytes, "{path}: different bytes after the restore");
    }
}

/// Runs the real binary with `config`'s database, data directory and store in its
/// environment, in `cwd` (which holds no streamhall.toml).
async fn streamhall(args: &[&str], config: &Config, cwd: &Path) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_streamhall"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("STREAMHALL_CONFIG")
        .env("STREAMHALL_LOG__LEVEL", "warn")
        .env("STREAMHALL_DATA_DIR", &config.data_dir)
        .env("STREAMHALL_DATABASE__URL", config.database_url())
        .kill_on_drop(true);
    if config.objects.backend == ObjectsBackend::S3 {
        use secrecy::ExposeSecret;
        let s3 = &config.objects.s3;
        cmd.env("STREAMHALL_OBJECTS__BACKEND", "s3")
            .env("STREAMHALL_OBJECTS__S3__ENDPOINT", &s3.endpoint)
            .env("STREAMHALL_OBJECTS__S3__BUCKET", &s3.bucket)
            .env("STREAMHALL_OBJECTS__S3__ACCESS_KEY", &s3.access_key)
            .env(
                "STREAMHALL_OBJECTS__S3__SECRET_KEY",
                s3.secret_key.expose_secret(),
            );
    }
    tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("streamhall {args:?} did not finish within 3 minutes"))
        .expect("run streamhall")
}

fn assert_ok(run: &Output, what: &str) {
    assert!(
        run.status.success(),
        "{what} failed ({}):\n{}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

fn assert_refused(run: &Output, says: &str) {
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "should have been refused: {stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
}

/// Every file under `dir` as (path, size).
fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                out.push((entry.path(), entry.metadata().unwrap().len()));
            }
        }
    }
    out
}

fn size_of_dir(dir: &Path) -> u64 {
    files_under(dir).iter().map(|f| f.1).sum()
}

/// The restore target's PostgreSQL database and Redis keys, removed at the end.
struct Leftovers {
    pg: Option<(String, String)>,
    redis: Option<String>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let pg = self.pg.take();
        let redis = self.redis.take();
        let joined = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sea_orm::ConnectionTrait;
                if let Some((admin, name)) = pg
                    && let Ok(conn) = sea_orm::Database::connect(format!("{admin}/postgres")).await
                {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = conn.execute_unprepared(&drop).await;
                    let _ = conn.close().await;
                }
                if let Some(prefix) = redis
                    && let Ok(pool) = deadpool_redis::Config::from_url(crate::helpers::redis_url())
                        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                    && let Ok(mut conn) = pool.get().await
                {
                    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
                        .arg(format!("{prefix}*"))
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> = deadpool_redis::redis::cmd("DEL")
                            .arg(keys)
                            .query_async(&mut conn)
                            .await;
                    }
                }
            });
        })
        .join();
        let _ = joined;
    }
}

/// The S3-compatible server the test command started; with `CI=true` its absence fails (as
/// in recording.rs).
fn s3_endpoint() -> Option<String> {
    match std::env::var("STREAMHALL_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "STREAMHALL_TEST_S3 is not set and CI=true: ./dev test starts moto_server and sets it"
            );
            eprintln!("STREAMHALL_TEST_S3 is not set: skipping the S3 backup (./dev test sets it)");
            None
        }
    }
}

/// A fresh bucket on the test S3 server (moto accepts an unsigned `PUT /{bucket}`).
async fn fresh_bucket(endpoint: &str) -> String {
    let bucket = format!("bak-{}", uuid::Uuid::new_v4().simple());
    let res = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create bucket");
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    bucket
}

fn use_s3(c: &mut Config, endpoint: &str, bucket: &str) {
    c.objects.backend = ObjectsBackend::S3;
    c.objects.s3.endpoint = endpoint.to_owned();
    c.objects.s3.bucket = bucket.to_owned();
    c.objects.s3.access_key = "test".into();
    c.objects.s3.secret_key = SecretString::from("test-secret");
}
