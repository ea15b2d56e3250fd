//! Register, login, refresh, logout, password change, throttling.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, eventually, expect_error, spawn_app, spawn_app_with},
};

both_backends!(
    register_then_me,
    duplicate_username_and_email_conflict,
    invalid_fields_are_422_naming_the_field,
    malformed_json_is_400,
    login_by_username_or_email_and_uniform_failures,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_revokes_refresh,
    password_change_revokes_everything,
    failed_logins_are_throttled,
    throttle_on_one_address_does_not_lock_out_another,
    concurrent_guesses_are_counted_before_they_are_checked,
    failures_from_elsewhere_slow_the_owner_down_but_never_lock_them_out,
    a_wrong_current_password_is_a_failed_login,
    email_changes_are_throttled,
    profile_update,
);

async fn register_then_me(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("alice").await;
    let res = app.get_auth("/users/me", &s.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["role"], "user");
    assert!(me.get("password_hash").is_none());
    // No token: 401 with the shared error shape.
    let res = app.get("/users/me").await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

async fn duplicate_username_and_email_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("bob").await;
    let res = app
        .post_json(
            "/auth/register",
            &json!({"username": "BOB", "email": "other@example.com", "password": "long enough"}),
            None,
        )
        .await;
    let body = expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(body["field"], "username");
    let res = app
        .post_json(
            "/auth/register",
            &json!({"username": "bobby", "email": "Bob@Example.com", "password": "long enough"}),
            None,
        )
        .await;
    let body = expect_error(res, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(body["field"], "email");
}

async fn invalid_fields_are_422_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (
            json!({"username": "a!", "email": "a@example.com", "password": "long enough"}),
            "username",
        ),
        (
            json!({"username": "carol", "email": "not-an-email", "password": "long enough"}),
            "email",
        ),
        (
            json!({"username": "carol", "email": "c@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "carol", "email": "c@example.com", "password": "x".repeat(129)}),
            "password",
        ),
        (
            json!({"username": "carol", "email": "c@example.com"}),
            "password",
        ),
    ];
    for (body, field) in cases {
        let res = app.post_json("/auth/register", &body, None).await;
        let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert_eq!(err["field"], field, "for {body}");
        assert_eq!(err["fields"][0]["field"], field, "for {body}");
    }
    // Every invalid field at once, in the form's order; `field` and `message` are the first.
    let res = app
        .post_json(
            "/auth/register",
            &json!({"username": "a!", "email": "nope", "password": "short"}),
            None,
        )
        .await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let fields: Vec<&str> = err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "email", "password"], "{err}");
    assert_eq!(err["field"], "username");
    assert_eq!(err["message"], err["fields"][0]["message"]);
    assert_eq!(err["fields"][1]["message"], "not a valid email address");
    assert_eq!(
        err["fields"][2]["message"],
        "passwords are 8 to 128 characters"
    );
    // 128 characters of a multi-byte letter is fine: counted in characters, not truncated.
    let long = "é".repeat(128);
    let res = app
        .post_json(
            "/auth/register",
            &json!({"username": "carol", "email": "c@example.com", "password": long}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(app.login("carol", &long).await.status(), StatusCode::OK);
    assert_eq!(
        app.login("carol", &"é".repeat(127)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn malformed_json_is_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .post(app.api("/auth/register"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "malformed_json").await;
    let res = app
        .client
        .post(app.api("/auth/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"login\": \"{}\"}}", "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

async fn login_by_username_or_email_and_uniform_failures(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("dave").await;
    assert_eq!(
        app.login("dave", &s.password).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("DAVE@example.com", &s.password).await.status(),
        StatusCode::OK
    );
    let wrong = expect_error(
        app.login("dave", "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let missing = expect_error(
        app.login("nobody", "wrong password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        wrong, missing,
        "login failures must not reveal whether the account exists"
    );
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("erin").await;
    let res = app
        .post_json("/auth/refresh", &json!({"refresh_token": s.refresh}), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, s.refresh);
    assert_eq!(
        app.get_auth("/users/me", body["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );

    // Replaying the first token is theft: it fails, and so does the one rotated from it.
    let res = app
        .post_json("/auth/refresh", &json!({"refresh_token": s.refresh}), None)
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .post_json("/auth/refresh", &json!({"refresh_token": second}), None)
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Another sign-in of the same user is unaffected.
    let other: Value = app.login("erin", &s.password).await.json().await.unwrap();
    let res = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": other["refresh_token"]}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn logout_revokes_refresh(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("frank").await;
    let res = app
        .post_json("/auth/logout", &json!({"refresh_token": s.refresh}), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post_json("/auth/refresh", &json!({"refresh_token": s.refresh}), None)
        .await;
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Unknown tokens log out silently too.
    let res = app
        .post_json(
            "/auth/logout",
            &json!({"refresh_token": "rt_nothing"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

async fn password_change_revokes_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("grace").await;
    let other: Value = app.login("grace", &s.password).await.json().await.unwrap();

    let res = app
        .client
        .put(app.api("/users/me/password"))
        .bearer_auth(&s.access)
        .json(&json!({"current_password": "not it at all", "new_password": "a new password"}))
        .send()
        .await
        .unwrap();
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert_eq!(err["field"], "current_password");

    let res = app
        .client
        .put(app.api("/users/me/password"))
        .bearer_auth(&s.access)
        .json(&json!({"current_password": s.password, "new_password": "a new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let fresh: Value = res.json().await.unwrap();

    // Every earlier token, access or refresh, of every sign-in, is dead.
    for access in [&s.access, other["access_token"].as_str().unwrap()] {
        expect_error(
            app.get_auth("/users/me", access).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    for refresh in [s.refresh.as_str(), other["refresh_token"].as_str().unwrap()] {
        let res = app
            .post_json("/auth/refresh", &json!({"refresh_token": refresh}), None)
            .await;
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(
        app.get_auth("/users/me", fresh["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("grace", &s.password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("grace", "a new password").await.status(),
        StatusCode::OK
    );
}

async fn failed_logins_are_throttled(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.auth.throttle.login_failures_per_account_ip = 3;
        c.auth.throttle.account_ip_window_secs = 2;
    })
    .await;
    let s = app.register("heidi").await;
    for _ in 0..3 {
        expect_error(
            app.login("heidi", "wrong password").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    let res = app.login("heidi", &s.password).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3).contains(&retry), "retry-after {retry}");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The lockout ends with its window.
    eventually(Duration::from_secs(5), "the lockout to end", || async {
        app.login("heidi", &s.password).await.status() == StatusCode::OK
    })
    .await;
}

async fn throttle_on_one_address_does_not_lock_out_another(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.http.trust_proxy_headers = true;
        c.auth.throttle.login_failures_per_account_ip = 2;
    })
    .await;
    let s = app.register("ivan").await;
    let attempt = |ip: &'static str, password: String| {
        let app = &app;
        async move {
            app.client
                .post(app.api("/auth/login"))
                .header("x-forwarded-for", ip)
                .json(&json!({"login": "ivan", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for _ in 0..2 {
        assert_eq!(
            attempt("203.0.113.9", "guess".into()).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt("203.0.113.9", s.password.clone()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        attempt("198.51.100.7", s.password.clone()).await,
        StatusCode::OK
    );
}

async fn profile_update(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("judy").await;
    app.register("mallory").await;
    let patch = |body: Value| {
        let app = &app;
        let token = s.access.clone();
        async move {
            app.client
                .patch(app.api("/users/me"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = patch(json!({"display_name": "Judy J", "bio": "hello"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["display_name"], "Judy J");
    assert_eq!(me["bio"], "hello");
    expect_error(
        patch(json!({"email": "mallory@example.com"})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let err = expect_error(
        patch(json!({"display_name": ""})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert_eq!(err["field"], "display_name");
    // Every invalid field at once, and nothing is saved when one is wrong.
    let err = expect_error(
        patch(json!({"display_name": " ", "email": "judy@", "bio": "x".repeat(1001)})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    let fields: Vec<&str> = err["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["display_name", "email", "bio"], "{err}");
    let err = expect_error(
        patch(json!({"display_name": "Judy Two", "bio": "x".repeat(1001)})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert_eq!(err["fields"].as_array().unwrap().len(), 1, "{err}");
    let me = app.get_auth_json("/users/me", &s.access).await;
    assert_eq!(
        me["display_name"], "Judy J",
        "a refused update changes nothing"
    );
}

async fn concurrent_guesses_are_counted_before_they_are_checked(backend: Backend) {
    // Default limits: 5 failures per account from one address.
    let app = spawn_app(backend).await;
    let s = app.register("judy").await;
    let guesses = (0..30).map(|i| {
        let app = &app;
        async move { app.login("judy", &format!("guess {i}")).await.status() }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 30, "{statuses:?}");
    assert_eq!(
        checked, 5,
        "only the first 5 guesses may be checked: {statuses:?}"
    );
    expect_error(
        app.login("judy", &s.password).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

async fn failures_from_elsewhere_slow_the_owner_down_but_never_lock_them_out(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.http.trust_proxy_headers = true;
        c.auth.throttle.login_failures_per_account_ip = 2;
        c.auth.throttle.login_failures_per_account = 4;
    })
    .await;
    let s = app.register("karl").await;
    let attempt = |ip: &'static str, login: &'static str, password: String| {
        let app = &app;
        async move {
            app.client
                .post(app.api("/auth/login"))
                .header("x-forwarded-for", ip)
                .json(&json!({"login": login, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Others fail 6 times from 3 addresses: past the account's limit of 4.
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        for _ in 0..2 {
            assert_eq!(
                attempt(ip, "karl", "guess".into()).await,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    // The email form is the same account: its budget on that address is spent too.
    assert_eq!(
        attempt("203.0.113.1", "karl@example.com", "guess".into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, from their own address, gets in (after a short wait).
    let started = std::time::Instant::now();
    assert_eq!(
        attempt("198.51.100.7", "karl", s.password.clone()).await,
        StatusCode::OK
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "no slow-down"
    );
}

async fn a_wrong_current_password_is_a_failed_login(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.auth.throttle.login_failures_per_account_ip = 3;
    })
    .await;
    let s = app.register("lena").await;
    let change = |current: String| {
        let app = &app;
        let access = s.access.clone();
        async move {
            app.client
                .put(app.api("/users/me/password"))
                .bearer_auth(access)
                .json(&json!({"current_password": current, "new_password": "a brand new password"}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        let res = change("not it".into()).await;
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    }
    let res = change(s.password.clone()).await;
    assert!(res.headers().contains_key("retry-after"));
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Logging in from the same address is the same budget.
    assert_eq!(
        app.login("lena", &s.password).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn email_changes_are_throttled(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.auth.throttle.email_changes_per_user = 2;
    })
    .await;
    let s = app.register("mona").await;
    app.register("nils").await;
    let patch = |email: &'static str| {
        let app = &app;
        let access = s.access.clone();
        async move {
            app.client
                .patch(app.api("/users/me"))
                .bearer_auth(access)
                .json(&json!({"email": email}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        patch("nils@example.com").await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(patch("mona2@example.com").await.status(), StatusCode::OK);
    // Not a change: not counted.
    assert_eq!(patch("mona2@example.com").await.status(), StatusCode::OK);
    let res = patch("someone@example.com").await;
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other fields are not limited.
    let res = app
        .client
        .patch(app.api("/users/me"))
        .bearer_auth(&s.access)
        .json(&json!({"bio": "still here"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
