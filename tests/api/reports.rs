//! Reports and the moderation queue: users report channels, chat messages, videos and clips
//! (checked, collapsed per open item, throttled); staff claim and resolve the cases with each
//! action; the reporters are notified; every staff action is in the audit log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    both_backends,
    chat::Chat,
    helpers::{Backend, Session, TestApp, expect_error, spawn_app},
    videos::{fixture, insert_clip, insert_video},
};

both_backends!(
    reports_are_checked_collapsed_and_throttled,
    each_action_resolves_the_case_and_notifies_the_reporters,
);

impl TestApp {
    pub(crate) async fn report(&self, token: &str, body: Value) -> reqwest::Response {
        self.post_json("/reports", &body, Some(token)).await
    }

    pub(crate) async fn staff(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method, self.api(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn queue(&self, token: &str, query: &str) -> Value {
        let res = self
            .get_auth(&format!("/admin/reports{query}"), token)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "queue {query}");
        res.json().await.unwrap()
    }

    pub(crate) async fn resolve(&self, token: &str, id: i64, body: Value) -> reqwest::Response {
        self.staff(
            Method::POST,
            &format!("/admin/reports/{id}/resolve"),
            token,
            Some(body),
        )
        .await
    }

    pub(crate) async fn notifications_of(&self, token: &str) -> Vec<Value> {
        self.get_auth_json("/notifications", token).await["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// A user made a site moderator by the admin.
    pub(crate) async fn moderator(&self, admin: &str, name: &str) -> Session {
        let s = self.register(name).await;
        let res = self
            .staff(
                Method::PUT,
                &format!("/admin/users/{}/role", s.user_id),
                admin,
                Some(json!({"role": "moderator"})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        // A role change ends the sign-ins: sign in again.
        let body: Value = self.login(name, &s.password).await.json().await.unwrap();
        crate::helpers::session(&body, &s.password)
    }
}

/// The one case of `kind` in the open queue.
pub(crate) async fn case_of(app: &TestApp, token: &str, kind: &str) -> Value {
    let page = app.queue(token, &format!("?kind={kind}")).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    items[0].clone()
}

async fn reports_are_checked_collapsed_and_throttled(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let app = &f.app;
    let admin = app.admin_token().await;
    let a = app.register("alice").await;
    let b = app.register("bob").await;

    // Signed-in users only; every bad field named.
    let anon = app
        .post_json(
            "/reports",
            &json!({"kind": "channel", "target": "vods", "reason": "spam"}),
            None,
        )
        .await;
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    for (body, field) in [
        (
            json!({"kind": "user", "target": "vods", "reason": "spam"}),
            "kind",
        ),
        (
            json!({"kind": "channel", "target": "vods", "reason": "rude"}),
            "reason",
        ),
        (
            json!({"kind": "channel", "target": "vods", "reason": "other"}),
            "details",
        ),
        (
            json!({"kind": "channel", "target": "vods", "reason": "spam", "details": "x".repeat(1001)}),
            "details",
        ),
        (
            json!({"kind": "message", "target": "vods", "reason": "spam"}),
            "message_id",
        ),
    ] {
        let body = expect_error(
            app.report(&a.access, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert_eq!(body["field"], field, "{body}");
    }
    expect_error(
        app.report(
            &a.access,
            json!({"kind": "channel", "target": "nochannel", "reason": "spam"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.report(
            &a.access,
            json!({"kind": "video", "target": "novideo", "reason": "spam"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        app.queue(&admin, "").await["total"],
        0,
        "nothing bad was kept"
    );

    // Two users, one case; the same user again counts once.
    let first = app
        .report(&a.access, json!({"kind": "channel", "target": "vods", "reason": "other", "details": "fake giveaway"}))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(first.json::<Value>().await.unwrap()["duplicate"], false);
    let again = app
        .report(
            &a.access,
            json!({"kind": "channel", "target": "vods", "reason": "spam"}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["duplicate"], true);
    let second = app
        .report(
            &b.access,
            json!({"kind": "channel", "target": "vods", "reason": "hate"}),
        )
        .await;
    assert_eq!(second.status(), StatusCode::CREATED);
    let case = case_of(app, &admin, "channel").await;
    assert_eq!(case["report_count"], 2, "{case}");
    assert_eq!(case["reason"], "other");
    assert_eq!(case["snapshot"]["channel_slug"], "vods");
    assert_eq!(case["snapshot"]["owner_name"], "streamer");
    let detail = app
        .get_auth_json(&format!("/admin/reports/{}", case["id"]), &admin)
        .await;
    let reporters: Vec<(&str, &str)> = detail["reporters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["username"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(reporters, [("alice", "other"), ("bob", "hate")]);
    assert_eq!(detail["reporters"][0]["details"], "fake giveaway");
    assert_eq!(detail["item_status"], "present");

    // Ordinary users do not see the queue.
    expect_error(
        app.get_auth("/admin/reports", &a.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        app.get_auth("/admin/reports?state=closed", &admin).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;

    // Ten reports per ten minutes: alice has filed one; nine more pass, the next is 429.
    for i in 0..9 {
        let id = insert_video(&f, &format!("v{i}"), "public", "ready", 1).await;
        let res = app
            .report(
                &a.access,
                json!({"kind": "video", "target": id, "reason": "spam"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "report {i}");
    }
    let id = insert_video(&f, "one too many", "public", "ready", 1).await;
    let res = app
        .report(
            &a.access,
            json!({"kind": "video", "target": id, "reason": "spam"}),
        )
        .await;
    let retry: u64 = res.headers()[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "Retry-After {retry}");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Others are not throttled by alice's reports; the queue pages oldest first.
    let res = app
        .report(
            &b.access,
            json!({"kind": "video", "target": id, "reason": "spam"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let page = app.queue(&admin, "?limit=4").await;
    assert_eq!(page["total"], 11);
    assert_eq!(page["next_offset"], 4);
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    assert_eq!(app.queue(&admin, "?kind=video").await["total"], 10);
}

async fn each_action_resolves_the_case_and_notifies_the_reporters(backend: Backend) {
    let f = fixture(spawn_app(backend).await).await;
    let app = &f.app;
    let admin = app.admin_token().await;
    let moderator = app.moderator(&admin, "mod").await;
    let r1 = app.register("reporter1").await;
    let r2 = app.register("reporter2").await;
    let troll = app.register("troll").await;

    // A chat message around others, a video, a clip.
    let mut chat = Chat::join(app, &troll, "vods").await;
    chat.say("c1", "hello all").await;
    let bad = chat.say("c2", "something nasty").await;
    assert_eq!(bad["type"], "ack", "{bad}");
    let message_id = bad["id"].as_i64().unwrap();
    chat.say("c3", "and more").await;
    let video = insert_video(&f, "the video", "public", "ready", 1).await;
    let clip = insert_clip(&f, f.owner.user_id, "the clip", "ready", 1).await;

    let message = json!({"kind": "message", "target": "vods", "message_id": message_id, "reason": "harassment"});
    for r in [&r1, &r2] {
        assert_eq!(
            app.report(&r.access, message.clone()).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.report(
            &r1.access,
            json!({"kind": "video", "target": video, "reason": "violence"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.report(
            &r2.access,
            json!({"kind": "clip", "target": clip, "reason": "spam"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.report(
            &r1.access,
            json!({"kind": "channel", "target": "vods", "reason": "illegal"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );

    // The message case keeps the message and shows the chat around it.
    let case = case_of(app, &moderator.access, "message").await;
    assert_eq!(case["snapshot"]["message_text"], "something nasty");
    assert_eq!(case["snapshot"]["author_name"], "troll");
    let id = case["id"].as_i64().unwrap();
    // Claimed by the moderator; the admin cannot claim it too.
    let res = app
        .staff(
            Method::POST,
            &format!("/admin/reports/{id}/claim"),
            &moderator.access,
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["claimed_by"], "mod");
    expect_error(
        app.staff(
            Method::POST,
            &format!("/admin/reports/{id}/claim"),
            &admin,
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(app.queue(&admin, "?state=claimed").await["total"], 1);
    // An action that does not fit the kind is refused, and changes nothing.
    let body = expect_error(
        app.resolve(&moderator.access, id, json!({"action": "take_down"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert_eq!(body["field"], "action");

    // delete_message: gone from the room and its history; both reporters told.
    let res = app
        .resolve(
            &moderator.access,
            id,
            json!({"action": "delete_message", "note": "insult"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let resolved: Value = res.json().await.unwrap();
    assert_eq!(resolved["state"], "resolved");
    assert_eq!(resolved["action"], "delete_message");
    assert_eq!(resolved["resolved_by"], "mod");
    chat.until("the deletion", |v| {
        v["type"] == "deleted" && v["id"] == message_id
    })
    .await;
    let history = app.get_json("/chat/vods/messages").await;
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(!texts.contains(&"something nasty"), "{texts:?}");
    let detail = app
        .get_auth_json(&format!("/admin/reports/{id}"), &admin)
        .await;
    assert_eq!(detail["item_status"], "deleted");
    let context: Vec<(&str, bool, bool)> = detail["context"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["text"].as_str().unwrap(),
                m["reported"].as_bool().unwrap(),
                m["deleted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        context,
        [
            ("hello all", false, false),
            ("something nasty", true, true),
            ("and more", false, false)
        ]
    );
    for r in [&r1, &r2] {
        let n = app.notifications_of(&r.access).await;
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0]["kind"], "report_resolved");
        assert_eq!(n[0]["channel_slug"], "vods");
        assert!(
            n[0]["title"].as_str().unwrap().contains("action was taken"),
            "{}",
            n[0]
        );
    }
    // Resolving again is 409, and nothing more is sent.
    expect_error(
        app.resolve(&admin, id, json!({"action": "dismiss"})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(app.notifications_of(&r1.access).await.len(), 1);

    // take_down: viewers get 410 with the public notice; the reporter is told.
    let vcase = case_of(app, &admin, "video").await["id"].as_i64().unwrap();
    let res = app
        .resolve(&admin, vcase, json!({"action": "take_down"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let gone = expect_error(
        app.get(&format!("/videos/{video}")).await,
        StatusCode::GONE,
        "taken_down",
    )
    .await;
    assert!(
        gone["message"]
            .as_str()
            .unwrap()
            .contains("Taken down by the moderators: Violence or threats"),
        "{gone}"
    );
    assert!(
        app.notifications_of(&r1.access).await[0]["title"]
            .as_str()
            .unwrap()
            .contains("a video")
    );

    // dismiss: the clip stays; its reporter learns no rule was broken.
    let ccase = case_of(app, &admin, "clip").await["id"].as_i64().unwrap();
    let res = app
        .resolve(
            &moderator.access,
            ccase,
            json!({"action": "dismiss", "note": "fine"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get(&format!("/clips/{clip}")).await.status(),
        StatusCode::OK
    );
    let n = app.notifications_of(&r2.access).await;
    assert!(
        n[0]["title"].as_str().unwrap().contains("no rule broken"),
        "{n:?}"
    );

    // suspend: a moderator suspends the channel's owner, who can no longer sign in.
    let chcase = case_of(app, &admin, "channel").await["id"]
        .as_i64()
        .unwrap();
    let body = expect_error(
        app.resolve(&moderator.access, chcase, json!({"action": "suspend"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert_eq!(body["field"], "duration_secs");
    let res = app
        .resolve(
            &moderator.access,
            chcase,
            json!({"action": "suspend", "duration_secs": 3600}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let refused = expect_error(
        app.login("streamer", &f.owner.password).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    assert_eq!(
        refused["suspension"]["reason"],
        "Suspended after a report: Illegal activity"
    );
    assert!(
        app.notifications_of(&r1.access).await[0]["title"]
            .as_str()
            .unwrap()
            .contains("a channel")
    );

    // A moderator may not suspend staff through a report either.
    let mine = app.create_channel(&moderator.access, "modchan").await;
    assert!(mine["channel"]["id"].is_i64());
    let other = app.moderator(&admin, "othermod").await;
    assert_eq!(
        app.report(
            &r2.access,
            json!({"kind": "channel", "target": "modchan", "reason": "spam"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let mcase = case_of(app, &admin, "channel").await["id"]
        .as_i64()
        .unwrap();
    expect_error(
        app.resolve(
            &other.access,
            mcase,
            json!({"action": "suspend", "permanent": true}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.queue(&admin, "?kind=channel").await["total"],
        1,
        "still open"
    );

    // A resolved item reported again opens a new case.
    assert_eq!(
        app.report(
            &r2.access,
            json!({"kind": "clip", "target": clip, "reason": "spam"})
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let reopened = case_of(app, &admin, "clip").await;
    assert_ne!(reopened["id"].as_i64().unwrap(), ccase);
    assert_eq!(reopened["report_count"], 1);
    assert_eq!(app.queue(&admin, "?state=resolved").await["total"], 4);

    // Every staff action is in the audit log.
    let audit = app
        .get_auth_json("/admin/audit?target_kind=report", &admin)
        .await;
    let mut entries: Vec<(String, String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target_id"].as_str().unwrap().to_owned(),
                e["detail"]["action"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    entries.sort();
    let mut expected = vec![
        ("report.claim".to_owned(), id.to_string(), String::new()),
        (
            "report.resolve".to_owned(),
            id.to_string(),
            "delete_message".to_owned(),
        ),
        (
            "report.resolve".to_owned(),
            vcase.to_string(),
            "take_down".to_owned(),
        ),
        (
            "report.resolve".to_owned(),
            ccase.to_string(),
            "dismiss".to_owned(),
        ),
        (
            "report.resolve".to_owned(),
            chcase.to_string(),
            "suspend".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(entries, expected);
    let suspensions = app
        .get_auth_json("/admin/audit?action=user.suspend", &admin)
        .await;
    assert_eq!(
        suspensions["items"][0]["target_id"],
        f.owner.user_id.to_string()
    );
    assert_eq!(suspensions["items"][0]["detail"]["report"], chcase);
    assert_eq!(suspensions["items"][0]["actor_name"], "mod");
}
