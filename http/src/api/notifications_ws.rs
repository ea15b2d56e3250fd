//! `WS /api/v1/notifications/ws`: a signed-in user's live notifications.
//!
//! The client's first message is `{"type":"auth","token":"<access token>"}` (tokens never go
//! in URLs); within [`AUTH_WITHIN`] or the socket closes. Then the server sends `ready` with
//! the unread count and a `notification` frame for each new one (see
//! [`NotifyServerMsg`]). Frames come from the node's [`NotificationHub`] through a bounded
//! queue; a socket that does not keep up is closed and its client reconnects. Heartbeat: a
//! ping every 15 s, closed after 30 s of silence.
//!
//! [`NotificationHub`]: streamhall_actors::notify::NotificationHub

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, StreamHandler, WrapFuture};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use futures_util::StreamExt;
use streamhall_actors::notify::protocol::{NotifyClientMsg, NotifyServerMsg};

use crate::{api::notifications::unread_count, error::ApiError, state::AppState};

const AUTH_WITHIN: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(15);
const SILENCE: Duration = Duration::from_secs(30);

#[utoipa::path(get, path = "/api/v1/notifications/ws", tag = "notifications",
    responses((status = 101, description = "WebSocket; send {\"type\":\"auth\",\"token\":…} first, then receive NotifyServerMsg frames"),
        (status = 403, description = "Origin not allowed")))]
pub async fn notifications_ws(
    state: web::Data<AppState>,
    req: HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if !state.origin_allowed(&req) {
        return Err(ApiError::Forbidden("this origin may not open notification sockets").into());
    }
    ws::WsResponseBuilder::new(
        NotifySession {
            state,
            user: None,
            signed_in: None,
            opened: Instant::now(),
            last_heard: Instant::now(),
        },
        &req,
        stream,
    )
    .frame_size(4096)
    .start()
}

struct NotifySession {
    state: web::Data<AppState>,
    /// (user id, registration id) once authenticated.
    user: Option<(i64, u64)>,
    /// Closes the socket when the user's sessions are revoked (password changed).
    signed_in: Option<streamhall_actors::sockets::SocketGrant>,
    opened: Instant,
    last_heard: Instant,
}

/// A frame from the hub.
struct Frame(Arc<str>);

impl Actor for NotifySession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(1), |act, ctx| {
            if act.user.is_none() && act.opened.elapsed() > AUTH_WITHIN {
                close(ctx, ws::CloseCode::Policy, "authenticate first");
            }
        });
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.last_heard.elapsed() > SILENCE {
                ctx.stop();
            } else {
                ctx.ping(b"");
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some((user_id, id)) = self.user.take() {
            self.state.live.notifier.hub().unregister(user_id, id);
        }
    }
}

impl StreamHandler<Frame> for NotifySession {
    fn handle(&mut self, frame: Frame, ctx: &mut Self::Context) {
        ctx.text(&*frame.0);
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

fn send(ctx: &mut ws::WebsocketContext<NotifySession>, msg: &NotifyServerMsg) {
    if let Ok(json) = serde_json::to_string(msg) {
        ctx.text(json);
    }
}

fn close(ctx: &mut ws::WebsocketContext<NotifySession>, code: ws::CloseCode, why: &str) {
    ctx.close(Some(ws::CloseReason {
        code,
        description: Some(why.into()),
    }));
    ctx.stop();
}

impl NotifySession {
    fn authenticate(&mut self, token: String, ctx: &mut ws::WebsocketContext<Self>) {
        let state = self.state.clone();
        ctx.wait(
            async move {
                use sea_orm::EntityTrait;
                let claims = state.tokens.verify(&token).ok()?;
                let id: i64 = claims.sub.parse().ok()?;
                let user = streamhall_entities::User::find_by_id(id)
                    .one(&state.db)
                    .await
                    .ok()??;
                (user.token_version == claims.ver).then_some(id)
            }
            .into_actor(self)
            .map(|user, act, ctx| {
                let Some(user_id) = user else {
                    send(
                        ctx,
                        &NotifyServerMsg::Error {
                            code: "unauthorized".into(),
                            message: "the token is invalid or expired".into(),
                        },
                    );
                    close(ctx, ws::CloseCode::Policy, "unauthorized");
                    return;
                };
                // Register before reading the count: a notification made in between is
                // then pushed (possibly counted twice, never missed).
                let Some(reg) = act.state.live.notifier.hub().register(user_id) else {
                    send(
                        ctx,
                        &NotifyServerMsg::Error {
                            code: "too_many_sockets".into(),
                            message: "too many notification sockets open for this account".into(),
                        },
                    );
                    close(ctx, ws::CloseCode::Policy, "too many sockets");
                    return;
                };
                act.user = Some((user_id, reg.id));
                let grant = act.state.live.sockets.register(user_id);
                let revoked = grant.revoked.clone();
                act.signed_in = Some(grant);
                ctx.spawn(revoked.cancelled_owned().into_actor(act).map(|_, _, ctx| {
                    use streamhall_actors::sockets::REVOKED_REASON;
                    close(ctx, ws::CloseCode::Policy, REVOKED_REASON)
                }));
                ctx.add_stream(stream_of(reg.rx).map(Frame));
                // Closes the socket when the hub gives up on it (its queue filled).
                ctx.spawn(
                    reg.kick
                        .cancelled_owned()
                        .into_actor(act)
                        .map(|_, _, ctx| close(ctx, ws::CloseCode::Policy, "slow consumer")),
                );
                let state = act.state.clone();
                ctx.wait(
                    async move { unread_count(&state, user_id).await }
                        .into_actor(act)
                        .map(|unread, _, ctx| match unread {
                            Ok(unread) => send(ctx, &NotifyServerMsg::Ready { unread }),
                            Err(_) => close(ctx, ws::CloseCode::Again, "try again"),
                        }),
                );
            }),
        );
    }
}

/// The hub's receiver as a stream.
fn stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Arc<str>>,
) -> impl futures_util::Stream<Item = Arc<str>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for NotifySession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => match serde_json::from_str::<NotifyClientMsg>(&text) {
                Ok(NotifyClientMsg::Auth { token }) if self.user.is_none() => {
                    self.authenticate(token, ctx)
                }
                Ok(NotifyClientMsg::Auth { .. }) => {}
                Ok(NotifyClientMsg::Ping) => send(ctx, &NotifyServerMsg::Pong),
                Err(_) if self.user.is_none() => {
                    close(ctx, ws::CloseCode::Policy, "expected {\"type\":\"auth\"}")
                }
                Err(_) => send(
                    ctx,
                    &NotifyServerMsg::Error {
                        code: "bad_request".into(),
                        message: "unknown message".into(),
                    },
                ),
            },
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
