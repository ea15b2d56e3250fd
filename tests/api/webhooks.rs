//! Webhooks: the real server delivering to a scripted HTTP receiver on 127.0.0.1, on SQLite and
//! on PostgreSQL + Redis. The signature is checked here with hmac+sha2, independently of the
//! server's code.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use streamhall::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Backend, TestApp, eventually, expect_error, poll_until, spawn_app_with};

const WAIT: Duration = Duration::from_secs(15);

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny HTTP/1.1 endpoint: answers every request with `status` (and `extra` header lines),
/// records what it got, closes the connection.
pub struct Receiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub async fn start(status: u16, extra: &str) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        let extra = extra.to_owned();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                let extra = extra.clone();
                tokio::spawn(async move {
                    if let Some(hit) = serve(stream, status, &extra).await {
                        recorded.lock().unwrap().push(hit);
                    }
                });
            }
        });
        Receiver { addr, hits }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn serve(mut stream: TcpStream, status: u16, extra: &str) -> Option<Hit> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let response = format!(
        "HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n"
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    Some(Hit {
        method,
        path,
        headers,
        body,
    })
}

pub fn allow_loopback(c: &mut Config) {
    c.notify.webhooks.allow_private = vec!["127.0.0.1".into()];
    c.notify.webhooks.backoff_base_ms = 50;
}

pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

impl TestApp {
    pub async fn create_webhook(
        &self,
        token: &str,
        slug: &str,
        url: &str,
        events: &[&str],
    ) -> reqwest::Response {
        self.post_json(
            &format!("/channels/{slug}/webhooks"),
            &json!({"url": url, "events": events}),
            Some(token),
        )
        .await
    }

    /// Creates a webhook; returns `(id, secret)`.
    pub async fn add_webhook(&self, token: &str, slug: &str, url: &str) -> (i64, String) {
        let res = self
            .create_webhook(token, slug, url, &["stream.online"])
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create webhook");
        let body: Value = res.json().await.unwrap();
        (
            body["webhook"]["id"].as_i64().unwrap(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn ping(&self, token: &str, slug: &str, id: i64) -> Value {
        let res = self
            .post_json(
                &format!("/channels/{slug}/webhooks/{id}/ping"),
                &json!({}),
                Some(token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED, "ping");
        res.json().await.unwrap()
    }

    async fn deliveries(&self, token: &str, slug: &str, id: i64) -> Vec<Value> {
        let res = self
            .get_auth(&format!("/channels/{slug}/webhooks/{id}/deliveries"), token)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "deliveries");
        res.json().await.unwrap()
    }

    /// Polls the delivery log until the newest delivery is in `state`.
    async fn settled(&self, token: &str, slug: &str, id: i64, state: &str) -> Value {
        poll_until(WAIT, &format!("a delivery in state {state}"), || async {
            self.deliveries(token, slug, id)
                .await
                .into_iter()
                .next()
                .filter(|d| d["state"] == state)
        })
        .await
    }
}

async fn signed_ping_is_delivered(backend: Backend) {
    let app = spawn_app_with(backend, allow_loopback).await;
    let owner = app.register("hookowner").await;
    app.create_channel(&owner.access, "hooked").await;
    let receiver = Receiver::start(200, "").await;

    let res = app
        .create_webhook(
            &owner.access,
            "hooked",
            &receiver.url("/hook?k=v"),
            &["stream.offline", "stream.online"],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let id = created["webhook"]["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64, "256-bit hex secret");
    assert_eq!(
        created["webhook"]["events"],
        json!(["stream.online", "stream.offline"])
    );
    assert_eq!(created["webhook"]["last_delivery"], Value::Null);

    let queued = app.ping(&owner.access, "hooked", id).await;
    assert_eq!(queued["event"], "ping");
    let hit = poll_until(WAIT, "the ping to arrive", || async {
        receiver.hits().into_iter().next()
    })
    .await;
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/hook?k=v");
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert_eq!(hit.header("user-agent"), Some("streamhall-webhooks"));
    assert_eq!(hit.header("x-streamhall-event"), Some("ping"));
    let expected = format!("sha256={}", hmac_hex(&secret, &hit.body));
    assert_eq!(
        hit.header("x-streamhall-signature"),
        Some(expected.as_str())
    );
    let body: Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(body["event"], "ping");
    assert_eq!(body["id"], queued["id"]);
    assert_eq!(hit.header("x-streamhall-delivery"), body["id"].as_str());
    assert_eq!(body["data"]["channel"]["slug"], "hooked");
    assert!(body["created_at"].as_str().is_some());

    let delivered = app.settled(&owner.access, "hooked", id, "delivered").await;
    assert_eq!(delivered["attempts"], 1);
    assert_eq!(delivered["last_status"], 200);
    assert_eq!(delivered["last_error"], Value::Null);

    // The list shows the latest delivery and never the secret.
    let res = app
        .get_auth("/channels/hooked/webhooks", &owner.access)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&secret), "GET leaks the secret: {text}");
    assert!(
        !text.contains("\"secret\""),
        "GET has a secret field: {text}"
    );
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["url"], receiver.url("/hook?k=v"));
    assert_eq!(list[0]["last_delivery"]["state"], "delivered");
    assert_eq!(receiver.hits().len(), 1, "delivered once");

    // Deleting removes the webhook and its log.
    let res = app
        .client
        .delete(app.api(&format!("/channels/hooked/webhooks/{id}")))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let list: Value = app
        .get_auth("/channels/hooked/webhooks", &owner.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    let res = app
        .get_auth(
            &format!("/channels/hooked/webhooks/{id}/deliveries"),
            &owner.access,
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

async fn failing_receiver_is_retried_then_failed(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        allow_loopback(c);
        c.notify.webhooks.max_attempts = 3;
    })
    .await;
    let owner = app.register("retrier").await;
    app.create_channel(&owner.access, "flaky").await;
    let receiver = Receiver::start(500, "").await;
    let (id, _) = app
        .add_webhook(&owner.access, "flaky", &receiver.url("/"))
        .await;

    let queued = app.ping(&owner.access, "flaky", id).await;
    let failed = app.settled(&owner.access, "flaky", id, "failed").await;
    assert_eq!(failed["id"], queued["id"]);
    assert_eq!(failed["attempts"], 3);
    assert_eq!(failed["last_status"], 500);
    assert!(
        failed["last_error"].as_str().unwrap().contains("500"),
        "{failed}"
    );
    let hits = receiver.hits();
    assert_eq!(hits.len(), 3, "one request per attempt");
    assert!(
        hits.iter()
            .all(|h| h.header("x-streamhall-delivery") == queued["id"].as_str())
    );
    // The same signed body each time.
    assert!(hits.iter().all(|h| h.body == hits[0].body));
}

async fn redirects_are_not_followed(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        allow_loopback(c);
        c.notify.webhooks.max_attempts = 1;
    })
    .await;
    let owner = app.register("redirected").await;
    app.create_channel(&owner.access, "moved").await;
    // Followed, this would come back to the same receiver.
    let receiver = Receiver::start(302, "Location: /elsewhere\r\n").await;
    let (id, _) = app
        .add_webhook(&owner.access, "moved", &receiver.url("/hook"))
        .await;

    app.ping(&owner.access, "moved", id).await;
    let failed = app.settled(&owner.access, "moved", id, "failed").await;
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["last_status"], 302);
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].path, "/hook");
}

async fn internal_and_invalid_urls_are_refused(backend: Backend) {
    // 127.0.0.1 is not allowed here.
    let app = spawn_app_with(backend, |c| c.notify.webhooks.max_per_channel = 2).await;
    let owner = app.register("ssrfer").await;
    app.create_channel(&owner.access, "probe").await;
    let receiver = Receiver::start(200, "").await;
    let loopback = receiver.url("/");

    for (url, code) in [
        ("http://10.0.0.1/", "url_not_allowed"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "url_not_allowed",
        ),
        ("http://[::1]/", "url_not_allowed"),
        ("http://[::ffff:127.0.0.1]/", "url_not_allowed"),
        ("http://192.168.1.1:8080/", "url_not_allowed"),
        ("http://100.64.0.1/", "url_not_allowed"),
        ("http://localhost/", "url_not_allowed"),
        (loopback.as_str(), "url_not_allowed"),
        ("ftp://x/", "invalid_url"),
        ("http://user:pass@8.8.8.8/", "invalid_url"),
        ("not a url", "invalid_url"),
    ] {
        let res = app
            .create_webhook(&owner.access, "probe", url, &["stream.online"])
            .await;
        let body = expect_error(res, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(body["field"], "url", "{url}: {body}");
    }
    let list: Value = app
        .get_auth("/channels/probe/webhooks", &owner.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]), "nothing was created");

    // Events must be a non-empty subset of the known ones.
    for events in [
        json!([]),
        json!(["ping"]),
        json!(["stream.online", "stream.exploded"]),
    ] {
        let res = app
            .post_json(
                "/channels/probe/webhooks",
                &json!({"url": "http://93.184.216.34/", "events": events}),
                Some(&owner.access),
            )
            .await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    }

    // At most `max_per_channel` webhooks (public addresses pass the guard; nothing is sent).
    app.add_webhook(&owner.access, "probe", "http://93.184.216.34/a")
        .await;
    app.add_webhook(&owner.access, "probe", "https://[2606:4700:4700::1111]/b")
        .await;
    let res = app
        .create_webhook(
            &owner.access,
            "probe",
            "http://93.184.216.34/c",
            &["stream.online"],
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "too_many_webhooks").await;
    assert!(receiver.hits().is_empty());
}

async fn only_the_owner_or_an_admin_manages_webhooks(backend: Backend) {
    let app = spawn_app_with(backend, allow_loopback).await;
    let owner = app.register("keeper").await;
    let other = app.register("intruder").await;
    app.create_channel(&owner.access, "private").await;
    let receiver = Receiver::start(200, "").await;
    let (id, secret) = app
        .add_webhook(&owner.access, "private", &receiver.url("/"))
        .await;
    app.ping(&owner.access, "private", id).await;
    app.settled(&owner.access, "private", id, "delivered").await;

    let base = "/channels/private/webhooks";
    for res in [
        app.get_auth(base, &other.access).await,
        app.get_auth(&format!("{base}/{id}/deliveries"), &other.access)
            .await,
        app.create_webhook(
            &other.access,
            "private",
            &receiver.url("/x"),
            &["stream.online"],
        )
        .await,
        app.post_json(
            &format!("{base}/{id}/ping"),
            &json!({}),
            Some(&other.access),
        )
        .await,
        app.client
            .delete(app.api(&format!("{base}/{id}")))
            .bearer_auth(&other.access)
            .send()
            .await
            .unwrap(),
    ] {
        expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let res = app.get(&format!("{base}/{id}/deliveries")).await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Another channel's webhook id is not found through this one.
    app.create_channel(&other.access, "theirs").await;
    let res = app
        .get_auth(
            &format!("/channels/theirs/webhooks/{id}/deliveries"),
            &other.access,
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // An admin may look; still no secret.
    let (name, password) = app.first_admin.clone().expect("first admin");
    let login: Value = app.login(&name, &password).await.json().await.unwrap();
    let admin = login["access_token"].as_str().unwrap();
    let res = app.get_auth(base, admin).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&secret));
    assert_eq!(app.deliveries(admin, "private", id).await.len(), 1);
    eventually(WAIT, "exactly one delivery", || async {
        receiver.hits().len() == 1
    })
    .await;
}

crate::both_backends!(
    signed_ping_is_delivered,
    failing_receiver_is_retried_then_failed,
    redirects_are_not_followed,
    internal_and_invalid_urls_are_refused,
    only_the_owner_or_an_admin_manages_webhooks,
);
