//! The relay against a stand-in owner: coalescing, caching, limits and failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{net::SocketAddr, sync::atomic::AtomicUsize};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};

use super::*;

const TS: &str = "video/mp2t";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const M3U8: &str = "application/vnd.apple.mpegurl";
const ONE_SECOND: &str = "public, max-age=1";

/// A stand-in owner on its own thread and actix system. Paths say how to answer:
/// `/delay/{ms}/…` waits first, `/size/{n}/…` sets a segment's length (1,000),
/// `/missing/…` is a 404, `/chunked/…` streams without a length, `….m3u8` is a playlist
/// naming how often it was fetched, anything else a segment made of its path's bytes.
struct Upstream {
    base: String,
    seen: web::Data<Seen>,
    server: ServerHandle,
}

#[derive(Default)]
struct Seen {
    counts: Mutex<HashMap<String, usize>>,
    /// Requests without `x-streamhall-relay: 1`.
    unmarked: AtomicUsize,
}

impl Upstream {
    fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let seen = web::Data::new(Seen::default());
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr: SocketAddr = listener.local_addr().unwrap();
                let data = seen.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(answer))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                tx.send((addr, seen, server.handle())).unwrap();
                let _ = server.await;
            });
        });
        let (addr, seen, server) = rx.recv().unwrap();
        Self {
            base: format!("http://{addr}"),
            seen,
            server,
        }
    }

    fn count(&self, path: &str) -> usize {
        lock(&self.seen.counts).get(path).copied().unwrap_or(0)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        // The stop command is sent by the call; its completion need not be awaited.
        drop(self.server.stop(false));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn after<T: std::str::FromStr>(path: &str, name: &str) -> Option<T> {
    let mut parts = path.split('/');
    while let Some(part) = parts.next() {
        if part == name {
            return parts.next()?.parse().ok();
        }
    }
    None
}

fn segment_body(path: &str, size: usize) -> Vec<u8> {
    path.bytes().cycle().take(size).collect()
}

async fn answer(req: HttpRequest, seen: web::Data<Seen>) -> HttpResponse {
    let path = req.path().to_owned();
    let n = {
        let mut counts = lock(&seen.counts);
        let n = counts.entry(path.clone()).or_default();
        *n += 1;
        *n
    };
    if req
        .headers()
        .get(RELAY_HEADER)
        .is_none_or(|v| v.as_bytes() != b"1")
    {
        seen.unmarked.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(ms) = after(&path, "delay") {
        actix_web::rt::time::sleep(Duration::from_millis(ms)).await;
    }
    if path.contains("/missing/") {
        return HttpResponse::NotFound()
            .insert_header(("cache-control", "no-cache"))
            .body("no such segment");
    }
    if path.ends_with(".m3u8") {
        return HttpResponse::Ok()
            .insert_header(("content-type", M3U8))
            .insert_header(("cache-control", ONE_SECOND))
            .body(format!("#EXTM3U\n# fetch {n}\n"));
    }
    let body = segment_body(&path, after(&path, "size").unwrap_or(1000));
    if path.contains("/chunked/") {
        let chunks: Vec<Result<Bytes, actix_web::Error>> = body
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        return HttpResponse::Ok()
            .insert_header(("content-type", TS))
            .streaming(futures_util::stream::iter(chunks));
    }
    HttpResponse::Ok()
        .insert_header(("content-type", TS))
        .insert_header(("cache-control", IMMUTABLE))
        .body(body)
}

#[test]
fn the_relay_is_send_and_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<HlsRelay>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gets_share_one_upstream_request() {
    let up = Upstream::start();
    let relay = HlsRelay::new(RelayConfig::default());
    let path = "/hls/alice/480p/delay/100/size/200000/seg-1733390000000.ts";
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (relay, base) = (relay.clone(), up.base.clone());
            tokio::spawn(async move { relay.get(&base, path).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for task in tasks {
        let got = task.await.unwrap().unwrap();
        assert_eq!(got.status, 200);
        bodies.push(got.body);
    }
    let elapsed = started.elapsed();
    assert_eq!(up.count(path), 1, "one upstream request for 200 callers");
    let expected = segment_body(path, 200_000);
    assert!(bodies.iter().all(|b| b[..] == expected[..]));
    let stats = relay.stats();
    assert_eq!(stats.upstream_requests, 1);
    assert_eq!(stats.coalesced + stats.cache_hits, 199);
    assert_eq!(stats.in_flight, 0);
    eprintln!(
        "200 concurrent gets of a 200 kB segment (owner answers after 100 ms): {elapsed:?}, \
         {} coalesced, {} from the cache",
        stats.coalesced, stats.cache_hits
    );

    // And from the cache afterwards, without asking again.
    let started = Instant::now();
    for _ in 0..10_000 {
        relay.get(&up.base, path).await.unwrap();
    }
    let per_hit = started.elapsed() / 10_000;
    assert_eq!(up.count(path), 1);
    eprintln!("a cache hit: {per_hit:?}");
}

#[tokio::test]
async fn a_playlist_is_reused_for_its_ttl_then_fetched_again() {
    let up = Upstream::start();
    let ttl = Duration::from_millis(400);
    let relay = HlsRelay::new(RelayConfig {
        playlist_ttl: ttl,
        ..RelayConfig::default()
    });
    let path = "/hls/alice/480p/index.m3u8";
    let first = relay.get(&up.base, path).await.unwrap();
    let fetched = Instant::now();
    assert_eq!(&first.body[..], b"#EXTM3U\n# fetch 1\n");
    let again = relay.get(&up.base, path).await.unwrap();
    if fetched.elapsed() < ttl {
        assert_eq!(up.count(path), 1, "reused within the TTL");
        assert_eq!(again.body, first.body);
    }
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    let later = relay.get(&up.base, path).await.unwrap();
    assert_eq!(up.count(path), 2, "fetched again after the TTL");
    assert_eq!(&later.body[..], b"#EXTM3U\n# fetch 2\n");
}

#[tokio::test]
async fn the_cache_stays_within_its_bound_and_forgets_the_least_recently_used() {
    let up = Upstream::start();
    let capacity = 20_000;
    let relay = HlsRelay::new(RelayConfig {
        segment_cache_bytes: capacity,
        ..RelayConfig::default()
    });
    let seg = |n: usize| format!("/hls/alice/480p/seg-{n}.ts");
    relay.get(&up.base, &seg(0)).await.unwrap();
    relay.get(&up.base, &seg(1)).await.unwrap();
    for n in 2..60 {
        // Segment 0 is watched all along; segment 1 never again.
        relay.get(&up.base, &seg(0)).await.unwrap();
        relay.get(&up.base, &seg(n)).await.unwrap();
        let stats = relay.stats();
        assert!(stats.cached_bytes <= capacity, "{stats:?}");
    }
    let stats = relay.stats();
    assert!(
        stats.cached_bytes > capacity - 1100,
        "the cache is used: {stats:?}"
    );
    assert!(stats.cached_entries < 20, "{stats:?}");
    assert_eq!(up.count(&seg(0)), 1, "the recently used one stayed");
    relay.get(&up.base, &seg(1)).await.unwrap();
    assert_eq!(up.count(&seg(1)), 2, "the oldest was forgotten");
    relay.get(&up.base, &seg(59)).await.unwrap();
    assert_eq!(up.count(&seg(59)), 1, "the newest is kept");

    // Above a quarter of the cache: passed on, not kept.
    let big = "/hls/alice/480p/size/6000/seg-1.ts";
    for _ in 0..2 {
        let got = relay.get(&up.base, big).await.unwrap();
        assert_eq!(got.body.len(), 6000);
    }
    assert_eq!(up.count(big), 2);
}

#[tokio::test]
async fn a_404_is_passed_on_and_not_kept() {
    let up = Upstream::start();
    let relay = HlsRelay::new(RelayConfig::default());
    let path = "/hls/alice/480p/missing/seg-5.ts";
    for _ in 0..2 {
        let got = relay.get(&up.base, path).await.unwrap();
        assert_eq!(got.status, 404);
        assert_eq!(&got.body[..], b"no such segment");
        assert_eq!(got.cache_control.as_ref().unwrap(), "no-cache");
    }
    assert_eq!(up.count(path), 2);
    assert_eq!(relay.stats().cached_entries, 0);
}

#[tokio::test]
async fn headers_pass_through_and_requests_are_marked() {
    let up = Upstream::start();
    let relay = HlsRelay::new(RelayConfig::default());
    let seg = relay.get(&up.base, "/hls/a/480p/seg-1.ts").await.unwrap();
    assert_eq!(seg.content_type.unwrap(), TS);
    assert_eq!(seg.cache_control.unwrap(), IMMUTABLE);
    let list = relay
        .get(&format!("{}/", up.base), "/hls/a/480p/index.m3u8")
        .await
        .unwrap();
    assert_eq!(list.content_type.unwrap(), M3U8);
    assert_eq!(list.cache_control.unwrap(), ONE_SECOND);
    assert_eq!(up.count("/hls/a/480p/index.m3u8"), 1, "trailing / ignored");
    assert_eq!(up.seen.unmarked.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_unreachable_owner_fails_fast() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let relay = HlsRelay::new(RelayConfig::default());
    let started = Instant::now();
    let got = relay
        .get(&format!("http://{closed}"), "/hls/a/480p/seg-1.ts")
        .await;
    let elapsed = started.elapsed();
    assert!(matches!(got, Err(RelayError::Unreachable(_))), "{got:?}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    let stats = relay.stats();
    assert_eq!((stats.errors, stats.in_flight), (1, 0));
    eprintln!("unreachable owner: {elapsed:?}: {got:?}");
}

#[tokio::test]
async fn a_slow_owner_times_out() {
    let up = Upstream::start();
    let timeout = Duration::from_millis(200);
    let relay = HlsRelay::new(RelayConfig {
        timeout,
        ..RelayConfig::default()
    });
    let started = Instant::now();
    let got = relay.get(&up.base, "/hls/a/480p/delay/3000/seg-1.ts").await;
    let elapsed = started.elapsed();
    assert_eq!(got.unwrap_err(), RelayError::Timeout);
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert!(elapsed < timeout * 4, "{elapsed:?}");
    assert_eq!(relay.stats().in_flight, 0);
}

#[tokio::test]
async fn a_body_above_the_limit_is_refused() {
    let up = Upstream::start();
    let relay = HlsRelay::with_limits(RelayConfig::default(), 100_000, MAX_IN_FLIGHT);
    let fits = "/hls/a/480p/size/100000/seg-1.ts";
    assert_eq!(relay.get(&up.base, fits).await.unwrap().body.len(), 100_000);
    let sized = "/hls/a/480p/size/100001/seg-2.ts";
    let chunked = "/hls/a/480p/chunked/size/300000/seg-3.ts";
    assert_eq!(
        relay.get(&up.base, sized).await.unwrap_err(),
        RelayError::TooLarge
    );
    assert_eq!(
        relay.get(&up.base, chunked).await.unwrap_err(),
        RelayError::TooLarge
    );
    assert_eq!(relay.stats().errors, 2);
}

#[tokio::test]
async fn new_keys_beyond_the_in_flight_bound_are_refused() {
    let up = Upstream::start();
    let relay = HlsRelay::with_limits(RelayConfig::default(), MAX_BODY_BYTES, 2);
    let slow = |n: u32| format!("/hls/a/480p/delay/300/seg-{n}.ts");
    let (one, two, three) = (slow(1), slow(2), slow(3));
    let (a, b, c, a_again) = tokio::join!(
        relay.get(&up.base, &one),
        relay.get(&up.base, &two),
        relay.get(&up.base, &three),
        relay.get(&up.base, &one),
    );
    assert_eq!(a.unwrap().status, 200);
    assert_eq!(b.unwrap().status, 200);
    assert_eq!(c.unwrap_err(), RelayError::Overloaded);
    assert_eq!(a_again.unwrap().status, 200, "a key in flight still joins");
    let stats = relay.stats();
    assert_eq!((stats.rejected, stats.in_flight), (1, 0));
    assert_eq!(relay.get(&up.base, &three).await.unwrap().status, 200);
}

#[tokio::test]
async fn a_dropped_leader_strands_nobody() {
    let up = Upstream::start();
    let relay = HlsRelay::new(RelayConfig::default());
    let path = "/hls/a/480p/delay/300/seg-1.ts";
    // The leader gives up after 50 ms; the follower joined its request and still gets it.
    let (leader, follower) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(50), relay.get(&up.base, path)),
        relay.get(&up.base, path),
    );
    assert!(leader.is_err(), "the leader was dropped");
    assert_eq!(follower.unwrap().body.len(), 1000);
    assert_eq!(up.count(path), 1);

    // A leader dropped with nobody waiting: the fetch still lands and is kept.
    let lone = "/hls/a/480p/delay/200/seg-2.ts";
    let gone = tokio::time::timeout(Duration::from_millis(20), relay.get(&up.base, lone));
    assert!(gone.await.is_err());
    let deadline = Instant::now() + Duration::from_secs(2);
    while relay.stats().in_flight != 0 {
        assert!(Instant::now() < deadline, "the key never left the table");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(relay.get(&up.base, lone).await.unwrap().status, 200);
    assert_eq!(up.count(lone), 1);
}

#[tokio::test]
async fn paths_that_could_leave_the_owner_are_refused() {
    let relay = HlsRelay::new(RelayConfig::default());
    for path in [
        "hls/a",
        "//evil.example/x",
        "/hls/a?x=1",
        "/hls/a/ll.m3u8?_HLS_msn=1&x=1",
        "/hls/a/ll.m3u8?_HLS_msn=-1",
        "/hls/a/ll.m3u8?_HLS_part=",
        "/hls/a#f",
        "@evil/x",
    ] {
        assert_eq!(
            relay.get("http://127.0.0.1:9", path).await.unwrap_err(),
            RelayError::InvalidPath,
            "{path}"
        );
    }
}

#[test]
fn the_cache_drops_a_stale_playlist_and_counts_bytes() {
    let mut c = Cache::new(1000);
    let answer = |n: usize| Relayed {
        status: 200,
        content_type: None,
        cache_control: None,
        body: Bytes::from(vec![0; n]),
    };
    let now = Instant::now();
    c.insert(
        "a".into(),
        answer(100),
        Some(now + Duration::from_millis(10)),
    );
    c.insert("b".into(), answer(100), None);
    assert_eq!(c.bytes, 202);
    assert!(c.get("a", now).is_some());
    assert!(c.get("a", now + Duration::from_millis(10)).is_none());
    assert_eq!((c.bytes, c.entries.len(), c.order.len()), (101, 1, 1));
    c.insert("b".into(), answer(200), None);
    assert_eq!((c.bytes, c.entries.len(), c.order.len()), (201, 1, 1));
}

#[test]
fn reuse_follows_the_owners_cache_control() {
    let with = |cc: Option<&'static str>| Relayed {
        status: 200,
        content_type: None,
        cache_control: cc.map(HeaderValue::from_static),
        body: Bytes::new(),
    };
    let ttl = Duration::from_millis(250);
    let soon = |f: Option<Option<Instant>>, at_most: Duration| {
        let until = f.expect("kept").expect("for a while");
        until > Instant::now() && until <= Instant::now() + at_most
    };
    // Segments: kept until pushed out.
    assert_eq!(
        freshness("/hls/a/480p/s-1.ts", &with(Some(IMMUTABLE)), ttl),
        Some(None)
    );
    // Playlists: the relay's own short reuse, whatever the owner says.
    let p = freshness("/hls/a/480p/index.m3u8", &with(Some(ONE_SECOND)), ttl);
    assert!(soon(p, ttl), "{p:?}");
    assert_eq!(
        freshness("/hls/a/master.m3u8", &with(None), Duration::ZERO),
        None
    );
    // A thumbnail: the owner's max-age, capped.
    let t = freshness(
        "/api/v1/channels/a/thumbnail.jpg",
        &with(Some("public, max-age=5")),
        ttl,
    );
    assert!(soon(t, Duration::from_secs(5)), "{t:?}");
    let t = freshness("/x.jpg", &with(Some("max-age=86400")), ttl);
    assert!(soon(t, MAX_REUSE), "{t:?}");
    // Not reusable.
    for cc in [
        None,
        Some("no-cache"),
        Some("private, max-age=60"),
        Some("no-store"),
    ] {
        assert_eq!(freshness("/x.jpg", &with(cc), ttl), None, "{cc:?}");
    }
}
