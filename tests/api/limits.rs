//! Hardening findings, each as the client that found it: a password change closes the user's
//! open sockets (on every node), a request body that trickles in gets 408 and its connection
//! closed, one address cannot hold more than its share of requests in flight, and webhook test
//! pings are throttled.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{
    both_backends,
    chat::{Chat, ticket},
    helpers::{Backend, Session, TestApp, expect_error, restart, spawn_app, spawn_app_with},
    notify::Inbox,
    webhooks::allow_loopback,
};

both_backends!(
    a_password_change_closes_the_users_sockets,
    a_trickled_body_gets_408_and_loses_its_connection,
    webhook_pings_are_throttled,
);

/// Reads chat frames until the socket closes; returns the close code.
pub(crate) async fn closed_code(chat: &mut Chat) -> Value {
    loop {
        let v = chat.next().await;
        if v["type"] == "_closed" {
            return v["code"].clone();
        }
    }
}

async fn change_password(app: &TestApp, user: &Session) {
    let res = app
        .client
        .put(app.api("/users/me/password"))
        .bearer_auth(&user.access)
        .json(&json!({"current_password": user.password, "new_password": "another long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn a_password_change_closes_the_users_sockets(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("host").await;
    app.create_channel(&owner.access, "room").await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut alice_chat = Chat::join(&app, &alice, "room").await;
    let mut alice_inbox = Inbox::open(&app, &alice).await;
    let mut bob_chat = Chat::join(&app, &bob, "room").await;
    let mut anonymous = Chat::open(&app, "room", "").await;
    // With several nodes, a socket on another node closes too (the bus carries the news).
    let other = match backend {
        Backend::Postgres => {
            let b = restart(&app).await;
            let t = ticket(&b, &alice, "room").await;
            Some((
                Chat::open_at(&b.url, "room", &format!("?ticket={t}"), None).await,
                b,
            ))
        }
        Backend::Sqlite => None,
    };

    change_password(&app, &alice).await;

    assert_eq!(closed_code(&mut alice_chat).await, 1008, "policy close");
    let closed = alice_inbox.next().await;
    assert_eq!(closed["type"], "_closed", "{closed}");
    assert!(
        closed["reason"].as_str().unwrap().contains("signed out"),
        "{closed}"
    );
    if let Some((mut chat, _node)) = other {
        assert_eq!(
            closed_code(&mut chat).await,
            1008,
            "closed on the other node"
        );
    }
    // Others stay: bob still chats, and the anonymous reader sees it.
    let ack = bob_chat.say("b1", "still here").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    anonymous
        .until("bob's message", |v| v["text"] == "still here")
        .await;
    // The old token cannot open a new one.
    let res = app
        .post_json("/chat/room/ticket", &json!({}), Some(&alice.access))
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.live.sockets.count(alice.user_id), 0);
}

/// Sends a request head announcing `length` bytes of body and only `sent` of them.
async fn start_trickle(app: &TestApp, path: &str, length: usize, sent: &[u8]) -> TcpStream {
    let addr = app.url.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(sent).await.unwrap();
    socket
}

/// What the server answered on `socket`, and whether it then closed the connection (read to
/// the end within a deadline well above the configured body timeout).
async fn answer(mut socket: TcpStream) -> (String, bool) {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(15), socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

async fn a_trickled_body_gets_408_and_loses_its_connection(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.http.body_timeout_secs = 2;
        c.http.max_requests_per_ip = 4;
    })
    .await;
    let started = std::time::Instant::now();
    let socket = start_trickle(&app, "/api/v1/auth/login", 65_000, b"{").await;
    let (text, closed) = answer(socket).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
    assert!(closed, "the connection stays open after the 408");
    assert!(started.elapsed() < Duration::from_secs(10));

    // One address with more requests in flight than its share: the extra one is refused at
    // once with 429 and Retry-After, those in flight are unaffected (they end with their
    // own 408), and the slots come back when they end.
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(start_trickle(&app, "/api/v1/auth/login", 1_000, b"{").await);
    }
    let refused = crate::helpers::poll_until(
        Duration::from_secs(5),
        "a request refused for too many in flight",
        || async {
            let res = app.get("/channels").await;
            (res.status() == StatusCode::TOO_MANY_REQUESTS).then_some(res)
        },
    )
    .await;
    assert_eq!(refused.headers()["retry-after"], "1");
    expect_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    for socket in slow {
        let (text, _) = answer(socket).await;
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert_eq!(app.get("/channels").await.status(), StatusCode::OK);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("http_requests_refused_total{reason=\"in_flight_per_ip\"}"),
        "{text}"
    );
}

async fn webhook_pings_are_throttled(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        allow_loopback(c);
        c.notify.webhooks.pings_per_minute = 2;
    })
    .await;
    let owner = app.register("hooker").await;
    app.create_channel(&owner.access, "pinged").await;
    let (id, _) = app
        .add_webhook(&owner.access, "pinged", "http://127.0.0.1:9/hook")
        .await;
    let path = format!("/channels/pinged/webhooks/{id}/ping");
    let body = json!({});
    let ping = || app.post_json(&path, &body, Some(&owner.access));
    for _ in 0..2 {
        assert_eq!(ping().await.status(), StatusCode::ACCEPTED);
    }
    let res = ping().await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&retry), "retry-after {retry}");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
