//! Benchmark: a go-live fanned out to many followers. Run by `loadtests/compare/notify_fanout.sh`,
//! which starts the server; this program seeds it, watches and reports.
//!
//! 1. Registers a streamer and creates the channel `fanout` over HTTP.
//! 2. Seeds `--followers` accounts following it straight into the server's database (an account
//!    made over HTTP costs an argon2 hash; 100,000 of them would take an hour).
//! 3. Opens `--connected` notification sockets as the first of those followers (tokens signed
//!    with the server's JWT secret, `--jwt-secret`).
//! 4. Runs `streamhall-load chat` against another channel for a baseline, then again while
//!    5. an `ffmpeg` publisher goes live on `fanout`.
//! 6. Reports: from the notifier's claim (`notification_jobs.started_at`) to the last
//!    notification row, to the first and the last live push on the sockets; the server's peak
//!    RSS (`VmHWM`); chat delivery p50/p99 before and during.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ActiveValue::Set, ConnectionTrait, Database, EntityTrait, Statement};
use serde_json::{Value, json};
use streamhall_entities::{Follow, User, follow, user};
use streamhall_http::auth::TokenKeys;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    /// The server, e.g. http://127.0.0.1:18700.
    #[arg(long)]
    target: String,
    /// Its RTMP ingest, e.g. rtmp://127.0.0.1:19700/live.
    #[arg(long)]
    rtmp: String,
    /// The server's database URL (the same the server uses).
    #[arg(long)]
    database: String,
    /// The server's `auth.jwt_secret`.
    #[arg(long)]
    jwt_secret: String,
    /// The server's process id, for its peak RSS.
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 100_000)]
    followers: usize,
    #[arg(long, default_value_t = 1000)]
    connected: usize,
    /// `streamhall-load`, for the chat latency runs.
    #[arg(long)]
    load: PathBuf,
    /// Seconds of each chat run.
    #[arg(long, default_value_t = 20)]
    chat_secs: u64,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let api = |p: &str| format!("{}/api/v1{p}", args.target);

    // 1. The streamer and the channels.
    let reg: Value = http
        .post(api("/auth/register"))
        .json(&json!({"username": "bench_owner", "email": "bench_owner@example.com", "password": "bench-owner-password"}))
        .send()
        .await?
        .json()
        .await?;
    let owner_token = reg["access_token"].as_str().context("register")?.to_owned();
    let created: Value = http
        .post(api("/channels"))
        .bearer_auth(&owner_token)
        .json(&json!({"slug": "fanout", "title": "Fan-out bench"}))
        .send()
        .await?
        .json()
        .await?;
    let key = created["stream_key"]
        .as_str()
        .context("channel")?
        .to_owned();
    let channel_id = created["channel"]["id"].as_i64().context("channel id")?;
    let other: Value = http
        .post(api("/channels"))
        .bearer_auth(&owner_token)
        .json(&json!({"slug": "other", "title": "Chat while fanning out"}))
        .send()
        .await?
        .json()
        .await?;
    other["channel"]["id"].as_i64().context("other channel")?;

    // 2. Followers, seeded.
    let db = Database::connect(&args.database).await?;
    let seeded = Instant::now();
    let now = Utc::now();
    let mut users = Vec::with_capacity(args.connected);
    let first_id: i64 = 1_000_000;
    for chunk in (0..args.followers).collect::<Vec<_>>().chunks(2000) {
        let rows: Vec<user::Model> = chunk
            .iter()
            .map(|&i| user::Model {
                id: first_id + i as i64,
                username: format!("fan{i}"),
                username_key: format!("fan{i}"),
                email: format!("fan{i}@example.com"),
                display_name: format!("Fan {i}"),
                bio: String::new(),
                password_hash: "!".into(),
                role: "user".into(),
                token_version: 0,
                created_at: now,
                updated_at: now,
                suspended_at: None,
                suspended_until: None,
                suspension_reason: None,
                email_verified_at: Some(now),
                deleted_at: None,
            })
            .collect();
        users.extend(
            rows.iter()
                .take(args.connected - users.len().min(args.connected))
                .cloned(),
        );
        User::insert_many(rows.into_iter().map(|u| user::ActiveModel {
            id: Set(u.id),
            username: Set(u.username),
            username_key: Set(u.username_key),
            email: Set(u.email),
            display_name: Set(u.display_name),
            bio: Set(u.bio),
            password_hash: Set(u.password_hash),
            role: Set(u.role),
            token_version: Set(u.token_version),
            created_at: Set(u.created_at),
            updated_at: Set(u.updated_at),
            email_verified_at: Set(u.email_verified_at),
            deleted_at: Set(u.deleted_at),
            ..Default::default()
        }))
        .exec_without_returning(&db)
        .await?;
        Follow::insert_many(chunk.iter().map(|&i| follow::ActiveModel {
            user_id: Set(first_id + i as i64),
            channel_id: Set(channel_id),
            created_at: Set(now),
            last_emailed_at: Set(None),
        }))
        .exec_without_returning(&db)
        .await?;
    }
    eprintln!(
        "seeded {} followers in {:.1} s",
        args.followers,
        seeded.elapsed().as_secs_f64()
    );

    // 3. Sockets.
    let keys = TokenKeys::new(
        args.jwt_secret.as_bytes(),
        "streamhall",
        "streamhall-api",
        3600,
    );
    let ws_url = format!(
        "{}/api/v1/notifications/ws",
        args.target.replace("http://", "ws://")
    );
    let (tx, mut rx) = mpsc::channel::<(usize, DateTime<Utc>)>(args.connected.max(1));
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let opened = Instant::now();
    for (i, u) in users.iter().enumerate() {
        let token = keys.issue(u).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await?;
        ws.send(Message::Text(
            json!({"type": "auth", "token": token}).to_string().into(),
        ))
        .await?;
        let tx = tx.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let Message::Text(t) = frame else { continue };
                let v: Value = serde_json::from_str(&t).unwrap_or_default();
                match v["type"].as_str() {
                    Some("ready") => ready.add_permits(1),
                    Some("notification") => {
                        let _ = tx.send((i, Utc::now())).await;
                    }
                    _ => {}
                }
            }
        });
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        ready.acquire_many(args.connected as u32),
    )
    .await
    .context("sockets ready")?;
    eprintln!(
        "{} notification sockets ready in {:.1} s",
        args.connected,
        opened.elapsed().as_secs_f64()
    );
    let rss_before = vm(args.server_pid, "VmRSS");

    // 4. Chat baseline.
    let dir = tempfile::tempdir()?;
    let chat = |name: &str| {
        let out = dir.path().join(format!("{name}.json"));
        let child = tokio::process::Command::new(&args.load)
            .args(["chat", "--target", &args.target, "--channels", "other"])
            .args([
                "--connections",
                "200",
                "--senders",
                "5",
                "--rate",
                "20",
                "--size",
                "100",
            ])
            .args([
                "--duration",
                &format!("{}s", args.chat_secs),
                "--ramp",
                "2s",
                "--quiet",
            ])
            .arg("--json")
            .arg(&out)
            .stdout(Stdio::null())
            .spawn();
        (child, out)
    };
    let (base, base_out) = chat("baseline");
    let status = base?.wait().await?;
    if !status.success() {
        bail!("the baseline chat run failed");
    }

    // 5. Go live while chat runs.
    let (during, during_out) = chat("during");
    let mut during = during?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut ffmpeg = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-t", "60", "-f", "flv"])
        .arg(format!("{}/{key}", args.rtmp))
        .kill_on_drop(true)
        .spawn()
        .context("ffmpeg")?;

    // 6. Watch rows and pushes.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first_push: Option<DateTime<Utc>> = None;
    let mut last_push: Option<DateTime<Utc>> = None;
    let mut pushed = 0usize;
    let mut rows_done_at: Option<DateTime<Utc>> = None;
    while Instant::now() < deadline && (pushed < args.connected || rows_done_at.is_none()) {
        while let Ok((_, at)) = rx.try_recv() {
            pushed += 1;
            first_push = Some(first_push.map_or(at, |f| f.min(at)));
            last_push = Some(last_push.map_or(at, |l| l.max(at)));
        }
        if rows_done_at.is_none() {
            let rows = scalar(&db, "SELECT COUNT(*) FROM notifications").await?;
            if rows >= args.followers as i64 {
                rows_done_at = Some(Utc::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT started_at, finished_at, done FROM notification_jobs WHERE event = 'stream.online'",
        ))
        .await?
        .context("the job row")?;
    let started: DateTime<Utc> = job.try_get("", "started_at")?;
    let finished: Option<DateTime<Utc>> = job.try_get("", "finished_at")?;
    let _ = during.wait().await;
    let _ = ffmpeg.kill().await;
    let peak = vm(args.server_pid, "VmHWM");
    let ms = |t: Option<DateTime<Utc>>| t.map(|t| (t - started).num_milliseconds());
    let base: Value = serde_json::from_str(&std::fs::read_to_string(&base_out)?)?;
    let dur: Value = serde_json::from_str(&std::fs::read_to_string(&during_out)?)?;
    let lat = |r: &Value, q: &str| r["latencies"]["delivery"][q].as_f64().unwrap_or(f64::NAN);
    let result = json!({
        "followers": args.followers,
        "connected": args.connected,
        "pushed": pushed,
        "job_ms": ms(finished),
        "rows_all_ms_observed": ms(rows_done_at),
        "first_push_ms": ms(first_push),
        "last_push_ms": ms(last_push),
        "server_rss_before_kib": rss_before,
        "server_peak_rss_kib": peak,
        "chat_p50_ms_before": lat(&base, "p50_ms"),
        "chat_p99_ms_before": lat(&base, "p99_ms"),
        "chat_p50_ms_during": lat(&dur, "p50_ms"),
        "chat_p99_ms_during": lat(&dur, "p99_ms"),
        "chat_lost_during": dur["counters"]["lost"],
    });
    println!("{}", serde_json::to_string_pretty(&result)?);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&result)?)?;
    }
    if pushed < args.connected || rows_done_at.is_none() {
        bail!("not every follower was notified within 10 minutes");
    }
    Ok(())
}

async fn scalar(db: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await?
        .context("a row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// A `/proc/PID/status` figure in KiB.
fn vm(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
