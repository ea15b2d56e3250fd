//! WebSockets after the upgrade are carried by the server's own loop (`http::upgraded`), not by
//! actix-http's dispatcher: the bytes on the wire, written and read by hand, with a client that
//! does what browsers and proxies may do (frames in the same packet as the handshake, upgrade
//! headers on a route that is not a socket).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, spawn_app};

const WAIT: Duration = Duration::from_secs(10);
/// The RFC 6455 example key and the accept value it must get.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub(crate) fn upgrade_request(app: &TestApp, path: &str) -> String {
    let host = app.url.trim_start_matches("http://");
    format!(
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-version: 13\r\nsec-websocket-key: {KEY}\r\n\r\n"
    )
}

/// A client text frame (clients mask theirs).
fn masked_text(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

pub(crate) async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads until the end of the response head; returns the head and what came after it.
pub(crate) async fn read_head(socket: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(end + 4);
            return (String::from_utf8(got).expect("ascii head"), rest);
        }
        let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
            .await
            .expect("a head within the deadline")
            .expect("read");
        assert!(n > 0, "closed before the head ended: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

pub(crate) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The text of the next server frame (servers do not mask), reading more as needed.
pub(crate) async fn next_text(socket: &mut TcpStream, pending: &mut Vec<u8>) -> String {
    let mut buf = [0u8; 4096];
    loop {
        if pending.len() >= 2 {
            let (len, start) = match pending[1] & 0x7f {
                126 if pending.len() >= 4 => {
                    (u16::from_be_bytes([pending[2], pending[3]]) as usize, 4)
                }
                126 | 127 => (usize::MAX, 0),
                n => (n as usize, 2),
            };
            if len != usize::MAX && pending.len() >= start + len {
                let frame: Vec<u8> = pending.drain(..start + len).collect();
                if frame[0] & 0x0f == 0x1 {
                    return String::from_utf8(frame[start..].to_vec()).expect("utf-8 text");
                }
                continue;
            }
        }
        let n = tokio::time::timeout(WAIT, socket.read(&mut buf))
            .await
            .expect("a frame within the deadline")
            .expect("read");
        assert!(n > 0, "closed while waiting for a frame");
        pending.extend_from_slice(&buf[..n]);
    }
}

#[actix_web::test]
async fn a_frame_sent_with_the_handshake_is_read_and_answered() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.register("owner").await;
    app.create_channel(&owner.access, "early").await;
    let mut socket = connect(&app).await;
    // One write: the handshake and a first frame, as a client that does not wait for the 101.
    let mut bytes = upgrade_request(&app, "/api/v1/chat/early/ws").into_bytes();
    bytes.extend(masked_text(br#"{"type":"ping"}"#));
    socket.write_all(&bytes).await.unwrap();

    let (head, mut pending) = read_head(&mut socket).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(header(&head, "upgrade"), Some("websocket"), "{head}");
    assert_eq!(header(&head, "connection"), Some("upgrade"), "{head}");
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some(ACCEPT),
        "{head}"
    );
    // The early ping may be answered before the room's welcome: both come.
    let mut types = Vec::new();
    while !(types.iter().any(|t| t == "pong") && types.iter().any(|t| t == "welcome")) {
        let text = next_text(&mut socket, &mut pending).await;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        types.push(v["type"].as_str().unwrap_or_default().to_owned());
        assert!(types.len() < 10, "no pong and welcome: {types:?}");
    }

    // A second frame later, on its own, is read too.
    socket
        .write_all(&masked_text(br#"{"type":"ping"}"#))
        .await
        .unwrap();
    let mut later = Vec::new();
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&next_text(&mut socket, &mut pending).await).unwrap();
        if v["type"] == "pong" {
            break;
        }
        later.push(v);
        assert!(later.len() < 10, "no second pong: {later:?}");
    }
}

/// Reads the rest of a response whose head said `content-length`, then expects the close.
async fn body_then_close(socket: &mut TcpStream, head: &str, mut got: Vec<u8>) -> Vec<u8> {
    assert_eq!(header(head, "connection"), Some("close"), "{head}");
    let len: usize = header(head, "content-length")
        .expect("a length")
        .parse()
        .unwrap();
    tokio::time::timeout(WAIT, socket.read_to_end(&mut got))
        .await
        .expect("the server closes after the response")
        .expect("read");
    assert_eq!(got.len(), len, "the body is exactly content-length bytes");
    got
}

#[actix_web::test]
async fn a_refused_upgrade_gets_its_whole_answer_and_the_connection_closes() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.register("owner").await;
    app.create_channel(&owner.access, "refused").await;
    let mut socket = connect(&app).await;
    let req = upgrade_request(&app, "/api/v1/chat/refused/ws?ticket=not-a-ticket");
    socket.write_all(req.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut socket).await;
    assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
    let body = body_then_close(&mut socket, &head, rest).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"], "unauthorized", "{v}");

    // A channel that does not exist: 404, same shape.
    let mut socket = connect(&app).await;
    let req = upgrade_request(&app, "/api/v1/chat/nobody-here/ws");
    socket.write_all(req.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut socket).await;
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    body_then_close(&mut socket, &head, rest).await;
}

#[actix_web::test]
async fn upgrade_headers_on_a_plain_route_get_the_plain_answer() {
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.register("owner").await;
    app.create_channel(&owner.access, "plain").await;
    let mut socket = connect(&app).await;
    let req = upgrade_request(&app, "/api/v1/channels/plain");
    socket.write_all(req.as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut socket).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        header(&head, "content-type").is_some_and(|t| t.starts_with("application/json")),
        "{head}"
    );
    let body = body_then_close(&mut socket, &head, rest).await;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["slug"], "plain", "{v}");
}
