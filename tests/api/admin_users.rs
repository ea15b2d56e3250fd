//! Trust and safety: admins and site moderators manage users (search, suspend, unsuspend,
//! roles, delete), a suspension cuts the user off everywhere at once, and every action lands
//! in the audit log.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::{
    both_backends,
    chat::Chat,
    helpers::{Backend, Session, TestApp, eventually, expect_error, spawn_app},
    limits::closed_code,
    media_tools::publish,
};

both_backends!(
    a_suspension_cuts_the_user_off_until_lifted,
    a_suspension_past_its_end_no_longer_applies,
    moderators_suspend_users_but_grant_no_roles_and_the_last_admin_stays,
    an_admin_deletes_a_user_with_their_channels_and_follows,
    users_are_searched_and_paged,
    every_admin_action_is_in_the_audit_log,
);

impl TestApp {
    pub(crate) async fn admin_session(&self) -> Session {
        let (name, password) = self.first_admin.clone().expect("first admin");
        let body: Value = self.login(&name, &password).await.json().await.unwrap();
        crate::helpers::session(&body, &password)
    }

    pub(crate) async fn admin_req(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .client
            .request(method, self.api(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn suspend(&self, token: &str, user_id: i64, body: Value) -> Response {
        self.admin_req(
            reqwest::Method::POST,
            &format!("/admin/users/{user_id}/suspend"),
            token,
            Some(body),
        )
        .await
    }

    async fn set_role(&self, token: &str, user_id: i64, role: &str) -> Response {
        self.admin_req(
            reqwest::Method::PUT,
            &format!("/admin/users/{user_id}/role"),
            token,
            Some(json!({ "role": role })),
        )
        .await
    }

    /// `DELETE /admin/users/{id}{query}`.
    async fn delete_user(&self, token: &str, user_id: i64, query: &str) -> Response {
        self.admin_req(
            reqwest::Method::DELETE,
            &format!("/admin/users/{user_id}{query}"),
            token,
            None,
        )
        .await
    }

    async fn audit(&self, token: &str, query: &str) -> Vec<Value> {
        let page = self
            .get_auth_json(&format!("/admin/audit{query}"), token)
            .await;
        page["items"].as_array().expect("audit items").clone()
    }
}

async fn a_suspension_cuts_the_user_off_until_lifted(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_session().await;
    let bad = app.register("spammer").await;
    app.create_channel(&bad.access, "spamchan").await;
    let fan = app.register("spamfan").await;
    let res = app
        .post_json("/channels/spamchan/follow", &json!({}), Some(&fan.access))
        .await;
    assert!(res.status().is_success(), "follow: {}", res.status());
    let following = |n: usize| {
        let app = &app;
        let token = fan.access.clone();
        async move {
            let list = app.get_auth_json("/users/me/following", &token).await;
            assert_eq!(list.as_array().map(Vec::len), Some(n), "{list}");
        }
    };
    following(1).await;
    let mut chat = Chat::join(&app, &bad, "spamchan").await;

    let res = app
        .suspend(
            &admin.access,
            bad.user_id,
            json!({"reason": "spam in chat", "duration_secs": 86400}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["suspension"]["reason"], "spam in chat");
    assert!(shown["suspension"]["until"].is_string(), "{shown}");

    // Their open chat socket is closed, their tokens stop working.
    assert_eq!(closed_code(&mut chat).await, 1008, "policy close");
    expect_error(
        app.get_auth("/users/me", &bad.access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let refreshed = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": bad.refresh}),
            None,
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);

    // Sign-in says why and until when.
    let refused = expect_error(
        app.login("spammer", &bad.password).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    assert_eq!(refused["suspension"]["reason"], "spam in chat");
    assert_eq!(refused["suspension"]["until"], shown["suspension"]["until"]);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("spam in chat"),
        "{refused}"
    );
    // A wrong password learns nothing about the suspension.
    expect_error(
        app.login("spammer", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    // Their channel is hidden and its page is gone for now.
    let listed = app.get_json("/channels?q=spamchan").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
    expect_error(
        app.get("/channels/spamchan").await,
        StatusCode::GONE,
        "channel_suspended",
    )
    .await;
    following(0).await;

    // Lifted: sign-in works again and the channel is back.
    let res = app
        .admin_req(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}/suspension", bad.user_id),
            &admin.access,
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let lifted: Value = res.json().await.unwrap();
    assert!(lifted["suspension"].is_null(), "{lifted}");
    assert_eq!(
        app.login("spammer", &bad.password).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get("/channels/spamchan").await.status(), StatusCode::OK);
    let listed = app.get_json("/channels?q=spamchan").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    following(1).await;

    let actions: Vec<String> = app
        .audit(
            &admin.access,
            &format!("?target_kind=user&target_id={}", bad.user_id),
        )
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["user.unsuspend", "user.suspend"]);
}

async fn a_suspension_past_its_end_no_longer_applies(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_session().await;
    let u = app.register("briefly").await;
    let res = app
        .suspend(
            &admin.access,
            u.user_id,
            json!({"reason": "cool off", "duration_secs": 60}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_error(
        app.login("briefly", &u.password).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    // The minute passes (moved back rather than waited for).
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    streamhall_entities::User::update_many()
        .col_expr(
            streamhall_entities::user::Column::SuspendedUntil,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .filter(streamhall_entities::user::Column::Id.eq(u.user_id))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(
        app.login("briefly", &u.password).await.status(),
        StatusCode::OK
    );
    let page = app
        .get_auth_json("/admin/users?q=briefly", &admin.access)
        .await;
    assert!(page["items"][0]["suspension"].is_null(), "{page}");

    // Bad input is refused with a clear error and changes nothing.
    for body in [
        json!({"reason": "", "duration_secs": 3600}),
        json!({"reason": "x"}),
        json!({"reason": "x", "duration_secs": 3600, "permanent": true}),
        json!({"reason": "x", "duration_secs": 5}),
    ] {
        expect_error(
            app.suspend(&admin.access, u.user_id, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
    }
    assert_eq!(
        app.login("briefly", &u.password).await.status(),
        StatusCode::OK
    );
    // Permanent: `until` is null.
    let res = app
        .suspend(
            &admin.access,
            u.user_id,
            json!({"reason": "for good", "permanent": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let refused = expect_error(
        app.login("briefly", &u.password).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    assert!(refused["suspension"]["until"].is_null(), "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("permanently"),
        "{refused}"
    );
}

async fn moderators_suspend_users_but_grant_no_roles_and_the_last_admin_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_session().await;
    let m = app.register("sitemod").await;
    let plain = app.register("plain").await;
    let other = app.register("other").await;

    // Ordinary users see no admin pages.
    expect_error(
        app.get_auth("/admin/users", &plain.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app.set_role(&admin.access, m.user_id, "moderator").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["role"], "moderator");
    let m = crate::helpers::session(
        &app.login("sitemod", &m.password)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        &m.password,
    );

    // A moderator lists users and suspends an ordinary one…
    let page = app.get_auth_json("/admin/users", &m.access).await;
    assert!(page["total"].as_u64().unwrap() >= 4, "{page}");
    let res = app
        .suspend(
            &m.access,
            plain.user_id,
            json!({"reason": "abuse", "duration_secs": 3600}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // …but grants no roles, deletes no one, reads no audit log, and leaves staff alone.
    expect_error(
        app.set_role(&m.access, other.user_id, "moderator").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.delete_user(&m.access, other.user_id, "").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get_auth("/admin/audit", &m.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.suspend(
            &m.access,
            admin.user_id,
            json!({"reason": "coup", "permanent": true}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // The only admin cannot be demoted (nor demote themselves).
    expect_error(
        app.set_role(&admin.access, admin.user_id, "user").await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // With a second admin, the first may go; then the second is the last.
    assert_eq!(
        app.set_role(&admin.access, other.user_id, "admin")
            .await
            .status(),
        StatusCode::OK
    );
    let other = crate::helpers::session(
        &app.login("other", &other.password)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        &other.password,
    );
    assert_eq!(
        app.set_role(&other.access, admin.user_id, "moderator")
            .await
            .status(),
        StatusCode::OK
    );
    expect_error(
        app.set_role(&other.access, other.user_id, "user").await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    expect_error(
        app.set_role(&other.access, plain.user_id, "owner").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    let roles: Vec<Value> = app
        .audit(&other.access, "?action=user.role")
        .await
        .iter()
        .map(|e| e["detail"]["to"].clone())
        .collect();
    assert_eq!(
        roles,
        [json!("moderator"), json!("admin"), json!("moderator")]
    );
}

async fn an_admin_deletes_a_user_with_their_channels_and_follows(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_session().await;
    let gone = app.register("leaving").await;
    let fan = app.register("fan").await;
    app.create_channel(&gone.access, "leavechan").await;
    app.create_channel(&fan.access, "fanchan").await;
    for (who, slug) in [(&fan, "leavechan"), (&gone, "fanchan")] {
        let res = app
            .post_json(
                &format!("/channels/{slug}/follow"),
                &json!({}),
                Some(&who.access),
            )
            .await;
        assert!(res.status().is_success(), "follow {slug}: {}", res.status());
    }
    let res = app
        .delete_user(&admin.access, gone.user_id, "?reason=ban%20evasion")
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let id = gone.user_id;
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM users WHERE id = {id}"))
            .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM channels WHERE owner_id = {id}"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM follows WHERE user_id = {id}"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM follows").await,
        0,
        "the fan's follow went with the channel"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM refresh_tokens WHERE user_id = {id}"
        ))
        .await,
        0
    );
    expect_error(
        app.get("/channels/leavechan").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(app.get("/channels/fanchan").await.status(), StatusCode::OK);
    expect_error(
        app.login("leaving", &gone.password).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let entries = app.audit(&admin.access, "?action=user.delete").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["reason"], "ban evasion");
    assert_eq!(entries[0]["detail"]["username"], "leaving");
    assert_eq!(entries[0]["detail"]["channels"], json!(["leavechan"]));
    // Not oneself here, and a second delete finds no one.
    expect_error(
        app.delete_user(&admin.access, admin.user_id, "").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.delete_user(&admin.access, id, "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn users_are_searched_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_session().await;
    let mut users = Vec::new();
    for i in 1..=5 {
        users.push(app.register(&format!("pager{i}")).await);
    }
    app.create_channel(&users[1].access, "pagerchan").await;
    let ids: Vec<i64> = users.iter().map(|u| u.user_id).collect();

    let first = app
        .get_auth_json("/admin/users?q=PAGER&limit=2", &admin.access)
        .await;
    assert_eq!(first["total"], 5, "{first}");
    let names: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pager5", "pager4"], "newest first");
    assert_eq!(first["next_offset"], 2);
    let last = app
        .get_auth_json("/admin/users?q=pager&limit=2&offset=4", &admin.access)
        .await;
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert_eq!(last["items"][0]["username"], "pager1");
    assert!(last["next_offset"].is_null(), "{last}");

    // By email, with the channel count and role shown.
    let by_email = app
        .get_auth_json("/admin/users?q=pager2%40example", &admin.access)
        .await;
    assert_eq!(by_email["total"], 1, "{by_email}");
    assert_eq!(by_email["items"][0]["channels"], 1);
    assert_eq!(by_email["items"][0]["live"], false);
    assert_eq!(by_email["items"][0]["role"], "user");
    // A LIKE wildcard is a plain character.
    let none = app
        .get_auth_json("/admin/users?q=pager%25", &admin.access)
        .await;
    assert_eq!(none["total"], 0, "{none}");
    // Filters: role and suspended.
    let admins = app
        .get_auth_json("/admin/users?role=admin", &admin.access)
        .await;
    assert_eq!(admins["total"], 1);
    app.suspend(
        &admin.access,
        ids[0],
        json!({"reason": "r", "permanent": true}),
    )
    .await;
    let suspended = app
        .get_auth_json("/admin/users?suspended=true", &admin.access)
        .await;
    assert_eq!(suspended["total"], 1);
    assert_eq!(suspended["items"][0]["id"], ids[0]);
    let active = app
        .get_auth_json("/admin/users?q=pager&suspended=false", &admin.access)
        .await;
    assert_eq!(active["total"], 4);
    expect_error(
        app.get_auth("/admin/users?role=owner", &admin.access).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
}

async fn every_admin_action_is_in_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_session().await;
    let owner = app.register("roomhost").await;
    app.create_channel(&owner.access, "auditroom").await;
    let _reader = Chat::open(&app, "auditroom", "").await;

    let post = |path: &'static str| {
        let app = &app;
        let token = admin.access.clone();
        async move {
            let res = app.post_json(path, &json!({}), Some(&token)).await;
            assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
        }
    };
    post("/admin/actors/presence/restart").await;
    post("/admin/chat/auditroom/restart").await;
    // The room comes back when its reader rejoins; close it once it has.
    eventually(Duration::from_secs(10), "the room to close", || {
        let token = admin.access.clone();
        let app = &app;
        async move {
            app.post_json("/admin/chat/auditroom/close", &json!({}), Some(&token))
                .await
                .status()
                == StatusCode::NO_CONTENT
        }
    })
    .await;
    app.set_role(&admin.access, owner.user_id, "moderator")
        .await;
    app.suspend(
        &admin.access,
        owner.user_id,
        json!({"reason": "x", "permanent": true}),
    )
    .await;

    let all = app.audit(&admin.access, "").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "user.suspend",
            "user.role",
            "chat_room.close",
            "chat_room.restart",
            "service.restart"
        ]
    );
    for e in &all {
        assert_eq!(e["actor_id"], admin.user_id, "{e}");
        assert_eq!(e["actor_name"], "admin", "{e}");
    }
    assert_eq!(all[4]["target_kind"], "service");
    assert_eq!(all[4]["target_id"], "presence");
    assert_eq!(all[2]["target_id"], "auditroom");

    // Filters and paging, newest first.
    let rooms = app
        .audit(&admin.access, "?target_kind=channel&target_id=auditroom")
        .await;
    assert_eq!(rooms.len(), 2);
    let mine = app
        .audit(&admin.access, &format!("?actor_id={}", admin.user_id))
        .await;
    assert_eq!(mine.len(), 5);
    let page = app
        .get_auth_json("/admin/audit?limit=2", &admin.access)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let before = page["next_before"].as_i64().unwrap();
    let rest = app
        .audit(&admin.access, &format!("?limit=10&before={before}"))
        .await;
    let rest: Vec<&str> = rest.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        rest,
        ["chat_room.close", "chat_room.restart", "service.restart"]
    );
    expect_error(
        app.get_auth("/admin/audit?action=user.nothing", &admin.access)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
}

/// A suspension ends the user's live stream, and their key is refused while it lasts.
#[actix_web::test]
async fn a_suspension_ends_the_live_stream_and_refuses_the_key() {
    let app = spawn_app(Backend::Sqlite).await;
    let admin = app.admin_session().await;
    let s = app.register("liveone").await;
    let key = crate::helpers::key_of(&app.create_channel(&s.access, "liveone").await);
    // An admin ends a stream: the encoder is let go, and the log says who did it.
    let mut first = publish(&app.rtmp_url(&key), 426, 240, 60);
    app.wait_for_segments("liveone", "source", 2, Duration::from_secs(30))
        .await;
    let res = app
        .post_json(
            "/admin/streams/liveone/stop",
            &json!({}),
            Some(&admin.access),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    tokio::time::timeout(Duration::from_secs(15), first.wait())
        .await
        .expect("the encoder is disconnected")
        .unwrap();
    let stops = app.audit(&admin.access, "?action=stream.stop").await;
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0]["target_id"], "liveone");

    // Live again, then suspended: the stream ends.
    let _second = publish(&app.rtmp_url(&key), 426, 240, 60);
    eventually(Duration::from_secs(30), "live again", || async {
        app.channel("liveone").await["is_live"] == true
    })
    .await;
    let res = app
        .suspend(
            &admin.access,
            s.user_id,
            json!({"reason": "rules", "duration_secs": 3600}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    eventually(Duration::from_secs(15), "the broadcast to end", || async {
        app.broadcasts("liveone")
            .await
            .iter()
            .all(|(_, ended)| *ended)
    })
    .await;
    // The encoder coming back is refused: nothing goes live again.
    let mut again = publish(&app.rtmp_url(&key), 426, 240, 5);
    let status = tokio::time::timeout(Duration::from_secs(15), again.wait())
        .await
        .expect("ffmpeg gives up")
        .unwrap();
    assert!(!status.success(), "the publish is refused");
    assert_eq!(app.broadcasts("liveone").await.len(), 2);
    let stopped = app.audit(&admin.access, "?action=user.suspend").await;
    assert_eq!(stopped.len(), 1);
}

/// With several nodes, a suspension made through one node ends the stream another node runs:
/// the request goes over the bus to the node that runs it.
#[actix_web::test]
async fn a_suspension_through_another_node_ends_the_stream() {
    let a = crate::helpers::spawn_app_with(Backend::Postgres, |c| c.cluster.lease_secs = 2).await;
    let b = crate::helpers::restart(&a).await;
    let admin = a.admin_session().await;
    let s = a.register("farlive").await;
    let key = crate::helpers::key_of(&a.create_channel(&s.access, "farlive").await);
    let _encoder = publish(&a.rtmp_url(&key), 426, 240, 60);
    eventually(Duration::from_secs(30), "live on A", || async {
        a.channel("farlive").await["is_live"] == true
    })
    .await;
    let res = b
        .suspend(
            &admin.access,
            s.user_id,
            json!({"reason": "rules", "duration_secs": 3600}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    eventually(Duration::from_secs(20), "A's broadcast ended", || async {
        a.broadcasts("farlive")
            .await
            .iter()
            .all(|(_, ended)| *ended)
    })
    .await;
}
