//! Passwords, tokens and the authenticated-user extractor.
//!
//! - Passwords: argon2id with OWASP's parameters (m = 19456 KiB, t = 2, p = 1), hashed off
//!   the async workers, a bounded number at a time ([`crate::password`]).
//! - Access tokens: HS256 JWTs, 15 minutes, with `iss`, `aud`, `exp`, `nbf`, `iat`, `jti`,
//!   `typ = "access"` and `ver`, the user's token version: bumping it (password change)
//!   revokes every outstanding access token at once.
//! - Refresh tokens: opaque random strings, stored hashed, rotated on use (see `entities`).

use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use sea_orm::EntityTrait;
use streamhall_entities::{User, user};

pub use crate::tokens::{ACCESS_TYPE, Claims, TokenKeys};
use crate::{
    error::{ApiError, ApiResult},
    password::{Hasher, PasswordError},
    state::AppState,
};

fn password_error(e: PasswordError) -> ApiError {
    match e {
        PasswordError::Overloaded(o) => ApiError::Overloaded {
            retry_after_secs: o.retry_after_secs,
        },
        PasswordError::Internal(e) => ApiError::internal(anyhow::anyhow!(e)),
    }
}

/// Hashes a password into a PHC string; bounded (see [`crate::password`]).
pub async fn hash_password(password: String) -> ApiResult<String> {
    Hasher::shared()
        .hash(password)
        .await
        .map_err(password_error)
}

/// A valid hash of a random password, verified against when the account does not exist so
/// that a login takes as long either way.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3RyZWFtaGFsbGR1bW15$9mJtvZ3sMVTRqglPxGYnsxf6cq7nVzfNFrYC6YNE+9o";

/// Checks a password against a stored hash (or the dummy hash); bounded (see
/// [`crate::password`]).
pub async fn verify_password(password: String, stored: Option<String>) -> ApiResult<bool> {
    let real = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
    let ok = Hasher::shared()
        .verify(password, stored)
        .await
        .map_err(password_error)?;
    Ok(ok && real)
}

/// The user a valid access token belongs to. Rejects with 401 when the header is missing,
/// the token fails validation, the user is gone, or the token's version is stale.
pub struct AuthUser(pub user::Model);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let token = token.ok_or(ApiError::Unauthorized)?;
            let claims = state.tokens.verify(&token)?;
            let id: i64 = claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
            let user = User::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            if user.token_version != claims.ver || user.deleted_at.is_some() {
                return Err(ApiError::Unauthorized);
            }
            suspension_check(&user)?;
            Ok(AuthUser(user))
        })
    }
}

/// 403 `account_suspended` (with the reason and the end) while `user` is suspended.
pub fn suspension_check(user: &user::Model) -> ApiResult<()> {
    match user.suspension(chrono::Utc::now()) {
        Some(s) => Err(ApiError::AccountSuspended(crate::error::SuspensionInfo {
            reason: s.reason,
            until: s.until,
        })),
        None => Ok(()),
    }
}

/// Like [`AuthUser`] but optional: no header is `None`; a bad token is still 401.
pub struct MaybeUser(pub Option<user::Model>);

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.headers().get(header::AUTHORIZATION).is_none() {
            return Box::pin(async { Ok(MaybeUser(None)) });
        }
        let fut = AuthUser::from_request(req, payload);
        Box::pin(async move { fut.await.map(|u| MaybeUser(Some(u.0))) })
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The client address used for rate limits.
pub fn client_ip(req: &HttpRequest, trust_proxy: bool) -> String {
    if trust_proxy && let Some(ip) = req.connection_info().realip_remote_addr() {
        return ip.to_owned();
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
