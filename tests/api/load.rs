//! The load generator against a server started here: each scenario runs for a few seconds
//! through `streamhall_load`'s library (over the network, as the CLI does) and its report is
//! checked against what the server saw: its `/metrics` counters, the channel's viewer count,
//! and the database.

use std::{sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait, Statement};
use streamhall_load::{Common, Ctx, api, chat, hls, ingest};

use crate::{
    helpers::{Backend, TestApp, poll_until, spawn_app, spawn_app_with},
    media_tools::publish,
};

fn common(app: &TestApp, duration_ms: u64, ramp_ms: u64) -> Common {
    let mut c = Common::new(&app.url);
    c.duration = Duration::from_millis(duration_ms);
    c.ramp = Duration::from_millis(ramp_ms);
    c.seed = 7;
    c
}

/// The sum of a Prometheus series' samples whose labels include every `k="v"` given.
async fn metric(app: &TestApp, name: &str, labels: &[(&str, &str)]) -> u64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[actix_web::test]
async fn hls_viewers_fetch_what_the_server_served_and_are_counted() {
    // The generator runs up to `--per-address` (100) viewers from one source address; the
    // server's cap of viewer ids per address (8) would count 8 of them.
    let app = spawn_app_with(Backend::Sqlite, |c| c.http.viewer_ids_per_address = 0).await;
    let owner = app.register("hlsowner").await;
    let key = app.create_channel(&owner.access, "loadhls").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ffmpeg = publish(&app.rtmp_url(&key), 320, 240, 20);
    // The master playlist, not a media playlist or segment: those are what players fetch.
    poll_until(Duration::from_secs(8), "the stream", || async {
        app.text("/hls/loadhls/master.m3u8").await.map(|_| ())
    })
    .await;
    let playlists_before = metric(
        &app,
        "streamhall_hls_responses_total",
        &[("kind", "playlist")],
    )
    .await;
    let segments_before = metric(
        &app,
        "streamhall_hls_responses_total",
        &[("kind", "segment")],
    )
    .await;

    let ctx = Arc::new(Ctx::new(common(&app, 4_000, 500)).await.unwrap());
    let opts = hls::HlsOpts {
        viewers: 20,
        channel: vec!["loadhls".into()],
        rendition: "random".into(),
    };
    let report = hls::run(ctx, &opts).await.unwrap();

    let playlists = metric(
        &app,
        "streamhall_hls_responses_total",
        &[("kind", "playlist")],
    )
    .await
        - playlists_before;
    let segments = metric(
        &app,
        "streamhall_hls_responses_total",
        &[("kind", "segment")],
    )
    .await
        - segments_before;
    // The master playlist counts as a playlist on the server.
    assert_eq!(
        report.counter("playlists") + report.latency("master").count,
        playlists,
        "{}",
        report.table()
    );
    assert_eq!(report.counter("segments"), segments, "{}", report.table());
    assert!(report.counter("segments") >= 20 * 3, "{}", report.table());
    assert_eq!(
        report.latency("master").count,
        20,
        "one master fetch per viewer"
    );
    // Every simulated viewer is counted by the server, once.
    assert_eq!(
        report.counter("server_viewers_max"),
        20,
        "{}",
        report.table()
    );
    assert!(report.figure("bytes_per_sec") > 0.0);
}

#[actix_web::test]
async fn api_browse_requests_match_the_servers_request_counters() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.register("apiowner").await;
    for slug in ["browse-a", "browse-b", "browse-c"] {
        app.create_channel(&owner.access, slug).await;
    }
    let list = [
        ("route", "/api/v1/channels"),
        ("method", "GET"),
        ("status", "200"),
    ];
    let page = [
        ("route", "/api/v1/channels/{slug}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    let login = [
        ("route", "/api/v1/auth/login"),
        ("method", "POST"),
        ("status", "200"),
    ];
    let follow = [
        ("route", "/api/v1/channels/{slug}/follow"),
        ("method", "POST"),
        ("status", "200"),
    ];
    let before = (
        metric(&app, "streamhall_http_requests_total", &list).await,
        metric(&app, "streamhall_http_requests_total", &page).await,
        metric(&app, "streamhall_http_requests_total", &login).await,
        metric(&app, "streamhall_http_requests_total", &follow).await,
    );

    let ctx = Arc::new(Ctx::new(common(&app, 3_000, 300)).await.unwrap());
    let opts = api::ApiOpts {
        users: 10,
        think: Duration::from_millis(100),
        accounts: 2,
        weights: vec![50, 35, 10, 5],
    };
    let report = api::run(ctx, &opts).await.unwrap();

    let after = (
        metric(&app, "streamhall_http_requests_total", &list).await,
        metric(&app, "streamhall_http_requests_total", &page).await,
        metric(&app, "streamhall_http_requests_total", &login).await,
        metric(&app, "streamhall_http_requests_total", &follow).await,
    );
    // Setup lists the channels once to find slugs to visit.
    assert_eq!(
        report.counter("home") + 1,
        after.0 - before.0,
        "{}",
        report.table()
    );
    assert_eq!(
        report.counter("channel"),
        after.1 - before.1,
        "{}",
        report.table()
    );
    assert_eq!(
        report.counter("login"),
        after.2 - before.2,
        "{}",
        report.table()
    );
    assert!(
        report.counter("home") > 20 && report.counter("channel") > 10,
        "{}",
        report.table()
    );
    assert!(!report.tallies.contains_key("errors"), "{}", report.table());
    // The follow endpoint is found in the OpenAPI document and is part of the mix.
    assert!(report.counter("follow") > 0, "{}", report.table());
    assert_eq!(
        report.counter("follow"),
        after.3 - before.3,
        "{}",
        report.table()
    );
}

#[actix_web::test]
async fn ingest_publishers_go_live_at_real_time() {
    let app = spawn_app(Backend::Sqlite).await;
    let ctx = Arc::new(Ctx::new(common(&app, 6_000, 0)).await.unwrap());
    let opts = ingest::IngestOpts {
        publishers: 1,
        rtmp: Some(format!("rtmp://{}/live", app.rtmp_addr)),
        size: "320x240".into(),
        bitrate: "500k".into(),
        ..ingest::IngestOpts::default()
    };
    let report = ingest::run(ctx, &opts).await.unwrap();
    assert_eq!(report.counter("publishers"), 1, "{}", report.table());
    assert_eq!(report.counter("with_segments"), 1, "{}", report.table());
    let first = report.latency("first_segment");
    assert!(
        first.count == 1 && first.max_ms < 5_000.0,
        "{}",
        report.table()
    );
    // What the publisher pushed is what the server recorded as a broadcast of that channel.
    let slug = report.params["per_publisher"][0]["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.broadcasts(&slug).await.len(), 1);
    assert!(report.figure("server_pace_min") > 0.8, "{}", report.table());
}

#[actix_web::test]
async fn chat_deliveries_match_what_the_server_stored() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.chat.messages_per_window = 100_000).await;
    let ctx = Arc::new(Ctx::new(common(&app, 2_000, 500)).await.unwrap());
    let opts = chat::ChatOpts {
        connections: 20,
        rooms: 2,
        senders: 4,
        rate: 5.0,
        drain: Duration::from_secs(1),
        ..chat::ChatOpts::default()
    };
    let r = chat::run(ctx, &opts).await.unwrap();
    let t = r.table();
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM chat_messages",
        ))
        .await
        .unwrap()
        .unwrap();
    let stored = row.try_get::<i64>("", "n").unwrap() as u64;
    assert!(stored >= 4 * 5, "{t}");
    // What the senders wrote is what the server acknowledged and stored.
    assert_eq!(r.counter("sent"), stored, "{t}");
    assert_eq!(r.counter("accepted"), stored, "{t}");
    // Ten readers per room, each expecting every stored message of its room: all arrived once.
    assert_eq!(r.counter("readers_connected"), 20, "{t}");
    assert_eq!(r.counter("expected"), stored * 10, "{t}");
    assert_eq!(r.counter("received"), stored * 10, "{t}");
    assert_eq!((r.counter("lost"), r.counter("duplicates")), (0, 0), "{t}");
    assert_eq!(r.latency("delivery").count, stored * 10, "{t}");
    assert_eq!(r.latency("ack").count, stored, "{t}");
    assert!(!r.tallies.contains_key("disconnects"), "{t}");
    assert!(!r.tallies.contains_key("rejected"), "{t}");
}
