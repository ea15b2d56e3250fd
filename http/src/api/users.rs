//! `/api/v1/users/me*`: the signed-in user's account.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use streamhall_entities::{Channel, channel};

use crate::{
    api::auth::{LoginAttempt, sign_in, unique_to_conflict},
    auth::{AuthUser, client_ip, hash_password, verify_password},
    dto::{AuthResponse, ChangePassword, ChannelDto, Me, UpdateMe},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    validate,
};

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(AuthUser(u): AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(Me::from(&u)))
}

/// Updates display name, bio or email.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])), request_body = UpdateMe,
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "too many email changes; see Retry-After", body = ErrorBody)))]
pub async fn update_me(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    body: web::Json<UpdateMe>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let user_id = u.id;
    let current_email = u.email.clone();
    let mut model = u.into_active_model();
    let mut problems = validate::Problems::new();
    if let Some(name) = body.display_name
        && let Some(name) = problems.check(validate::text("display_name", &name, 1, 64))
    {
        model.display_name = Set(name);
    }
    if let Some(email) = body.email {
        let email = email.trim().to_lowercase();
        if problems.check(validate::email(&email)).is_some() {
            if email != current_email {
                // A new address is unverified until its owner opens the link sent to it.
                model.email_verified_at = Set(None);
            }
            model.email = Set(email);
        }
    }
    if let Some(bio) = body.bio
        && let Some(bio) = problems.check(validate::text("bio", &bio, 0, 1000))
    {
        model.bio = Set(bio);
    }
    problems.finish()?;
    if let sea_orm::ActiveValue::Set(email) = &model.email
        && *email != current_email
    {
        let t = &state.auth.throttle;
        let count = state
            .limiter
            .hit(
                &format!("email-change:{user_id}"),
                std::time::Duration::from_secs(t.email_change_window_secs),
            )
            .await;
        if count.hits > t.email_changes_per_user {
            return Err(ApiError::TooManyRequests {
                retry_after_secs: count.resets_in.as_secs() + 1,
            });
        }
    }
    model.updated_at = Set(Utc::now());
    let updated = model
        .update(&state.db)
        .await
        .map_err(|e| unique_to_conflict(e, "email"))?;
    if updated.email != current_email {
        crate::accounts::email_changed(&state.accounts, &state.db, &state.public_url, &updated)
            .await?;
        if state.accounts.require_verified_email && !updated.email_verified() {
            end_pulls(&state, updated.id).await?;
        }
    }
    Ok(HttpResponse::Ok().json(Me::from(&updated)))
}

/// The owner's address is unverified now: their camera pulls end wherever they run, and each
/// holds (does not pull again) until the address is verified. Encoders that push are refused
/// when they next connect.
async fn end_pulls(state: &AppState, owner_id: i64) -> ApiResult<()> {
    let slugs: Vec<String> = Channel::find()
        .select_only()
        .column(channel::Column::Slug)
        .filter(channel::Column::OwnerId.eq(owner_id))
        .filter(channel::Column::Source.eq("pull"))
        .into_tuple()
        .all(&state.db)
        .await?;
    if !slugs.is_empty() {
        tracing::info!(user_id = owner_id, channels = ?slugs, "email address unverified: ending camera pulls");
        state.live.end_streams_anywhere(slugs).await;
    }
    Ok(())
}

/// Changes the password. Every other sign-in of this user ends: all refresh tokens are
/// revoked and all access tokens stop working. Returns a fresh pair for this client.
#[utoipa::path(put, path = "/api/v1/users/me/password", tag = "users", security(("bearer" = [])), request_body = ChangePassword,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody),
        (status = 422, description = "current password wrong, or the new one too weak", body = ErrorBody),
        (status = 429, description = "too many wrong current passwords; see Retry-After", body = ErrorBody),
        (status = 503, description = "password checks are busy; see Retry-After", body = ErrorBody)))]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    AuthUser(u): AuthUser,
    body: web::Json<ChangePassword>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    validate::password("new_password", &body.new_password)?;
    // A guess at the current password is a login attempt for this account.
    let ip = client_ip(&req, state.http.trust_proxy_headers);
    let attempt = LoginAttempt::reserve(&state, &ip, &u.id.to_string()).await?;
    if !verify_password(body.current_password, Some(u.password_hash.clone())).await? {
        return Err(ApiError::invalid(
            "current_password",
            "the current password is wrong",
        ));
    }
    attempt.succeeded(&state).await;
    let hash = hash_password(body.new_password).await?;
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let mut model = u.clone().into_active_model();
    model.password_hash = Set(hash);
    let updated = crate::accounts::revoke_sessions(&txn, &u, model, now).await?;
    txn.commit().await?;
    // Every node closes this user's open sockets; their old tokens are refused from now on.
    state
        .live
        .bus
        .publish(streamhall_actors::bus::BusEvent::SessionsRevoked { user_id: u.id });
    tracing::info!(user_id = u.id, "password changed; sessions revoked");
    Ok(HttpResponse::Ok().json(sign_in(&state, &updated, None).await?))
}

/// The signed-in user's channels.
#[utoipa::path(get, path = "/api/v1/users/me/channels", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<ChannelDto>), (status = 401, body = ErrorBody)))]
pub async fn my_channels(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
) -> ApiResult<HttpResponse> {
    let channels = Channel::find()
        .filter(channel::Column::OwnerId.eq(u.id))
        .order_by_asc(channel::Column::Id)
        .all(&state.db)
        .await?;
    let items: Vec<ChannelDto> = channels
        .iter()
        .map(|c| ChannelDto::new(&state, c, &u))
        .collect();
    let items = crate::api::follower_counts::with_follower_counts(&state.db, items).await?;
    Ok(HttpResponse::Ok().json(items))
}
