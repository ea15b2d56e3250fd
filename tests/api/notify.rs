//! Follows, the notifier and notifications: a real go-live (ffmpeg over RTMP) reaches a
//! follower's open notification socket, an SMTP sink started by the test gets the email, mutes,
//! email-off and the email throttle hold, a stranger gets nothing, two nodes on one PostgreSQL +
//! Redis notify once, and followers-only chat holds to the follow age.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use streamhall_actors::bus::BusEvent;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use crate::{
    both_backends,
    chat::Chat,
    helpers::{
        Backend, Session, TestApp, eventually, expect_error, poll_until, restart, spawn_app,
        spawn_app_with,
    },
    media_tools::publish,
    webhooks::{Receiver, allow_loopback, hmac_hex},
};

both_backends!(
    follow_unfollow_counts_and_lists,
    go_live_notifies_followers_in_app_and_by_email_and_no_one_else,
    notifications_page_mark_read_and_settings,
    followers_only_chat_holds_to_the_follow_age,
);

const WAIT: Duration = Duration::from_secs(20);

/// A notification socket, authenticated.
pub struct Inbox {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    unread: i64,
}

impl Inbox {
    pub async fn open(app: &TestApp, user: &Session) -> Inbox {
        let url = format!(
            "{}/api/v1/notifications/ws",
            app.url.replace("http://", "ws://")
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws.send(Message::Text(
            json!({"type": "auth", "token": user.access})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let mut inbox = Inbox { ws, unread: 0 };
        let ready = inbox.next().await;
        assert_eq!(ready["type"], "ready", "{ready}");
        inbox.unread = ready["unread"].as_i64().unwrap();
        inbox
    }

    pub async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the deadline")
                .expect("socket open")
                .expect("frame");
            match frame {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(c) => return json!({"type": "_closed", "reason": format!("{c:?}")}),
                _ => continue,
            }
        }
    }

    /// Every frame up to the `pong` answering a ping sent now (frames pushed earlier come
    /// first: one socket, in order).
    async fn drain(&mut self) -> Vec<Value> {
        self.ws
            .send(Message::Text(json!({"type": "ping"}).to_string().into()))
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            let v = self.next().await;
            if v["type"] == "pong" {
                return out;
            }
            out.push(v);
        }
    }
}

/// A tiny SMTP server that accepts everything and keeps each message's raw text.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmtpSink {
            port: listener.local_addr().unwrap().port(),
            messages: Arc::new(Mutex::new(Vec::new())),
        };
        let messages = sink.messages.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(session(conn, messages.clone()));
            }
        });
        sink
    }

    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// The messages that are not sign-up verification emails.
    fn go_live_mails(&self) -> Vec<String> {
        let mut all = self.messages();
        all.retain(|m| !m.contains("Subject: Confirm your email address"));
        all
    }
}

async fn session(conn: TcpStream, messages: Arc<Mutex<Vec<String>>>) {
    let (r, mut w) = conn.into_split();
    let mut lines = BufReader::new(r).lines();
    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
    let mut data: Option<String> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(body) = data.as_mut() {
            if line == "." {
                messages.lock().unwrap().push(data.take().unwrap());
                let _ = w.write_all(b"250 queued\r\n").await;
            } else {
                body.push_str(&line);
                body.push('\n');
            }
            continue;
        }
        let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
            "DATA" => {
                data = Some(String::new());
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = w.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 not implemented\r\n",
        };
        let _ = w.write_all(reply).await;
    }
}

async fn put_json(app: &TestApp, path: &str, body: &Value, token: &str) -> reqwest::Response {
    app.client
        .put(app.api(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn follow(app: &TestApp, user: &Session, slug: &str) -> Value {
    let res = app
        .post_json(
            &format!("/channels/{slug}/follow"),
            &json!({}),
            Some(&user.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn exec(app: &TestApp, sql: &str) {
    app.db
        .execute_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap();
}

/// The notifier's jobs from the admin health tree.
async fn jobs(app: &TestApp, admin: &str) -> Vec<Value> {
    let health = app.get_auth_json("/admin/health", admin).await;
    health["notifier"]["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until the notifier has finished the online fan-out of `broadcast_id`; returns its
/// final state (`done` or `skipped`).
async fn job_finished(app: &TestApp, admin: &str, broadcast_id: i64) -> Value {
    poll_until(WAIT, "the fan-out to finish", || async {
        jobs(app, admin).await.into_iter().find(|j| {
            j["broadcast_id"] == broadcast_id
                && j["event"] == "stream.online"
                && (j["state"] == "done" || j["state"] == "skipped" || j["state"] == "failed")
        })
    })
    .await
}

/// Starts a publisher and waits for the bus to say the channel is live; returns the
/// publisher, the broadcast id and when it went live.
async fn go_live(
    app: &TestApp,
    key: &str,
    bus: &mut tokio::sync::broadcast::Receiver<BusEvent>,
) -> (tokio::process::Child, i64, Instant) {
    let child = publish(&app.rtmp_url(key), 320, 240, 60);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ev = tokio::time::timeout_at(deadline, bus.recv())
            .await
            .expect("went live within 30 s")
            .expect("bus open");
        if let BusEvent::StreamWentLive { broadcast_id, .. } = ev {
            return (child, broadcast_id, Instant::now());
        }
    }
}

async fn follow_unfollow_counts_and_lists(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("streamer").await;
    app.create_channel(&owner.access, "show").await;
    app.create_channel(&owner.access, "other").await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    expect_error(
        app.post_json("/channels/show/follow", &json!({}), Some(&owner.access))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    expect_error(
        app.post_json("/channels/show/follow", &json!({}), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        app.post_json("/channels/nope/follow", &json!({}), Some(&alice.access))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let s = follow(&app, &alice, "show").await;
    assert_eq!(s["following"], true);
    assert_eq!(s["followers"], 1);
    let first = s["followed_at"].clone();
    // Following again keeps the first time.
    let again = follow(&app, &alice, "show").await;
    assert_eq!(again["followed_at"], first);
    assert_eq!(again["followers"], 1);
    follow(&app, &bob, "show").await;
    follow(&app, &bob, "other").await;
    assert_eq!(app.get_json("/channels/show").await["followers"], 2);
    let list = app.get_json("/channels").await;
    let shown: Vec<(String, i64)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["slug"].as_str().unwrap().to_owned(),
                c["followers"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(shown.contains(&("show".into(), 2)), "{shown:?}");
    assert!(shown.contains(&("other".into(), 1)), "{shown:?}");

    // The owner sees who; others see how many.
    let page = app
        .get_auth_json("/channels/show/followers?limit=1", &owner.access)
        .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["username"], "bob", "newest first");
    let before = page["next_before"].as_str().unwrap();
    let next = app
        .get_auth_json(
            &format!(
                "/channels/show/followers?limit=1&before={}",
                urlencode(before)
            ),
            &owner.access,
        )
        .await;
    assert_eq!(next["items"][0]["username"], "alice");
    let theirs = app
        .get_auth_json("/channels/show/followers", &alice.access)
        .await;
    assert_eq!(theirs["total"], 2);
    assert!(theirs["items"].as_array().unwrap().is_empty());

    // Live channels come first in "following".
    exec(
        &app,
        "UPDATE channels SET is_live = TRUE WHERE slug = 'other'",
    )
    .await;
    let following = app.get_auth_json("/users/me/following", &bob.access).await;
    let order: Vec<&str> = following
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["channel"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["other", "show"]);
    assert_eq!(following[0]["muted"], false);

    let res = app
        .client
        .delete(app.api("/channels/show/follow"))
        .bearer_auth(&bob.access)
        .send()
        .await
        .unwrap();
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["following"], false);
    assert_eq!(s["followers"], 1);
    let mine = app
        .get_auth_json("/channels/show/follow", &bob.access)
        .await;
    assert_eq!(mine["following"], false);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn go_live_notifies_followers_in_app_and_by_email_and_no_one_else(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn_app_with(backend, |c| {
        allow_loopback(c);
        c.live.grace_secs = 1;
        c.notify.smtp = Some(
            serde_json::from_value(json!({
                "host": "127.0.0.1",
                "port": sink.port,
                "tls": "none",
                "from": "streamhall <noreply@streamhall.test>",
            }))
            .unwrap(),
        );
    })
    .await;
    let admin = app.admin_token().await;
    let owner = app.register("streamer").await;
    // The toast names the streamer as people know them: the display name, not the username.
    let res = app
        .client
        .patch(app.api("/users/me"))
        .bearer_auth(&owner.access)
        .json(&json!({"display_name": "Stella Streams"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let created = app.create_channel(&owner.access, "show").await;
    let key = created["stream_key"].as_str().unwrap().to_owned();
    let fan = app.register("fan").await;
    let muter = app.register("muter").await;
    let quiet = app.register("quiet").await;
    let stranger = app.register("stranger").await;
    for u in [&fan, &muter, &quiet] {
        follow(&app, u, "show").await;
    }
    // Email goes to verified addresses only, and with SMTP an unverified streamer cannot go
    // live: everyone here opened their verification link (see tests/api/accounts.rs).
    app.db
        .execute_unprepared("UPDATE users SET email_verified_at = created_at")
        .await
        .unwrap();
    let res = put_json(
        &app,
        "/notifications/settings",
        &json!({"email": true, "muted": ["show"]}),
        &muter.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = put_json(
        &app,
        "/notifications/settings",
        &json!({"email": false, "muted": []}),
        &quiet.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    let receiver = Receiver::start(204, "").await;
    let res = app
        .create_webhook(
            &owner.access,
            "show",
            &receiver.url("/hooks/live"),
            &["stream.online", "stream.offline"],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let secret = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut fan_inbox = Inbox::open(&app, &fan).await;
    let mut stranger_inbox = Inbox::open(&app, &stranger).await;
    let mut muter_inbox = Inbox::open(&app, &muter).await;
    assert_eq!(fan_inbox.unread, 0);

    let mut bus = app.live.bus.subscribe();
    let (mut child, broadcast_id, live_at) = go_live(&app, &key, &mut bus).await;
    let n = fan_inbox.next().await;
    let latency = live_at.elapsed();
    assert!(
        latency <= Duration::from_secs(2),
        "pushed {latency:?} after going live"
    );
    assert_eq!(n["type"], "notification", "{n}");
    assert_eq!(n["unread"], 1);
    let dto = &n["notification"];
    assert_eq!(dto["kind"], "stream_online");
    assert_eq!(dto["channel_slug"], "show");
    assert_eq!(dto["channel_title"], "show live");
    assert_eq!(dto["streamer_name"], "Stella Streams");
    assert_eq!(dto["broadcast_id"], broadcast_id);
    assert_eq!(dto["read"], false);
    // The stored copy, as the bell's list loads it, names the streamer the same way.
    let listed = app.get_auth_json("/notifications", &fan.access).await;
    assert_eq!(listed["items"][0]["id"], dto["id"], "{listed}");
    assert_eq!(listed["items"][0]["streamer_name"], "Stella Streams");

    let job = job_finished(&app, &admin, broadcast_id).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["total"], 3);
    assert_eq!(job["done"], 3);
    assert_eq!(job["notified"], 2, "the muted follower is left out");
    assert!(
        stranger_inbox.drain().await.is_empty(),
        "a stranger hears nothing"
    );
    assert!(
        muter_inbox.drain().await.is_empty(),
        "a muted channel stays quiet"
    );
    let rows = |u: i64| {
        format!(
            "SELECT COUNT(*) FROM notifications WHERE user_id = {u} AND broadcast_id = {broadcast_id}"
        )
    };
    assert_eq!(count(&app, &rows(fan.user_id)).await, 1);
    assert_eq!(
        count(&app, &rows(quiet.user_id)).await,
        1,
        "in-app still on"
    );
    assert_eq!(count(&app, &rows(muter.user_id)).await, 0);
    assert_eq!(count(&app, &rows(stranger.user_id)).await, 0);

    // One email: the fan's (quiet turned email off, muter muted the channel).
    eventually(WAIT, "the email", || async {
        !sink.go_live_mails().is_empty()
    })
    .await;
    let health = app.get_auth_json("/admin/health", &admin).await;
    eventually(WAIT, "the email queue to drain", || async {
        let h = app.get_auth_json("/admin/health", &admin).await;
        h["notifier"]["email"]["queued"] == 0
            && h["notifier"]["email"]["sent"].as_u64() == Some(sink.messages().len() as u64)
    })
    .await;
    assert_eq!(health["notifier"]["email"]["failed"], 0);
    let mails = sink.go_live_mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("fan@example.com"), "{}", mails[0]);
    assert!(
        mails[0].contains("Subject: show live is live"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains(&format!("{}/c/show", app.url)),
        "{}",
        mails[0]
    );
    // The channel's webhook got a signed stream.online delivery.
    eventually(WAIT, "the webhook delivery", || async {
        !receiver.hits().is_empty()
    })
    .await;
    let hit = receiver.hits().remove(0);
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "/hooks/live");
    assert_eq!(hit.header("x-streamhall-event"), Some("stream.online"));
    let signature = format!("sha256={}", hmac_hex(&secret, &hit.body));
    assert_eq!(
        hit.header("x-streamhall-signature"),
        Some(signature.as_str())
    );
    let body: Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(body["event"], "stream.online");
    assert_eq!(body["data"]["broadcast_id"], broadcast_id);
    assert_eq!(body["data"]["channel"]["slug"], "show");
    let _ = child.kill().await;
    // Ending (after the 1 s grace) calls the webhook again, with stream.offline.
    eventually(WAIT, "the offline delivery", || async {
        receiver.hits().len() >= 2
    })
    .await;
    let hit = receiver.hits().remove(1);
    assert_eq!(hit.header("x-streamhall-event"), Some("stream.offline"));
    let body: Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(body["data"]["broadcast_id"], broadcast_id);
    let signature = format!("sha256={}", hmac_hex(&secret, &hit.body));
    assert_eq!(
        hit.header("x-streamhall-signature"),
        Some(signature.as_str())
    );

    // A second go-live within the hour: in-app again, but no second email.
    let next_broadcast = broadcast_id + 1000;
    exec(
        &app,
        &format!(
            "INSERT INTO broadcasts (id, channel_id, started_at, title, peak_viewers) \
             SELECT {next_broadcast}, id, started_at, title, 0 FROM broadcasts WHERE id = {broadcast_id}"
        ),
    )
    .await;
    app.live.bus.publish(BusEvent::StreamWentLive {
        channel_id: created["channel"]["id"].as_i64().unwrap(),
        slug: "show".into(),
        broadcast_id: next_broadcast,
        title: "again".into(),
    });
    let n = fan_inbox.next().await;
    assert_eq!(n["notification"]["broadcast_id"], next_broadcast);
    assert_eq!(n["unread"], 2);
    let job = job_finished(&app, &admin, next_broadcast).await;
    assert_eq!(job["state"], "done");
    assert_eq!(
        job["emailed"], 0,
        "throttled: one go-live email per channel per hour"
    );
    assert_eq!(sink.go_live_mails().len(), 1);
    // The same go-live announced twice is notified once.
    app.live.bus.publish(BusEvent::StreamWentLive {
        channel_id: created["channel"]["id"].as_i64().unwrap(),
        slug: "show".into(),
        broadcast_id: next_broadcast,
        title: "again".into(),
    });
    eventually(WAIT, "the repeat to be skipped", || async {
        jobs(&app, &admin)
            .await
            .iter()
            .any(|j| j["broadcast_id"] == next_broadcast && j["state"] == "skipped")
    })
    .await;
    assert!(fan_inbox.drain().await.is_empty(), "no second push");
    assert_eq!(count(&app, &rows(fan.user_id)).await, 1);
}

async fn notifications_page_mark_read_and_settings(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let owner = app.register("streamer").await;
    let created = app.create_channel(&owner.access, "show").await;
    let channel_id = created["channel"]["id"].as_i64().unwrap();
    let fan = app.register("fan").await;
    follow(&app, &fan, "show").await;
    // Three go-lives, announced on the bus as the registry would.
    for i in 1..=3 {
        exec(
            &app,
            &format!(
                "INSERT INTO broadcasts (id, channel_id, started_at, title, peak_viewers) \
                 VALUES ({i}, {channel_id}, CURRENT_TIMESTAMP, 'b{i}', 0)"
            ),
        )
        .await;
        app.live.bus.publish(BusEvent::StreamWentLive {
            channel_id,
            slug: "show".into(),
            broadcast_id: i,
            title: format!("b{i}"),
        });
        job_finished(&app, &admin, i).await;
    }
    let page = app
        .get_auth_json("/notifications?limit=2", &fan.access)
        .await;
    assert_eq!(page["unread"], 3);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["title"], "b3", "newest first");
    assert_eq!(items[1]["title"], "b2");
    let before = page["next_before"].as_i64().unwrap();
    let rest = app
        .get_auth_json(&format!("/notifications?before={before}"), &fan.access)
        .await;
    assert_eq!(rest["items"][0]["title"], "b1");
    assert_eq!(rest["next_before"], Value::Null);

    let id = items[0]["id"].as_i64().unwrap();
    // Someone else's notification is not theirs to mark.
    let other = app.register("other").await;
    let res = put_json(
        &app,
        &format!("/notifications/{id}/read"),
        &json!({}),
        &other.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = put_json(
        &app,
        &format!("/notifications/{id}/read"),
        &json!({}),
        &fan.access,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let page = app.get_auth_json("/notifications", &fan.access).await;
    assert_eq!(page["unread"], 2);
    assert_eq!(page["items"][0]["read"], true);
    // A new socket starts from the unread count.
    let inbox = Inbox::open(&app, &fan).await;
    assert_eq!(inbox.unread, 2);
    let res = app
        .post_json("/notifications/read-all", &json!({}), Some(&fan.access))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let page = app.get_auth_json("/notifications", &fan.access).await;
    assert_eq!(page["unread"], 0);

    // Settings: defaults, then a mute of a followed channel; an unfollowed one is refused.
    let s = app
        .get_auth_json("/notifications/settings", &fan.access)
        .await;
    assert_eq!(s, json!({"email": true, "muted": []}));
    app.create_channel(&owner.access, "elsewhere").await;
    expect_error(
        put_json(
            &app,
            "/notifications/settings",
            &json!({"email": true, "muted": ["elsewhere"]}),
            &fan.access,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    let res = put_json(
        &app,
        "/notifications/settings",
        &json!({"email": false, "muted": ["show"]}),
        &fan.access,
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"email": false, "muted": ["show"]})
    );
    let following = app.get_auth_json("/users/me/following", &fan.access).await;
    assert_eq!(following[0]["muted"], true);

    // A bad token gets an error frame and a close.
    let url = format!(
        "{}/api/v1/notifications/ws",
        app.url.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "auth", "token": "nope"}).to_string().into(),
    ))
    .await
    .unwrap();
    let mut bad = Inbox { ws, unread: 0 };
    let e = bad.next().await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "unauthorized");
    assert_eq!(bad.next().await["type"], "_closed");
}

async fn followers_only_chat_holds_to_the_follow_age(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register("streamer").await;
    app.create_channel(&owner.access, "talk").await;
    let newbie = app.register("newbie").await;
    let veteran = app.register("veteran").await;
    let res = put_json(
        &app,
        "/channels/talk/chat/mode",
        &json!({"slow_seconds": 0, "followers_only": 10, "emote_only": false}),
        &owner.access,
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );

    let mut n = Chat::join(&app, &newbie, "talk").await;
    let r = n.say("n1", "hello").await;
    assert_eq!(r["type"], "rejected", "{r}");
    assert_eq!(r["code"], "followers_only");
    assert!(r["message"].as_str().unwrap().contains("follow"), "{r}");

    // Followed just now: ten minutes to go.
    follow(&app, &newbie, "talk").await;
    let r = poll_until(WAIT, "the follow to be seen", || async {
        let mut c = Chat::join(&app, &newbie, "talk").await;
        let r = c.say(&format!("n-{}", uuid::Uuid::new_v4()), "hello").await;
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("minutes after following"))
            .then_some(r)
    })
    .await;
    let wait = r["retry_after_ms"].as_u64().unwrap();
    assert!((540_000..=600_000).contains(&wait), "{r}");

    // Followed eleven minutes ago: may chat.
    follow(&app, &veteran, "talk").await;
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        use streamhall_entities::{Follow, follow};
        Follow::update_many()
            .col_expr(
                follow::Column::CreatedAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::minutes(11)),
            )
            .filter(follow::Column::UserId.eq(veteran.user_id))
            .exec(&app.db)
            .await
            .unwrap();
    }
    let mut v = Chat::join(&app, &veteran, "talk").await;
    assert_eq!(v.say("v1", "hi all").await["type"], "ack");
    // The owner needs no follow.
    let mut o = Chat::join(&app, &owner, "talk").await;
    assert_eq!(o.say("o1", "welcome").await["type"], "ack");
    // Out-of-range ages are refused.
    let res = put_json(
        &app,
        "/channels/talk/chat/mode",
        &json!({"slow_seconds": 0, "followers_only": 200000, "emote_only": false}),
        &owner.access,
    )
    .await;
    assert!(res.status().is_client_error(), "{}", res.status());
}

/// Two servers on one PostgreSQL + Redis: the stream runs on A, the follower's socket is on
/// B; B pushes the one notification, and both nodes' notifiers saw the event but one ran it.
#[actix_web::test]
async fn two_nodes_notify_once() {
    let a = spawn_app_with(Backend::Postgres, allow_loopback).await;
    let b = restart(&a).await;
    let admin = a.admin_token().await;
    let owner = a.register("streamer").await;
    let created = a.create_channel(&owner.access, "show").await;
    let key = created["stream_key"].as_str().unwrap().to_owned();
    let fan = a.register("fan").await;
    follow(&a, &fan, "show").await;
    let receiver = Receiver::start(204, "").await;
    a.add_webhook(&owner.access, "show", &receiver.url("/hook"))
        .await;
    let mut inbox = Inbox::open(&b, &fan).await;

    let mut bus = a.live.bus.subscribe();
    let (mut child, broadcast_id, _) = go_live(&a, &key, &mut bus).await;
    let n = inbox.next().await;
    assert_eq!(n["type"], "notification", "{n}");
    assert_eq!(n["notification"]["broadcast_id"], broadcast_id);
    let on_a = job_finished(&a, &admin, broadcast_id).await;
    let on_b = job_finished(&b, &admin, broadcast_id).await;
    let mut states = [
        on_a["state"].as_str().unwrap().to_owned(),
        on_b["state"].as_str().unwrap().to_owned(),
    ];
    states.sort();
    assert_eq!(states, ["done", "skipped"], "{on_a} {on_b}");
    assert!(inbox.drain().await.is_empty(), "exactly one push");
    assert_eq!(
        count(
            &a,
            &format!("SELECT COUNT(*) FROM notifications WHERE broadcast_id = {broadcast_id}")
        )
        .await,
        1
    );
    // One webhook delivery queued, and it arrives.
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE event = 'stream.online'"
        )
        .await,
        1
    );
    eventually(WAIT, "the webhook delivery", || async {
        receiver.hits().len() == 1
    })
    .await;
    let _ = child.kill().await;
}

/// A fan-out left `running` by a process that died (here: a job row of a node that is gone)
/// is finished by the next start of a single node, without notifying anyone twice.
#[actix_web::test]
async fn an_unfinished_fan_out_is_finished_by_the_next_start() {
    use sea_orm::{ActiveValue::Set, EntityTrait};
    use streamhall_entities::{
        Broadcast, Notification, NotificationJob, broadcast, notification, notification_job,
    };
    let app = spawn_app(Backend::Sqlite).await;
    let owner = app.register("streamer").await;
    let created = app.create_channel(&owner.access, "show").await;
    let channel_id = created["channel"]["id"].as_i64().unwrap();
    let fans = [
        app.register("fan1").await,
        app.register("fan2").await,
        app.register("fan3").await,
    ];
    for f in &fans {
        follow(&app, f, "show").await;
    }
    let now = chrono::Utc::now();
    Broadcast::insert(broadcast::ActiveModel {
        id: Set(77),
        channel_id: Set(channel_id),
        started_at: Set(now),
        ended_at: Set(None),
        title: Set("interrupted".into()),
        peak_viewers: Set(0),
        went_live_at: Set(Some(now)),
        failure: Set(None),
        owner_node: Set(None),
    })
    .exec(&app.db)
    .await
    .unwrap();
    // The dead process had claimed the job and notified the first fan only.
    NotificationJob::insert(notification_job::ActiveModel {
        broadcast_id: Set(77),
        event: Set("stream.online".into()),
        channel_id: Set(channel_id),
        node: Set("node-that-died".into()),
        state: Set("running".into()),
        total: Set(3),
        done: Set(1),
        started_at: Set(now),
        finished_at: Set(None),
    })
    .exec(&app.db)
    .await
    .unwrap();
    Notification::insert(notification::ActiveModel {
        user_id: Set(fans[0].user_id),
        kind: Set("stream_online".into()),
        channel_id: Set(channel_id),
        broadcast_id: Set(Some(77)),
        title: Set("interrupted".into()),
        created_at: Set(now),
        read_at: Set(None),
        ..Default::default()
    })
    .exec(&app.db)
    .await
    .unwrap();

    let next = restart(&app).await;
    eventually(WAIT, "the fan-out to be finished", || async {
        count(
            &next,
            "SELECT COUNT(*) FROM notification_jobs WHERE broadcast_id = 77 AND state = 'done'",
        )
        .await
            == 1
    })
    .await;
    for f in &fans {
        let rows = format!(
            "SELECT COUNT(*) FROM notifications WHERE user_id = {} AND broadcast_id = 77",
            f.user_id
        );
        assert_eq!(count(&next, &rows).await, 1, "each fan once");
    }
}

/// The bus's Redis reader waits for events in reads shorter than the Redis client's reply
/// timeout, so a quiet bus is a healthy one (a read that outlived the timeout would fail
/// every idle second and back off, delaying the next cross-node event by seconds).
#[actix_web::test]
async fn an_idle_bus_stays_healthy() {
    let app = spawn_app_with(Backend::Postgres, |_| {}).await;
    let admin = app.admin_token().await;
    let until = Instant::now() + Duration::from_secs(3);
    let mut samples = 0;
    while Instant::now() < until {
        let health = app.get_auth_json("/admin/health", &admin).await;
        assert_eq!(
            health["notifier"]["bus_redis_healthy"], true,
            "sample {samples}: {}",
            health["notifier"]
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(samples > 10);
}
