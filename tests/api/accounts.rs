//! The account lifecycle: password reset by email (same answer for any address, single-use
//! links that expire, every session ended), email verification gating streaming, deleting
//! one's own account, and the data export. Emails go to an SMTP sink started by the test.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    both_backends,
    chat::Chat,
    helpers::{
        Backend, TestApp, eventually, expect_error, key_of, poll_until, spawn_app, spawn_app_with,
    },
    media_tools::{exits, publish},
    notify::SmtpSink,
    webhooks::allow_loopback,
};

const WAIT: Duration = Duration::from_secs(15);

async fn app_with_smtp(backend: Backend, sink: &SmtpSink) -> TestApp {
    let port = sink.port;
    spawn_app_with(backend, move |c| {
        allow_loopback(c);
        c.notify.smtp = Some(
            serde_json::from_value(json!({
                "host": "127.0.0.1",
                "port": port,
                "tls": "none",
                "from": "streamhall <noreply@streamhall.test>",
            }))
            .unwrap(),
        );
    })
    .await
}

/// The emails received, quoted-printable decoded as far as links need (soft line breaks, `=`).
fn mails(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .iter()
        .map(|m| {
            m.replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
        })
        .collect()
}

/// The token of the `n`-th (0-based) email to `to` linking `/{page}?token=`.
async fn link_token(sink: &SmtpSink, to: &str, page: &str, n: usize) -> String {
    let marker = format!("/{page}?token=");
    poll_until(
        WAIT,
        &format!("email {n} to {to} linking /{page}"),
        || async {
            mails(sink)
                .iter()
                .filter(|m| m.contains(&format!("<{to}>")) && m.contains(&marker))
                .nth(n)
                .map(|m| {
                    let rest = &m[m.find(&marker).unwrap() + marker.len()..];
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
        },
    )
    .await
}

async fn request_reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json("/auth/password-reset", &json!({"email": email}), None)
        .await
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post_json(
        "/auth/password-reset/confirm",
        &json!({"token": token, "new_password": password}),
        None,
    )
    .await
}

async fn delete_me(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.client
        .delete(app.api("/users/me"))
        .bearer_auth(token)
        .json(&json!({"password": password}))
        .send()
        .await
        .unwrap()
}

async fn password_reset_is_the_same_for_any_address_and_its_link_works_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(backend, &sink).await;
    let alice = app.register("alice").await;

    // A known and an unknown address get the same answer.
    let known = request_reset(&app, "Alice@Example.com").await;
    let unknown = request_reset(&app, "nobody@example.com").await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    assert_eq!(
        known.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap()
    );

    let token = link_token(&sink, "alice@example.com", "reset", 0).await;
    assert!(token.starts_with("pr_") && token.len() >= 3 + 32, "{token}");
    let link = format!("{}/reset?token={token}", app.url);
    assert!(mails(&sink).iter().any(|m| m.contains(&link)));
    // Only alice's request made a link, and it is stored hashed.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM account_tokens WHERE purpose = 'password_reset'")
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM account_tokens WHERE token_hash = '{token}'"
        ))
        .await,
        0
    );

    // A weak password is refused without spending the link.
    let res = confirm_reset(&app, &token, "short").await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let res = confirm_reset(&app, &token, "a brand new password").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Once only.
    let res = confirm_reset(&app, &token, "yet another password").await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(body["field"], "token");

    // Every earlier sign-in is over.
    let res = app.get_auth("/users/me", &alice.access).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": alice.refresh}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("alice", &alice.password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("alice", "a brand new password").await.status(),
        StatusCode::OK
    );

    // Throttled per address, whether or not it exists (3 an hour by default).
    for email in ["alice@example.com", "nobody@example.com"] {
        let mut last = StatusCode::OK;
        for _ in 0..3 {
            last = request_reset(&app, email).await.status();
        }
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "{email}");
    }
}

async fn an_expired_or_replaced_reset_link_fails(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(backend, &sink).await;
    app.register("bob").await;

    assert_eq!(
        request_reset(&app, "bob@example.com").await.status(),
        StatusCode::ACCEPTED
    );
    let first = link_token(&sink, "bob@example.com", "reset", 0).await;
    assert_eq!(
        request_reset(&app, "bob@example.com").await.status(),
        StatusCode::ACCEPTED
    );
    let second = link_token(&sink, "bob@example.com", "reset", 1).await;
    // A newer link retires the older one.
    let res = confirm_reset(&app, &first, "a brand new password").await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;

    // Thirty minutes later it has expired.
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        use streamhall_entities::{AccountToken, account_token};
        AccountToken::update_many()
            .col_expr(
                account_token::Column::ExpiresAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
            )
            .filter(account_token::Column::UsedAt.is_null())
            .exec(&app.db)
            .await
            .unwrap();
    }
    let res = confirm_reset(&app, &second, "a brand new password").await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(
        app.login("bob", "pw-bob-secret").await.status(),
        StatusCode::OK
    );
}

async fn verification_gates_streaming_until_the_link_is_opened(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = app_with_smtp(backend, &sink).await;
    // With SMTP configured, verification is required by default.
    let info = app.get_json("/server").await;
    assert_eq!(info["email_verification_required"], true, "{info}");
    assert_eq!(info["sends_email"], true, "{info}");

    let carol = app.register("carol").await;
    let me = app.get_auth_json("/users/me", &carol.access).await;
    assert_eq!(me["email_verified"], false);
    let key = key_of(&app.create_channel(&carol.access, "carol").await);

    // An unverified streamer's publish is refused, and the encoder is told why.
    let mut refused = publish(&format!("{}/{key}", rtmp_base(&app)), 320, 240, 20);
    assert!(
        !exits(&mut refused, WAIT).await,
        "the publish must be refused"
    );
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    refused
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("email address is not verified"), "{stderr}");
    assert_eq!(app.channel("carol").await["is_live"], false);

    // The link from the sign-up email verifies the address.
    let token = link_token(&sink, "carol@example.com", "verify-email", 0).await;
    let res = app
        .post_json("/auth/verify-email", &json!({"token": token}), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post_json("/auth/verify-email", &json!({"token": token}), None)
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let me = app.get_auth_json("/users/me", &carol.access).await;
    assert_eq!(me["email_verified"], true);
    let res = app
        .post_json("/users/me/verification", &json!({}), Some(&carol.access))
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;

    // Now the same key goes live.
    let mut live = publish(&format!("{}/{key}", rtmp_base(&app)), 320, 240, 30);
    eventually(WAIT, "carol live", || async {
        app.channel("carol").await["is_live"] == true
    })
    .await;
    let _ = live.start_kill();

    // A new address is unverified until its own link is opened; resending works.
    let res = app
        .client
        .patch(app.api("/users/me"))
        .bearer_auth(&carol.access)
        .json(&json!({"email": "carol@new.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["email_verified"], false);
    link_token(&sink, "carol@new.example.com", "verify-email", 0).await;
    let res = app
        .post_json("/users/me/verification", &json!({}), Some(&carol.access))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = link_token(&sink, "carol@new.example.com", "verify-email", 1).await;
    let res = app
        .post_json("/auth/verify-email", &json!({"token": token}), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

fn rtmp_base(app: &TestApp) -> String {
    format!("rtmp://{}/live", app.rtmp_addr)
}

async fn without_smtp_verification_is_off_and_the_admin_counts_as_verified(backend: Backend) {
    let app = spawn_app(backend).await;
    let info = app.get_json("/server").await;
    assert_eq!(info["email_verification_required"], false, "{info}");
    assert_eq!(info["sends_email"], false, "{info}");
    let admin = app.admin_token().await;
    let me = app.get_auth_json("/users/me", &admin).await;
    assert_eq!(me["email_verified"], true);
    let dave = app.register("dave").await;
    let me = app.get_auth_json("/users/me", &dave.access).await;
    assert_eq!(me["email_verified"], false);
    let res = app
        .post_json("/users/me/verification", &json!({}), Some(&dave.access))
        .await;
    expect_error(res, StatusCode::CONFLICT, "conflict").await;
    // A reset for a real address answers as always; without SMTP no link is made.
    assert_eq!(
        request_reset(&app, "dave@example.com").await.status(),
        StatusCode::ACCEPTED
    );
}

async fn deleting_an_account_removes_its_data_and_anonymises_its_chat(backend: Backend) {
    let app = spawn_app(backend).await;
    let host = app.register("host").await;
    app.create_channel(&host.access, "host").await;
    let erin = app.register("erin").await;
    app.create_channel(&erin.access, "erin").await;
    let res = app
        .post_json("/channels/host/follow", &json!({}), Some(&erin.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut chat = Chat::join(&app, &erin, "host").await;
    let ack = chat.say("c1", "hello from erin").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    drop(chat);

    // The password is checked.
    let res = delete_me(&app, &erin.access, "not my password").await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let res = delete_me(&app, &erin.access, &erin.password).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let id = erin.user_id;
    for (table, column) in [
        ("channels", "owner_id"),
        ("follows", "user_id"),
        ("refresh_tokens", "user_id"),
        ("notifications", "user_id"),
        ("account_tokens", "user_id"),
    ] {
        let n = app
            .count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = {id}"
            ))
            .await;
        assert_eq!(n, 0, "{table}");
    }
    // The message stays, signed by a deleted user.
    let history = app.get_json("/chat/host/messages").await;
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{history}");
    assert_eq!(messages[0]["text"], "hello from erin");
    assert_eq!(messages[0]["username"], "[deleted]");
    assert_eq!(
        app.get("/channels/erin").await.status(),
        StatusCode::NOT_FOUND
    );
    // Not a user to the admins any more: the tombstone is neither listed nor managed.
    let admin = app.admin_token().await;
    let listed = app.get_auth_json("/admin/users?q=erin", &admin).await;
    assert_eq!(listed["total"], 0, "{listed}");
    let unsuspend = app
        .client
        .delete(app.api(&format!("/admin/users/{id}/suspension")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(unsuspend.status(), StatusCode::NOT_FOUND);

    // Signed out everywhere, cannot sign in, and the name is free again.
    assert_eq!(
        app.get_auth("/users/me", &erin.access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("erin", &erin.password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("erin@example.com", &erin.password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.register("erin").await;

    // The built-in administrator cannot delete itself.
    let (name, password) = app.first_admin.clone().unwrap();
    let admin = app.admin_token().await;
    let res = delete_me(&app, &admin, &password).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.login(&name, &password).await.status(), StatusCode::OK);
}

async fn the_export_holds_the_users_data_and_no_secrets(backend: Backend) {
    let app = spawn_app_with(backend, allow_loopback).await;
    let host = app.register("host").await;
    app.create_channel(&host.access, "host").await;
    let fay = app.register("fay").await;
    let created = app.create_channel(&fay.access, "fay").await;
    let (_, webhook_secret) = app
        .add_webhook(&fay.access, "fay", "http://127.0.0.1:9/hook")
        .await;
    let res = app
        .post_json("/channels/host/follow", &json!({}), Some(&fay.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut chat = Chat::join(&app, &fay, "host").await;
    assert_eq!(chat.say("c1", "fay was here").await["type"], "ack");
    drop(chat);

    let res = app.get_auth("/users/me/export", &fay.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"streamhall-fay-"),
        "{disposition}"
    );
    let text = res.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["format"], "streamhall-account-export/1");
    assert_eq!(export["profile"]["username"], "fay");
    assert_eq!(export["profile"]["email"], "fay@example.com");
    assert_eq!(export["channels"][0]["slug"], "fay");
    assert_eq!(export["follows"][0]["channel"], "host");
    assert_eq!(export["chat_messages"][0]["text"], "fay was here");
    assert_eq!(export["chat_messages"][0]["channel"], "host");
    assert_eq!(export["webhooks"][0]["url"], "http://127.0.0.1:9/hook");
    assert_eq!(export["notification_settings"]["email_enabled"], true);
    assert!(export["sessions"].as_array().is_some_and(|s| !s.is_empty()));
    for key in [
        "videos",
        "clips",
        "broadcasts",
        "notifications",
        "moderation_actions",
    ] {
        assert!(export[key].is_array(), "{key} in {export}");
    }
    // No secrets: webhook signing secret, stream key, password hash.
    assert!(!text.contains(&webhook_secret));
    assert!(!text.contains(&key_of(&created)));
    assert!(!text.contains("argon2"));
    // Someone else's export holds none of fay's.
    let other = app.get_auth("/users/me/export", &host.access).await;
    let other = other.text().await.unwrap();
    assert!(!other.contains("fay was here"));
}

both_backends!(
    password_reset_is_the_same_for_any_address_and_its_link_works_once,
    an_expired_or_replaced_reset_link_fails,
    verification_gates_streaming_until_the_link_is_opened,
    without_smtp_verification_is_off_and_the_admin_counts_as_verified,
    deleting_an_account_removes_its_data_and_anonymises_its_chat,
    the_export_holds_the_users_data_and_no_secrets,
);
