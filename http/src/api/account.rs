//! The account lifecycle: password reset by email, email verification, and deleting one's own
//! account (the export is in [`super::account_export`]). Links and settings: [`crate::accounts`].

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use streamhall_actors::bus::BusEvent;
use streamhall_entities::{
    AccountToken, Channel, ChannelModerator, ChatBan, ChatMessage, Clip, Follow, Notification,
    NotificationMute, NotificationSetting, RefreshToken, User, Video, account_token, channel,
    channel_moderator, chat_ban, chat_message, clip, follow, notification, notification_mute,
    notification_setting, refresh_token, user, video,
};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{
    accounts,
    api::auth::LoginAttempt,
    auth::{AuthUser, client_ip, hash_password, verify_password},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    validate,
};

/// How a deleted user's chat messages are signed.
pub const DELETED_AUTHOR: &str = "[deleted]";

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the emailed link.
    pub token: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the emailed link.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// The account's current password.
    pub password: String,
}

/// The answer to a request whose outcome is told by email.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct Accepted {
    pub message: String,
}

fn invalid_link() -> ApiError {
    ApiError::invalid(
        "token",
        "this link is invalid, already used or expired; ask for a new one",
    )
}

/// Counts a hit of `key`; 429 past `limit` in `window_secs`.
async fn throttle(state: &AppState, key: &str, limit: u32, window_secs: u64) -> ApiResult<()> {
    let count = state
        .limiter
        .hit(key, Duration::from_secs(window_secs))
        .await;
    if count.hits > limit {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: count.resets_in.as_secs() + 1,
        });
    }
    Ok(())
}

/// Asks for a password reset link. The answer is the same whether or not an account uses the
/// address (the lookup and the email happen after it is sent).
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 202, description = "if an account uses the address, a link is on its way", body = Accepted),
        (status = 422, body = ErrorBody),
        (status = 429, description = "too many requests for this address or from this client; see Retry-After", body = ErrorBody)))]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<PasswordResetRequest>,
) -> ApiResult<HttpResponse> {
    let email = body.into_inner().email.trim().to_lowercase();
    validate::email(&email)?;
    let cfg = &state.accounts.cfg;
    let ip = client_ip(&req, state.http.trust_proxy_headers);
    throttle(
        &state,
        &format!("pwreset:ip:{ip}"),
        cfg.reset_requests_per_ip,
        cfg.reset_window_secs,
    )
    .await?;
    // Keyed by a hash: addresses stay out of Redis.
    throttle(
        &state,
        &format!(
            "pwreset:email:{}",
            streamhall_entities::secret::sha256_hex(&email)
        ),
        cfg.reset_requests_per_email,
        cfg.reset_window_secs,
    )
    .await?;
    state.accounts.spawn(
        "password reset",
        accounts::send_reset(
            state.db.clone(),
            state.accounts.clone(),
            state.public_url.clone(),
            email,
        ),
    );
    Ok(HttpResponse::Accepted().json(Accepted {
        message: "If an account uses that address, an email with a reset link is on its way."
            .into(),
    }))
}

/// Sets a new password with the token from a reset link. The link then stops working, and
/// every sign-in of the account ends (its sockets close on every node).
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses((status = 204, description = "password set; sign in with it"),
        (status = 422, description = "the link is invalid, used or expired, or the password too weak", body = ErrorBody),
        (status = 429, body = ErrorBody),
        (status = 503, description = "password hashing is busy; see Retry-After", body = ErrorBody)))]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<PasswordResetConfirm>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    validate::password("new_password", &body.new_password)?;
    redeem_throttle(&state, &req).await?;
    let purpose = account_token::PURPOSE_PASSWORD_RESET;
    // Hash only for a link that works (hashing is the expensive part)...
    if accounts::find_live(&state.db, purpose, &body.token)
        .await?
        .is_none()
    {
        return Err(invalid_link());
    }
    let hash = hash_password(body.new_password).await?;
    // ...and use it up in the same transaction that sets the password.
    let txn = state.db.begin().await?;
    let token = accounts::redeem(&txn, purpose, &body.token)
        .await?
        .ok_or_else(invalid_link)?;
    let account = User::find_by_id(token.user_id)
        .one(&txn)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(invalid_link)?;
    let mut changes = account.clone().into_active_model();
    changes.password_hash = Set(hash);
    accounts::revoke_sessions(&txn, &account, changes, Utc::now()).await?;
    txn.commit().await?;
    state.live.bus.publish(BusEvent::SessionsRevoked {
        user_id: account.id,
    });
    tracing::info!(
        user_id = account.id,
        "password reset by email; sessions revoked"
    );
    Ok(HttpResponse::NoContent().finish())
}

async fn redeem_throttle(state: &AppState, req: &HttpRequest) -> ApiResult<()> {
    let ip = client_ip(req, state.http.trust_proxy_headers);
    let cfg = &state.accounts.cfg;
    throttle(
        state,
        &format!("account-link:ip:{ip}"),
        cfg.redeems_per_ip,
        cfg.redeem_window_secs,
    )
    .await
}

/// Verifies the email address a verification link was sent to.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 204, description = "the address is verified"),
        (status = 422, description = "the link is invalid, used or expired, or for an address the account no longer has", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<VerifyEmailRequest>,
) -> ApiResult<HttpResponse> {
    redeem_throttle(&state, &req).await?;
    let txn = state.db.begin().await?;
    let token = accounts::redeem(&txn, account_token::PURPOSE_VERIFY_EMAIL, &body.token)
        .await?
        .ok_or_else(invalid_link)?;
    let account = User::find_by_id(token.user_id)
        .one(&txn)
        .await?
        .filter(|u| u.deleted_at.is_none() && token.email.as_deref() == Some(u.email.as_str()))
        .ok_or_else(invalid_link)?;
    if account.email_verified_at.is_none() {
        let now = Utc::now();
        let mut changes = account.clone().into_active_model();
        changes.email_verified_at = Set(Some(now));
        changes.updated_at = Set(now);
        changes.update(&txn).await?;
    }
    txn.commit().await?;
    tracing::info!(user_id = account.id, "email address verified");
    Ok(HttpResponse::NoContent().finish())
}

/// Sends a new verification link to the signed-in user's address (older links stop working).
#[utoipa::path(post, path = "/api/v1/users/me/verification", tag = "users", security(("bearer" = [])),
    responses((status = 202, description = "the email is on its way", body = Accepted),
        (status = 401, body = ErrorBody),
        (status = 409, description = "the address is already verified, or this server sends no email (SMTP is not configured)", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn resend_verification(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
) -> ApiResult<HttpResponse> {
    if u.email_verified() {
        return Err(ApiError::Conflict {
            field: "email",
            message: "your email address is already verified".into(),
        });
    }
    if state.accounts.mailer.is_none() {
        // A setting of this server, not an outage: nothing to retry.
        return Err(ApiError::Conflict {
            field: "email",
            message: "this server sends no email; ask its operator to verify your address".into(),
        });
    }
    let cfg = &state.accounts.cfg;
    throttle(
        &state,
        &format!("verify-resend:{}", u.id),
        cfg.verification_emails_per_user,
        cfg.resend_window_secs,
    )
    .await?;
    accounts::send_verification(&state.db, &state.accounts, &state.public_url, &u)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Accepted().json(Accepted {
        message: format!("A new link is on its way to {}.", u.email),
    }))
}

/// Deletes the signed-in user's account, after checking the password: their channels (with
/// their videos, clips and stored objects), follows, notifications, settings and sign-ins
/// go; the chat messages they wrote stay, signed "[deleted]". Every session ends and every
/// socket closes. The built-in administrator and the last administrator cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])), request_body = DeleteAccount,
    responses((status = 204, description = "the account is deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "the built-in or last administrator", body = ErrorBody),
        (status = 422, description = "the password is wrong", body = ErrorBody),
        (status = 429, description = "too many wrong passwords; see Retry-After", body = ErrorBody),
        (status = 503, description = "`objects_unavailable`: the object store cannot be reached; the account is kept", body = ErrorBody)))]
pub async fn delete_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    AuthUser(u): AuthUser,
    body: web::Json<DeleteAccount>,
) -> actix_web::Result<HttpResponse> {
    // A guess at the password is a login attempt for this account.
    let ip = client_ip(&req, state.http.trust_proxy_headers);
    let attempt = LoginAttempt::reserve(&state, &ip, &u.id.to_string()).await?;
    if !verify_password(body.into_inner().password, Some(u.password_hash.clone())).await? {
        return Err(ApiError::invalid("password", "the password is wrong").into());
    }
    attempt.succeeded(&state).await;
    if u.is_admin() {
        refuse_admin_deletion(&state.db, &u).await?;
    }
    let objects = remove_content(&state, &u).await?;
    let now = Utc::now();
    let txn = state.db.begin().await.map_err(ApiError::from)?;
    forget(&txn, &u, now).await.map_err(ApiError::from)?;
    txn.commit().await.map_err(ApiError::from)?;
    state.cache.invalidate();
    state
        .live
        .bus
        .publish(BusEvent::SessionsRevoked { user_id: u.id });
    tracing::info!(user_id = u.id, objects, "account deleted by its owner");
    Ok(HttpResponse::NoContent().finish())
}

/// The built-in administrator (the first account, made on first start) and the last
/// administrator stay.
async fn refuse_admin_deletion(db: &DatabaseConnection, u: &user::Model) -> ApiResult<()> {
    let first: Option<i64> = User::find()
        .select_only()
        .column(user::Column::Id)
        .order_by_asc(user::Column::Id)
        .into_tuple()
        .one(db)
        .await?;
    if first == Some(u.id) {
        return Err(ApiError::Forbidden(
            "the built-in administrator cannot be deleted",
        ));
    }
    let admins = User::find()
        .filter(user::Column::Role.eq(user::ROLE_ADMIN))
        .filter(user::Column::DeletedAt.is_null())
        .count(db)
        .await?;
    if admins <= 1 {
        return Err(ApiError::Forbidden(
            "the last administrator cannot be deleted; make someone else an administrator first",
        ));
    }
    Ok(())
}

/// Ends the user's live streams and removes the stored objects of their channels' videos and
/// clips and of the clips they cut elsewhere, then those rows. Returns the objects removed.
async fn remove_content(state: &AppState, u: &user::Model) -> actix_web::Result<u64> {
    let store = state.objects.as_ref();
    let channels = Channel::find()
        .filter(channel::Column::OwnerId.eq(u.id))
        .all(&state.db)
        .await
        .map_err(ApiError::from)?;
    let channel_ids: Vec<i64> = channels.iter().map(|c| c.id).collect();
    state
        .live
        .end_streams_anywhere(
            channels
                .iter()
                .filter(|c| c.is_live)
                .map(|c| c.slug.clone()),
        )
        .await;
    let mut removed = 0;
    let videos: Vec<String> = Video::find()
        .select_only()
        .column(video::Column::Id)
        .filter(video::Column::ChannelId.is_in(channel_ids.clone()))
        .into_tuple()
        .all(&state.db)
        .await
        .map_err(ApiError::from)?;
    for id in videos {
        removed += streamhall_actors::recording::delete_video(&state.db, store, &id)
            .await
            .map_err(super::videos::store_or_internal)?;
    }
    let clips: Vec<String> = Clip::find()
        .select_only()
        .column(clip::Column::Id)
        .filter(
            sea_orm::Condition::any()
                .add(clip::Column::ChannelId.is_in(channel_ids))
                .add(clip::Column::AuthorId.eq(u.id)),
        )
        .into_tuple()
        .all(&state.db)
        .await
        .map_err(ApiError::from)?;
    for id in clips {
        removed += streamhall_actors::clips::delete_clip(&state.db, store, &id)
            .await
            .map_err(super::videos::store_or_internal)?;
    }
    for c in &channels {
        store
            .delete(&format!("thumbnails/{}.jpg", c.slug))
            .await
            .map_err(|e| super::videos::store_or_internal(e.into()))?;
    }
    Ok(removed)
}

/// Removes the user's rows, anonymises their chat messages and turns the account into a
/// tombstone nobody can sign in to (its name and address freed for others).
async fn forget<C: sea_orm::ConnectionTrait>(
    db: &C,
    u: &user::Model,
    now: chrono::DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    // Channels take their broadcasts, chat, webhooks, restreams and analytics with them.
    Channel::delete_many()
        .filter(channel::Column::OwnerId.eq(u.id))
        .exec(db)
        .await?;
    Follow::delete_many()
        .filter(follow::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    Notification::delete_many()
        .filter(notification::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    NotificationSetting::delete_many()
        .filter(notification_setting::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    NotificationMute::delete_many()
        .filter(notification_mute::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    ChannelModerator::delete_many()
        .filter(channel_moderator::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    ChatBan::delete_many()
        .filter(chat_ban::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    RefreshToken::delete_many()
        .filter(refresh_token::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    AccountToken::delete_many()
        .filter(account_token::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    ChatMessage::update_many()
        .col_expr(chat_message::Column::Username, Expr::value(DELETED_AUTHOR))
        .filter(chat_message::Column::UserId.eq(u.id))
        .exec(db)
        .await?;
    // Brackets and a dotless domain: no sign-up can take these, so they never collide.
    let mut tombstone = u.clone().into_active_model();
    tombstone.username = Set(DELETED_AUTHOR.into());
    tombstone.username_key = Set(format!("[deleted-{}]", u.id));
    tombstone.email = Set(format!("{}@deleted", u.id));
    tombstone.display_name = Set("Deleted user".into());
    tombstone.bio = Set(String::new());
    tombstone.password_hash = Set("!".into());
    tombstone.role = Set(user::ROLE_USER.into());
    tombstone.email_verified_at = Set(None);
    tombstone.deleted_at = Set(Some(now));
    accounts::revoke_sessions(db, u, tombstone, now).await?;
    Ok(())
}
