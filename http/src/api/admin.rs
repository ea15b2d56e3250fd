//! `/api/v1/admin/*`: the live actor tree and its actions, for site administrators: stop a
//! stream, restart a service (chat directory, presence, notifier), restart or close a room.
//!
//! The tree is this node's: with several nodes each answers for its own actors (its `node`
//! field says which). Gathering every node's tree would need a request/reply over the bus,
//! which the bus does not have (it only broadcasts events), so the dashboard shows the node it
//! is connected to.

use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, StreamHandler, WrapFuture};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use serde::Deserialize;

use crate::{
    audit::{self, Action, Target},
    auth::{AuthUser, TokenKeys},
    error::{ApiError, ApiResult, ErrorBody},
    state::AppState,
};

/// The whole supervision tree rooted at the registry (`root`): every actor's state, uptime,
/// restarts, last error, mailbox depth, messages/s and handling time, per kind its figures;
/// dead letters per kind; per stream its ingest and ffmpeg health.
#[utoipa::path(get, path = "/api/v1/admin/health", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "the actor tree", body = Object), (status = 403, body = ErrorBody)))]
pub async fn health(state: web::Data<AppState>, AuthUser(u): AuthUser) -> ApiResult<HttpResponse> {
    admin_only(&u)?;
    Ok(HttpResponse::Ok().json(state.live.health().await))
}

/// Ends a broadcast now (no reconnect grace): the publisher is disconnected.
#[utoipa::path(post, path = "/api/v1/admin/streams/{slug}/stop", tag = "admin", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 204, description = "stopped"), (status = 403, body = ErrorBody),
        (status = 404, description = "not live on this node", body = ErrorBody)))]
pub async fn stop_stream(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin_only(&u)?;
    if state.live.stop_stream(&slug).await {
        tracing::info!(channel = %slug, admin = u.id, "stream stopped by an admin");
        audited(&state, &u, Action::StreamStop, Target::channel(&slug)).await?;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("live stream"))
    }
}

/// `WS /api/v1/admin/health/ws`: the tree every second. Browsers cannot set headers on a
/// WebSocket and tokens do not belong in URLs, so the first message authenticates:
/// `{"type":"auth","token":"<access token>"}` within 5 s, or the socket closes.
#[utoipa::path(get, path = "/api/v1/admin/health/ws", tag = "admin",
    responses((status = 101, description = "WebSocket; send {\"type\":\"auth\",\"token\":…} first, then receive the tree every second")))]
pub async fn health_ws(
    state: web::Data<AppState>,
    req: HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    ws::WsResponseBuilder::new(
        HealthSession {
            state,
            admin: None,
            signed_in: None,
            opened: Instant::now(),
        },
        &req,
        stream,
    )
    .frame_size(4096)
    .start()
}

pub(crate) fn admin_only(u: &streamhall_entities::user::Model) -> ApiResult<()> {
    if u.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("administrators only"))
    }
}

const PUSH_EVERY: Duration = Duration::from_secs(1);
const AUTH_WITHIN: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMsg {
    Auth { token: String },
}

struct HealthSession {
    state: web::Data<AppState>,
    admin: Option<i64>,
    /// Closes the socket when the admin's sessions are revoked (password changed).
    signed_in: Option<streamhall_actors::sockets::SocketGrant>,
    opened: Instant,
}

impl Actor for HealthSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(PUSH_EVERY, |act, ctx| {
            if act.admin.is_none() {
                if act.opened.elapsed() > AUTH_WITHIN {
                    close(ctx, ws::CloseCode::Policy, "authenticate first");
                }
                return;
            }
            act.push(ctx);
        });
    }
}

impl HealthSession {
    fn push(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let state = self.state.clone();
        ctx.spawn(
            async move { serde_json::to_string(&state.live.health().await) }
                .into_actor(self)
                .map(|json, _, ctx| {
                    if let Ok(json) = json {
                        ctx.text(json);
                    }
                }),
        );
    }

    fn authenticate(&mut self, token: String, ctx: &mut ws::WebsocketContext<Self>) {
        let state = self.state.clone();
        ctx.wait(
            async move { verify_admin(&state, &state.tokens, &token).await }
                .into_actor(self)
                .map(|result, act, ctx| match result {
                    Some(id) => {
                        act.admin = Some(id);
                        let grant = act.state.live.sockets.register(id);
                        let revoked = grant.revoked.clone();
                        act.signed_in = Some(grant);
                        ctx.spawn(revoked.cancelled_owned().into_actor(act).map(|_, _, ctx| {
                            use streamhall_actors::sockets::REVOKED_REASON;
                            close(ctx, ws::CloseCode::Policy, REVOKED_REASON)
                        }));
                        act.push(ctx);
                    }
                    None => close(ctx, ws::CloseCode::Policy, "administrators only"),
                }),
        );
    }
}

async fn verify_admin(state: &AppState, tokens: &TokenKeys, token: &str) -> Option<i64> {
    use sea_orm::EntityTrait;
    let claims = tokens.verify(token).ok()?;
    let id: i64 = claims.sub.parse().ok()?;
    let user = streamhall_entities::User::find_by_id(id)
        .one(&state.db)
        .await
        .ok()??;
    (user.token_version == claims.ver && user.is_admin()).then_some(id)
}

fn close(ctx: &mut ws::WebsocketContext<HealthSession>, code: ws::CloseCode, why: &str) {
    ctx.close(Some(ws::CloseReason {
        code,
        description: Some(why.into()),
    }));
    ctx.stop();
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for HealthSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        match msg {
            Ok(ws::Message::Text(text)) if self.admin.is_none() => {
                match serde_json::from_str::<ClientMsg>(&text) {
                    Ok(ClientMsg::Auth { token }) => self.authenticate(token, ctx),
                    Err(_) => close(ctx, ws::CloseCode::Policy, "expected {\"type\":\"auth\"}"),
                }
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(_) => ctx.stop(),
        }
    }
}

/// Restarts a channel's chat room on this node: its sockets rejoin a fresh room and resume
/// from the last message they had (nothing is lost; the restart shows in the health tree).
#[utoipa::path(post, path = "/api/v1/admin/chat/{slug}/restart", tag = "admin", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 204, description = "restarted"), (status = 403, body = ErrorBody),
        (status = 404, description = "no such channel, or its room is not running on this node", body = ErrorBody)))]
pub async fn restart_chat_room(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin_only(&u)?;
    let (c, _) = super::channels::find(&state, &slug).await?;
    if state.live.chat.restart_room(c.id).await {
        tracing::info!(channel = %slug, admin = u.id, "chat room restarted by an admin");
        audited(&state, &u, Action::ChatRoomRestart, Target::channel(&slug)).await?;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("chat room"))
    }
}

/// Restarts one of the registry's services on this node (`chat_directory`, `presence`,
/// `notifier`): it stops, and the registry starts the next one after its backoff. Counted as
/// a restart in the health tree.
#[utoipa::path(post, path = "/api/v1/admin/actors/{kind}/restart", tag = "admin", security(("bearer" = [])),
    params(("kind" = String, Path, description = "chat_directory, presence or notifier")),
    responses((status = 204, description = "stopping; restarted after its backoff"), (status = 403, body = ErrorBody),
        (status = 404, description = "no such service", body = ErrorBody),
        (status = 409, description = "not running now (restarting, or the server is shutting down)", body = ErrorBody)))]
pub async fn restart_actor(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    kind: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin_only(&u)?;
    let Some(service) = streamhall_actors::ServiceKind::parse(&kind) else {
        return Err(ApiError::NotFound("service"));
    };
    if state.live.restart_service(service).await {
        tracing::info!(service = %kind, admin = u.id, "service restarted by an admin");
        audited(&state, &u, Action::ServiceRestart, Target::service(&kind)).await?;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::Conflict {
            field: "kind",
            message: "not running now; it is restarting or the server is shutting down".into(),
        })
    }
}

/// Closes a channel's chat room on this node (not counted as a failure). Its sockets are let
/// go and rejoin, which opens a fresh room.
#[utoipa::path(post, path = "/api/v1/admin/chat/{slug}/close", tag = "admin", security(("bearer" = [])),
    params(("slug" = String, Path)),
    responses((status = 204, description = "closed"), (status = 403, body = ErrorBody),
        (status = 404, description = "no such channel, or its room is not running on this node", body = ErrorBody)))]
pub async fn close_chat_room(
    state: web::Data<AppState>,
    AuthUser(u): AuthUser,
    slug: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin_only(&u)?;
    let (c, _) = super::channels::find(&state, &slug).await?;
    if state.live.chat.close_room(c.id).await {
        tracing::info!(channel = %slug, admin = u.id, "chat room closed by an admin");
        audited(&state, &u, Action::ChatRoomClose, Target::channel(&slug)).await?;
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("chat room"))
    }
}

/// Records an action already done in the audit log. Should that fail, the action stands and
/// the admin sees the error (with a request id), so it is not lost silently.
async fn audited(
    state: &AppState,
    admin: &streamhall_entities::user::Model,
    action: Action,
    target: Target,
) -> ApiResult<()> {
    audit::record(
        &state.db,
        Some(admin),
        action,
        target,
        None,
        serde_json::json!({}),
    )
    .await
}
