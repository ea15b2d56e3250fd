//! Several nodes on one PostgreSQL + Redis (+ the test S3 server): who owns a broadcast, HLS
//! from any node, and a node dying. The in-process test runs two servers in this process; the
//! three-node test runs the real binary as three processes, so one can be SIGKILLed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::chat::Chat;
use crate::helpers::{Backend, JWT_SECRET, eventually, poll_until, restart, spawn_app_with};
use crate::media_tools::{exits, probe, publish, segments, variants};

const LIVE_WAIT: Duration = Duration::from_secs(60);

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// GETs `url` and returns the body when it is a 200.
async fn fetch(client: &Client, url: &str) -> Option<Vec<u8>> {
    let res = client.get(url).send().await.ok()?;
    if res.status() != StatusCode::OK {
        return None;
    }
    res.bytes().await.ok().map(|b| b.to_vec())
}

/// GETs `url` as JSON (`None` when it does not answer with JSON).
async fn json_at(client: &Client, url: &str) -> Option<Value> {
    client.get(url).send().await.ok()?.json().await.ok()
}

async fn text(client: &Client, url: &str) -> Option<String> {
    fetch(client, url)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The channel as node `base` shows it, once it lists a playback URL.
async fn live_channel(client: &Client, base: &str, slug: &str) -> Value {
    poll_until(LIVE_WAIT, &format!("{slug} live on {base}"), || async {
        let c = json_at(client, &format!("{base}/api/v1/channels/{slug}")).await?;
        c["live"]["playback_url"].as_str().is_some().then_some(c)
    })
    .await
}

/// The newest segment of the master's first rendition, from node `base`: (rendition, name,
/// bytes).
async fn newest_segment(client: &Client, base: &str, slug: &str) -> (String, String, Vec<u8>) {
    let master = text(client, &format!("{base}/hls/{slug}/master.m3u8"))
        .await
        .expect("master playlist");
    let rendition = variants(&master).last().cloned().expect("a rendition");
    let playlist = text(client, &format!("{base}/hls/{slug}/{rendition}/index.m3u8"))
        .await
        .expect("media playlist");
    let (_, name) = segments(&playlist).last().cloned().expect("a segment");
    // Sent as a relaying node sends it, so this probe is nobody's viewer.
    let body = client
        .get(format!("{base}/hls/{slug}/{rendition}/{name}"))
        .header("x-streamhall-relay", "1")
        .send()
        .await
        .ok()
        .filter(|r| r.status() == StatusCode::OK)
        .expect("the segment")
        .bytes()
        .await
        .expect("the segment")
        .to_vec();
    (rendition, name, body)
}

/// Two nodes in this process. The stream runs on A; B starts while it does and leaves it
/// open; B lists the broadcast and serves its HLS (fetched from A), counts its viewers into
/// the shared figure, and refuses the same stream key.
#[actix_web::test]
async fn a_node_started_during_a_broadcast_serves_it_and_refuses_its_key() {
    let a = spawn_app_with(Backend::Postgres, |c| c.cluster.lease_secs = 2).await;
    let owner = a.register("owner").await;
    let key = a.create_channel(&owner.access, "shared").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let _obs = publish(&format!("rtmp://{}/live/{key}", a.rtmp_addr), 640, 360, 120);
    let on_a = live_channel(&a.client, &a.url, "shared").await;
    let broadcast_id = on_a["live"]["broadcast_id"].as_i64().unwrap();

    // A second node starting up does not end the first node's broadcast.
    let b = restart(&a).await;
    let open =
        format!("SELECT COUNT(*) FROM broadcasts WHERE id = {broadcast_id} AND ended_at IS NULL");
    let on_b = live_channel(&b.client, &b.url, "shared").await;
    assert_eq!(count(&a.db, &open).await, 1, "still open after B started");
    assert_eq!(on_b["is_live"], true);
    assert_eq!(on_b["live"]["broadcast_id"], broadcast_id);
    assert_eq!(
        on_b["live"]["playback_url"],
        format!("{}/hls/shared/master.m3u8", b.url),
        "players fetch from the node they asked"
    );
    assert_eq!(on_b["live"]["renditions"], on_a["live"]["renditions"]);

    // HLS from B is A's: the same master, and segments that decode.
    let master_a = text(&a.client, &format!("{}/hls/shared/master.m3u8", a.url)).await;
    let master_b = text(&b.client, &format!("{}/hls/shared/master.m3u8", b.url)).await;
    assert_eq!(master_b, master_a);
    let (rendition, name, seg) = newest_segment(&b.client, &b.url, "shared").await;
    let p = probe(&seg);
    assert_eq!(
        (p.video_codec.as_str(), p.height),
        ("h264", 360),
        "{rendition}/{name}"
    );
    let direct = fetch(
        &a.client,
        &format!("{}/hls/shared/{rendition}/{name}", a.url),
    )
    .await;
    assert_eq!(direct.as_deref(), Some(&seg[..]), "the owner's bytes");

    // Low latency through B: the owner's playlist, and a blocking reload for a part a few
    // ahead is held at the owner (through B) until it exists.
    let ll = text(
        &b.client,
        &format!("{}/hls/shared/{rendition}/ll.m3u8", b.url),
    )
    .await
    .expect("the LL playlist through B");
    let msn: u64 = ll
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|n| n.parse().ok())
        .expect("a media sequence");
    let producing = msn + ll.matches("#EXTINF:").count() as u64;
    let asked = std::time::Instant::now();
    let blocked = text(
        &b.client,
        &format!(
            "{}/hls/shared/{rendition}/ll.m3u8?_HLS_msn={}&_HLS_part=0",
            b.url,
            producing + 1
        ),
    )
    .await
    .expect("the blocked reload answers");
    assert!(
        blocked.contains(&format!("\ns-{producing}.m4s\n")),
        "segment {producing} complete in the answer after {:?}:\n{blocked}",
        asked.elapsed()
    );
    let cache = b.get("/channels/shared").await;
    assert_eq!(cache.status(), StatusCode::OK);

    // A viewer on B is counted in the one shared figure; the relay itself is not.
    let vid = "viewer-on-node-b";
    eventually(LIVE_WAIT, "B's viewer counted on A", || async {
        let (r, n, _) = newest_segment(&b.client, &b.url, "shared").await;
        let _ = fetch(
            &b.client,
            &format!("{}/hls/shared/{r}/{n}?vid={vid}", b.url),
        )
        .await;
        a.get_json("/channels/shared").await["viewer_count"] == 1
    })
    .await;

    // B shows A's live thumbnail, not its offline card.
    let offline = b
        .get("/channels/nobody/thumbnail.jpg")
        .await
        .bytes()
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "A's thumbnail on B", || async {
        let on_a = a
            .get("/channels/shared/thumbnail.jpg")
            .await
            .bytes()
            .await
            .unwrap();
        let res = b.get("/channels/shared/thumbnail.jpg").await;
        let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
        let on_b = res.bytes().await.unwrap();
        on_a != offline && on_b == on_a && cache.contains("max-age=5")
    })
    .await;

    // The same key pushed to B: refused, and A's broadcast goes on.
    let mut second = publish(&format!("rtmp://{}/live/{key}", b.rtmp_addr), 640, 360, 30);
    assert!(
        !exits(&mut second, Duration::from_secs(20)).await,
        "B must refuse a key live on A"
    );
    assert_eq!(count(&a.db, &open).await, 1, "A's broadcast goes on");
    let on_a = a.get_json("/channels/shared").await;
    assert_eq!(on_a["live"]["broadcast_id"], broadcast_id);

    // Each node's supervision tree on the other's admin page: B shows A's tree, as A wrote it
    // to Redis a moment ago, with A's stream and its children under A's registry.
    let admin = a.admin_token().await;
    let a_node = a.get_auth_json("/admin/health", &admin).await["node"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_on_b = poll_until(Duration::from_secs(15), "A's tree on B", || async {
        let tree = b.get_auth_json("/admin/health", &admin).await;
        tree["other_nodes"]
            .as_array()?
            .iter()
            .find(|n| n["node"] == a_node.as_str())
            .filter(|n| {
                n["root"]["children"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
            })
            .cloned()
    })
    .await;
    assert!(
        a_on_b["age_s"].as_f64().unwrap() < 6.0,
        "{}",
        a_on_b["age_s"]
    );
    assert_eq!(a_on_b["root"]["actor"]["kind"], "registry");
    assert!(a_on_b["root"]["actor"]["mailbox"].is_u64());
    let streams: Vec<&Value> = a_on_b["root"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["actor"]["kind"] == "stream")
        .collect();
    assert_eq!(streams.len(), 1, "{a_on_b}");
    assert_eq!(
        streams[0]["actor"]["id"],
        format!("shared/{broadcast_id}").as_str()
    );
    let on_b = b.get_auth_json("/admin/health", &admin).await;
    assert!(
        on_b["streams"].as_array().unwrap().is_empty(),
        "B runs no stream of its own"
    );
    assert!(on_b["other_nodes_error"].is_null());
}

/// One node of the three-node test: the release or debug binary in a process of its own.
struct Node {
    name: String,
    url: String,
    rtmp: std::net::SocketAddr,
    log: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Node {
    fn start(name: &str, root: &Path, shared: &[(String, String)]) -> Node {
        let (http, rtmp, srt) = (free_port(), free_port(), free_port());
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("http://127.0.0.1:{http}");
        let mut env: Vec<(String, String)> = shared.to_vec();
        env.extend([
            ("STREAMHALL_DATA_DIR".into(), dir.display().to_string()),
            (
                "STREAMHALL_HTTP__LISTEN".into(),
                format!("127.0.0.1:{http}"),
            ),
            (
                "STREAMHALL_RTMP__LISTEN".into(),
                format!("127.0.0.1:{rtmp}"),
            ),
            ("STREAMHALL_SRT__LISTEN".into(), format!("127.0.0.1:{srt}")),
            ("STREAMHALL_CLUSTER__NODE_ID".into(), name.into()),
            ("STREAMHALL_CLUSTER__ADVERTISE_URL".into(), url.clone()),
        ]);
        let mut node = Node {
            name: name.into(),
            url,
            rtmp: format!("127.0.0.1:{rtmp}").parse().unwrap(),
            log: root.join(format!("{name}.log")),
            env,
            child: None,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_streamhall"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start streamhall");
        self.child = Some(child);
    }

    async fn ready(&mut self, client: &Client) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!(
                    "{} exited at start ({status}):\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.url)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} not ready:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, as a service manager stops it; waits for the exit.
    async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
            while c.try_wait().unwrap().is_none() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{} did not stop",
                    self.name
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// SIGKILL: no shutdown, nothing cleaned up.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn register(client: &Client, base: &str, username: &str) -> (i64, String) {
    let res = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": format!("pw-{username}-secret")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    (
        body["user"]["id"].as_i64().unwrap(),
        body["access_token"].as_str().unwrap().to_owned(),
    )
}

async fn post(client: &Client, url: &str, token: &str, body: Value) -> Value {
    let res = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "POST {url}: {}", res.status());
    res.json().await.unwrap_or(Value::Null)
}

async fn chat_as(client: &Client, base: &str, token: &str, slug: &str) -> Chat {
    let ticket = post(
        client,
        &format!("{base}/api/v1/chat/{slug}/ticket"),
        token,
        json!({}),
    )
    .await;
    let ticket = ticket["ticket"].as_str().unwrap();
    Chat::open_at(base, slug, &format!("?ticket={ticket}"), None).await
}

/// Three processes on one PostgreSQL, Redis and S3 bucket, as `docker/compose.cluster.yml`
/// runs them: push to A, play from C; chat sent on B reaches readers on A and C in order; the
/// viewer count is the sum over nodes; the follower is notified once; B refuses the key live
/// on A; B restarting leaves A's broadcast alone; A SIGKILLed has its broadcast closed once by
/// another node when its lease expires, its recording finished from the store, and no
/// acknowledged chat message lost.
#[actix_web::test]
async fn three_nodes_serve_one_audience_and_survive_a_killed_owner() {
    let Some(s3) = crate::recording::s3_endpoint() else {
        return;
    };
    let bucket = crate::recording::fresh_bucket(&s3).await;
    let root = tempfile::tempdir().unwrap();
    let (db_url, pg) = crate::helpers::fresh_database(Backend::Postgres, root.path()).await;
    let prefix = format!("streamhall_test:{}:", uuid::Uuid::new_v4().simple());
    let shared: Vec<(String, String)> = [
        ("STREAMHALL_DATABASE__URL", db_url.as_str()),
        ("STREAMHALL_DATABASE__MAX_CONNECTIONS", "4"),
        ("STREAMHALL_REDIS__URL", &crate::helpers::redis_url()),
        ("STREAMHALL_REDIS__KEY_PREFIX", &prefix),
        ("STREAMHALL_REDIS__POOL_SIZE", "4"),
        ("STREAMHALL_AUTH__JWT_SECRET", JWT_SECRET),
        ("STREAMHALL_OBJECTS__BACKEND", "s3"),
        ("STREAMHALL_OBJECTS__S3__ENDPOINT", &s3),
        ("STREAMHALL_OBJECTS__S3__BUCKET", &bucket),
        ("STREAMHALL_OBJECTS__S3__ACCESS_KEY", "test"),
        ("STREAMHALL_OBJECTS__S3__SECRET_KEY", "test-secret"),
        ("STREAMHALL_CLUSTER__LEASE_SECS", "2"),
        ("STREAMHALL_LIVE__GRACE_SECS", "5"),
        ("STREAMHALL_HTTP__WORKERS", "1"),
        ("STREAMHALL_LOG__LEVEL", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let client = Client::builder()
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    // A first: it migrates the database; the others find it done.
    let mut a = Node::start("node-a", root.path(), &shared);
    a.ready(&client).await;
    let mut b = Node::start("node-b", root.path(), &shared);
    let mut c = Node::start("node-c", root.path(), &shared);
    b.ready(&client).await;
    c.ready(&client).await;
    let db = sea_orm::Database::connect(&db_url).await.unwrap();

    let (_, alice) = register(&client, &a.url, "alice").await;
    let created = post(
        &client,
        &format!("{}/api/v1/channels", a.url),
        &alice,
        json!({"slug": "alice", "title": "cluster"}),
    )
    .await;
    let key = created["stream_key"].as_str().unwrap().to_owned();
    let (_, bob) = register(&client, &b.url, "bob").await;
    post(
        &client,
        &format!("{}/api/v1/channels/alice/follow", c.url),
        &bob,
        json!({}),
    )
    .await;

    // Chat sent on B reaches readers on A and C, in the order B's acks gave.
    let mut reader_a = Chat::open_at(&a.url, "alice", "", None).await;
    let mut reader_c = Chat::open_at(&c.url, "alice", "", None).await;
    let mut writer_b = chat_as(&client, &b.url, &bob, "alice").await;
    let mut acked = Vec::new();
    for i in 0..10 {
        let ack = writer_b
            .say(&format!("b{i}"), &format!("hello from B {i}"))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
        acked.push(ack["id"].as_i64().unwrap());
    }
    assert_eq!(
        reader_a.wait_messages(10).await,
        acked,
        "A: same messages, same order"
    );
    assert_eq!(
        reader_c.wait_messages(10).await,
        acked,
        "C: same messages, same order"
    );

    // Push to A, play from C.
    let _obs = publish(&format!("rtmp://{}/live/{key}", a.rtmp), 640, 360, 300);
    let on_c = live_channel(&client, &c.url, "alice").await;
    let broadcast_id = on_c["live"]["broadcast_id"].as_i64().unwrap();
    let (rendition, name, seg) = newest_segment(&client, &c.url, "alice").await;
    let p = probe(&seg);
    assert_eq!(
        (p.video_codec.as_str(), p.height),
        ("h264", 360),
        "{rendition}/{name} from C"
    );

    // One viewer on each node: every node shows three.
    eventually(LIVE_WAIT, "three viewers, one per node", || async {
        for (node, vid) in [
            (&a, "viewer-a-0001"),
            (&b, "viewer-b-0001"),
            (&c, "viewer-c-0001"),
        ] {
            let (r, n, _) = newest_segment(&client, &node.url, "alice").await;
            let _ = fetch(
                &client,
                &format!("{}/hls/alice/{r}/{n}?vid={vid}", node.url),
            )
            .await;
        }
        let mut counts = Vec::new();
        for node in [&a, &b, &c] {
            let ch = json_at(&client, &format!("{}/api/v1/channels/alice", node.url)).await;
            counts.push(ch.and_then(|c| c["viewer_count"].as_u64()).unwrap_or(0));
        }
        counts == [3, 3, 3]
    })
    .await;

    // B refuses the key live on A.
    let mut second = publish(&format!("rtmp://{}/live/{key}", b.rtmp), 640, 360, 30);
    assert!(
        !exits(&mut second, Duration::from_secs(20)).await,
        "B must refuse the key"
    );
    assert!(b.log_text().contains("the channel is live on another node"));

    // B restarts while A streams: A's broadcast stays open and C keeps serving it.
    b.stop().await;
    b.spawn();
    b.ready(&client).await;
    let open =
        format!("SELECT COUNT(*) FROM broadcasts WHERE id = {broadcast_id} AND ended_at IS NULL");
    assert_eq!(
        count(&db, &open).await,
        1,
        "B's start left A's broadcast open"
    );
    let on_b = live_channel(&client, &b.url, "alice").await;
    assert_eq!(on_b["live"]["broadcast_id"], broadcast_id);

    // Messages acknowledged on A, then A dies without a word.
    let mut writer_a = chat_as(&client, &a.url, &alice, "alice").await;
    for i in 0..5 {
        let ack = writer_a.say(&format!("a{i}"), &format!("from A {i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        acked.push(ack["id"].as_i64().unwrap());
    }
    a.kill();

    // Another node closes A's broadcast once the lease expires, exactly once.
    eventually(
        Duration::from_secs(30),
        "A's broadcast closed by another node",
        || async { count(&db, &open).await == 0 },
    )
    .await;
    let live = count(
        &db,
        "SELECT COUNT(*) FROM channels WHERE slug = 'alice' AND is_live",
    )
    .await;
    assert_eq!(live, 0, "the channel is offline");
    let closers = [&b, &c]
        .iter()
        .filter(|n| n.log_text().contains("closed an orphaned broadcast"))
        .count();
    assert_eq!(closers, 1, "closed by exactly one node");
    // Its recording is finished from what reached the store.
    let video = poll_until(
        Duration::from_secs(90),
        "A's recording finished",
        || async {
            let list = json_at(&client, &format!("{}/api/v1/channels/alice/videos", c.url)).await?;
            let v = list["items"].as_array()?.first()?.clone();
            (v["status"] == "ready").then_some(v)
        },
    )
    .await;
    assert!(video["duration_secs"].as_f64().unwrap() > 1.0, "{video}");
    let res = client
        .get(format!(
            "{}/vod/{}/master.m3u8",
            c.url,
            video["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let master = res.text().await.unwrap();
    assert!(
        status == StatusCode::OK && master.contains("#EXT-X-STREAM-INF"),
        "the VOD plays from C: {status} {master}\n{}",
        c.log_text()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Nothing acknowledged was lost: C's history holds every acked message.
    let history = json_at(
        &client,
        &format!("{}/api/v1/chat/alice/messages?limit=100", c.url),
    )
    .await
    .expect("chat history");
    let mut stored: Vec<i64> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    stored.sort();
    assert_eq!(stored, acked);

    // Bob heard of the go-live once, from whichever node ran the fan-out.
    let notes: Value = client
        .get(format!("{}/api/v1/notifications", b.url))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let went_live = notes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["broadcast_id"] == broadcast_id)
        .count();
    assert_eq!(went_live, 1, "{notes}");

    b.stop().await;
    c.stop().await;
    drop(db);
    let redis = deadpool_redis::Config::from_url(crate::helpers::redis_url())
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap();
    let mut conn = redis.get().await.unwrap();
    let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = deadpool_redis::redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    if let Some((admin, name)) = pg {
        let conn = sea_orm::Database::connect(format!("{admin}/postgres"))
            .await
            .unwrap();
        let _ = conn
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}
