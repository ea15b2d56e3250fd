//! Channel visibility and playback tokens: `POST /api/v1/channels/{slug}/playback-token`, and
//! the `visibility` / `playback_password` fields of `PATCH /api/v1/channels/{slug}`.
//!
//! Who gets a token (see [`crate::playback`] for the token itself):
//! - `public` and `unlisted`: anyone who asks;
//! - `password`: whoever sends the channel's password. Wrong passwords are throttled per
//!   client address and per channel (`auth.playback`): 429 with `Retry-After` past either;
//! - `followers`: signed-in followers (401 without a bearer, 403 `followers_only` for others);
//! - always: the channel's owner, its moderators and admins, without a password.
//!
//! The password is stored as an argon2id hash, checked through the bounded hasher, never sent
//! back and never logged. Changing it (or the visibility) does not revoke tokens already
//! handed out: they run out within `auth.playback.token_ttl_secs`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use streamhall_entities::{
    Channel, ChannelModerator, Follow,
    channel::{self, Visibility},
    user,
};
use ts_rs::TS;
use utoipa::ToSchema;

use crate::{
    auth::{MaybeUser, client_ip, hash_password, verify_password},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    validate::Problems,
};

#[derive(Debug, Default, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[ts(optional_fields)]
pub struct PlaybackTokenRequest {
    /// The channel's password (`password` channels; ignored for the others).
    pub password: Option<String>,
}

/// A token to add as `?token=` to the channel's HLS, video and clip URLs.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct PlaybackToken {
    pub token: String,
    /// When it stops working; ask for a new one before then.
    pub expires_at: DateTime<Utc>,
    pub expires_in_secs: i64,
}

/// A token for watching the channel: see the module docs for who gets one.
#[utoipa::path(post, path = "/api/v1/channels/{slug}/playback-token", tag = "channels",
    params(("slug" = String, Path)), request_body(content = PlaybackTokenRequest, description = "`password` for password-protected channels; may be omitted otherwise"),
    security((), ("bearer" = [])),
    responses((status = 200, body = PlaybackToken),
        (status = 401, description = "`unauthorized`: a followers-only channel and no bearer (or a bad one)", body = ErrorBody),
        (status = 403, description = "`wrong_password`, or `followers_only` for a signed-in user who does not follow", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "a password-protected channel and no `password`", body = ErrorBody),
        (status = 429, description = "too many wrong passwords from this address or for this channel", body = ErrorBody)))]
pub async fn issue(
    state: web::Data<AppState>,
    req: HttpRequest,
    MaybeUser(caller): MaybeUser,
    slug: web::Path<String>,
    body: Option<web::Json<PlaybackTokenRequest>>,
) -> ApiResult<HttpResponse> {
    // Looked up here rather than through `api::channels`, which calls into this module.
    let c = Channel::find()
        .filter(channel::Column::Slug.eq(slug.as_str()))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("channel"))?;
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let privileged = match &caller {
        Some(u) => may_always_watch(&state, u, &c).await?,
        None => false,
    };
    if !privileged {
        match c.visibility() {
            Visibility::Public | Visibility::Unlisted => {}
            Visibility::Followers => {
                let u = caller.as_ref().ok_or(ApiError::Unauthorized)?;
                if Follow::find_by_id((u.id, c.id))
                    .one(&state.db)
                    .await?
                    .is_none()
                {
                    return Err(ApiError::Denied {
                        code: "followers_only",
                        message: "only followers of this channel can watch it: follow it to watch",
                    });
                }
            }
            Visibility::Password => check_password(&state, &req, &c, body.password).await?,
        }
    }
    let (token, expires) = state
        .playback
        .issue(c.id)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(PlaybackToken {
            token,
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_else(Utc::now),
            expires_in_secs: state.playback.ttl_secs(),
        }))
}

/// The owner, the channel's moderators and admins watch whatever the visibility.
pub(crate) async fn may_always_watch(
    state: &AppState,
    u: &user::Model,
    c: &channel::Model,
) -> ApiResult<bool> {
    Ok(u.is_admin()
        || u.id == c.owner_id
        || ChannelModerator::find_by_id((c.id, u.id))
            .one(&state.db)
            .await?
            .is_some())
}

/// A password guess, counted before it is checked (so parallel guesses see each other) per
/// client address and per channel; a right one takes its counts back.
async fn check_password(
    state: &AppState,
    req: &HttpRequest,
    c: &channel::Model,
    password: Option<String>,
) -> ApiResult<()> {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Err(ApiError::invalid(
            "password",
            "this channel is password-protected: enter its password",
        ));
    };
    let cfg = &state.auth.playback;
    let window = Duration::from_secs(cfg.window_secs);
    let keys = [
        (
            format!(
                "playback-pw:ip:{}",
                client_ip(req, state.http.trust_proxy_headers)
            ),
            cfg.password_failures_per_ip,
        ),
        (
            format!("playback-pw:channel:{}", c.id),
            cfg.password_failures_per_channel,
        ),
    ];
    let mut retry_after = 0;
    for (key, limit) in &keys {
        let count = state.limiter.hit(key, window).await;
        if count.hits > *limit {
            retry_after = retry_after.max(count.resets_in.as_secs() + 1);
        }
    }
    let undo = || async {
        for (key, _) in &keys {
            state.limiter.undo(key).await;
        }
    };
    if retry_after > 0 {
        // Refused before any check: not a guess, so it does not count.
        undo().await;
        return Err(ApiError::TooManyRequests {
            retry_after_secs: retry_after,
        });
    }
    if verify_password(password, c.playback_password_hash.clone()).await? {
        undo().await;
        Ok(())
    } else {
        Err(ApiError::Denied {
            code: "wrong_password",
            message: "that is not this channel's password",
        })
    }
}

/// A checked change of visibility and password, applied by [`VisibilityChange::apply`].
pub(crate) struct VisibilityChange {
    visibility: Visibility,
    password: Option<String>,
}

/// Checks `visibility` and `playback_password` of a channel edit against the channel `c`:
/// a `password` channel needs a password (a new one, or the one it has), and a password is
/// only for a `password` channel. `None` when nothing changes or a problem was noted.
pub(crate) fn visibility_change(
    c: &channel::Model,
    visibility: Option<String>,
    password: Option<String>,
    problems: &mut Problems,
) -> Option<VisibilityChange> {
    if visibility.is_none() && password.is_none() {
        return None;
    }
    let target = match visibility.as_deref() {
        None => c.visibility(),
        Some(v) => match Visibility::parse(v) {
            Some(v) => v,
            None => {
                problems.check::<()>(Err(ApiError::invalid(
                    "visibility",
                    "public, unlisted, password or followers",
                )));
                return None;
            }
        },
    };
    match (&password, target) {
        (Some(p), Visibility::Password) => {
            let n = p.chars().count();
            if !(6..=128).contains(&n) {
                problems.check::<()>(Err(ApiError::invalid(
                    "playback_password",
                    "a channel password is 6 to 128 characters",
                )));
                return None;
            }
        }
        (Some(_), _) => {
            problems.check::<()>(Err(ApiError::invalid(
                "playback_password",
                "a password is only for a password-protected channel (visibility `password`)",
            )));
            return None;
        }
        (None, Visibility::Password) if c.playback_password_hash.is_none() => {
            problems.check::<()>(Err(ApiError::invalid(
                "playback_password",
                "a password-protected channel needs a password",
            )));
            return None;
        }
        (None, _) => {}
    }
    Some(VisibilityChange {
        visibility: target,
        password,
    })
}

impl VisibilityChange {
    /// Sets the columns (hashing a new password; leaving `password` forgets the old one). The
    /// caller forgets the channel's gate once the row is saved.
    pub(crate) async fn apply(self, model: &mut channel::ActiveModel) -> ApiResult<()> {
        model.visibility = Set(self.visibility.as_str().to_owned());
        match (self.visibility, self.password) {
            (Visibility::Password, Some(p)) => {
                model.playback_password_hash = Set(Some(hash_password(p).await?));
            }
            (Visibility::Password, None) => {}
            _ => model.playback_password_hash = Set(None),
        }
        Ok(())
    }
}

/// Whether a channel's live thumbnail may be shown to this request: a public channel's to
/// anyone, another's only with a valid playback token (or to another node relaying). When the
/// database cannot say, no.
pub(crate) async fn thumbnail_allowed(state: &AppState, req: &HttpRequest, slug: &str) -> bool {
    if state.playback.is_relay(req) {
        return true;
    }
    match state.playback.gates.get(&state.db, slug).await {
        Ok(Some(gate)) if gate.visibility.needs_token() => {
            crate::playback::query_token(req.query_string())
                .is_some_and(|t| state.playback.verify(t, gate.channel_id).is_ok())
        }
        Ok(_) => true,
        Err(error) => {
            tracing::error!(%error, "thumbnail: the channel's visibility could not be read");
            false
        }
    }
}

/// Chat of a channel that is not public is for those who may watch it: its socket and its
/// history need the same playback token as its video (`?token=`). 403 `playback_token_*`.
pub(crate) async fn check_chat(state: &AppState, req: &HttpRequest, slug: &str) -> ApiResult<()> {
    let Some(gate) = state.playback.gates.get(&state.db, slug).await? else {
        return Ok(());
    };
    if !gate.visibility.needs_token() {
        return Ok(());
    }
    let refused = match crate::playback::query_token(req.query_string()) {
        None => crate::playback::Refused::Missing,
        Some(t) => match state.playback.verify(t, gate.channel_id) {
            Ok(()) => return Ok(()),
            Err(r) => r,
        },
    };
    Err(ApiError::Denied {
        code: refused.code(),
        message: refused.message(),
    })
}
