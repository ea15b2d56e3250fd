//! The chat WebSocket: `WS /api/v1/chat/{slug}/ws`. One [`ChatSession`] actor per socket,
//! joined to the channel's room through a bounded queue.
//!
//! Back-pressure: the connection's writer ([`upgraded`](crate::upgraded)) takes the actor's
//! frames only once the previous batch is on the socket, and then drains whatever the actor
//! queued in one go. [`Gate`] keeps that bounded:
//! the session stops taking batches from its room queue once [`GATE_BYTES`] are written but
//! not yet handed to the connection, so a client that stops reading fills its room queue
//! instead, and the room closes it as a slow consumer without ever waiting for it.
//!
//! Authentication: a short-lived single-use ticket in the URL
//! ([`TicketStore`](crate::ws_admission::TicketStore)), never a token; the server does not log
//! query strings.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use actix::dev::SendError;
use actix::prelude::*;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use bytes::Bytes;
use futures_util::{Stream, task::AtomicWaker};
use serde::Deserialize;
use streamhall_actors::chat::protocol::{ClientMsg, MAX_FRAME_BYTES, RejectCode, ServerMsg, close};
use streamhall_actors::chat::queue::{QueueReceiver, queue};
use streamhall_actors::chat::{
    ChatHandle, ChatRoom, Command, Join, JoinUser, Leave, MemberHandle, Outbound, RoomKey,
    SessionId,
};
use tokio_util::sync::CancellationToken;

use crate::{api::channels, auth::client_ip, error::ApiError, state::AppState};

/// Ping this often...
const HEARTBEAT: Duration = Duration::from_secs(15);
/// ...and close a connection silent for this long.
const SILENCE: Duration = Duration::from_secs(30);
/// Bytes a session may have written but not yet handed to the connection.
pub const GATE_BYTES: usize = 64 * 1024;

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Bytes written by the session actor and not yet taken by the connection.
#[derive(Default)]
pub struct Gate {
    queued: AtomicUsize,
    waker: AtomicWaker,
}

impl Gate {
    fn add(&self, n: usize) {
        self.queued.fetch_add(n, Ordering::Relaxed);
    }

    fn taken(&self, n: usize) {
        // Saturating: control frames are not counted on the way in.
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                Some(q.saturating_sub(n))
            });
        self.waker.wake();
    }

    fn open(&self) -> bool {
        self.queued.load(Ordering::Relaxed) < GATE_BYTES
    }
}

/// Bytes a server-to-client text frame of `payload` bytes takes on the wire.
fn frame_len(payload: usize) -> usize {
    payload
        + match payload {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        }
}

/// The response body: the WebSocket context's output, reporting to the gate.
struct GatedBody<S> {
    inner: Pin<Box<S>>,
    gate: Arc<Gate>,
}

impl<S, E> Stream for GatedBody<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &item {
            self.gate.taken(bytes.len());
        }
        item
    }
}

/// The room queue, read only while the gate is open.
struct GatedReceiver {
    rx: QueueReceiver<Outbound>,
    gate: Arc<Gate>,
}

impl Stream for GatedReceiver {
    type Item = Outbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Outbound>> {
        if !self.gate.open() {
            self.gate.waker.register(cx.waker());
            if !self.gate.open() {
                return Poll::Pending;
            }
        }
        self.rx.poll_recv(cx)
    }
}

#[derive(Deserialize)]
pub struct WsQuery {
    ticket: Option<String>,
    last_id: Option<i64>,
}

/// `WS /api/v1/chat/{slug}/ws[?ticket=…][&last_id=…]`: see docs/CHAT.md.
#[utoipa::path(get, path = "/api/v1/chat/{slug}/ws", tag = "chat",
    params(("slug" = String, Path), ("ticket" = Option<String>, Query, description = "from POST /chat/{slug}/ticket; needed to post"),
        ("last_id" = Option<i64>, Query, description = "resume after this message id"),
        ("token" = Option<String>, Query, description = "a playback token: needed for a channel that is not public")),
    responses((status = 101, description = "WebSocket speaking the protocol in docs/CHAT.md"),
        (status = 401, description = "the ticket is invalid, used or expired"),
        (status = 403, description = "Origin not allowed, or `playback_token_*`: a channel that is not public and no valid playback token"), (status = 404, description = "no such channel"),
        (status = 429, description = "too many connections from this address")))]
pub async fn chat_ws(
    state: web::Data<AppState>,
    req: HttpRequest,
    stream: web::Payload,
    slug: web::Path<String>,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    if !state.origin_allowed(&req) {
        return Err(ApiError::Forbidden("this origin may not open chat sockets").into());
    }
    let key = room_key(&state, &slug).await?;
    crate::api::playback::check_chat(&state, &req, &slug).await?;
    // Before the ticket is used up, so a refused socket can retry with it.
    let ip = client_ip(&req, state.http.trust_proxy_headers);
    let Some(slot) = state.chat_conns.acquire(ip) else {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: 10,
        }
        .into());
    };
    let user = match &query.ticket {
        None => None,
        Some(ticket) => {
            let Some(user_id) = state.chat_tickets.redeem(ticket, key.channel_id).await? else {
                return Err(ApiError::Unauthorized.into());
            };
            use sea_orm::EntityTrait;
            let u = streamhall_entities::User::find_by_id(user_id)
                .one(&state.db)
                .await
                .map_err(ApiError::from)?
                .ok_or(ApiError::Unauthorized)?;
            Some(JoinUser {
                id: u.id,
                is_admin: u.is_admin(),
                username: u.username,
            })
        }
    };
    let gate = Arc::new(Gate::default());
    let signed_in = user.as_ref().map(|u| state.live.sockets.register(u.id));
    let session = ChatSession {
        id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
        key,
        chat: state.live.chat.clone(),
        user,
        room: None,
        last_id: query.last_id,
        gate: gate.clone(),
        kick: CancellationToken::new(),
        heard: Instant::now(),
        rejoins: 0,
        _slot: slot,
        signed_in,
    };
    let mut res = ws::handshake(&req)?;
    let body = ws::WebsocketContext::with_codec(
        session,
        stream,
        actix_http::ws::Codec::new().max_size(MAX_FRAME_BYTES),
    );
    Ok(res.streaming(GatedBody {
        inner: Box::pin(body),
        gate,
    }))
}

/// The room a socket of `slug` joins, read from the database at most once a second per slug
/// (through [`AppState::cache`], which channel changes clear): a storm of thousands of
/// reconnecting clients costs a few queries, not one each.
async fn room_key(state: &AppState, slug: &str) -> Result<RoomKey, ApiError> {
    let cache_key = format!("chat-room:{slug}");
    let cached = state.cache.get(&cache_key).and_then(|b| {
        let text = std::str::from_utf8(&b).ok()?.to_owned();
        let (id, owner) = text.split_once(' ')?;
        Some((id.parse().ok()?, owner.parse().ok()?))
    });
    if let Some((channel_id, owner_id)) = cached {
        return Ok(RoomKey {
            channel_id,
            slug: slug.to_owned(),
            owner_id,
        });
    }
    let (channel, _) = channels::find(state, slug).await?;
    state.cache.put(
        cache_key,
        bytes::Bytes::from(format!("{} {}", channel.id, channel.owner_id)),
    );
    Ok(RoomKey {
        channel_id: channel.id,
        slug: channel.slug,
        owner_id: channel.owner_id,
    })
}

pub struct ChatSession {
    id: SessionId,
    key: RoomKey,
    chat: ChatHandle,
    user: Option<JoinUser>,
    room: Option<streamhall_actors::stats::Mailbox<ChatRoom>>,
    /// The newest message id sent on this socket (or given as `last_id`): where to resume if
    /// the room restarts.
    last_id: Option<i64>,
    gate: Arc<Gate>,
    kick: CancellationToken,
    heard: Instant,
    rejoins: u32,
    _slot: crate::ws_admission::ConnSlot,
    /// Signed-in sockets close when the user's sessions are revoked (password changed).
    signed_in: Option<streamhall_actors::sockets::SocketGrant>,
}

impl ChatSession {
    fn send(&self, ctx: &mut ws::WebsocketContext<Self>, msg: &ServerMsg) {
        if let Ok(json) = serde_json::to_string(msg) {
            self.gate.add(frame_len(json.len()));
            ctx.text(json);
        }
    }

    fn close(ctx: &mut ws::WebsocketContext<Self>, code: ws::CloseCode, why: &str) {
        ctx.close(Some(ws::CloseReason {
            code,
            description: Some(why.into()),
        }));
        ctx.stop();
    }

    /// Joins (or rejoins) the room with a fresh queue.
    fn join(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let (tx, rx) = queue(self.chat.cfg.session_queue.max(2));
        ctx.add_stream(GatedReceiver {
            rx,
            gate: self.gate.clone(),
        });
        let join = Join {
            session: self.id,
            handle: MemberHandle {
                tx,
                kick: self.kick.clone(),
            },
            user: self.user.clone(),
            resume_from: self.last_id,
        };
        let chat = self.chat.clone();
        let key = self.key.clone();
        // Commands go to the room's mailbox after the join: none can overtake it.
        ctx.spawn(
            async move { chat.room(key).await.ok() }
                .into_actor(self)
                .map(|room, act, _| {
                    if let Some(room) = &room {
                        room.do_send(join);
                    }
                    act.room = room;
                }),
        );
    }
}

impl Actor for ChatSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.join(ctx);
        ctx.run_interval(HEARTBEAT, |act, ctx| {
            if act.heard.elapsed() > SILENCE {
                Self::close(ctx, ws::CloseCode::Away, "no answer to pings");
            } else {
                ctx.ping(b"");
            }
        });
        let kick = self.kick.clone();
        ctx.spawn(
            async move { kick.cancelled().await }
                .into_actor(self)
                .map(|_, _, ctx| {
                    Self::close(ctx, ws::CloseCode::Policy, close::SLOW_CONSUMER_REASON);
                }),
        );
        if let Some(grant) = &self.signed_in {
            let revoked = grant.revoked.clone();
            ctx.spawn(
                async move { revoked.cancelled().await }
                    .into_actor(self)
                    .map(|_, _, ctx| {
                        use streamhall_actors::sockets::REVOKED_REASON;
                        Self::close(ctx, ws::CloseCode::Policy, REVOKED_REASON);
                    }),
            );
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(room) = &self.room {
            room.do_send(Leave { session: self.id });
        }
    }
}

impl StreamHandler<Outbound> for ChatSession {
    fn handle(&mut self, item: Outbound, ctx: &mut Self::Context) {
        let Outbound::Batch(batch) = item;
        for f in &batch.frames {
            self.gate.add(frame_len(f.len()));
            ctx.text(f.clone());
        }
        if let Some(id) = batch.max_id {
            self.last_id = Some(self.last_id.map_or(id, |l| l.max(id)));
        }
        self.rejoins = 0;
    }

    /// The room let go of this session: kicked (closing already), or the room stopped or
    /// could not be reached; then rejoin with backoff and resume after the last message.
    fn finished(&mut self, ctx: &mut Self::Context) {
        if self.kick.is_cancelled() {
            return;
        }
        self.room = None;
        self.rejoins += 1;
        if self.rejoins > 8 {
            Self::close(
                ctx,
                ws::CloseCode::Error,
                "chat is unavailable; reconnect later",
            );
            return;
        }
        let delay = Duration::from_millis(50 << self.rejoins.min(5));
        ctx.run_later(delay, |act, ctx| act.join(ctx));
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ChatSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.heard = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => match serde_json::from_str::<ClientMsg>(&text) {
                Ok(ClientMsg::Ping) => self.send(ctx, &ServerMsg::Pong),
                Ok(msg) => self.command(msg, ctx),
                Err(e) => self.send(
                    ctx,
                    &ServerMsg::Error {
                        code: RejectCode::BadRequest,
                        message: format!("not a valid message: {e}"),
                    },
                ),
            },
            Ok(ws::Message::Binary(_)) => {
                Self::close(ctx, ws::CloseCode::Unsupported, "text frames only");
            }
            Ok(ws::Message::Ping(p)) => ctx.pong(&p),
            Ok(ws::Message::Pong(_)) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Ok(ws::Message::Continuation(_)) => {
                Self::close(
                    ctx,
                    ws::CloseCode::Unsupported,
                    "fragmented frames are not supported",
                );
            }
            Ok(ws::Message::Nop) => {}
            Err(ws::ProtocolError::Overflow) => {
                Self::close(ctx, ws::CloseCode::Size, close::TOO_BIG_REASON);
            }
            Err(_) => ctx.stop(),
        }
    }
}

impl ChatSession {
    fn command(&mut self, msg: ClientMsg, ctx: &mut ws::WebsocketContext<Self>) {
        let action = msg.action();
        let client_id = match &msg {
            ClientMsg::Send { client_id, .. } => Some(client_id.clone()),
            _ => None,
        };
        let refuse = |code, why: &str| ServerMsg::rejected(action, client_id.clone(), code, why);
        let Some(room) = &self.room else {
            let msg = refuse(RejectCode::Unavailable, "still joining the room; retry");
            self.send(ctx, &msg);
            return;
        };
        let cmd = Command {
            session: Some(self.id),
            user: None,
            msg,
        };
        let refused = match room.try_send(cmd) {
            Ok(()) => None,
            Err(SendError::Full(_)) => {
                Some((RejectCode::Overloaded, "the room is busy; retry shortly"))
            }
            // The room stopped; this socket is about to rejoin a new one.
            Err(SendError::Closed(_)) => {
                Some((RejectCode::Unavailable, "the room is restarting; retry"))
            }
        };
        if let Some((code, why)) = refused {
            let msg = refuse(code, why);
            self.send(ctx, &msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_match_rfc6455_server_frames() {
        assert_eq!(frame_len(0), 2);
        assert_eq!(frame_len(125), 127);
        assert_eq!(frame_len(126), 130);
        assert_eq!(frame_len(65535), 65539);
        assert_eq!(frame_len(65536), 65546);
    }

    #[test]
    fn the_gate_closes_at_the_limit_and_never_goes_negative() {
        let g = Gate::default();
        assert!(g.open());
        g.add(GATE_BYTES);
        assert!(!g.open());
        g.taken(10);
        assert!(g.open());
        g.taken(GATE_BYTES * 2);
        assert_eq!(g.queued.load(Ordering::Relaxed), 0);
    }
}
