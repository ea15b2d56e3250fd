//! The supervision tree under failure: a fault injected (test builds only, feature
//! `fault-injection`) into each of the registry's services and into a chat room, as a clean
//! stop and, for a room and presence, as a handler that panics; each is restarted, the restart shows in the health tree, and the service it gives comes back.
//! (A stream's children: `actors/tests/live/publish.rs` kills ffmpeg and checks the transcoder
//! restart; `actors/tests/live/supervision.rs` stops a stream actor itself and checks that its
//! broadcast is ended.)

use std::time::Duration;

use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use streamhall_actors::{BusEvent, ServiceKind};

use crate::chat::Chat;
use crate::helpers::{Backend, TestApp, eventually, poll_until, spawn_app};

const WAIT: Duration = Duration::from_secs(15);

async fn tree(app: &TestApp, token: &str) -> Value {
    app.get_auth_json("/admin/health", token).await
}

/// Depth-first search of the tree's `root` for the node of `kind`/`id`.
fn find<'a>(node: &'a Value, kind: &str, id: &str) -> Option<&'a Value> {
    let a = &node["actor"];
    if a["kind"] == kind && a["id"] == id {
        return Some(node);
    }
    node["children"]
        .as_array()?
        .iter()
        .find_map(|c| find(c, kind, id))
}

/// Waits until the node has `restarts` and runs again; returns the tree.
async fn restarted(app: &TestApp, token: &str, kind: &str, id: &str, restarts: u64) -> Value {
    poll_until(
        WAIT,
        &format!("{kind} {id} restarted {restarts} times"),
        || async {
            let t = tree(app, token).await;
            let n = find(&t["root"], kind, id)?;
            (n["actor"]["restarts"] == restarts && n["actor"]["state"] != "restarting")
                .then_some(t.clone())
        },
    )
    .await
}

#[actix_web::test]
async fn the_registry_is_the_one_root_with_counted_mailboxes() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.admin_token().await;
    // The first query is the one being handled while each service reports (depth 1, nothing
    // handled yet); the second sees it handled.
    tree(&app, &token).await;
    let t = tree(&app, &token).await;
    let root = &t["root"];
    assert_eq!(root["actor"]["kind"], "registry");
    let kinds: Vec<&str> = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["actor"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["chat_directory", "presence", "notifier"]);
    for kind in ["chat_directory", "presence", "notifier"] {
        let n = find(
            root,
            kind,
            if kind == "chat_directory" {
                "chat"
            } else {
                kind
            },
        )
        .unwrap();
        // Counted: a number, not null; every service has handled at least a health query.
        assert!(n["actor"]["mailbox"].is_u64(), "{n}");
        assert!(n["actor"]["messages"].as_u64().unwrap() >= 1, "{n}");
        assert_eq!(n["actor"]["restarts"], 0);
    }
    assert_eq!(t["node"], app.live.cluster.node_id());
    assert!(t["dead_letters"].is_array());
}

#[actix_web::test]
async fn a_room_that_fails_is_restarted_and_chat_comes_back() {
    room_fails_and_comes_back(false, "injected fault").await;
}

/// A handler that panics (not a clean stop): actix stops the room as its task is dropped, the
/// room reports the panic as its error, and it is restarted like a failed one.
#[actix_web::test]
async fn a_room_whose_handler_panics_is_restarted_and_chat_comes_back() {
    room_fails_and_comes_back(true, "a handler panicked").await;
}

async fn room_fails_and_comes_back(panic: bool, error: &str) {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.admin_token().await;
    let owner = app.register("streamer").await;
    let created = app.create_channel(&owner.access, "talk").await;
    let channel_id = created["channel"]["id"]
        .as_i64()
        .or_else(|| created["id"].as_i64())
        .unwrap();
    let viewer = app.register("viewer").await;
    let mut a = Chat::join(&app, &owner, "talk").await;
    let mut b = Chat::join(&app, &viewer, "talk").await;
    assert_eq!(a.say("c1", "before").await["type"], "ack");
    b.wait_messages(1).await;

    assert!(app.live.chat.inject_room_fault(channel_id, panic).await);
    // The sessions rejoin a fresh room, which counts the failure.
    let t = restarted(&app, &token, "chat_room", "talk", 1).await;
    let room = find(&t["root"], "chat_room", "talk").unwrap();
    assert_eq!(room["actor"]["last_error"], error);

    // A message after the restart reaches the other member, once.
    let reply = say_until_acked(&mut a, "a message accepted after the restart").await;
    let id = reply["id"].as_i64().unwrap();
    b.until("the message after the restart", |v| {
        v["type"] == "message" && v["id"] == id
    })
    .await;
    let ids = b.message_ids();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "no duplicate: {ids:?}");
}

#[actix_web::test]
async fn the_chat_directory_is_restarted_and_its_rooms_come_back() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.admin_token().await;
    let owner = app.register("streamer").await;
    app.create_channel(&owner.access, "talk").await;
    let viewer = app.register("viewer").await;
    let mut a = Chat::join(&app, &owner, "talk").await;
    let mut b = Chat::join(&app, &viewer, "talk").await;
    assert_eq!(a.say("c1", "before").await["type"], "ack");
    b.wait_messages(1).await;

    app.live.inject_service_fault(ServiceKind::ChatDirectory);
    let t = restarted(&app, &token, "chat_directory", "chat", 1).await;
    let dir = find(&t["root"], "chat_directory", "chat").unwrap();
    assert_eq!(dir["actor"]["last_error"], "injected fault");

    let reply = say_until_acked(&mut a, "a message accepted by the new directory's room").await;
    let id = reply["id"].as_i64().unwrap();
    b.until("the message after the restart", |v| {
        v["type"] == "message" && v["id"] == id
    })
    .await;
    // The room under the new directory is in the tree again.
    poll_until(WAIT, "the room under the new directory", || async {
        let t = tree(&app, &token).await;
        find(&t["root"], "chat_room", "talk").map(|_| ())
    })
    .await;
}

#[actix_web::test]
async fn presence_is_restarted_and_counts_viewers_again() {
    presence_fails_and_comes_back(false).await;
}

/// The same when presence's handler panics (not a clean stop).
#[actix_web::test]
async fn presence_whose_handler_panics_is_restarted_and_counts_again() {
    presence_fails_and_comes_back(true).await;
}

async fn presence_fails_and_comes_back(panic: bool) {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.admin_token().await;
    let presence = app.live.presence.clone();
    presence.touch("watched", "v1");
    // Counted by the actor's tick (the totals it publishes), not only locally.
    eventually(WAIT, "the first viewer counted", || async {
        presence.count("watched") == 1
    })
    .await;

    if panic {
        app.live.inject_service_panic(ServiceKind::Presence);
    } else {
        app.live.inject_service_fault(ServiceKind::Presence);
    }
    // While it is down the published totals stand still; after its restart they move again.
    presence.touch("watched", "v2");
    restarted(&app, &token, "presence", "presence", 1).await;
    eventually(
        WAIT,
        "the second viewer counted by the new presence",
        || async { presence.count("watched") == 2 },
    )
    .await;
    // The exit's reason ("injected fault", "a handler panicked"), or the new presence saying
    // what it resumed.
    let t = tree(&app, &token).await;
    let p = find(&t["root"], "presence", "presence").unwrap();
    assert!(
        p["actor"]["last_error"].as_str().is_some_and(|e| {
            e.contains("restarted") || e.contains("injected") || e.contains("panicked")
        }),
        "{p}"
    );
}

#[actix_web::test]
async fn a_pending_go_live_completes_after_the_notifier_restarts() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.admin_token().await;
    let owner = app.register("streamer").await;
    let created = app.create_channel(&owner.access, "golive").await;
    let channel_id = created["channel"]["id"]
        .as_i64()
        .or_else(|| created["id"].as_i64())
        .unwrap();
    let fan = app.register("fan").await;
    let res = app
        .post_json("/channels/golive/follow", &json!({}), Some(&fan.access))
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let b = streamhall_entities::broadcast::ActiveModel {
        channel_id: Set(channel_id),
        started_at: Set(chrono::Utc::now()),
        title: Set("Go".into()),
        peak_viewers: Set(0),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();

    // The go-live and the fault race: whichever the notifier sees first, the job completes.
    app.live.bus.publish(BusEvent::StreamWentLive {
        channel_id,
        slug: "golive".into(),
        broadcast_id: b.id,
        title: "Go".into(),
    });
    app.live.inject_service_fault(ServiceKind::Notifier);
    restarted(&app, &token, "notifier", "notifier", 1).await;
    poll_until(
        WAIT,
        "the go-live notification for the follower",
        || async {
            let inbox = app
                .get_auth_json("/notifications?limit=10", &fan.access)
                .await;
            let items = inbox["items"].as_array()?;
            items
                .iter()
                .any(|n| n["broadcast_id"] == b.id && n["channel_slug"] == "golive")
                .then_some(())
        },
    )
    .await;
    let t = tree(&app, &token).await;
    let n = find(&t["root"], "notifier", "notifier").unwrap();
    assert_eq!(n["actor"]["restarts"], 1);
}

#[actix_web::test]
async fn an_admin_restarts_a_service_and_closes_a_room() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.admin_token().await;
    let res = app
        .post_json("/admin/actors/notifier/restart", &json!({}), Some(&token))
        .await;
    assert_eq!(res.status(), 204);
    let t = restarted(&app, &token, "notifier", "notifier", 1).await;
    let n = find(&t["root"], "notifier", "notifier").unwrap();
    assert_eq!(n["actor"]["last_error"], "restarted by an administrator");
    let res = app
        .post_json("/admin/actors/nonsense/restart", &json!({}), Some(&token))
        .await;
    assert_eq!(res.status(), 404);

    let owner = app.register("streamer").await;
    app.create_channel(&owner.access, "talk").await;
    let _a = Chat::join(&app, &owner, "talk").await;
    poll_until(WAIT, "the room in the tree", || async {
        find(&tree(&app, &token).await["root"], "chat_room", "talk").map(|_| ())
    })
    .await;
    let res = app
        .post_json("/admin/chat/talk/close", &json!({}), Some(&token))
        .await;
    assert_eq!(res.status(), 204);
    // Its member rejoins, which opens a fresh room; the close was not a failure.
    let room = poll_until(WAIT, "the room opened again by its member", || async {
        let t = tree(&app, &token).await;
        let r = find(&t["root"], "chat_room", "talk")?;
        (r["actor"]["uptime_s"].as_f64()? < 5.0 && r["actor"]["state"] == "running")
            .then(|| r.clone())
    })
    .await;
    assert_eq!(room["actor"]["restarts"], 0, "{room}");
    // A viewer cannot do any of it.
    let res = app
        .post_json(
            "/admin/actors/presence/restart",
            &json!({}),
            Some(&owner.access),
        )
        .await;
    assert_eq!(res.status(), 403);
}

/// Sends "after" until the room acks it (while the room restarts, it may be refused), with a
/// deadline.
async fn say_until_acked(chat: &mut Chat, what: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = chat.say(&format!("c{}", rand_id()), "after").await;
        if r["type"] == "ack" {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::hash::RandomState::new().build_hasher().finish()
}
