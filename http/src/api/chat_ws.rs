//! The chat WebSocket: `WS /api/v1/chat/{slug}/ws`. One [`ChatSession`] actor per socket,
//! joined to the channel's room through a bounded queue.
//!
//! The socket reads the room directly. A batch of frames from the room (a broadcast, history, an
//! `ack`) does not pass through the session actor: the connection's body ([`SessionBody`]) takes
//! it from the member's queue and writes its WebSocket encoding, made once per batch and shared
//! by every member. The actor runs only when something of its own happens (a frame from the
//! client, its heartbeat, a kick, a rejoin), so a delivery costs one wake of the socket's task
//! and one write, not a turn of the actor's context.
//!
//! Back-pressure: the connection's writer ([`upgraded`](crate::upgraded)) asks the body for more
//! only once the previous batch is on the socket, and the body takes from the room queue only
//! when asked; so a client that stops reading fills its room queue, and the room closes it as a
//! slow consumer without ever waiting for it. The actor's own frames answer the client's, which
//! are not read either while the socket is full.
//!
//! Authentication: a short-lived single-use ticket in the URL
//! ([`TicketStore`](crate::ws_admission::TicketStore)), never a token; the server does not log
//! query strings.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use actix::dev::SendError;
use actix::prelude::*;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{Stream, task::AtomicWaker};
use serde::Deserialize;
use streamhall_actors::chat::protocol::{ClientMsg, MAX_FRAME_BYTES, RejectCode, ServerMsg, close};
use streamhall_actors::chat::queue::{QueueReceiver, queue};
use streamhall_actors::chat::{
    Batch, ChatHandle, ChatRoom, Command, Join, JoinUser, Leave, MemberHandle, Outbound, RoomKey,
    SessionId,
};
use tokio_util::sync::CancellationToken;

use crate::upgraded::DirectBody;
use crate::{api::channels, auth::client_ip, error::ApiError, state::AppState};

/// Ping this often...
const HEARTBEAT: Duration = Duration::from_secs(15);
/// ...and close a connection silent for this long.
const SILENCE: Duration = Duration::from_secs(30);
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// What a session and its connection's body share: the member's queue in the room it is joined
/// to, read by the body, and what the session needs to rejoin after the room lets it go.
struct Feed {
    joined: Mutex<Option<Joined>>,
    /// The newest message id written to the socket, or given as `last_id`; `i64::MIN` for none:
    /// where to resume if the room restarts.
    last_id: AtomicI64,
    /// A batch from the room was written since the session last (re)joined.
    delivered: AtomicBool,
}

/// The queue of one join. Dropping it tells the session the room let go of it.
struct Joined {
    rx: QueueReceiver<Outbound>,
    _left: tokio::sync::oneshot::Sender<()>,
}

impl Feed {
    fn new(last_id: Option<i64>) -> Self {
        Self {
            joined: Mutex::new(None),
            last_id: AtomicI64::new(last_id.unwrap_or(i64::MIN)),
            delivered: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Joined>> {
        // The slot holds plain data: a panic elsewhere leaves it usable.
        self.joined
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn last_id(&self) -> Option<i64> {
        Some(self.last_id.load(Ordering::Relaxed)).filter(|id| *id != i64::MIN)
    }

    /// The next batch from the room, encoded; pending while there is none, or no room (the
    /// session puts the next join's queue here, and its own turn wakes this task).
    fn poll_room(&self, cx: &mut TaskContext<'_>) -> Poll<Bytes> {
        let mut joined = self.lock();
        let Some(current) = joined.as_mut() else {
            return Poll::Pending;
        };
        match current.rx.poll_recv(cx) {
            Poll::Ready(Some(Outbound::Batch(batch))) => {
                if let Some(id) = batch.max_id {
                    self.last_id.fetch_max(id, Ordering::Relaxed);
                }
                self.delivered.store(true, Ordering::Relaxed);
                Poll::Ready(encoded(&batch))
            }
            Poll::Ready(None) => {
                // The room let go (kicked, stopped, restarting): the session hears it.
                *joined = None;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `batch` as server-to-client WebSocket text frames, encoded by the first connection that
/// writes it.
fn encoded(batch: &Batch) -> Bytes {
    batch
        .encoded
        .get_or_init(|| {
            let mut out =
                BytesMut::with_capacity(batch.frames.iter().map(|f| frame_len(f.len())).sum());
            for frame in &batch.frames {
                put_text_frame(&mut out, frame.as_bytes());
            }
            out.freeze()
        })
        .clone()
}

/// One unmasked, final text frame (RFC 6455 5.2), as a server sends it.
fn put_text_frame(out: &mut BytesMut, payload: &[u8]) {
    out.put_u8(0x81);
    if let Ok(short @ 0..=125) = u8::try_from(payload.len()) {
        out.put_u8(short);
    } else if let Ok(medium) = u16::try_from(payload.len()) {
        out.put_u8(126);
        out.put_u16(medium);
    } else {
        out.put_u8(127);
        out.put_u64(payload.len() as u64);
    }
    out.put_slice(payload);
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

/// The session's waker: marks that its context has something to do, and wakes the socket's task.
#[derive(Default)]
struct SessionWake {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for SessionWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// The response body: the session actor's frames (its WebSocket context's output) and the
/// room's batches, one stream. The context is polled only when something woke it (its own
/// waker says so), so a batch from the room does not turn the actor; after it yields a frame it
/// is polled again before the room is, so nothing from the room follows a close frame.
struct SessionBody<S> {
    session: Pin<Box<S>>,
    wake: Arc<SessionWake>,
    waker: Waker,
    /// Poll the session on the next turn whether or not it was woken.
    hot: bool,
    feed: Arc<Feed>,
}

impl<S> SessionBody<S> {
    fn new(session: S, feed: Arc<Feed>) -> Self {
        let wake = Arc::new(SessionWake::default());
        Self {
            session: Box::pin(session),
            waker: Waker::from(Arc::clone(&wake)),
            wake,
            hot: true,
            feed,
        }
    }
}

impl<S, E> Stream for SessionBody<S>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        this.wake.task.register(cx.waker());
        if this.hot || this.wake.woken.swap(false, Ordering::AcqRel) {
            let mut session_cx = TaskContext::from_waker(&this.waker);
            match this.session.as_mut().poll_next(&mut session_cx) {
                Poll::Ready(Some(item)) => {
                    this.hot = true;
                    return Poll::Ready(Some(item));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => this.hot = false,
            }
        }
        this.feed.poll_room(cx).map(|bytes| Some(Ok(bytes)))
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
    let feed = Arc::new(Feed::new(query.last_id));
    let signed_in = user.as_ref().map(|u| state.live.sockets.register(u.id));
    let session = ChatSession {
        id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
        key,
        chat: state.live.chat.clone(),
        user,
        room: None,
        feed: feed.clone(),
        kick: CancellationToken::new(),
        heard: Instant::now(),
        rejoins: 0,
        _slot: slot,
        signed_in,
    };
    let mut res = ws::handshake(&req)?;
    let context = ws::WebsocketContext::with_codec(
        session,
        stream,
        actix_http::ws::Codec::new().max_size(MAX_FRAME_BYTES),
    );
    let direct = DirectBody::new(Box::pin(SessionBody::new(context, feed)));
    let mut res = res.streaming(direct.body());
    res.extensions_mut().insert(direct);
    Ok(res)
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
    /// The room's queue, read by the connection's body, and where to resume.
    feed: Arc<Feed>,
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

    /// Joins (or rejoins) the room with a fresh queue, which the connection's body reads.
    fn join(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let (tx, rx) = queue(self.chat.cfg.session_queue.max(2));
        let (left_tx, left_rx) = tokio::sync::oneshot::channel::<()>();
        *self.feed.lock() = Some(Joined { rx, _left: left_tx });
        ctx.spawn(
            async move {
                let _ = left_rx.await;
            }
            .into_actor(self)
            .map(|_, act, ctx| act.room_left(ctx)),
        );
        let join = Join {
            session: self.id,
            handle: MemberHandle {
                tx,
                kick: self.kick.clone(),
            },
            user: self.user.clone(),
            resume_from: self.feed.last_id(),
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

impl ChatSession {
    /// The room let go of this session: kicked (closing already), or the room stopped or
    /// could not be reached; then rejoin with backoff and resume after the last message.
    fn room_left(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        // A queue in the slot means this word is about an earlier join, already replaced.
        if self.kick.is_cancelled() || self.feed.lock().is_some() {
            return;
        }
        self.room = None;
        if self.feed.delivered.swap(false, Ordering::Relaxed) {
            self.rejoins = 0;
        }
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frame_lengths_match_rfc6455_server_frames() {
        assert_eq!(frame_len(0), 2);
        assert_eq!(frame_len(125), 127);
        assert_eq!(frame_len(126), 130);
        assert_eq!(frame_len(65535), 65539);
        assert_eq!(frame_len(65536), 65546);
    }

    use tokio::sync::oneshot::error::TryRecvError;

    #[test]
    fn text_frames_are_what_actix_encodes_for_a_server() {
        use actix_codec::Encoder;
        for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
            let payload = "x".repeat(len);
            let mut ours = BytesMut::new();
            put_text_frame(&mut ours, payload.as_bytes());
            let mut theirs = BytesMut::new();
            actix_http::ws::Codec::new()
                .max_size(usize::MAX)
                .encode(ws::Message::Text(payload.into()), &mut theirs)
                .unwrap();
            assert_eq!(ours, theirs, "payload of {len} bytes");
            assert_eq!(ours.len(), frame_len(len));
        }
    }

    /// A stand-in for the session's context: yields what the test pushes, or ends.
    #[derive(Default)]
    struct Script {
        frames: std::collections::VecDeque<Option<&'static str>>,
        polls: usize,
        waker: Option<Waker>,
    }

    struct ScriptStream(Arc<Mutex<Script>>);

    impl Stream for ScriptStream {
        type Item = Result<Bytes, ()>;

        fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
            let mut script = self.0.lock().unwrap();
            script.polls += 1;
            match script.frames.pop_front() {
                Some(Some(text)) => Poll::Ready(Some(Ok(Bytes::from_static(text.as_bytes())))),
                Some(None) => Poll::Ready(None),
                None => {
                    script.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }
    }

    fn batch(frames: &[&str], max_id: Option<i64>) -> Outbound {
        Outbound::Batch(Arc::new(Batch::new(
            frames.iter().map(|f| (*f).into()).collect(),
            max_id,
        )))
    }

    #[test]
    fn the_room_is_read_without_turning_the_session_and_nothing_follows_its_close() {
        let script = Arc::new(Mutex::new(Script::default()));
        let feed = Arc::new(Feed::new(Some(3)));
        let (tx, rx) = queue(4);
        let (left_tx, _left_rx) = tokio::sync::oneshot::channel();
        *feed.lock() = Some(Joined { rx, _left: left_tx });
        let mut body = std::pin::pin!(SessionBody::new(ScriptStream(script.clone()), feed.clone()));
        let waker = Waker::noop();
        let mut cx = TaskContext::from_waker(waker);
        let mut next = || match body.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(Ok(bytes))) => Some(bytes),
            Poll::Ready(Some(Err(()))) => panic!("error"),
            Poll::Ready(None) => None,
            Poll::Pending => Some(Bytes::new()),
        };

        // The first turn starts the session; then the room's batches come without it.
        assert_eq!(next(), Some(Bytes::new()));
        assert_eq!(script.lock().unwrap().polls, 1);
        tx.try_send(batch(&["a", "bb"], Some(7))).unwrap();
        let mut want = BytesMut::new();
        put_text_frame(&mut want, b"a");
        put_text_frame(&mut want, b"bb");
        assert_eq!(next(), Some(want.freeze()));
        assert_eq!(next(), Some(Bytes::new()));
        assert_eq!(
            script.lock().unwrap().polls,
            1,
            "the session was not turned"
        );
        assert_eq!(feed.last_id(), Some(7));
        assert!(feed.delivered.load(Ordering::Relaxed));

        // The session is woken (a frame of its own, then its close and end): its frames come
        // first, and a batch queued meanwhile is not written after the close.
        tx.try_send(batch(&["late"], Some(8))).unwrap();
        let session_waker = {
            let mut s = script.lock().unwrap();
            s.frames.extend([Some("close"), None]);
            s.waker.take().unwrap()
        };
        session_waker.wake();
        assert_eq!(next(), Some(Bytes::from_static(b"close")));
        assert_eq!(next(), None);
        assert_eq!(feed.last_id(), Some(7));

        // The room letting go empties the slot, which the session hears.
        drop(tx);
        let feed2 = Arc::new(Feed::new(None));
        let (tx, rx) = queue::<Outbound>(4);
        let (left_tx, mut left_rx) = tokio::sync::oneshot::channel::<()>();
        *feed2.lock() = Some(Joined { rx, _left: left_tx });
        assert!(left_rx.try_recv().is_err_and(|e| e == TryRecvError::Empty));
        drop(tx);
        assert!(
            feed2
                .poll_room(&mut TaskContext::from_waker(waker))
                .is_pending()
        );
        assert!(feed2.lock().is_none());
        assert_eq!(feed2.last_id(), None);
        assert!(left_rx.try_recv().is_err_and(|e| e == TryRecvError::Closed));
    }
}
