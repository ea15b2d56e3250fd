//! Access tokens that must be refused: `alg: none`, another algorithm, expired, not yet
//! valid, wrong audience or issuer, tampered, wrong type, stale version.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, JWT_SECRET, expect_error, spawn_app},
};

both_backends!(forged_and_stale_tokens_are_401);

fn claims(user_id: i64, overrides: Value) -> Value {
    let now = Utc::now().timestamp();
    let mut c = json!({
        "iss": "streamhall", "aud": "streamhall-api", "sub": user_id.to_string(),
        "exp": now + 600, "nbf": now, "iat": now, "jti": "t", "typ": "access", "ver": 0,
    });
    for (k, v) in overrides.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn sign(alg: Algorithm, claims: &Value) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn forged_and_stale_tokens_are_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.register("kim").await;
    let id = s.user_id;

    // The control: a token we sign like the server does is accepted, so the refusals below
    // are about the one thing each changes.
    assert_eq!(
        app.get_auth("/users/me", &sign(Algorithm::HS256, &claims(id, json!({}))))
            .await
            .status(),
        StatusCode::OK
    );

    let now = Utc::now().timestamp();
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(claims(id, json!({})).to_string())
    );
    let (head, rest) = s.access.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut payload: Value =
        serde_json::from_slice(&B64.decode(rest.split('.').next().unwrap()).unwrap()).unwrap();
    payload["sub"] = json!((id + 1).to_string());
    let tampered = format!("{head}.{}.{sig}", B64.encode(payload.to_string()));

    let bad = [
        ("alg none", none),
        ("HS512", sign(Algorithm::HS512, &claims(id, json!({})))),
        (
            "expired",
            sign(Algorithm::HS256, &claims(id, json!({"exp": now - 120}))),
        ),
        (
            "not yet valid",
            sign(Algorithm::HS256, &claims(id, json!({"nbf": now + 600}))),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                &claims(id, json!({"aud": "someone-else"})),
            ),
        ),
        (
            "wrong issuer",
            sign(Algorithm::HS256, &claims(id, json!({"iss": "evil"}))),
        ),
        (
            "wrong type",
            sign(Algorithm::HS256, &claims(id, json!({"typ": "refresh"}))),
        ),
        (
            "stale version",
            sign(Algorithm::HS256, &claims(id, json!({"ver": 7}))),
        ),
        ("tampered", tampered),
        ("garbage", "not.a.jwt".into()),
    ];
    for (what, token) in bad {
        let res = app.get_auth("/users/me", &token).await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{what} must be refused"
        );
        expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}
