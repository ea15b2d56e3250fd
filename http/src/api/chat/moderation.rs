//! A channel's chat settings over REST: its moderators, blocked terms and modes, and bans and
//! timeouts. Modes and bans go through the channel's room as a socket's commands would, so the
//! room announces them on every node.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use streamhall_actors::chat::protocol::{ClientMsg, RejectCode, RoomMode};
use streamhall_actors::chat::{Command, JoinUser, Rejection, RoomKey, store, text};
use streamhall_entities::{ChannelModerator, User, channel, channel_moderator, user};
use ts_rs::TS;
use utoipa::ToSchema;

use super::{role_in, target_user};
use crate::{
    api::channels::{find, find_changeable},
    auth::AuthUser,
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ModeratorDto {
    pub user_id: i64,
    pub username: String,
    pub added_at: DateTime<Utc>,
}

/// Whether `u` moderates channel `c` (owner, moderator or admin).
async fn is_moderator(state: &AppState, u: &user::Model, c: &channel::Model) -> ApiResult<bool> {
    Ok(role_in(state, u, c).await?.can_moderate())
}

async fn find_moderated(
    state: &AppState,
    u: &user::Model,
    slug: &str,
) -> ApiResult<channel::Model> {
    let (c, _) = find(state, slug).await?;
    if is_moderator(state, u, &c).await? {
        Ok(c)
    } else {
        Err(ApiError::Forbidden(
            "only the channel's moderators may do that",
        ))
    }
}

/// The channel's moderators (visible to its moderators).
#[utoipa::path(get, path = "/api/v1/channels/{slug}/moderators", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = Vec<ModeratorDto>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_moderators(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let c = find_moderated(&state, &u, &slug).await?;
    let rows = ChannelModerator::find()
        .filter(channel_moderator::Column::ChannelId.eq(c.id))
        .order_by_asc(channel_moderator::Column::CreatedAt)
        .all(&state.db)
        .await?;
    let names: std::collections::HashMap<i64, String> = User::find()
        .filter(user::Column::Id.is_in(rows.iter().map(|m| m.user_id)))
        .all(&state.db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let list: Vec<ModeratorDto> = rows
        .into_iter()
        .filter_map(|m| {
            Some(ModeratorDto {
                user_id: m.user_id,
                username: names.get(&m.user_id)?.clone(),
                added_at: m.created_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Makes `username` a moderator of the channel (owner or admin). Idempotent.
#[utoipa::path(put, path = "/api/v1/channels/{slug}/moderators/{username}", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path), ("username" = String, Path)),
    responses((status = 204, description = "is a moderator"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, description = "the owner cannot be a moderator", body = ErrorBody)))]
pub async fn add_moderator(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (slug, username) = path.into_inner();
    let (c, _) = find_changeable(&state, &u, &slug).await?;
    let target = target_user(&state, &username).await?;
    if target.id == c.owner_id {
        return Err(ApiError::invalid(
            "username",
            "the owner already moderates their channel",
        ));
    }
    ChannelModerator::insert(channel_moderator::ActiveModel {
        channel_id: Set(c.id),
        user_id: Set(target.id),
        created_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing()
    .exec(&state.db)
    .await?;
    let _ = store::log_action(
        &state.db,
        c.id,
        u.id,
        "add_moderator",
        Some(target.id),
        None,
        None,
    )
    .await;
    state.live.chat.settings_changed(c.id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a moderator (owner or admin).
#[utoipa::path(delete, path = "/api/v1/channels/{slug}/moderators/{username}", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path), ("username" = String, Path)),
    responses((status = 204, description = "removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_moderator(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (slug, username) = path.into_inner();
    let (c, _) = find_changeable(&state, &u, &slug).await?;
    let target = target_user(&state, &username).await?;
    let gone = ChannelModerator::delete_by_id((c.id, target.id))
        .exec(&state.db)
        .await?
        .rows_affected;
    if gone == 0 {
        return Err(ApiError::NotFound("moderator"));
    }
    let _ = store::log_action(
        &state.db,
        c.id,
        u.id,
        "remove_moderator",
        Some(target.id),
        None,
        None,
    )
    .await;
    state.live.chat.settings_changed(c.id).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, Deserialize, ToSchema, TS)]
pub struct BlockedTerms {
    /// Matched case-insensitively after Unicode NFKC normalisation, anywhere in a message.
    pub terms: Vec<String>,
}

/// The channel's blocked terms (moderators).
#[utoipa::path(get, path = "/api/v1/channels/{slug}/chat/blocked-terms", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = BlockedTerms), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_blocked_terms(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let c = find_moderated(&state, &u, &slug).await?;
    let row = store::room_row(&state.db, c.id).await?;
    Ok(HttpResponse::Ok().json(BlockedTerms {
        terms: store::terms_of(&row),
    }))
}

/// Replaces the channel's blocked terms (owner or admin): at most 500, each 1..=100
/// characters; duplicates are dropped.
#[utoipa::path(put, path = "/api/v1/channels/{slug}/chat/blocked-terms", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = BlockedTerms,
    responses((status = 200, body = BlockedTerms), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_blocked_terms(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
    body: web::Json<BlockedTerms>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find_changeable(&state, &u, &slug).await?;
    let terms = text::clean_terms(&body.terms).map_err(|e| ApiError::invalid("terms", e))?;
    store::set_blocked_terms(&state.db, c.id, &terms).await?;
    let _ = store::log_action(
        &state.db,
        c.id,
        u.id,
        "blocked_terms",
        None,
        None,
        Some(format!("{} terms", terms.len())),
    )
    .await;
    state.live.chat.settings_changed(c.id).await;
    Ok(HttpResponse::Ok().json(BlockedTerms { terms }))
}

/// The room's modes, as its chat shows them. Anyone may read them.
#[utoipa::path(get, path = "/api/v1/channels/{slug}/chat/mode", tag = "chat",
    params(("slug" = String, Path)),
    responses((status = 200, body = Object, description = "RoomMode: slow_seconds, followers_only, emote_only"), (status = 404, body = ErrorBody)))]
pub async fn get_mode(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find(&state, &slug).await?;
    let row = store::room_row(&state.db, c.id).await?;
    Ok(HttpResponse::Ok().json(RoomMode {
        slow_seconds: row.slow_seconds.max(0) as u32,
        followers_only: row.followers_only_minutes.map(|m| m.max(0) as u32),
        emote_only: row.emote_only,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ModeBody {
    pub slow_seconds: u32,
    pub followers_only: Option<u32>,
    pub emote_only: bool,
}

/// Changes the room's modes (moderators); the room announces them to everyone.
#[utoipa::path(put, path = "/api/v1/channels/{slug}/chat/mode", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = ModeBody,
    responses((status = 200, body = Object, description = "the new RoomMode"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, description = "`unavailable`: the chat room cannot take commands now", body = ErrorBody)))]
pub async fn put_mode(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
    body: web::Json<ModeBody>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find(&state, &slug).await?;
    let mode = RoomMode {
        slow_seconds: body.slow_seconds,
        followers_only: body.followers_only,
        emote_only: body.emote_only,
    };
    let msg = ClientMsg::SetMode {
        slow_seconds: mode.slow_seconds,
        followers_only: mode.followers_only,
        emote_only: mode.emote_only,
    };
    run_command(&state, &u, &c, msg).await?;
    Ok(HttpResponse::Ok().json(mode))
}

/// Runs a moderation command through the channel's room, as a socket would.
async fn run_command(
    state: &AppState,
    u: &user::Model,
    c: &channel::Model,
    msg: ClientMsg,
) -> ApiResult<()> {
    let room = state
        .live
        .chat
        .room(RoomKey {
            channel_id: c.id,
            slug: c.slug.clone(),
            owner_id: c.owner_id,
        })
        .await
        .map_err(|_| ApiError::Unavailable("chat"))?;
    let result = room
        .send(Command {
            session: None,
            user: Some(JoinUser {
                id: u.id,
                username: u.username.clone(),
                is_admin: u.is_admin(),
            }),
            msg,
        })
        .await
        .map_err(|_| ApiError::Unavailable("chat"))?;
    result.map_err(rejection_to_error)
}

fn rejection_to_error(r: Rejection) -> ApiError {
    match r.code {
        RejectCode::Forbidden | RejectCode::LoginRequired => {
            ApiError::Forbidden("only the channel's moderators may do that")
        }
        RejectCode::NotFound => ApiError::NotFound("user or message"),
        RejectCode::Unavailable | RejectCode::Overloaded => ApiError::Unavailable("chat"),
        _ => ApiError::invalid("body", r.message),
    }
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct BanDto {
    pub user_id: i64,
    pub username: String,
    pub reason: Option<String>,
    /// `null`: banned until lifted; otherwise a timeout ending then.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Bans and timeouts in force (moderators).
#[utoipa::path(get, path = "/api/v1/channels/{slug}/chat/bans", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = Vec<BanDto>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn bans(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let c = find_moderated(&state, &u, &slug).await?;
    let list: Vec<BanDto> = store::active_bans(&state.db, c.id)
        .await?
        .into_iter()
        .map(|(b, username)| BanDto {
            user_id: b.user_id,
            username,
            reason: b.reason,
            expires_at: b.expires_at,
            created_at: b.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, ToSchema, TS)]
pub struct BanRequest {
    pub username: String,
    /// A timeout of this many seconds (1..=1209600); absent: a ban until lifted.
    #[serde(default)]
    #[ts(optional)]
    pub seconds: Option<u32>,
    /// Shown in the bans list; at most 200 characters are kept.
    #[serde(default)]
    #[ts(optional)]
    pub reason: Option<String>,
}

/// Bans `username` until lifted, or with `seconds` times them out (moderators). Recorded in
/// the moderation log; the room announces it on every node, as a socket's `ban` would.
#[utoipa::path(post, path = "/api/v1/channels/{slug}/chat/bans", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path)), request_body = BanRequest,
    responses((status = 204, description = "banned or timed out"),
        (status = 403, description = "not a moderator, or the target is the owner, an admin or a moderator", body = ErrorBody),
        (status = 404, description = "no such channel or user", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, description = "`unavailable`: the chat room cannot take commands now", body = ErrorBody)))]
pub async fn ban(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
    body: web::Json<BanRequest>,
) -> ApiResult<HttpResponse> {
    let c = find_moderated(&state, &u, &slug).await?;
    let BanRequest {
        username,
        seconds,
        reason,
    } = body.into_inner();
    let msg = match seconds {
        Some(seconds) => ClientMsg::Timeout {
            user: username,
            seconds,
            reason,
        },
        None => ClientMsg::Ban {
            user: username,
            reason,
        },
    };
    run_command(&state, &u, &c, msg)
        .await
        .map_err(|e| protected_target(e, "user"))?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lifts `username`'s ban or timeout (moderators). Recorded in the moderation log (`unban`
/// or `untimeout`); the room announces it on every node.
#[utoipa::path(delete, path = "/api/v1/channels/{slug}/chat/bans/{username}", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path), ("username" = String, Path)),
    responses((status = 204, description = "lifted"), (status = 403, body = ErrorBody),
        (status = 404, description = "no such channel or user, or nothing to lift", body = ErrorBody),
        (status = 503, description = "`unavailable`: the chat room cannot take commands now", body = ErrorBody)))]
pub async fn unban(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (slug, username) = path.into_inner();
    let c = find_moderated(&state, &u, &slug).await?;
    let target = target_user(&state, &username).await?;
    run_command(
        &state,
        &u,
        &c,
        ClientMsg::Unban {
            user: target.username,
        },
    )
    .await
    .map_err(|e| protected_target(e, "ban or timeout"))?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller is known to moderate (checked first), so a room's `forbidden` is about the
/// target, and its `not_found` about `what`.
fn protected_target(e: ApiError, what: &'static str) -> ApiError {
    match e {
        ApiError::Forbidden(_) => ApiError::Forbidden(
            "the owner, admins and moderators cannot be banned or timed out by you",
        ),
        ApiError::NotFound(_) => ApiError::NotFound(what),
        e => e,
    }
}
