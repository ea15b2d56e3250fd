//! Moderation over REST (ban, timeout, lifting them) and the chat user card, on SQLite and on
//! PostgreSQL + Redis, with the room's sockets hearing what REST did.

use chrono::{DateTime, Utc};
use reqwest::{Response, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::chat::Chat;
use crate::helpers::{Backend, Session, TestApp, expect_error, restart, session, spawn_app};

async fn ban(app: &TestApp, slug: &str, body: Value, token: Option<&str>) -> Response {
    app.post_json(&format!("/channels/{slug}/chat/bans"), &body, token)
        .await
}

async fn unban(app: &TestApp, slug: &str, user: &str, token: Option<&str>) -> Response {
    let mut req = app
        .client
        .delete(app.api(&format!("/channels/{slug}/chat/bans/{user}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn card(app: &TestApp, slug: &str, user: &str, token: Option<&str>) -> Response {
    let path = format!("/chat/{slug}/users/{user}");
    match token {
        Some(t) => app.get_auth(&path, t).await,
        None => app.get(&path).await,
    }
}

async fn card_json(app: &TestApp, user: &str, token: &str) -> Value {
    card(app, "talk", user, Some(token))
        .await
        .json()
        .await
        .unwrap()
}

async fn log_count(app: &TestApp, action: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) FROM chat_moderation_log WHERE action = '{action}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn admin(app: &TestApp) -> Session {
    let (name, password) = app.first_admin.clone().expect("a first admin");
    let res = app.login(&name, &password).await;
    assert_eq!(res.status(), StatusCode::OK);
    session(&res.json().await.unwrap(), &password)
}

/// The owner, a moderator (`helper`), a viewer and a troll in channel `talk`.
async fn cast(app: &TestApp) -> (Session, Session, Session, Session) {
    let owner = app.register("streamer").await;
    app.create_channel(&owner.access, "talk").await;
    let helper = app.register("helper").await;
    let res = app
        .client
        .put(app.api("/channels/talk/moderators/helper"))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let viewer = app.register("viewer").await;
    let troll = app.register("troll").await;
    (owner, helper, viewer, troll)
}

async fn bans_list(app: &TestApp, token: &str) -> Vec<Value> {
    app.get_auth_json("/channels/talk/chat/bans", token)
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn rest_bans_timeouts_and_lifting_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, helper, viewer, troll) = cast(&app).await;
    let mut t = Chat::join(&app, &troll, "talk").await;

    // Who may not.
    let timeout = json!({"username": "troll", "seconds": 600, "reason": "cool down"});
    expect_error(
        ban(&app, "talk", timeout.clone(), None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        ban(&app, "talk", timeout.clone(), Some(&viewer.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        ban(
            &app,
            "talk",
            json!({"username": "streamer"}),
            Some(&helper.access),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        ban(
            &app,
            "talk",
            json!({"username": "nobody_here"}),
            Some(&helper.access),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        ban(
            &app,
            "talk",
            json!({"username": "troll", "seconds": 0}),
            Some(&helper.access),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    expect_error(
        unban(&app, "talk", "troll", Some(&helper.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A moderator times the troll out for 10 minutes: the room hears it, the list shows it.
    let before = Utc::now();
    let res = ban(&app, "talk", timeout, Some(&helper.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let e = t
        .until("timed out", |v| v["type"] == "user_timed_out")
        .await;
    assert_eq!(e["seconds"], 600);
    assert_eq!(e["by"], "helper");
    assert_eq!(t.say("t1", "hello?").await["code"], "timed_out");
    let list = bans_list(&app, &owner.access).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["username"], "troll");
    assert_eq!(list[0]["reason"], "cool down");
    let until: DateTime<Utc> = list[0]["expires_at"].as_str().unwrap().parse().unwrap();
    let secs = (until - before).num_seconds();
    assert!((599..=601).contains(&secs), "{secs}");
    assert_eq!(log_count(&app, "timeout").await, 1);

    // Lifting it: a viewer may not, a moderator may; the troll hears it and may post.
    expect_error(
        unban(&app, "talk", "troll", Some(&viewer.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = unban(&app, "talk", "troll", Some(&helper.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let e = t.until("lifted", |v| v["type"] == "user_unbanned").await;
    assert_eq!(e["by"], "helper");
    assert_eq!(t.say("t2", "thanks").await["type"], "ack");
    assert!(bans_list(&app, &owner.access).await.is_empty());
    assert_eq!(log_count(&app, "untimeout").await, 1);
    expect_error(
        unban(&app, "talk", "troll", Some(&helper.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        unban(&app, "talk", "nobody_here", Some(&helper.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A ban until lifted; the owner lifts one, a site admin another.
    for lifter in [&owner, &admin(&app).await] {
        let res = ban(
            &app,
            "talk",
            json!({"username": "troll", "reason": "spam"}),
            Some(&helper.access),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let e = t.until("banned", |v| v["type"] == "user_banned").await;
        assert_eq!(e["reason"], "spam");
        assert_eq!(t.say("t3", "hm").await["code"], "banned");
        let list = bans_list(&app, &owner.access).await;
        assert_eq!(list[0]["expires_at"], Value::Null);
        let res = unban(&app, "talk", "TROLL", Some(&lifter.access)).await;
        assert_eq!(
            res.status(),
            StatusCode::NO_CONTENT,
            "usernames in any case"
        );
        t.until("unbanned", |v| v["type"] == "user_unbanned").await;
    }
    assert_eq!(log_count(&app, "ban").await, 2);
    assert_eq!(log_count(&app, "unban").await, 2);
    assert_eq!(t.say("t4", "back").await["type"], "ack");

    // The socket's unban says when there is nothing to lift, too.
    let mut h = Chat::join(&app, &helper, "talk").await;
    h.send(json!({"type": "unban", "user": "troll"})).await;
    let r = h
        .until("refused unban", |v| {
            v["type"] == "rejected" && v["action"] == "unban"
        })
        .await;
    assert_eq!(r["code"], "not_found");
    assert_eq!(r["message"], "troll is not banned or timed out");
}

async fn the_user_card_shows_ages_and_moderation_to_moderators(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, helper, viewer, troll) = cast(&app).await;
    let res = app
        .post_json("/channels/talk/follow", &json!({}), Some(&troll.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Anyone sees the public fields; no moderation state.
    let res = card(&app, "talk", "Troll", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["username"], "troll");
    assert_eq!(c["user_id"], troll.user_id);
    assert_eq!(c["display_name"], "troll");
    assert_eq!(c["role"], "viewer");
    let created: DateTime<Utc> = c["created_at"].as_str().unwrap().parse().unwrap();
    let followed: DateTime<Utc> = c["followed_at"].as_str().unwrap().parse().unwrap();
    assert!(created <= followed && followed <= Utc::now(), "{c}");
    assert_eq!(c["moderation"], Value::Null);
    let c: Value = card(&app, "talk", "troll", Some(&viewer.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["moderation"], Value::Null, "viewers see no moderation");
    let c: Value = card(&app, "talk", "viewer", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["followed_at"], Value::Null, "not a follower");

    // Moderators see the ban state and whether they may act.
    let c: Value = card(&app, "talk", "troll", Some(&helper.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["moderation"]["ban"], Value::Null);
    assert_eq!(c["moderation"]["can_act"], true);
    let res = ban(
        &app,
        "talk",
        json!({"username": "troll", "seconds": 60}),
        Some(&helper.access),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let c: Value = card(&app, "talk", "troll", Some(&helper.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["moderation"]["ban"]["username"], "troll");
    assert!(c["moderation"]["ban"]["expires_at"].is_string(), "{c}");

    // Roles, and who may act on whom.
    let c = card_json(&app, "streamer", &helper.access).await;
    assert_eq!(c["role"], "owner");
    assert_eq!(
        c["moderation"]["can_act"], false,
        "a moderator on the owner"
    );
    let c = card_json(&app, "helper", &helper.access).await;
    assert_eq!(c["role"], "moderator");
    assert_eq!(c["moderation"]["can_act"], false, "oneself");
    let c = card_json(&app, "helper", &owner.access).await;
    assert_eq!(c["moderation"]["can_act"], true, "the owner on a moderator");

    expect_error(
        card(&app, "talk", "nobody_here", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        card(&app, "no-such-channel", "troll", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

crate::both_backends!(
    rest_bans_timeouts_and_lifting_them,
    the_user_card_shows_ages_and_moderation_to_moderators,
);

/// A ban and its lifting through one node's REST API reach a socket on the other node.
#[actix_web::test]
async fn rest_moderation_crosses_nodes() {
    let app = spawn_app(Backend::Postgres).await;
    let node2 = restart(&app).await;
    let (_owner, helper, _viewer, troll) = cast(&app).await;
    let mut t = Chat::join(&app, &troll, "talk").await;
    let res = ban(
        &node2,
        "talk",
        json!({"username": "troll", "seconds": 600}),
        Some(&helper.access),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    t.until("timed out from node two", |v| v["type"] == "user_timed_out")
        .await;
    assert_eq!(t.say("x1", "hi").await["code"], "timed_out");
    let res = unban(&node2, "talk", "troll", Some(&helper.access)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    t.until("lifted from node two", |v| v["type"] == "user_unbanned")
        .await;
    assert_eq!(t.say("x2", "hi again").await["type"], "ack");
}
