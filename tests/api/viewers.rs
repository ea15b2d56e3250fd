//! Viewer counts: counted on segment fetches only, at most `http.viewer_ids_per_address` ids
//! per client address, and the same number wherever it is shown (the channel as the home, watch
//! and dashboard pages read it, the stream health, chat, analytics samples, and on PostgreSQL +
//! Redis another node).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::{Client, StatusCode};

use crate::{
    both_backends,
    chat::Chat,
    helpers::{Backend, TestApp, poll_until, restart, spawn_app_with},
    media_tools::{publish, segments, variants},
};

both_backends!(a_script_with_300_vids_from_one_address_counts_at_most_the_cap);

const SLUG: &str = "counted";
const CAP: u64 = 8;
const SCRIPTED: usize = 300;

/// One request from the script: a playlist or (the first byte of) a segment, as `vid`.
async fn fetch(client: &Client, url: &str, vid: &str, range: bool) -> StatusCode {
    let mut req = client.get(format!("{url}?vid={vid}"));
    if range {
        req = req.header("range", "bytes=0-0");
    }
    req.send().await.unwrap().status()
}

/// The newest segment of a rendition, as a URL.
async fn newest_segment(app: &TestApp, rendition: &str) -> String {
    let playlist = app
        .text(&format!("/hls/{SLUG}/{rendition}/index.m3u8"))
        .await
        .expect("media playlist");
    let seg = segments(&playlist).last().expect("a segment").1.clone();
    format!("{}/hls/{SLUG}/{rendition}/{seg}", app.url)
}

/// What every place that shows the number says right now.
async fn shown(app: &TestApp, owner: &str, broadcast: i64) -> Vec<(&'static str, Option<u64>)> {
    let channel = app.channel(SLUG).await["viewer_count"].as_u64();
    let listed = app.get_json("/channels?live=true").await;
    let listed = listed
        .as_array()
        .or_else(|| listed["items"].as_array())
        .and_then(|cs| cs.iter().find(|c| c["slug"] == SLUG))
        .and_then(|c| c["viewer_count"].as_u64());
    let health = app
        .get_auth_json(&format!("/channels/{SLUG}/health"), owner)
        .await["viewers"]
        .as_u64();
    let sample = app
        .get_auth_json(&format!("/broadcasts/{broadcast}/analytics"), owner)
        .await["samples"]
        .as_array()
        .and_then(|s| s.last().cloned())
        .and_then(|s| s["viewers"].as_u64());
    vec![
        ("channel", channel),
        ("live list", listed),
        ("health", health),
        ("analytics sample", sample),
    ]
}

async fn a_script_with_300_vids_from_one_address_counts_at_most_the_cap(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.analytics.sample_secs = 1).await;
    // On PostgreSQL + Redis, a second node that serves no HLS (started first: a node's startup
    // closes the broadcasts it finds open).
    let node2 = match backend {
        Backend::Postgres => Some(restart(&app).await),
        Backend::Sqlite => None,
    };
    assert_eq!(
        app.config.http.viewer_ids_per_address as u64, CAP,
        "the default cap"
    );
    let owner = app.register("counted").await;
    let key = app.create_channel(&owner.access, SLUG).await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let _obs = publish(&app.rtmp_url(&key), 640, 360, 120);
    let master = poll_until(Duration::from_secs(60), "the master playlist", || async {
        app.text(&format!("/hls/{SLUG}/master.m3u8")).await
    })
    .await;
    let rendition = variants(&master)[0].clone();
    let playlist_url = format!("{}/hls/{SLUG}/{rendition}/index.m3u8", app.url);
    poll_until(
        Duration::from_secs(60),
        "the channel to go live",
        || async { (app.channel(SLUG).await["is_live"] == true).then_some(()) },
    )
    .await;
    let broadcast = app.broadcasts(SLUG).await[0].0;
    let mut chat = Chat::open(&app, SLUG, "").await;

    // Playlists alone are not watching: 300 ids polling the playlist, then one real viewer
    // fetching a segment. Had the playlists counted, the same tick would show them.
    for i in 0..SCRIPTED {
        let status = fetch(&app.client, &playlist_url, &format!("script-{i:04}"), false).await;
        assert_eq!(status, StatusCode::OK);
    }
    let seg = newest_segment(&app, &rendition).await;
    assert_eq!(
        fetch(&app.client, &seg, "real-viewer-1", true).await,
        StatusCode::PARTIAL_CONTENT
    );
    let n = poll_until(
        Duration::from_secs(10),
        "the real viewer to count",
        || async {
            app.channel(SLUG).await["viewer_count"]
                .as_u64()
                .filter(|n| *n > 0)
        },
    )
    .await;
    assert_eq!(
        n, 1,
        "only the segment fetch counts, not 300 playlist polls"
    );

    // The script fetches segments with 300 random ids from one address, round after round
    // (so the ids it got counted stay counted): the address adds at most the cap.
    let stop = Arc::new(AtomicBool::new(false));
    let script = {
        let (stop, client, app_url, rendition) = (
            stop.clone(),
            app.client.clone(),
            app.url.clone(),
            rendition.clone(),
        );
        actix_web::rt::spawn(async move {
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let playlist = client
                    .get(format!("{app_url}/hls/{SLUG}/{rendition}/index.m3u8"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let seg = segments(&playlist).last().unwrap().1.clone();
                let seg = format!("{app_url}/hls/{SLUG}/{rendition}/{seg}");
                fetch(&client, &seg, "real-viewer-1", true).await;
                // The same ids each round (those counted stay counted), and new ones.
                let ids = (0..SCRIPTED)
                    .map(|i| format!("script-{i:04}"))
                    .chain((0..50).map(|i| format!("fresh{rounds:04}x{i:02}")));
                for vid in ids {
                    let status = fetch(&client, &seg, &vid, true).await;
                    assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{vid}");
                }
                rounds += 1;
            }
            rounds
        })
    };

    // Every place shows the capped number, at the same moment: the real viewer and seven of
    // the script's ids.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = shown(&app, &owner.access, broadcast).await;
        for (place, n) in &now {
            assert!(
                n.unwrap_or(0) <= CAP,
                "{place} shows {n:?}: over the cap of {CAP} per address ({now:?})"
            );
        }
        if now.iter().all(|(_, n)| *n == Some(CAP)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the places that show viewers do not agree on {CAP}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pushed = chat
        .until("chat's viewer count", |v| {
            v["type"] == "viewer_count" && v["count"] == CAP
        })
        .await;
    assert_eq!(pushed["count"], CAP);

    // On PostgreSQL + Redis a node that serves no HLS shows the same sum.
    if let Some(node2) = &node2 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let there = node2.channel(SLUG).await;
            let here = app.channel(SLUG).await["viewer_count"].clone();
            if there["viewer_count"] == CAP {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node 2 shows {} viewers, node 1 {here}: {there}",
                there["viewer_count"]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Another address is another household: it counts.
    let other_addr = Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let seg = newest_segment(&app, &rendition).await;
    assert_eq!(
        fetch(&other_addr, &seg, "neighbour-1", true).await,
        StatusCode::PARTIAL_CONTENT
    );
    poll_until(
        Duration::from_secs(10),
        "the neighbour to count",
        || async {
            let n = app.channel(SLUG).await["viewer_count"]
                .as_u64()
                .unwrap_or(0);
            assert!(n <= CAP + 1, "{n}");
            (n == CAP + 1).then_some(())
        },
    )
    .await;

    stop.store(true, Ordering::Relaxed);
    let rounds = script.await.unwrap();
    assert!(rounds >= 1, "the script ran");
}
