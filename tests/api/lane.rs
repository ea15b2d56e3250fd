//! The HLS lane (`http::lane`): `GET`/`HEAD` requests under `/hls/` are answered by the server's
//! own loop, live segments with `sendfile` from a sealed memory file; anything else on the
//! connection goes to actix-http's dispatcher. Driven byte by byte, as players and browsers
//! use one kept-alive connection: pipelined requests, ranges, `HEAD`, then an API request and a
//! WebSocket upgrade on the same connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::media_tools::{publish, segments};
use crate::upgraded::{connect, header, next_text, upgrade_request};

const WAIT: Duration = Duration::from_secs(10);

/// One response read off a connection that stays open: its head and its body (`content-length`
/// bytes, none for a `HEAD`).
struct Response {
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn status(&self) -> u16 {
        self.head[9..12].parse().expect("a status code")
    }
}

/// Reads the next response; `pending` holds bytes read past the previous one.
async fn next_response(socket: &mut TcpStream, pending: &mut Vec<u8>, head_only: bool) -> Response {
    let mut buf = [0u8; 16 * 1024];
    let head = loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = pending.drain(..end + 4).collect();
            break String::from_utf8(head).expect("ascii head");
        }
        let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
            .await
            .expect("a head within the deadline")
            .expect("read");
        assert!(n > 0, "closed before a head ended: {pending:?}");
        pending.extend_from_slice(&buf[..n]);
    };
    let len: usize = header(&head, "content-length")
        .unwrap_or_else(|| panic!("a length: {head}"))
        .parse()
        .unwrap();
    let len = if head_only { 0 } else { len };
    while pending.len() < len {
        let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
            .await
            .expect("a body within the deadline")
            .expect("read");
        assert!(n > 0, "closed within a body");
        pending.extend_from_slice(&buf[..n]);
    }
    let body = pending.drain(..len).collect();
    Response { head, body }
}

fn get(app: &TestApp, path: &str, extra: &str) -> String {
    let host = app.url.trim_start_matches("http://");
    format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n{extra}\r\n")
}

#[actix_web::test]
async fn pipelined_hls_requests_then_an_api_request_and_a_websocket_share_one_connection() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.register("owner").await;
    app.create_channel(&owner.access, "lane").await;
    let host = app.url.trim_start_matches("http://");
    let mut socket = connect(&app).await;
    // Three requests in one write, as a pipelining client sends them: two for the lane (a GET
    // and a HEAD), then one for the dispatcher.
    let mut bytes = get(&app, "/hls/nobody/master.m3u8", "");
    bytes.push_str(&format!(
        "HEAD /hls/nobody/source/seg-1.ts HTTP/1.1\r\nhost: {host}\r\n\r\n"
    ));
    bytes.push_str(&get(&app, "/healthz", ""));
    socket.write_all(bytes.as_bytes()).await.unwrap();

    let mut pending = Vec::new();
    let first = next_response(&mut socket, &mut pending, false).await;
    assert_eq!(first.status(), 404, "{}", first.head);
    assert_ne!(
        header(&first.head, "connection"),
        Some("close"),
        "{}",
        first.head
    );
    assert!(header(&first.head, "date").is_some(), "{}", first.head);
    let v: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(v["error"], "not_found", "{v}");

    // HEAD: the length of the answer a GET gets, and no body (or the next head would not parse).
    let second = next_response(&mut socket, &mut pending, true).await;
    assert_eq!(second.status(), 404, "{}", second.head);
    assert_eq!(
        header(&second.head, "content-length"),
        Some(first.body.len().to_string().as_str())
    );

    let third = next_response(&mut socket, &mut pending, false).await;
    assert_eq!(third.status(), 200, "{}", third.head);
    let v: serde_json::Value = serde_json::from_slice(&third.body).unwrap();
    assert_eq!(v["status"], "ok", "{v}");
    assert!(
        pending.is_empty(),
        "nothing after the third answer: {pending:?}"
    );

    // The dispatcher has the connection now: a later HLS request and a WebSocket upgrade on it
    // are answered too.
    socket
        .write_all(get(&app, "/hls/nobody/master.m3u8", "").as_bytes())
        .await
        .unwrap();
    let fourth = next_response(&mut socket, &mut pending, false).await;
    assert_eq!(fourth.status(), 404, "{}", fourth.head);
    socket
        .write_all(upgrade_request(&app, "/api/v1/chat/lane/ws").as_bytes())
        .await
        .unwrap();
    let (head, mut frames) = crate::upgraded::read_head(&mut socket).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut frames_all = std::mem::take(&mut pending);
    frames_all.append(&mut frames);
    let welcome: serde_json::Value =
        serde_json::from_str(&next_text(&mut socket, &mut frames_all).await).unwrap();
    assert_eq!(welcome["type"], "welcome", "{welcome}");
}

#[actix_web::test]
async fn a_request_with_close_is_answered_and_the_connection_ends() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut socket = connect(&app).await;
    let req = get(&app, "/hls/nobody/master.m3u8", "connection: close\r\n");
    socket.write_all(req.as_bytes()).await.unwrap();
    let mut pending = Vec::new();
    let res = next_response(&mut socket, &mut pending, false).await;
    assert_eq!(res.status(), 404, "{}", res.head);
    assert_eq!(
        header(&res.head, "connection"),
        Some("close"),
        "{}",
        res.head
    );
    let mut rest = Vec::new();
    let n = tokio::time::timeout(WAIT, socket.read_to_end(&mut rest))
        .await
        .expect("the server closes")
        .expect("read");
    assert_eq!(n, 0, "nothing after the answer: {rest:?}");
}

/// Memory files the server holds for segments (the server runs in this process).
fn sealed_segments() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| {
                    target
                        .to_string_lossy()
                        .contains("memfd:streamhall-segment")
                })
                .count()
        })
        .unwrap_or(0)
}

#[actix_web::test]
async fn a_live_segment_on_the_lane_is_the_same_bytes_whole_in_ranges_and_by_head() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.register("laner").await;
    let key = app.create_channel(&s.access, "laner").await["stream_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut obs = publish(&app.rtmp_url(&key), 320, 240, 30);
    let playlist = app
        .wait_for_segments("laner", "source", 2, Duration::from_secs(40))
        .await;
    let (_, name) = segments(&playlist).remove(0);
    let path = format!("/hls/laner/source/{name}");
    // The API client's pooled connection has carried API requests: the dispatcher's copy.
    let reference = app.bytes(&path).await.expect("the segment");
    assert!(reference.len() > 2000, "{} bytes", reference.len());

    let mut socket = connect(&app).await;
    let mut bytes = get(&app, &path, "");
    bytes.push_str(&get(&app, &path, "range: bytes=100-1099\r\n"));
    bytes.push_str(&format!(
        "HEAD {path} HTTP/1.1\r\nhost: {}\r\n\r\n",
        app.url.trim_start_matches("http://")
    ));
    bytes.push_str(&get(&app, &path, "range: bytes=-500\r\n"));
    socket.write_all(bytes.as_bytes()).await.unwrap();
    let mut pending = Vec::new();

    let whole = next_response(&mut socket, &mut pending, false).await;
    assert_eq!(whole.status(), 200, "{}", whole.head);
    assert_eq!(header(&whole.head, "content-type"), Some("video/mp2t"));
    assert!(whole.body == reference, "the lane sent other bytes");
    assert!(
        sealed_segments() > 0,
        "the segment was not sent from a sealed memory file"
    );

    let part = next_response(&mut socket, &mut pending, false).await;
    assert_eq!(part.status(), 206, "{}", part.head);
    let range = format!("bytes 100-1099/{}", reference.len());
    assert_eq!(header(&part.head, "content-range"), Some(range.as_str()));
    assert!(
        part.body == reference[100..1100],
        "the range holds other bytes"
    );

    let head = next_response(&mut socket, &mut pending, true).await;
    assert_eq!(head.status(), 200, "{}", head.head);
    assert_eq!(
        header(&head.head, "content-length"),
        Some(reference.len().to_string().as_str())
    );

    let tail = next_response(&mut socket, &mut pending, false).await;
    assert_eq!(tail.status(), 206, "{}", tail.head);
    assert!(
        tail.body == reference[reference.len() - 500..],
        "the suffix holds other bytes"
    );
    assert!(pending.is_empty(), "nothing after the last answer");
    let _ = obs.start_kill();
}
