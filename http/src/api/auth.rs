//! `/api/v1/auth/*`: register, login, refresh (rotating), logout.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use std::time::Duration;
use streamhall_entities::{RefreshToken, User, refresh_token, secret, user};

use crate::{
    auth::{client_ip, hash_password, suspension_check, verify_password},
    dto::{AuthResponse, LoginRequest, Me, RefreshRequest, RegisterRequest},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    validate,
};

/// Creates an account and signs it in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = AuthResponse), (status = 409, description = "username or email taken", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, description = "password hashing is busy; see Retry-After", body = ErrorBody)))]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RegisterRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let mut problems = validate::Problems::new();
    problems.check(validate::username(&body.username));
    problems.check(validate::email(body.email.trim()));
    problems.check(validate::password("password", &body.password));
    problems.finish()?;

    let t = &state.auth.throttle;
    let ip_key = format!(
        "register:ip:{}",
        client_ip(&req, state.http.trust_proxy_headers)
    );
    let count = state
        .limiter
        .hit(&ip_key, Duration::from_secs(t.register_window_secs))
        .await;
    if count.hits > t.registrations_per_ip {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: count.resets_in.as_secs() + 1,
        });
    }

    let username_key = body.username.to_lowercase();
    let email = body.email.trim().to_lowercase();
    if User::find()
        .filter(user::Column::UsernameKey.eq(&username_key))
        .one(&state.db)
        .await?
        .is_some()
    {
        return Err(taken("username"));
    }
    if User::find()
        .filter(user::Column::Email.eq(&email))
        .one(&state.db)
        .await?
        .is_some()
    {
        return Err(taken("email"));
    }
    let password_hash = hash_password(body.password).await?;
    let now = Utc::now();
    let created = user::ActiveModel {
        username: Set(body.username.clone()),
        username_key: Set(username_key),
        email: Set(email),
        display_name: Set(body.username),
        bio: Set(String::new()),
        password_hash: Set(password_hash),
        role: Set(user::ROLE_USER.into()),
        token_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await
    .map_err(|e| unique_to_conflict(e, "username"))?;
    tracing::info!(user_id = created.id, "account registered");
    crate::accounts::account_created(&state.accounts, &state.db, &state.public_url, &created);
    let response = sign_in(&state, &created, None).await?;
    Ok(HttpResponse::Created().json(response))
}

/// Signs in with a username or email and a password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, description = "wrong login or password", body = ErrorBody),
        (status = 403, description = "`account_suspended`: the account is suspended; `suspension` says why and until when", body = crate::error::AccountSuspendedBody),
        (status = 429, description = "too many failed attempts; see Retry-After", body = ErrorBody),
        (status = 503, description = "password checks are busy; see Retry-After", body = ErrorBody)))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let login = body.login.trim().to_lowercase();
    if login.is_empty() || login.len() > 254 || body.password.chars().count() > 128 {
        return Err(ApiError::InvalidCredentials);
    }
    let ip = client_ip(&req, state.http.trust_proxy_headers);
    let column = if login.contains('@') {
        user::Column::Email
    } else {
        user::Column::UsernameKey
    };
    let found = User::find()
        .filter(column.eq(&login))
        .filter(user::Column::DeletedAt.is_null())
        .one(&state.db)
        .await?;
    // Counted per account, whichever name was typed; per login string when there is none.
    let who = found
        .as_ref()
        .map_or_else(|| format!("name:{login}"), |u| u.id.to_string());
    let attempt = LoginAttempt::reserve(&state, &ip, &who).await?;
    let ok = verify_password(
        body.password,
        found.as_ref().map(|u| u.password_hash.clone()),
    )
    .await?;
    let Some(account) = found.filter(|_| ok) else {
        return Err(ApiError::InvalidCredentials);
    };
    attempt.succeeded(&state).await;
    // Said only to whoever knows the password.
    suspension_check(&account)?;
    Ok(HttpResponse::Ok().json(sign_in(&state, &account, None).await?))
}

/// A password guess, counted before the password is checked so that concurrent guesses see
/// each other (counting after the check let 100 parallel guesses through a limit of 5).
///
/// - Per address and per account from one address: hard limits, 429 with `Retry-After`.
/// - Per account from every address: a soft limit. Past it each attempt waits (250 ms more per
///   attempt over, at most 5 s) and is then checked, so others failing from elsewhere slow the
///   owner down but cannot lock them out.
///
/// A correct password takes its counts back.
pub(crate) struct LoginAttempt {
    hard: [String; 2],
    soft: String,
}

impl LoginAttempt {
    pub(crate) async fn reserve(state: &AppState, ip: &str, who: &str) -> ApiResult<Self> {
        let t = &state.auth.throttle;
        let hard = [
            (
                format!("login:ip:{ip}"),
                t.login_failures_per_ip,
                t.ip_window_secs,
            ),
            (
                format!("login:acct-ip:{who}:{ip}"),
                t.login_failures_per_account_ip,
                t.account_ip_window_secs,
            ),
        ];
        let soft = format!("login:acct:{who}");
        let mut retry_after = 0;
        for (key, limit, window) in &hard {
            let count = state.limiter.hit(key, Duration::from_secs(*window)).await;
            if count.hits > *limit {
                retry_after = retry_after.max(count.resets_in.as_secs() + 1);
            }
        }
        let attempt = Self {
            hard: hard.map(|(key, _, _)| key),
            soft,
        };
        if retry_after > 0 {
            // Refused before any check: not a guess, so it does not count (a client retrying
            // while throttled would otherwise keep itself out).
            for key in &attempt.hard {
                state.limiter.undo(key).await;
            }
            return Err(ApiError::TooManyRequests {
                retry_after_secs: retry_after,
            });
        }
        let count = state
            .limiter
            .hit(&attempt.soft, Duration::from_secs(t.account_window_secs))
            .await;
        let over = count.hits.saturating_sub(t.login_failures_per_account);
        if over > 0 {
            let wait = Duration::from_millis(250 * u64::from(over)).min(Duration::from_secs(5));
            tokio::time::sleep(wait).await;
        }
        Ok(attempt)
    }

    /// The password was right: the attempt was not a failure.
    pub(crate) async fn succeeded(self, state: &AppState) {
        state.limiter.undo(&self.hard[0]).await;
        state.limiter.reset(&self.hard[1]).await;
        state.limiter.undo(&self.soft).await;
    }
}

/// Exchanges a refresh token for a new access and refresh token. Each refresh token works
/// once: presenting a used one again revokes every token of that sign-in.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody),
        (status = 403, description = "`account_suspended`", body = crate::error::AccountSuspendedBody)))]
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let hash = secret::sha256_hex(&body.refresh_token);
    let token = RefreshToken::find()
        .filter(refresh_token::Column::TokenHash.eq(&hash))
        .one(&state.db)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let now = Utc::now();
    if token.revoked_at.is_some() || token.expires_at <= now {
        return Err(ApiError::Unauthorized);
    }
    // Claim the token; if another request got there first, this is a replay.
    let claimed = RefreshToken::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(token.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .exec(&state.db)
        .await?;
    if claimed.rows_affected != 1 {
        revoke_family(&state, &token.family).await?;
        tracing::warn!(
            user_id = token.user_id,
            "refresh token reused: sign-in revoked"
        );
        return Err(ApiError::Unauthorized);
    }
    let account = User::find_by_id(token.user_id)
        .one(&state.db)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    suspension_check(&account)?;
    Ok(HttpResponse::Ok().json(sign_in(&state, &account, Some(token.family)).await?))
}

/// Ends a sign-in: its refresh token (and every token rotated from it) stops working.
/// Always 204, whether or not the token was valid.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "signed out")))]
pub async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let hash = secret::sha256_hex(&body.refresh_token);
    if let Some(token) = RefreshToken::find()
        .filter(refresh_token::Column::TokenHash.eq(&hash))
        .one(&state.db)
        .await?
    {
        revoke_family(&state, &token.family).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Issues an access token and a new refresh token (in `family`, or a new one).
pub async fn sign_in(
    state: &AppState,
    account: &user::Model,
    family: Option<String>,
) -> ApiResult<AuthResponse> {
    let refresh = secret::generate_token("rt_", 32)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(state.refresh_ttl()).map_err(ApiError::internal)?;
    refresh_token::ActiveModel {
        user_id: Set(account.id),
        family: Set(family.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())),
        token_hash: Set(secret::sha256_hex(&refresh)),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok(AuthResponse {
        user: Me::from(account),
        access_token: state.tokens.issue(account)?,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_secs(),
        refresh_token: refresh,
    })
}

async fn revoke_family(state: &AppState, family: &str) -> ApiResult<()> {
    RefreshToken::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::Family.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&state.db)
        .await?;
    Ok(())
}

fn taken(field: &'static str) -> ApiError {
    ApiError::Conflict {
        field,
        message: format!("that {field} is already taken"),
    }
}

/// A unique-index violation on insert (a race with another request) is a 409, not a 500.
pub fn unique_to_conflict(err: sea_orm::DbErr, field: &'static str) -> ApiError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => taken(field),
        _ => err.into(),
    }
}
