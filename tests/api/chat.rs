//! Chat: real sockets against the real server, on SQLite and on PostgreSQL + Redis.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    WebSocketStream, client_async,
    tungstenite::{Message, client::IntoClientRequest, protocol::frame::coding::CloseCode},
};

use crate::helpers::{
    Backend, PrivateRedis, Session, TestApp, restart, spawn_app, spawn_app_with,
    spawn_app_with_redis,
};

const WAIT: Duration = Duration::from_secs(10);

pub struct Chat {
    ws: WebSocketStream<TcpStream>,
    /// Every frame received, in order.
    pub seen: Vec<Value>,
    read: usize,
}

impl Chat {
    pub async fn open(app: &TestApp, slug: &str, query: &str) -> Chat {
        Self::open_with(app, slug, query, None).await
    }

    /// With `recv_buffer`, the socket's receive buffer is that small (a slow reader fills
    /// up quickly).
    pub async fn open_with(
        app: &TestApp,
        slug: &str,
        query: &str,
        recv_buffer: Option<usize>,
    ) -> Chat {
        Self::open_at(&app.url, slug, query, recv_buffer).await
    }

    /// At the server whose base URL is `base` (`http://IP:PORT`).
    pub async fn open_at(base: &str, slug: &str, query: &str, recv_buffer: Option<usize>) -> Chat {
        let url = format!(
            "{}/api/v1/chat/{slug}/ws{query}",
            base.replace("http://", "ws://")
        );
        let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        if let Some(n) = recv_buffer {
            socket.set_recv_buffer_size(n).unwrap();
        }
        socket.connect(&addr.into()).unwrap();
        socket.set_nonblocking(true).unwrap();
        let stream = TcpStream::from_std(socket.into()).unwrap();
        let (ws, _) = client_async(url.into_client_request().unwrap(), stream)
            .await
            .expect("websocket handshake");
        let mut chat = Chat {
            ws,
            seen: Vec::new(),
            read: 0,
        };
        let welcome = chat.next().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        chat
    }

    /// Logged in as `user` (a ticket first).
    pub async fn join(app: &TestApp, user: &Session, slug: &str) -> Chat {
        let ticket = ticket(app, user, slug).await;
        Chat::open(app, slug, &format!("?ticket={ticket}")).await
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    /// The next frame (already received or new).
    pub async fn next(&mut self) -> Value {
        if self.read < self.seen.len() {
            self.read += 1;
            return self.seen[self.read - 1].clone();
        }
        let v = self.recv().await;
        self.seen.push(v.clone());
        self.read += 1;
        v
    }

    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the deadline")
                .expect("socket open")
                .expect("frame");
            match frame {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(c) => {
                    return json!({"type": "_closed", "code": c.map(|c| u16::from(c.code))});
                }
                _ => continue,
            }
        }
    }

    /// Reads until a frame matches; returns it.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no frame: {what}; seen {:?}",
                self.seen
            );
            let v = self.next().await;
            assert_ne!(v["type"], "_closed", "closed while waiting for {what}: {v}");
            if pred(&v) {
                return v;
            }
        }
    }

    /// Sends a message and returns its `ack` or `rejected`.
    pub async fn say(&mut self, client_id: &str, text: &str) -> Value {
        self.send(json!({"type": "send", "client_id": client_id, "text": text}))
            .await;
        self.until(&format!("reply to {client_id}"), |v| {
            (v["type"] == "ack" || v["type"] == "rejected") && v["client_id"] == client_id
        })
        .await
    }

    /// Message ids received as `message` or in `history`, in arrival order.
    pub fn message_ids(&self) -> Vec<i64> {
        let mut ids = Vec::new();
        for v in &self.seen {
            if v["type"] == "message" {
                ids.push(v["id"].as_i64().unwrap());
            } else if v["type"] == "history" {
                ids.extend(
                    v["messages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|m| m["id"].as_i64().unwrap()),
                );
            }
        }
        ids
    }

    /// Waits until `n` messages have been received.
    pub async fn wait_messages(&mut self, n: usize) -> Vec<i64> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.message_ids().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {:?}",
                self.message_ids()
            );
            let v = self.recv().await;
            self.seen.push(v);
        }
        self.read = self.seen.len();
        self.message_ids()
    }
}

pub async fn ticket(app: &TestApp, user: &Session, slug: &str) -> String {
    let res = app
        .post_json(
            &format!("/chat/{slug}/ticket"),
            &json!({}),
            Some(&user.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn setup(app: &TestApp) -> (Session, String) {
    let owner = app.register("streamer").await;
    app.create_channel(&owner.access, "talk").await;
    (owner, "talk".to_owned())
}

async fn two_clients_chat_and_ack_follows_the_commit(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, slug) = setup(&app).await;
    let alice = app.register("alice").await;
    let mut a = Chat::join(&app, &alice, &slug).await;
    let mut reader = Chat::open(&app, &slug, "").await;
    let mut bob = Chat::join(&app, &app.register("bob").await, &slug).await;

    let ack = a.say("m1", "  hello   there ").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let id = ack["id"].as_i64().unwrap();
    // Acknowledged means stored.
    let stored = app
        .count(&format!(
            "SELECT COUNT(*) FROM chat_messages WHERE id = {id} AND text = 'hello   there'"
        ))
        .await;
    assert_eq!(stored, 1);
    for c in [&mut reader, &mut bob] {
        let m = c.until("alice's message", |v| v["type"] == "message").await;
        assert_eq!(m["id"], id);
        assert_eq!(m["username"], "alice");
        assert_eq!(m["role"], "viewer");
        assert_eq!(m["text"], "hello   there");
    }
    let ack = bob.say("b1", "hi alice").await;
    let m = a
        .until("bob's message", |v| {
            v["type"] == "message" && v["username"] == "bob"
        })
        .await;
    assert_eq!(m["id"], ack["id"]);
    assert_eq!(ack["id"].as_i64().unwrap(), id + 1, "ids count up by one");

    // Retrying with the same client_id gets the same id, and stores nothing new.
    let again = bob.say("b1", "hi alice").await;
    assert_eq!(again["id"], ack["id"]);
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_messages").await, 2);

    // Anonymous readers cannot post.
    let r = reader.say("x", "let me in").await;
    assert_eq!(r["code"], "login_required");
}

async fn tickets_are_single_use_and_channel_bound(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, slug) = setup(&app).await;
    app.create_channel(&owner.access, "other").await;
    let t = ticket(&app, &owner, &slug).await;
    let ws = |q: String, s: &str| {
        let url = format!(
            "{}/api/v1/chat/{s}/ws{q}",
            app.url.replace("http://", "ws://")
        );
        async move { tokio_tungstenite::connect_async(url).await }
    };
    // Valid for its channel only; a wrong channel uses it up too.
    let err = ws(format!("?ticket={t}"), "other").await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let t = ticket(&app, &owner, &slug).await;
    ws(format!("?ticket={t}"), &slug).await.expect("first use");
    let err = ws(format!("?ticket={t}"), &slug).await.unwrap_err();
    assert!(err.to_string().contains("401"), "second use: {err}");
    let err = ws("?ticket=ct_nonsense".into(), &slug).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let err = ws(String::new(), "nope").await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    // A browser on another site may not open the socket.
    let mut req = format!(
        "{}/api/v1/chat/{slug}/ws",
        app.url.replace("http://", "ws://")
    )
    .into_client_request()
    .unwrap();
    req.headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(
        err.to_string().contains("403") || err.to_string().contains("400"),
        "{err}"
    );
}

async fn history_pages_and_leaves_out_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, slug) = setup(&app).await;
    let mut o = Chat::join(&app, &owner, &slug).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            o.say(&format!("c{i}"), &format!("message {i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    o.send(json!({"type": "delete", "id": ids[5]})).await;
    o.until("deleted", |v| v["type"] == "deleted" && v["id"] == ids[5])
        .await;

    let page = app
        .get_json(&format!("/chat/{slug}/messages?limit=3"))
        .await;
    let got: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        got,
        vec![ids[6], ids[4], ids[3]],
        "newest first, deleted left out"
    );
    let before = page["next_before"].as_i64().unwrap();
    let page = app
        .get_json(&format!("/chat/{slug}/messages?limit=3&before={before}"))
        .await;
    let got: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![ids[2], ids[1], ids[0]]);
    let res = app.get(&format!("/chat/{slug}/messages?limit=0")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A new reader's history leaves it out too.
    let mut r = Chat::open(&app, &slug, "").await;
    let h = r.until("history", |v| v["type"] == "history").await;
    let hist: Vec<i64> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(hist, vec![ids[0], ids[1], ids[2], ids[3], ids[4], ids[6]]);
}

async fn resume_after_a_disconnect_has_no_gap_and_no_duplicate(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.chat.moderator_messages_per_window = 1000).await;
    let (owner, slug) = setup(&app).await;
    let mut o = Chat::join(&app, &owner, &slug).await;
    let mut r = Chat::open(&app, &slug, "").await;
    for i in 0..5 {
        o.say(&format!("a{i}"), &format!("before {i}")).await;
    }
    let seen = r.wait_messages(5).await;
    let last = *seen.last().unwrap();
    drop(r);
    let mut missed = Vec::new();
    for i in 0..8 {
        missed.push(
            o.say(&format!("b{i}"), &format!("while away {i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let mut r = Chat::open(&app, &slug, &format!("?last_id={last}")).await;
    let h = r.until("history", |v| v["type"] == "history").await;
    let got: Vec<i64> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, missed, "exactly the missed messages");
    assert_eq!(h["more"], false);
    let next = o.say("c0", "after").await["id"].as_i64().unwrap();
    let m = r.until("live message", |v| v["type"] == "message").await;
    assert_eq!(m["id"], next);
    // `resume` on the open socket fills in only what this socket has not had.
    r.send(json!({"type": "resume", "last_id": seen[1]})).await;
    let h = r.until("history", |v| v["type"] == "history").await;
    let got: Vec<i64> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, seen[2..].to_vec());
    let all = r.message_ids();
    let mut dedup = all.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(all.len(), dedup.len(), "no duplicates: {all:?}");
}

async fn viewers_cannot_moderate(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, slug) = setup(&app).await;
    let mut o = Chat::join(&app, &owner, &slug).await;
    let viewer = app.register("viewer").await;
    let mut v = Chat::join(&app, &viewer, &slug).await;
    let id = o.say("o1", "owner speaks").await["id"].as_i64().unwrap();
    for cmd in [
        json!({"type": "delete", "id": id}),
        json!({"type": "ban", "user": "streamer"}),
        json!({"type": "timeout", "user": "streamer", "seconds": 10}),
        json!({"type": "unban", "user": "streamer"}),
        json!({"type": "set_mode", "slow_seconds": 5, "emote_only": false}),
    ] {
        let action = cmd["type"].as_str().unwrap().to_owned();
        v.send(cmd).await;
        let r = v
            .until(&action, |f| {
                f["type"] == "rejected" && f["action"] == action
            })
            .await;
        assert_eq!(r["code"], "forbidden", "{r}");
    }
    let res = app
        .client
        .put(app.api(&format!("/channels/{slug}/moderators/viewer")))
        .bearer_auth(&viewer.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The owner's message is still there for everyone.
    let page = app.get_json(&format!("/chat/{slug}/messages")).await;
    assert_eq!(page["messages"][0]["id"], id);
}

async fn bans_timeouts_and_moderators(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, slug) = setup(&app).await;
    let mut o = Chat::join(&app, &owner, &slug).await;
    let troll = app.register("troll").await;
    let mut t = Chat::join(&app, &troll, &slug).await;
    let mod_user = app.register("helper").await;
    let res = app
        .client
        .put(app.api(&format!("/channels/{slug}/moderators/helper")))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let mods: Value = app
        .get_auth(&format!("/channels/{slug}/moderators"), &owner.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mods[0]["username"], "helper");
    let mut m = Chat::join(&app, &mod_user, &slug).await;

    // The moderator deletes the troll's message; everyone sees it go.
    let bad = t.say("t1", "rude words").await["id"].as_i64().unwrap();
    m.send(json!({"type": "delete", "id": bad})).await;
    for c in [&mut o, &mut t] {
        let d = c.until("deleted", |v| v["type"] == "deleted").await;
        assert_eq!(d["id"], bad);
        assert_eq!(d["by"], "helper");
    }
    // A moderator cannot ban the owner.
    m.send(json!({"type": "ban", "user": "streamer"})).await;
    let r = m
        .until("refused ban", |v| {
            v["type"] == "rejected" && v["action"] == "ban"
        })
        .await;
    assert_eq!(r["code"], "forbidden");
    m.send(json!({"type": "ban", "user": "nobody_here"})).await;
    let r = m
        .until("unknown user", |v| {
            v["type"] == "rejected" && v["action"] == "ban"
        })
        .await;
    assert_eq!(r["code"], "not_found");

    // Ban: the room sees it, the troll is refused, the ban is listed and logged.
    m.send(json!({"type": "ban", "user": "troll", "reason": "spam"}))
        .await;
    let e = o.until("user_banned", |v| v["type"] == "user_banned").await;
    assert_eq!(e["user"], "troll");
    assert_eq!(e["reason"], "spam");
    t.until("user_banned", |v| v["type"] == "user_banned").await;
    let r = t.say("t2", "let me talk").await;
    assert_eq!(r["code"], "banned", "{r}");
    let bans: Value = app
        .get_auth(&format!("/channels/{slug}/chat/bans"), &owner.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bans[0]["username"], "troll");
    assert_eq!(bans[0]["expires_at"], Value::Null);
    assert!(
        app.count("SELECT COUNT(*) FROM chat_moderation_log WHERE action = 'ban'")
            .await
            == 1
    );

    // Unban, then a 1 s timeout that runs out.
    o.send(json!({"type": "unban", "user": "troll"})).await;
    t.until("unbanned", |v| v["type"] == "user_unbanned").await;
    assert_eq!(t.say("t3", "sorry").await["type"], "ack");
    o.send(json!({"type": "timeout", "user": "troll", "seconds": 1}))
        .await;
    let e = t
        .until("timed out", |v| v["type"] == "user_timed_out")
        .await;
    assert_eq!(e["seconds"], 1);
    let r = t.say("t4", "still here").await;
    assert_eq!(r["code"], "timed_out");
    assert!(r["retry_after_ms"].as_u64().unwrap() <= 1000);
    let mut n = 0;
    loop {
        n += 1;
        let r = t.say(&format!("t5-{n}"), "back").await;
        if r["type"] == "ack" {
            break;
        }
        assert_eq!(r["code"], "timed_out");
        assert!(n < 40, "the timeout never ran out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    o.send(json!({"type": "timeout", "user": "troll", "seconds": 0}))
        .await;
    let r = o
        .until("bad timeout", |v| {
            v["type"] == "rejected" && v["action"] == "timeout"
        })
        .await;
    assert_eq!(r["code"], "invalid");

    // Removing the moderator takes their powers away.
    let res = app
        .client
        .delete(app.api(&format!("/channels/{slug}/moderators/helper")))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The room reloads its moderators asynchronously: retry on fresh messages.
    for tries in 0.. {
        assert!(tries < 20, "a removed moderator can still delete");
        let id = t.say(&format!("t6-{tries}"), "again").await["id"]
            .as_i64()
            .unwrap();
        m.send(json!({"type": "delete", "id": id})).await;
        let r = m
            .until("delete reply", |v| {
                (v["type"] == "rejected" && v["action"] == "delete")
                    || (v["type"] == "deleted" && v["id"] == id)
            })
            .await;
        if r["type"] == "rejected" {
            assert_eq!(r["code"], "forbidden");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn modes_and_blocked_terms(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, slug) = setup(&app).await;
    let mut o = Chat::join(&app, &owner, &slug).await;
    let viewer = app.register("viewer").await;
    let mut v = Chat::join(&app, &viewer, &slug).await;

    // Slow mode over REST; the room announces it.
    let res = app
        .client
        .put(app.api(&format!("/channels/{slug}/chat/mode")))
        .bearer_auth(&owner.access)
        .json(&json!({"slow_seconds": 30, "emote_only": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let m = v.until("mode", |f| f["type"] == "mode").await;
    assert_eq!(m["slow_seconds"], 30);
    assert_eq!(v.say("v1", "first").await["type"], "ack");
    let r = v.say("v2", "second").await;
    assert_eq!(r["code"], "slow_mode");
    assert!(r["retry_after_ms"].as_u64().unwrap() > 25_000);
    // Moderators are not slowed down.
    assert_eq!(o.say("o1", "one").await["type"], "ack");
    assert_eq!(o.say("o2", "two").await["type"], "ack");
    let res = app
        .client
        .put(app.api(&format!("/channels/{slug}/chat/mode")))
        .bearer_auth(&viewer.access)
        .json(&json!({"slow_seconds": 0, "emote_only": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Emote-only over the socket.
    o.send(json!({"type": "set_mode", "slow_seconds": 0, "emote_only": true}))
        .await;
    v.until("emote-only", |f| {
        f["type"] == "mode" && f["emote_only"] == true
    })
    .await;
    assert_eq!(
        app.get_json(&format!("/channels/{slug}/chat/mode")).await["emote_only"],
        true
    );
    assert_eq!(v.say("v3", "words").await["code"], "emote_only");
    assert_eq!(v.say("v4", ":wave: :heart:").await["type"], "ack");
    o.send(json!({"type": "set_mode", "slow_seconds": 0, "emote_only": false}))
        .await;
    v.until("normal", |f| {
        f["type"] == "mode" && f["emote_only"] == false
    })
    .await;

    // Blocked terms, matched after normalisation.
    let res = app
        .client
        .put(app.api(&format!("/channels/{slug}/chat/blocked-terms")))
        .bearer_auth(&owner.access)
        .json(&json!({"terms": ["Spoiler", " spoiler ", "badword"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["terms"],
        json!(["Spoiler", "badword"])
    );
    let mut n = 0;
    loop {
        n += 1;
        let r = v.say(&format!("v5-{n}"), "the SPOILER is ...").await;
        if r["type"] == "rejected" {
            assert_eq!(r["code"], "blocked_term");
            break;
        }
        // The room reloads the list asynchronously.
        assert!(n < 20, "blocked terms never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(v.say("v6", "ｂａｄｗｏｒｄ").await["code"], "blocked_term");
    assert_eq!(v.say("v7", "fine words").await["type"], "ack");
    let terms: Value = app
        .get_auth(
            &format!("/channels/{slug}/chat/blocked-terms"),
            &viewer.access,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(terms["error"], "forbidden");
}

async fn limits_on_text_frames_and_rate(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.chat.messages_per_window = 3).await;
    let (_, slug) = setup(&app).await;
    let viewer = app.register("viewer").await;
    let mut v = Chat::join(&app, &viewer, &slug).await;
    assert_eq!(v.say("l1", &"x".repeat(501)).await["code"], "invalid");
    assert_eq!(v.say("l2", "   ").await["code"], "invalid");
    assert_eq!(v.say("l3", &"é".repeat(500)).await["type"], "ack");
    assert_eq!(v.say("l4", "two").await["type"], "ack");
    assert_eq!(v.say("l5", "three").await["type"], "ack");
    let r = v.say("l6", "four").await;
    assert_eq!(r["code"], "rate_limited");
    assert!(r["retry_after_ms"].as_u64().unwrap() > 0);
    v.send(json!({"type": "nonsense"})).await;
    assert_eq!(
        v.until("error", |f| f["type"] == "error").await["code"],
        "bad_request"
    );
    v.send(json!({"type": "ping"})).await;
    v.until("pong", |f| f["type"] == "pong").await;

    // A 5 KiB frame closes the socket with 1009.
    v.ws.send(Message::Text("y".repeat(5 * 1024).into()))
        .await
        .unwrap();
    let closed = v.recv().await;
    assert_eq!(closed["type"], "_closed", "{closed}");
    assert_eq!(closed["code"], u16::from(CloseCode::Size));
}

async fn a_slow_consumer_is_closed_and_others_keep_up(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.chat.session_queue = 16;
        c.chat.moderator_messages_per_window = 100_000;
    })
    .await;
    let (owner, slug) = setup(&app).await;
    let mut o = Chat::join(&app, &owner, &slug).await;
    let mut fast = Chat::open(&app, &slug, "").await;
    // The slow one never reads (and has a tiny receive buffer).
    let mut slow = Chat::open_with(&app, &slug, "", Some(4096)).await;
    // 4-byte characters: about 2 KB per message, so the server's socket buffer (which the
    // kernel grows to 4 MB) fills before the test has sent too much.
    let text = "😀".repeat(480);
    let total = 4000;
    for batch in 0..total / 100 {
        for i in 0..100 {
            o.send(json!({"type": "send", "client_id": format!("s{batch}-{i}"), "text": text}))
                .await;
        }
        fast.wait_messages((batch + 1) * 100).await;
        // The sender reads too (its own messages come back).
        o.wait_messages((batch + 1) * 100).await;
    }
    let ids = fast.wait_messages(total).await;
    assert_eq!(ids.len(), total, "the fast reader got everything");
    let health: Value = app
        .get_auth("/admin/health", &app.admin_token().await)
        .await
        .json()
        .await
        .unwrap();
    let room = &health["chat"]["rooms"][0];
    assert!(
        room["slow_consumers_closed"].as_u64().unwrap() >= 1,
        "{room}"
    );
    assert_eq!(room["members"], 2, "{room}");
    // When the slow reader finally reads, it finds its socket closed as a slow consumer.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no close frame");
        let v = slow.recv().await;
        if v["type"] == "_closed" {
            assert_eq!(v["code"], u16::from(CloseCode::Policy));
            break;
        }
    }
}

async fn the_database_going_away_yields_rejected_never_a_lost_ack(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, slug) = setup(&app).await;
    let mut o = Chat::join(&app, &owner, &slug).await;
    let mut r = Chat::open(&app, &slug, "").await;
    assert_eq!(o.say("d1", "before").await["type"], "ack");

    let breaker = DbBreaker::break_it(&app).await;
    let reply = o.say("d2", "during").await;
    assert_eq!(reply["type"], "rejected", "{reply}");
    assert_eq!(reply["code"], "unavailable");
    breaker.mend().await;

    // The retry with the same client_id is stored once.
    let mut tries = 0;
    let id = loop {
        tries += 1;
        let reply = o.say("d2", "during").await;
        if reply["type"] == "ack" {
            break reply["id"].as_i64().unwrap();
        }
        assert!(tries < 50, "never recovered: {reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let m = r
        .until("the retried message", |v| {
            v["type"] == "message" && v["text"] == "during"
        })
        .await;
    assert_eq!(m["id"], id);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM chat_messages WHERE client_id = 'd2'")
            .await,
        1
    );
    let all = r.message_ids();
    assert!(all.iter().filter(|i| **i == id).count() == 1);
}

/// Makes the server's database unusable: PostgreSQL refuses connections to it (and drops the
/// open ones); SQLite stays locked by another writer past the busy timeout.
enum DbBreaker {
    Postgres {
        admin: sea_orm::DatabaseConnection,
        name: String,
    },
    Sqlite {
        tx: sea_orm::DatabaseTransaction,
        _conn: sea_orm::DatabaseConnection,
    },
}

impl DbBreaker {
    async fn break_it(app: &TestApp) -> DbBreaker {
        use sea_orm::TransactionTrait;
        let url = app.config.database_url();
        match app.backend {
            Backend::Postgres => {
                let (base, name) = url.rsplit_once('/').unwrap();
                let admin = sea_orm::Database::connect(format!("{base}/postgres"))
                    .await
                    .unwrap();
                admin
                    .execute_unprepared(&format!(
                        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
                    ))
                    .await
                    .unwrap();
                admin
                    .execute_unprepared(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                    ))
                    .await
                    .unwrap();
                DbBreaker::Postgres {
                    admin,
                    name: name.to_owned(),
                }
            }
            Backend::Sqlite => {
                let conn = sea_orm::Database::connect(url).await.unwrap();
                let tx = conn.begin().await.unwrap();
                tx.execute_unprepared("CREATE TABLE write_lock_holder (x INTEGER)")
                    .await
                    .unwrap();
                DbBreaker::Sqlite { tx, _conn: conn }
            }
        }
    }

    async fn mend(self) {
        match self {
            DbBreaker::Postgres { admin, name } => {
                admin
                    .execute_unprepared(&format!(
                        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"
                    ))
                    .await
                    .unwrap();
            }
            DbBreaker::Sqlite { tx, _conn } => tx.rollback().await.unwrap(),
        }
    }
}

#[actix_web::test]
async fn two_nodes_on_one_postgres_and_redis_exchange_messages_in_order() {
    let app = spawn_app(Backend::Postgres).await;
    let node2 = restart(&app).await;
    let (owner, slug) = setup(&app).await;
    let viewer = app.register("viewer").await;
    let mut a = Chat::join(&app, &owner, &slug).await;
    let mut b = Chat::join(&node2, &viewer, &slug).await;
    let mut b_reader = Chat::open(&node2, &slug, "").await;
    let mut sent = Vec::new();
    for i in 0..30 {
        sent.push(
            a.say(&format!("n{i}"), &format!("from node one {i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let got = b_reader.wait_messages(30).await;
    assert_eq!(got, sent, "same messages, same order on the other node");
    let id = b.say("back", "from node two").await["id"].as_i64().unwrap();
    let m = a
        .until("node two's message", |v| {
            v["type"] == "message" && v["text"] == "from node two"
        })
        .await;
    assert_eq!(m["id"], id);
    assert_eq!(id, sent.last().unwrap() + 1, "one id sequence across nodes");
    // Moderation crosses nodes too.
    a.send(json!({"type": "delete", "id": id})).await;
    b_reader
        .until("deleted on node two", |v| {
            v["type"] == "deleted" && v["id"] == id
        })
        .await;
    a.send(json!({"type": "ban", "user": "viewer"})).await;
    b.until("ban on node two", |v| v["type"] == "user_banned")
        .await;
    assert_eq!(b.say("after-ban", "hello?").await["code"], "banned");
    let ready: Value = reqwest::get(format!("{}/readyz", node2.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["chat"], "ok");
}

crate::both_backends!(
    two_clients_chat_and_ack_follows_the_commit,
    tickets_are_single_use_and_channel_bound,
    history_pages_and_leaves_out_deleted,
    resume_after_a_disconnect_has_no_gap_and_no_duplicate,
    viewers_cannot_moderate,
    bans_timeouts_and_moderators,
    modes_and_blocked_terms,
    limits_on_text_frames_and_rate,
    a_slow_consumer_is_closed_and_others_keep_up,
    the_database_going_away_yields_rejected_never_a_lost_ack,
);

#[actix_web::test]
async fn without_redis_nodes_keep_chatting_through_the_database_and_recover() {
    let redis = PrivateRedis::start(PrivateRedis::free_port());
    let app = spawn_app_with_redis(&redis).await;
    let node2 = restart(&app).await;
    let (owner, slug) = setup(&app).await;
    let viewer = app.register("viewer").await;
    let mut a = Chat::join(&app, &owner, &slug).await;
    let mut b = Chat::join(&node2, &viewer, &slug).await;
    let first = a.say("r1", "with redis").await["id"].as_i64().unwrap();
    b.until("first", |v| v["type"] == "message" && v["id"] == first)
        .await;

    let port = redis.stop();
    // Both nodes keep serving their clients; messages cross over through the database.
    let id = a.say("r2", "without redis").await["id"].as_i64().unwrap();
    assert_eq!(id, first + 1);
    b.until("message via the database", |v| {
        v["type"] == "message" && v["id"] == id
    })
    .await;
    let id = b.say("r3", "back from node two").await["id"]
        .as_i64()
        .unwrap();
    a.until("message via the database", |v| {
        v["type"] == "message" && v["id"] == id
    })
    .await;
    let mut degraded = false;
    for _ in 0..100 {
        let r = node2.readyz().await.1;
        if r["status"] == "degraded" {
            assert!(r["chat"].as_str().unwrap().starts_with("degraded"), "{r}");
            degraded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(degraded, "readyz never said degraded");
    let health: Value = app
        .get_auth("/admin/health", &app.admin_token().await)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["chat"]["directory"]["state"], "degraded",
        "{}",
        health["chat"]
    );

    // Redis comes back: the nodes reconnect and say so.
    let _redis = PrivateRedis::start(port);
    let mut ready = false;
    for _ in 0..150 {
        if node2.readyz().await.1["status"] == "ready" && app.readyz().await.1["status"] == "ready"
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the nodes never recovered: {}",
        node2.readyz().await.1
    );
    let id = a.say("r4", "redis again").await["id"].as_i64().unwrap();
    b.until("after recovery", |v| {
        v["type"] == "message" && v["id"] == id
    })
    .await;
    let ids = b.message_ids();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates: {ids:?}"
    );
}

async fn a_restarted_room_loses_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, slug) = setup(&app).await;
    let mut o = Chat::join(&app, &owner, &slug).await;
    let mut r = Chat::open(&app, &slug, "").await;
    let before = o.say("x1", "before").await["id"].as_i64().unwrap();
    r.wait_messages(1).await;
    let admin = app.admin_token().await;
    let res = app
        .client
        .post(app.api(&format!("/admin/chat/{slug}/restart")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The sockets stay open, rejoin the new room and carry on.
    let mut after = None;
    for n in 0..50 {
        let reply = o.say(&format!("x2-{n}"), "after").await;
        if reply["type"] == "ack" {
            after = reply["id"].as_i64();
            break;
        }
        assert_eq!(reply["code"], "unavailable", "{reply}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = after.expect("the room came back");
    assert_eq!(after, before + 1);
    r.until("after the restart", |v| {
        v["type"] == "message" && v["id"] == after
    })
    .await;
    let ids = r.message_ids();
    assert_eq!(ids, vec![before, after], "no gap, no duplicate");
    let health: Value = app
        .get_auth("/admin/health", &admin)
        .await
        .json()
        .await
        .unwrap();
    let room = &health["chat"]["rooms"][0];
    assert_eq!(room["actor"]["restarts"], 1, "{room}");
    assert_eq!(room["members"], 2, "{room}");
    // A viewer may not do this.
    let res = app
        .client
        .post(app.api(&format!("/admin/chat/{slug}/restart")))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn emotes_connection_cap_and_retention(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.chat.max_connections_per_ip = 2).await;
    let (owner, slug) = setup(&app).await;
    let emotes = app.get_json("/chat/emotes").await;
    let wave = emotes
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "wave")
        .unwrap();
    let svg = app
        .client
        .get(format!("{}{}", app.url, wave["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.status(), StatusCode::OK);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().starts_with("<svg"));

    // Two sockets from this address, not three.
    let mut o = Chat::join(&app, &owner, &slug).await;
    let _r = Chat::open(&app, &slug, "").await;
    let url = format!(
        "{}/api/v1/chat/{slug}/ws",
        app.url.replace("http://", "ws://")
    );
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("429"), "{err}");

    // Messages past retention are purged when a node starts (and hourly).
    o.say("old", "ancient history").await;
    let id = o.say("new", "recent").await["id"].as_i64().unwrap();
    let stamp = if app.backend == Backend::Postgres {
        "NOW() - INTERVAL '40 days'"
    } else {
        "datetime('now', '-40 days')"
    };
    app.db
        .execute_unprepared(&format!(
            "UPDATE chat_messages SET created_at = {stamp} WHERE client_id = 'old'"
        ))
        .await
        .unwrap();
    let node2 = restart(&app).await;
    let mut left = Vec::new();
    for _ in 0..50 {
        let page = node2.get_json(&format!("/chat/{slug}/messages")).await;
        left = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, vec![id]);
}

crate::both_backends!(
    a_restarted_room_loses_nothing,
    emotes_connection_cap_and_retention
);
