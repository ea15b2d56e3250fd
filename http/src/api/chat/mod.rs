//! Chat over REST: socket tickets, history pages, emotes and user cards here; a channel's chat
//! settings (moderators, blocked terms, modes, bans and timeouts) in [`moderation`]. The socket
//! itself is in [`super::chat_ws`]; the protocol in docs/CHAT.md.

pub mod moderation;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use streamhall_actors::chat::protocol::{ChatMessage, ChatRole};
use streamhall_actors::chat::{policy, store, text};
use streamhall_entities::{ChannelModerator, User, channel, user};
use ts_rs::TS;
use utoipa::ToSchema;

pub use moderation::{BanDto, BanRequest, BlockedTerms, ModeBody, ModeratorDto};

use super::channels::find;
use crate::{
    auth::{AuthUser, MaybeUser},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
    ws_admission::TICKET_TTL,
};

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct TicketDto {
    /// Pass as `?ticket=` when opening the socket; works once, within `expires_in_secs`.
    pub ticket: String,
    pub expires_in_secs: u64,
}

/// A single-use ticket to open this channel's chat socket as the caller.
#[utoipa::path(post, path = "/api/v1/chat/{slug}/ticket", tag = "chat", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = TicketDto), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "`unavailable`: too many chat tickets outstanding, or Redis unreachable", body = ErrorBody)))]
pub async fn ticket(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (c, _) = find(&state, &slug).await?;
    let ticket = state.chat_tickets.issue(u.id, c.id).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TicketDto {
            ticket,
            expires_in_secs: TICKET_TTL.as_secs(),
        }))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
    limit: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct HistoryPage {
    /// Newest first; deleted messages are left out.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<ChatMessage>,
    /// Pass as `before` for the next (older) page; `null` at the start of the chat.
    pub next_before: Option<i64>,
}

/// Chat history, newest first.
#[utoipa::path(get, path = "/api/v1/chat/{slug}/messages", tag = "chat",
    params(("slug" = String, Path), ("before" = Option<i64>, Query, description = "only messages with a smaller id"),
        ("limit" = Option<u64>, Query, description = "1..=100, default 50"),
        ("token" = Option<String>, Query, description = "a playback token: needed for a channel that is not public")),
    responses((status = 200, body = HistoryPage), (status = 403, description = "`playback_token_*`", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn messages(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    slug: web::Path<String>,
    q: web::Query<HistoryQuery>,
) -> ApiResult<HttpResponse> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 100",
        ));
    }
    let (c, _) = find(&state, &slug).await?;
    crate::api::playback::check_chat(&state, &req, &slug).await?;
    let messages = store::history(&state.db, c.id, q.before, limit).await?;
    let next_before = (messages.len() as u64 == limit)
        .then(|| messages.last().map(|m| m.id))
        .flatten()
        .filter(|id| *id > 1);
    Ok(HttpResponse::Ok().json(HistoryPage {
        messages,
        next_before,
    }))
}

#[derive(Debug, Serialize, ToSchema, TS)]
pub struct EmoteDto {
    /// Written `:code:` in a message.
    pub code: String,
    pub url: String,
}

/// The built-in emotes.
#[utoipa::path(get, path = "/api/v1/chat/emotes", tag = "chat",
    responses((status = 200, body = Vec<EmoteDto>)))]
pub async fn emotes() -> HttpResponse {
    let list: Vec<EmoteDto> = text::EMOTES
        .iter()
        .map(|c| EmoteDto {
            code: (*c).to_owned(),
            url: format!("/emotes/{c}.svg"),
        })
        .collect();
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .json(list)
}

/// What a chat user card shows when a name is clicked.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct ChatUserCard {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
    /// Since when they follow this channel; `null` if they do not.
    pub followed_at: Option<DateTime<Utc>>,
    /// Their standing in this channel's chat (`viewer`, `moderator`, `owner`, `admin`).
    #[schema(value_type = String)]
    pub role: ChatRole,
    /// Only for the channel's moderators (`null` for everyone else).
    pub moderation: Option<CardModeration>,
}

/// The moderation side of a user card.
#[derive(Debug, Serialize, ToSchema, TS)]
pub struct CardModeration {
    /// Their ban or timeout in force, if any.
    pub ban: Option<BanDto>,
    /// Whether the caller may ban or time them out (moderators act on viewers, the owner on
    /// moderators too, admins on everyone but admins).
    pub can_act: bool,
}

/// A chat user card: public fields for everyone, moderation state for the channel's
/// moderators.
#[utoipa::path(get, path = "/api/v1/chat/{slug}/users/{username}", tag = "chat", security((), ("bearer" = [])),
    params(("slug" = String, Path), ("username" = String, Path)),
    responses((status = 200, body = ChatUserCard), (status = 404, body = ErrorBody)))]
pub async fn user_card(
    state: web::Data<AppState>,
    MaybeUser(caller): MaybeUser,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (slug, username) = path.into_inner();
    let (c, _) = find(&state, &slug).await?;
    let target = target_user(&state, &username).await?;
    let role = role_in(&state, &target, &c).await?;
    let followed_at = store::followed_at(&state.db, c.id, target.id).await?;
    let my_role = match &caller {
        Some(me) => Some(role_in(&state, me, &c).await?),
        None => None,
    };
    let moderation = match (&caller, my_role) {
        (Some(me), Some(my_role)) if my_role.can_moderate() => {
            let ban = store::active_ban(&state.db, c.id, target.id)
                .await?
                .map(|b| BanDto {
                    user_id: b.user_id,
                    username: target.username.clone(),
                    reason: b.reason,
                    expires_at: b.expires_at,
                    created_at: b.created_at,
                });
            Some(CardModeration {
                ban,
                can_act: me.id != target.id && policy::may_act_on(my_role, role),
            })
        }
        _ => None,
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(ChatUserCard {
            user_id: target.id,
            username: target.username,
            display_name: target.display_name,
            created_at: target.created_at,
            followed_at,
            role,
            moderation,
        }))
}

/// `u`'s role in channel `c`'s chat, as the room decides it (admin, owner, moderator, viewer).
async fn role_in(state: &AppState, u: &user::Model, c: &channel::Model) -> ApiResult<ChatRole> {
    Ok(if u.is_admin() {
        ChatRole::Admin
    } else if u.id == c.owner_id {
        ChatRole::Owner
    } else if ChannelModerator::find_by_id((c.id, u.id))
        .one(&state.db)
        .await?
        .is_some()
    {
        ChatRole::Moderator
    } else {
        ChatRole::Viewer
    })
}

/// `GET /emotes/{code}.svg`: the built-in emote images (drawn here, no files to ship).
pub async fn emote_svg(code: web::Path<String>) -> ApiResult<HttpResponse> {
    let code = code.strip_suffix(".svg").unwrap_or(&code);
    let svg = emote_image(code).ok_or(ApiError::NotFound("emote"))?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(svg))
}

fn emote_image(code: &str) -> Option<String> {
    const FACE: &str = r##"<circle cx="16" cy="16" r="14" fill="#ffcc4d"/>"##;
    const EYES: &str = r##"<circle cx="11" cy="13" r="2" fill="#333"/><circle cx="21" cy="13" r="2" fill="#333"/>"##;
    let body = match code {
        "wave" => format!(
            r##"{FACE}{EYES}<path d="M10 20 q6 5 12 0" stroke="#333" stroke-width="2" fill="none"/><path d="M26 4 q3 3 2 7 M29 2 q4 5 2 10" stroke="#5b9bd5" stroke-width="1.5" fill="none"/>"##
        ),
        "heart" => r##"<path d="M16 28 C4 19 2 12 6 7 C10 3 15 5 16 9 C17 5 22 3 26 7 C30 12 28 19 16 28Z" fill="#e0245e"/>"##.to_owned(),
        "fire" => r##"<path d="M16 30 C8 30 5 24 7 18 C9 13 13 11 12 4 C18 7 21 12 20 17 C22 15 23 13 23 11 C27 15 28 21 26 25 C24 28 20 30 16 30Z" fill="#f4900c"/><path d="M16 30 C12 30 11 26 12 23 C13 20 16 19 16 15 C19 18 21 22 20 26 C19 29 18 30 16 30Z" fill="#ffcc4d"/>"##.to_owned(),
        "laugh" => format!(
            r##"{FACE}<path d="M8 13 q3 -3 6 0 M18 13 q3 -3 6 0" stroke="#333" stroke-width="2" fill="none"/><path d="M8 18 h16 q-2 8 -8 8 q-6 0 -8 -8Z" fill="#664500"/>"##
        ),
        "clap" => r##"<rect x="8" y="8" width="9" height="18" rx="4" fill="#ffcc4d" transform="rotate(-15 12 17)"/><rect x="15" y="8" width="9" height="18" rx="4" fill="#f4c542" transform="rotate(15 20 17)"/><path d="M6 5 l2 3 M16 2 v4 M26 5 l-2 3" stroke="#5b9bd5" stroke-width="1.5"/>"##.to_owned(),
        "gg" => r##"<rect x="2" y="6" width="28" height="20" rx="5" fill="#6441a5"/><text x="16" y="21" font-family="sans-serif" font-size="13" font-weight="bold" fill="#fff" text-anchor="middle">GG</text>"##.to_owned(),
        "hype" => r##"<path d="M16 2 L20 12 L30 12 L22 19 L25 30 L16 23 L7 30 L10 19 L2 12 L12 12Z" fill="#ffac33"/>"##.to_owned(),
        "sad" => format!(
            r##"{FACE}{EYES}<path d="M10 24 q6 -5 12 0" stroke="#333" stroke-width="2" fill="none"/><path d="M21 16 q-1 3 0 4 q1 -1 0 -4Z" fill="#5dadec"/>"##
        ),
        "wow" => format!(r##"{FACE}{EYES}<ellipse cx="16" cy="22" rx="3" ry="4" fill="#664500"/>"##),
        "think" => format!(
            r##"{FACE}{EYES}<path d="M12 22 h7" stroke="#333" stroke-width="2"/><path d="M6 30 q2 -7 9 -6 q2 1 0 3 l-5 0" fill="#f4c542" stroke="#c99a2e"/>"##
        ),
        _ => return None,
    };
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32" role="img" aria-label=":{code}:">{body}</svg>"##
    ))
}

async fn target_user(state: &AppState, username: &str) -> ApiResult<user::Model> {
    User::find()
        .filter(user::Column::UsernameKey.eq(username.to_lowercase()))
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_emote_has_an_image() {
        for code in text::EMOTES {
            let svg = emote_image(code);
            assert!(svg.is_some_and(|s| s.starts_with("<svg")), "{code}");
        }
        assert!(emote_image("nope").is_none());
    }
}
