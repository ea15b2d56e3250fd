#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The webhook parts together: events, the guard, signing, and the worker on SQLite.

use super::*;

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn parses_cidrs_and_bare_addresses() {
    assert_eq!(cidr("10.1.2.3/8"), cidr("10.0.0.0/8"));
    assert_eq!(cidr("10.1.2.3/8").to_string(), "10.0.0.0/8");
    assert_eq!(cidr("127.0.0.1").to_string(), "127.0.0.1/32");
    assert_eq!(cidr(" 0.0.0.0/0 ").to_string(), "0.0.0.0/0");
    assert_eq!(cidr("fc00::/7").to_string(), "fc00::/7");
    assert_eq!(cidr("::1").to_string(), "::1/128");
    for bad in [
        "",
        "10.0.0.0/33",
        "::/129",
        "10.0.0/8",
        "10.0.0.0/",
        "10.0.0.0/x",
        "host",
    ] {
        assert!(bad.parse::<Cidr>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn cidr_membership() {
    assert!(cidr("10.0.0.0/8").contains(ip("10.255.0.1")));
    assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
    assert!(cidr("127.0.0.1").contains(ip("127.0.0.1")));
    assert!(!cidr("127.0.0.1").contains(ip("127.0.0.2")));
    assert!(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
    assert!(cidr("fd00::/8").contains(ip("fd12::1")));
    assert!(!cidr("fd00::/8").contains(ip("fe80::1")));
    // A v4 entry covers the v4-mapped form; a v4 range never matches real IPv6.
    assert!(cidr("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
    assert!(!cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
    assert!(cidr("::ffff:10.0.0.0/104").contains(ip("10.1.1.1")));
}

#[test]
fn every_registry_entry_parses() {
    // A typo in the tables would silently allow a range; every entry must parse.
    use crate::notify::webhook::ranges;
    assert_eq!(ranges::table_sizes(), ranges::entries());
}

#[test]
fn detects_internal_ipv4() {
    for s in [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
    ] {
        assert!(is_internal(ip(s)), "{s} should be internal");
    }
    for s in [
        "8.8.8.8",
        "1.1.1.1",
        "172.15.255.255",
        "172.32.0.1",
        "100.63.255.255",
        "100.128.0.1",
        "192.169.0.1",
        "93.184.216.34",
        "198.20.0.1",
        "192.0.1.1",
    ] {
        assert!(!is_internal(ip(s)), "{s} should be public");
    }
    for s in [
        "198.18.0.1",
        "198.19.255.255",
        "192.0.0.1",
        "192.0.0.170",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "192.88.99.1",
    ] {
        assert!(is_internal(ip(s)), "{s} should be internal");
    }
    assert_eq!(special_purpose(ip("198.18.0.1")), Some("benchmarking"));
    assert_eq!(special_purpose(ip("::ffff:0:7f00:1")), Some("loopback"));
    assert_eq!(special_purpose(ip("8.8.8.8")), None);
}

#[test]
fn detects_internal_ipv6_and_embedded_ipv4() {
    for s in [
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "febf::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:0:0",
        "::127.0.0.1",
        "64:ff9b::10.0.0.1",
        "64:ff9b::a9fe:a9fe",
        // The gaps a probe found in the hand-written list: translated (SIIT), NAT64 local
        // use, 6to4 of a loopback address, benchmarking and IETF protocol assignments.
        "::ffff:0:7f00:1",
        "64:ff9b:1::7f00:1",
        "2002:7f00:1::",
        "2002:a00:1::1",
        "2001:db8::1",
        "2001::1",
        "100::1",
        "3fff::1",
    ] {
        assert!(is_internal(ip(s)), "{s} should be internal");
    }
    for s in [
        "2001:4860:4860::8888",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",
        "2a00:1450::1",
    ] {
        assert!(!is_internal(ip(s)), "{s} should be public");
    }
}

fn guard(allow: &[&str]) -> UrlGuard {
    UrlGuard::new(&WebhookConfig {
        allow_private: allow.iter().map(|s| (*s).to_owned()).collect(),
        ..WebhookConfig::default()
    })
}

#[test]
fn allow_list_opens_exact_addresses_and_ranges() {
    let g = guard(&["127.0.0.1", "10.0.0.0/8", "not an ip"]);
    assert!(g.allows(ip("127.0.0.1")));
    assert!(g.allows(ip("::ffff:127.0.0.1")));
    assert!(!g.allows(ip("127.0.0.2")));
    assert!(g.allows(ip("10.9.8.7")));
    assert!(!g.allows(ip("192.168.0.1")));
    assert!(!g.allows(ip("::1")));
    assert!(g.allows(ip("8.8.8.8")));
}

#[tokio::test]
async fn guard_refuses_bad_urls() {
    let g = guard(&[]);
    let code = |r: Result<Target, UrlError>| r.err().map(|e| e.code());
    assert_eq!(
        code(g.check("ftp://example.com/").await),
        Some("invalid_url")
    );
    assert_eq!(code(g.check("not a url").await), Some("invalid_url"));
    assert_eq!(
        code(g.check("http://user:pw@8.8.8.8/").await),
        Some("invalid_url")
    );
    assert_eq!(
        code(g.check("http://10.0.0.1/").await),
        Some("url_not_allowed")
    );
    assert_eq!(
        code(g.check("http://169.254.169.254/latest").await),
        Some("url_not_allowed")
    );
    assert_eq!(
        code(g.check("http://[::1]:8080/").await),
        Some("url_not_allowed")
    );
    assert_eq!(
        code(g.check("http://[::ffff:7f00:1]/").await),
        Some("url_not_allowed")
    );
    // WHATWG host parsing: these are all 127.0.0.1.
    assert_eq!(
        code(g.check("http://0x7f.1/").await),
        Some("url_not_allowed")
    );
    assert_eq!(
        code(g.check("http://2130706433/").await),
        Some("url_not_allowed")
    );
    assert_eq!(
        code(g.check("http://localhost/").await),
        Some("url_not_allowed")
    );
    let long = format!("http://8.8.8.8/{}", "a".repeat(MAX_URL_LEN));
    assert_eq!(code(g.check(&long).await), Some("invalid_url"));

    let ok = g.check("https://8.8.8.8/hook?x=1").await.unwrap();
    assert_eq!(ok.addrs, vec!["8.8.8.8:443".parse().unwrap()]);
    assert_eq!(ok.domain, None);
    let allowed = guard(&["127.0.0.1"])
        .check("http://127.0.0.1:9/")
        .await
        .unwrap();
    assert_eq!(allowed.addrs, vec!["127.0.0.1:9".parse().unwrap()]);
}

#[test]
fn signature_matches_rfc4231_test_case_2() {
    assert_eq!(
        sign("Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn secrets_are_256_bit_hex_and_distinct() {
    let a = new_secret().unwrap();
    assert_eq!(a.len(), 64);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, new_secret().unwrap());
}

#[test]
fn backoff_doubles_from_the_base() {
    let ms = |n| backoff(2000, n).as_millis();
    assert_eq!([ms(1), ms(2), ms(3), ms(4)], [2000, 4000, 8000, 16000]);
    assert_eq!(backoff(50, 0), Duration::from_millis(50));
    assert_eq!(backoff(u64::MAX, 3), MAX_BACKOFF);
    assert_eq!(backoff(1000, 1000), MAX_BACKOFF);
}

#[test]
fn retries_until_max_attempts() {
    let cfg = WebhookConfig {
        max_attempts: 3,
        backoff_base_ms: 100,
        ..WebhookConfig::default()
    };
    assert_eq!(next_after(&cfg, 1, true), Next::Delivered);
    assert_eq!(
        next_after(&cfg, 1, false),
        Next::RetryIn(Duration::from_millis(100))
    );
    assert_eq!(
        next_after(&cfg, 2, false),
        Next::RetryIn(Duration::from_millis(200))
    );
    assert_eq!(next_after(&cfg, 3, false), Next::Failed);
    assert_eq!(next_after(&cfg, 3, true), Next::Delivered);
    let zero = WebhookConfig {
        max_attempts: 0,
        ..cfg
    };
    assert_eq!(next_after(&zero, 1, false), Next::Failed);
}

#[test]
fn events_are_checked_and_ordered() {
    let ev = |v: &[&str]| normalize_events(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(
        ev(&["stream.offline", "stream.online", "stream.offline"]).unwrap(),
        vec!["stream.online", "stream.offline"]
    );
    assert!(ev(&[]).is_err());
    assert!(ev(&["ping"]).is_err());
    assert!(ev(&["stream.online", "nope"]).is_err());
    assert_eq!(parse_events("stream.online,stream.offline").len(), 2);
    assert!(subscribes("stream.online,stream.offline", "stream.offline"));
    assert!(!subscribes("stream.online", "stream.offline"));
}

async fn database(dir: &tempfile::TempDir) -> DatabaseConnection {
    use streamhall_migration::MigratorTrait;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    let db = sea_orm::Database::connect(&url).await.unwrap();
    streamhall_migration::Migrator::up(&db, None).await.unwrap();
    db
}

/// A user with channels `c1`, `c2`, `c3`; returns their ids.
async fn channels(db: &DatabaseConnection) -> [i64; 3] {
    use sea_orm::ActiveModelTrait;
    use streamhall_entities::{channel, user};
    let now = Utc::now();
    let u = user::ActiveModel {
        username: Set("owner".into()),
        username_key: Set("owner".into()),
        email: Set("owner@example.invalid".into()),
        display_name: Set("Owner".into()),
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
    let mut ids = [0; 3];
    for (i, id) in ids.iter_mut().enumerate() {
        *id = channel::ActiveModel {
            owner_id: Set(u.id),
            slug: Set(format!("c{}", i + 1)),
            title: Set("t".into()),
            description: Set(String::new()),
            category: Set(String::new()),
            is_live: Set(false),
            stream_key_hash: Set(format!("hash{i}")),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap()
        .id;
    }
    ids
}

async fn add_hook(db: &DatabaseConnection, channel_id: i64, events: &str) -> i64 {
    use sea_orm::ActiveModelTrait;
    webhook::ActiveModel {
        channel_id: Set(channel_id),
        url: Set("http://127.0.0.1:9/".into()),
        events: Set(events.into()),
        secret: Set("s".into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn enqueue_one_row_per_subscribed_webhook_and_claim_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let [c1, c2, c3] = channels(&db).await;
    let both = add_hook(&db, c1, "stream.online,stream.offline").await;
    add_hook(&db, c1, "stream.offline").await;
    add_hook(&db, c2, "stream.online").await;

    let data = serde_json::json!({"channel": "c"});
    assert_eq!(
        enqueue(&db, c1, "stream.online", data.clone(), 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        enqueue(&db, c1, "stream.offline", data.clone(), 100)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        enqueue(&db, c3, "stream.online", data.clone(), 100)
            .await
            .unwrap(),
        0
    );

    let row = WebhookDelivery::find()
        .filter(webhook_delivery::Column::Event.eq("stream.online"))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.webhook_id, both);
    assert_eq!(row.state, state::PENDING);
    let body: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
    assert_eq!(body["id"], row.id.as_str());
    assert_eq!(body["event"], "stream.online");
    assert_eq!(body["data"], data);
    assert!(DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).is_ok());

    // Two workers on one database: only one claims the row.
    let cfg = WebhookConfig {
        max_attempts: 2,
        backoff_base_ms: 60_000,
        ..WebhookConfig::default()
    };
    let shared = Arc::new(Shared {
        guard: UrlGuard::new(&cfg),
        db: db.clone(),
        cfg,
        wake: Notify::new(),
        stats: Stats::default(),
    });
    let worker = |shared: &Arc<Shared>| WebhookWorker {
        shared: shared.clone(),
        stop: CancellationToken::new(),
    };
    let (a, b) = (worker(&shared), worker(&shared));
    let (got_a, got_b) = tokio::join!(a.claim(&row.id), b.claim(&row.id));
    assert_eq!(
        [got_a.unwrap(), got_b.unwrap()]
            .iter()
            .filter(|g| **g)
            .count(),
        1
    );
    let load = || async {
        WebhookDelivery::find_by_id(&row.id)
            .one(&db)
            .await
            .unwrap()
            .unwrap()
    };

    // A node that died mid-send: its row goes back to pending once stale.
    a.recover_stale().await.unwrap();
    assert_eq!(load().await.state, state::SENDING, "not stale yet");
    WebhookDelivery::update_many()
        .col_expr(
            webhook_delivery::Column::UpdatedAt,
            Expr::value(Utc::now() - chrono::Duration::hours(1)),
        )
        .filter(webhook_delivery::Column::Id.eq(&row.id))
        .exec(&db)
        .await
        .unwrap();
    a.recover_stale().await.unwrap();
    assert_eq!(load().await.state, state::PENDING);
    assert!(a.claim(&row.id).await.unwrap());

    // A failed attempt goes back to pending, a minute out (not claimable before then);
    // the last one fails for good.
    let failure = || Outcome {
        status: Some(500),
        error: Some("HTTP 500".into()),
    };
    a.record(&row, failure()).await.unwrap();
    let after = load().await;
    assert_eq!((after.state.as_str(), after.attempts), (state::PENDING, 1));
    assert_eq!(after.last_status, Some(500));
    assert_eq!(after.last_error.as_deref(), Some("HTTP 500"));
    assert!(after.next_attempt_at > Utc::now() + chrono::Duration::seconds(50));
    assert!(!b.claim(&row.id).await.unwrap(), "not due yet");
    WebhookDelivery::update_many()
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            Expr::value(Utc::now()),
        )
        .filter(webhook_delivery::Column::Id.eq(&row.id))
        .exec(&db)
        .await
        .unwrap();
    assert!(b.claim(&row.id).await.unwrap());
    b.record(&after, failure()).await.unwrap();
    let last = load().await;
    assert_eq!((last.state.as_str(), last.attempts), (state::FAILED, 2));
    let stats = shared.stats.snapshot();
    assert_eq!((stats.delivered, stats.failed), (0, 1));
    assert_eq!(stats.last_error.as_deref(), Some("HTTP 500"));

    // Failed rows are left alone.
    let hook = Webhook::find_by_id(both).one(&db).await.unwrap().unwrap();
    assert!(!a.deliver(&row.id, &hook).await.unwrap());
    assert_eq!(load().await, last);
}

async fn add_hook_to(db: &DatabaseConnection, channel_id: i64, url: &str) -> i64 {
    let id = add_hook(db, channel_id, "stream.online").await;
    Webhook::update_many()
        .col_expr(webhook::Column::Url, Expr::value(url))
        .filter(webhook::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
    id
}

async fn states(db: &DatabaseConnection, hook: i64) -> Vec<(String, Option<String>)> {
    WebhookDelivery::find()
        .filter(webhook_delivery::Column::WebhookId.eq(hook))
        .order_by_asc(webhook_delivery::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.state, d.last_error))
        .collect()
}

#[tokio::test]
async fn waiting_deliveries_are_capped_per_webhook_and_the_dropped_ones_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let [c1, c2, _] = channels(&db).await;
    let hook = add_hook(&db, c1, "stream.online").await;
    let other = add_hook(&db, c2, "stream.online").await;
    enqueue(&db, c2, "stream.online", serde_json::json!({}), 3)
        .await
        .unwrap();
    for _ in 0..5 {
        enqueue_to(&db, hook, PING, serde_json::json!({}), 3)
            .await
            .unwrap();
    }
    let rows = states(&db, hook).await;
    let dropped = "dropped: more than 3 deliveries were waiting for this webhook";
    // The two oldest went, the three newest wait.
    assert_eq!(
        rows.iter()
            .map(|(s, e)| (s.as_str(), e.as_deref()))
            .collect::<Vec<_>>(),
        [
            (state::FAILED, Some(dropped)),
            (state::FAILED, Some(dropped)),
            (state::PENDING, None),
            (state::PENDING, None),
            (state::PENDING, None),
        ]
    );
    // Another webhook's queue is its own.
    assert_eq!(states(&db, other).await, [(state::PENDING.into(), None)]);
}

#[tokio::test]
async fn finished_deliveries_are_forgotten_after_keep_days() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let [c1, ..] = channels(&db).await;
    let hook = add_hook(&db, c1, "stream.online").await;
    for _ in 0..3 {
        enqueue_to(&db, hook, PING, serde_json::json!({}), 100)
            .await
            .unwrap();
    }
    let ids: Vec<String> = WebhookDelivery::find()
        .order_by_asc(webhook_delivery::Column::Id)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let old = Utc::now() - chrono::Duration::days(8);
    // An old delivered row, an old pending row (kept: it still has to go), a fresh failed row.
    for (id, st, at) in [
        (&ids[0], state::DELIVERED, old),
        (&ids[1], state::PENDING, old),
        (&ids[2], state::FAILED, Utc::now()),
    ] {
        WebhookDelivery::update_many()
            .col_expr(webhook_delivery::Column::State, Expr::value(st))
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(at))
            .filter(webhook_delivery::Column::Id.eq(id))
            .exec(&db)
            .await
            .unwrap();
    }
    let cfg = WebhookConfig::default();
    let worker = WebhookWorker {
        shared: Arc::new(Shared {
            guard: UrlGuard::new(&cfg),
            db: db.clone(),
            cfg,
            wake: Notify::new(),
            stats: Stats::default(),
        }),
        stop: CancellationToken::new(),
    };
    worker.prune().await.unwrap();
    assert_eq!(
        states(&db, hook).await,
        [(state::PENDING.into(), None), (state::FAILED.into(), None)]
    );
}

/// Accepts connections and never answers; counts them.
async fn black_hole() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            held.push(socket);
        }
    });
    (url, accepted)
}

/// Answers every request with 204 once it has read the whole body; counts the requests.
async fn receiver() -> (String, Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let received = Arc::new(AtomicU64::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                count.fetch_add(1, Ordering::Relaxed);
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (url, received)
}

#[tokio::test]
async fn one_channels_dead_endpoints_do_not_hold_back_other_channels() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let [c1, c2, _] = channels(&db).await;
    let (dead, accepted) = black_hole().await;
    let (alive, received) = receiver().await;
    // Channel 1: three webhooks to an endpoint that accepts and never answers, each with a
    // backlog queued before channel 2's one delivery.
    for _ in 0..3 {
        let hook = add_hook_to(&db, c1, &dead).await;
        for _ in 0..20 {
            enqueue_to(&db, hook, PING, serde_json::json!({}), 100)
                .await
                .unwrap();
        }
    }
    let hook = add_hook_to(&db, c2, &alive).await;
    enqueue_to(&db, hook, PING, serde_json::json!({}), 100)
        .await
        .unwrap();

    let cfg = WebhookConfig {
        timeout_secs: 10,
        allow_private: vec!["127.0.0.1".into()],
        ..WebhookConfig::default()
    };
    let handle = start(db.clone(), cfg);
    handle.wake();
    // Channel 2's delivery arrives long before a dead endpoint's attempt times out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while received.load(Ordering::Relaxed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "channel 2's delivery waited behind channel 1's dead endpoints"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Channel 1 holds its share of sending slots (2), one per webhook, and no more: a third
    // connection would come at once if its third webhook were allowed to start.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while accepted.load(Ordering::Relaxed) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(accepted.load(Ordering::Relaxed), 2);
    handle.shutdown();
}
