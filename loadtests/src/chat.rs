//! `chat`: readers and senders over WebSocket, measuring end-to-end delivery.
//!
//! Against streamhall (docs/CHAT.md): `--rooms` channels (created, or `--channels`), `--senders`
//! accounts that post through single-use tickets, `--connections` anonymous readers spread over
//! the rooms. Against the `ws-broadcast` peer (`--peer ws-broadcast`): one room, readers on
//! `/sub`, senders on `/pub`, raw text frames.
//!
//! Every message text starts with `SEND_MICROS:SENDER:SEQ:` and is padded to `--size` bytes.
//! Readers compute latency from the embedded send time (one process, one clock) and keep a
//! bitset per sender, so the end of the run knows, per reader, exactly which of the messages
//! the server accepted (`ack`; on the peer, every message written) never arrived, and which
//! arrived twice.
//!
//! Timeline: setup (accounts, channels) · readers connect over `--ramp` · senders connect ·
//! senders send for `--duration` · `--drain` for messages in flight · every socket closes.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::{net::TcpStream, sync::watch, task::JoinSet};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, protocol::WebSocketConfig},
};

use crate::{
    Ctx, Report,
    metrics::{Counter, Gauge, Latency, Tally, Unit},
    parse_duration, rest,
    rng::Rng,
    stats::{Delivery, Ledger, SeqSet},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChatPeer {
    /// The Node `ws` one-room broadcast server (shared peers): `/sub` and `/pub`.
    WsBroadcast,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ChatOpts {
    /// Reading connections (anonymous on streamhall, `/sub` on the peer).
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Rooms (channels) the readers and senders are spread over. The peer has one.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Sending connections (signed-in accounts on streamhall, `/pub` on the peer).
    #[arg(long, default_value_t = 10)]
    pub senders: usize,
    /// Messages per second per sender.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Message text size in bytes (at least 40: the timestamp header).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Measure a peer instead of streamhall.
    #[arg(long, value_enum)]
    pub peer: Option<ChatPeer>,
    /// After the last send, wait this long for messages in flight.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Use these existing channels (comma-separated slugs) instead of creating `--rooms`.
    #[arg(long, value_delimiter = ',')]
    pub channels: Vec<String>,
    /// The server's process id (same machine): report its memory per connection from
    /// /proc/PID/status.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Readers connect to this server instead of `--target`: another node of the same
    /// deployment (one database, one Redis), so delivery crosses nodes. Setup and senders
    /// stay on `--target`.
    #[arg(long)]
    pub readers_target: Option<String>,
}

impl Default for ChatOpts {
    fn default() -> Self {
        Self {
            connections: 1000,
            rooms: 1,
            senders: 10,
            rate: 1.0,
            size: 100,
            peer: None,
            drain: Duration::from_secs(2),
            channels: Vec::new(),
            server_pid: None,
            readers_target: None,
        }
    }
}

/// Bytes before the padding: enough for `micros:sender:seq:`.
const MIN_SIZE: usize = 40;

type Ws = WebSocketStream<TcpStream>;

struct M {
    conns: Arc<Gauge>,
    connect: Arc<Latency>,
    connect_failures: Arc<Counter>,
    delivery: Arc<Latency>,
    ack: Arc<Latency>,
    sent: Arc<Counter>,
    delivered: Arc<Counter>,
    acked: Arc<Counter>,
    rejected: Arc<Tally>,
    disconnects: Arc<Tally>,
    foreign: Arc<Counter>,
}

/// Milliseconds since the Unix epoch as microseconds: the clock embedded in messages.
fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// The text of message `seq` from `sender`, `size` bytes long.
pub fn message_text(sender: u32, seq: u64, size: usize) -> String {
    let mut t = format!("{}:{sender}:{seq}:", now_micros());
    let pad = size.max(MIN_SIZE).saturating_sub(t.len());
    t.extend(std::iter::repeat_n('x', pad));
    t
}

/// (send micros, sender, seq) from a message text made by [`message_text`].
pub fn parse_text(text: &str) -> Option<(u64, u32, u64)> {
    let mut it = text.splitn(4, ':');
    let ts = it.next()?.parse().ok()?;
    let sender = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    it.next()?;
    Some((ts, sender, seq))
}

/// The fields of a streamhall server frame that the load generator reads.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    client_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    code: Option<std::borrow::Cow<'a, str>>,
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: tens of thousands of idle sockets must fit in the generator's memory.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
}

async fn ws_connect(ctx: &Ctx, conn_index: usize, path: &str) -> anyhow::Result<(Ws, Duration)> {
    let t0 = Instant::now();
    let fut = async {
        let tcp = crate::net::connect(ctx.sources.for_conn(conn_index), ctx.target.addr).await?;
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            ctx.target.ws_url(path),
            tcp,
            Some(ws_config()),
        )
        .await?;
        anyhow::Ok(ws)
    };
    let ws = tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .context("connect timed out after 10 s")??;
    Ok((ws, t0.elapsed()))
}

fn reason_of_close(msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> String {
    match msg {
        None => "connection ended without close".into(),
        Some(Ok(Message::Close(Some(f)))) => {
            format!("server closed {} {}", u16::from(f.code), f.reason)
        }
        Some(Ok(Message::Close(None))) => "server closed".into(),
        Some(Ok(_)) => "unexpected frame".into(),
        Some(Err(e)) => format!("error: {e}"),
    }
}

fn connect_failure(e: &anyhow::Error) -> String {
    let s = format!("{e:#}");
    if s.contains("timed out") {
        "timeout".into()
    } else if s.contains("refused") {
        "refused".into()
    } else if let Some(i) = s.find("HTTP error: ") {
        format!("http {}", &s[i + 12..].chars().take(3).collect::<String>())
    } else if s.contains("Too many open files") {
        "out of file descriptors".into()
    } else if s.contains("Address not available") || s.contains("Cannot assign") {
        "out of source ports".into()
    } else {
        s.chars().take(80).collect()
    }
}

struct ReaderDone {
    room: usize,
    ledger: Ledger,
}

#[allow(clippy::too_many_arguments)]
async fn reader(
    ctx: Arc<Ctx>,
    m: Arc<M>,
    i: usize,
    room: usize,
    path: String,
    peer: bool,
    start_at: tokio::time::Instant,
    mut stop: watch::Receiver<bool>,
) -> Option<ReaderDone> {
    tokio::time::sleep_until(start_at).await;
    let (mut ws, took) = match ws_connect(&ctx, i, &path).await {
        Ok(x) => x,
        Err(e) => {
            m.connect_failures.inc();
            m.disconnects
                .add(format!("connect: {}", connect_failure(&e)));
            return None;
        }
    };
    m.connect.record(took);
    m.conns.add(1);
    let mut ledger = Ledger::default();
    loop {
        let msg = tokio::select! {
            msg = ws.next() => msg,
            _ = stop.changed() => break,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(
                Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_),
            )) => {
                continue;
            }
            other => {
                m.disconnects.add(reason_of_close(other));
                m.conns.add(-1);
                return Some(ReaderDone { room, ledger });
            }
        };
        let now = now_micros();
        let parsed = if peer {
            parse_text(&text)
        } else {
            match serde_json::from_str::<Frame>(&text) {
                Ok(f) if f.kind == "message" => f.text.as_deref().and_then(parse_text),
                _ => continue,
            }
        };
        match parsed {
            Some((ts, sender, seq)) => {
                m.delivered.inc();
                m.delivery.record_micros(now.saturating_sub(ts));
                ledger.record(sender, seq);
            }
            None => m.foreign.inc(),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    m.conns.add(-1);
    Some(ReaderDone { room, ledger })
}

struct SenderDone {
    id: u32,
    room: usize,
    /// The messages the server took: acknowledged (streamhall) or written (peer).
    accepted: SeqSet,
}

#[derive(Default)]
struct SenderState {
    sent_at: Vec<Instant>,
    acked: SeqSet,
}

#[allow(clippy::too_many_arguments)]
async fn sender(
    ctx: Arc<Ctx>,
    m: Arc<M>,
    id: u32,
    conn_index: usize,
    room: usize,
    ws: Ws,
    opts: ChatOpts,
    mut go: watch::Receiver<bool>,
    mut stop_send: watch::Receiver<bool>,
    mut stop_read: watch::Receiver<bool>,
) -> SenderDone {
    let peer = opts.peer.is_some();
    let state = Arc::new(Mutex::new(SenderState::default()));
    let _ = conn_index;
    let mut rng = Rng::for_actor(ctx.common.seed, u64::from(id) + 1_000_000);
    let period = Duration::from_secs_f64(1.0 / opts.rate.max(1e-3));
    // Every sender starts with the measured phase.
    let _ = go.wait_for(|g| *g).await;
    let first = tokio::time::Instant::now() + period.mul_f64(rng.unit());
    let mut every = tokio::time::interval_at(first, period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sink, mut stream) = ws.split();
    // Reads acks and rejections (and the room's messages, which must be read too).
    let st = state.clone();
    let mr = m.clone();
    let read_half = tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                msg = stream.next() => msg,
                _ = stop_read.changed() => return None,
            };
            let text = match msg {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    mr.disconnects
                        .add(format!("sender: {}", reason_of_close(msg)));
                    return Some(());
                }
                Some(Ok(_)) => continue,
            };
            if peer {
                continue;
            }
            let Ok(f) = serde_json::from_str::<Frame>(&text) else {
                continue;
            };
            let seq = f
                .client_id
                .as_deref()
                .and_then(|c| c.rsplit_once('-'))
                .and_then(|(_, s)| s.parse::<u64>().ok());
            match (f.kind, seq) {
                ("ack", Some(seq)) => {
                    let mut s = st.lock().unwrap_or_else(|e| e.into_inner());
                    if s.acked.insert(seq) {
                        mr.acked.inc();
                        if let Some(t) = s.sent_at.get(seq as usize) {
                            mr.ack.record(t.elapsed());
                        }
                    }
                }
                ("rejected", _) => mr.rejected.add(f.code.as_deref().unwrap_or("?").to_owned()),
                _ => {}
            }
        }
    });
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop_send.changed() => break,
        }
        if *stop_send.borrow() {
            break;
        }
        let text = message_text(id, seq, opts.size);
        let frame = if peer {
            text
        } else {
            format!(r#"{{"type":"send","client_id":"l{id}-{seq}","text":"{text}"}}"#)
        };
        {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.sent_at.push(Instant::now());
            if peer {
                s.acked.insert(seq);
            }
        }
        if sink.send(Message::text(frame)).await.is_err() {
            m.disconnects.add("sender: write failed");
            break;
        }
        m.sent.inc();
        if peer {
            m.acked.inc();
        }
        seq += 1;
    }
    let _ = read_half.await;
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    m.conns.add(-1);
    let accepted = std::mem::take(&mut state.lock().unwrap_or_else(|e| e.into_inner()).acked);
    SenderDone { id, room, accepted }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Runs the chat scenario.
pub async fn run(ctx: Arc<Ctx>, opts: &ChatOpts) -> anyhow::Result<Report> {
    let mut opts = opts.clone();
    let peer = opts.peer.is_some();
    anyhow::ensure!(
        opts.size <= 500,
        "--size: streamhall allows at most 500 characters"
    );
    anyhow::ensure!(opts.rate > 0.0, "--rate must be above 0");
    let rec = ctx.recorder.clone();
    let n = |s: &str| ctx.name(s);
    let m = Arc::new(M {
        conns: rec.gauge(&n("conns")),
        delivery: rec.latency(&n("delivery"))?,
        ack: rec.latency(&n("ack"))?,
        connect: rec.latency(&n("connect"))?,
        connect_failures: rec.counter(&n("connect_failures"), Unit::Count, false),
        sent: rec.counter(&n("sent"), Unit::Count, true),
        acked: rec.counter(&n("accepted"), Unit::Count, false),
        delivered: rec.counter(&n("delivered"), Unit::Count, true),
        rejected: rec.tally(&n("rejected")),
        disconnects: rec.tally(&n("disconnects")),
        foreign: rec.counter(&n("foreign_messages"), Unit::Count, false),
    });
    rec.headline(&m.delivery);
    crate::net::raise_file_limit(((opts.connections + opts.senders) as u64 + 1024) * 2);

    // Setup: rooms and sender accounts (streamhall), nothing for the peer.
    let http = crate::net::http_clients(&ctx.sources, 1)?
        .into_iter()
        .next()
        .context("http client")?;
    let mut accounts = Vec::new();
    let slugs: Vec<String> = if peer {
        opts.rooms = 1;
        vec!["peer".into()]
    } else {
        let tag = ctx.run_tag();
        let password = format!("load-{tag}-password");
        let slugs = if opts.channels.is_empty() {
            let owner =
                rest::account(&http, &ctx.target, &format!("ld_{tag}_owner"), &password).await?;
            let mut slugs = Vec::new();
            for r in 0..opts.rooms.max(1) {
                let slug = format!("ld-{tag}-{r}");
                rest::create_channel(&http, &ctx.target, &owner, &slug).await?;
                slugs.push(slug);
            }
            slugs
        } else {
            opts.channels.clone()
        };
        opts.rooms = slugs.len();
        let mut set = JoinSet::new();
        for s in 0..opts.senders {
            let (http, t, pw) = (http.clone(), ctx.target.clone(), password.clone());
            let name = format!("ld_{tag}_s{s}");
            set.spawn(async move { rest::account(&http, &t, &name, &pw).await.map(|a| (s, a)) });
            if set.len() >= 4
                && let Some(r) = set.join_next().await
            {
                accounts.push(r??);
            }
        }
        while let Some(r) = set.join_next().await {
            accounts.push(r??);
        }
        accounts.sort_by_key(|(s, _)| *s);
        slugs
    };
    let rss_before = opts.server_pid.and_then(rss_kib);

    let (stop_read_tx, stop_read) = watch::channel(false);
    let (stop_send_tx, stop_send) = watch::channel(false);
    let ticker = ctx.start_ticker();

    // Readers, spread over the ramp (on another node with --readers-target).
    let reader_ctx = match &opts.readers_target {
        None => ctx.clone(),
        Some(url) => {
            let mut c = ctx.scoped("");
            c.prefix = ctx.prefix.clone();
            c.ticks = ctx.ticks;
            c.target = crate::net::Target::resolve(url, ctx.common.allow_remote).await?;
            Arc::new(c)
        }
    };
    let ramp = ctx.common.ramp;
    let t0 = tokio::time::Instant::now();
    let mut readers = JoinSet::new();
    for i in 0..opts.connections {
        let room = i % opts.rooms;
        let path = if peer {
            "/sub".to_owned()
        } else {
            format!("/api/v1/chat/{}/ws", slugs[room])
        };
        let at = t0 + ramp.mul_f64(i as f64 / opts.connections.max(1) as f64);
        readers.spawn(reader(
            reader_ctx.clone(),
            m.clone(),
            i,
            room,
            path,
            peer,
            at,
            stop_read.clone(),
        ));
    }
    tokio::time::sleep_until(t0 + ramp).await;
    // Let the last connections finish their handshakes (bounded).
    let settle = tokio::time::Instant::now() + Duration::from_secs(5);
    while (m.conns.get() as usize) + (m.connect_failures.get() as usize) < opts.connections
        && tokio::time::Instant::now() < settle
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let readers_connected = m.conns.get();
    let rss_connected = opts.server_pid.and_then(rss_kib);

    // Senders.
    let (go_tx, go) = watch::channel(false);
    let mut senders = JoinSet::new();
    for s in 0..opts.senders {
        let room = s % opts.rooms;
        let conn_index = opts.connections + s;
        let path = if peer {
            "/pub".to_owned()
        } else {
            let acc = &accounts.get(s).context("sender account")?.1;
            let ticket = rest::chat_ticket(&http, &ctx.target, acc, &slugs[room]).await?;
            format!("/api/v1/chat/{}/ws?ticket={ticket}", slugs[room])
        };
        let ws = match ws_connect(&ctx, conn_index, &path).await {
            Ok((ws, took)) => {
                m.connect.record(took);
                m.conns.add(1);
                ws
            }
            Err(e) => {
                m.connect_failures.inc();
                m.disconnects
                    .add(format!("sender connect: {}", connect_failure(&e)));
                continue;
            }
        };
        senders.spawn(sender(
            ctx.clone(),
            m.clone(),
            s as u32,
            conn_index,
            room,
            ws,
            opts.clone(),
            go.clone(),
            stop_send.clone(),
            stop_read.clone(),
        ));
    }

    // The measured phase.
    let measured_from = Instant::now();
    let delivered_before = m.delivered.get();
    let _ = go_tx.send(true);
    tokio::time::sleep(ctx.common.duration).await;
    let _ = stop_send_tx.send(true);
    let measured = measured_from.elapsed();
    // The rate counts what arrived within the measured phase only: deliveries during the
    // drain are reported apart, so a server that falls behind is not flattered by them.
    let delivered_in_run = m.delivered.get() - delivered_before;
    tokio::time::sleep(opts.drain).await;
    let delivered_after_stop = m.delivered.get() - delivered_before - delivered_in_run;
    let _ = stop_read_tx.send(true);

    let mut sent_by: Vec<SenderDone> = Vec::new();
    while let Some(r) = senders.join_next().await {
        if let Ok(d) = r {
            sent_by.push(d);
        }
    }
    let mut delivery = Delivery::default();
    while let Some(r) = readers.join_next().await {
        if let Ok(Some(d)) = r {
            let expected: Vec<(u32, &SeqSet)> = sent_by
                .iter()
                .filter(|s| s.room == d.room)
                .map(|s| (s.id, &s.accepted))
                .collect();
            delivery.add_receiver(&d.ledger, &expected);
        }
    }
    ticker.stop().await;

    let mut report = Report::new("chat", &ctx.target.base);
    report.peer = opts.peer.map(|_| "ws-broadcast".to_owned());
    report.measured_secs = measured.as_secs_f64();
    report.param("connections", opts.connections);
    report.param("rooms", opts.rooms);
    report.param("senders", opts.senders);
    report.param("rate_per_sender", opts.rate);
    report.param("size", opts.size);
    report.param("duration_secs", ctx.common.duration.as_secs_f64());
    report.param("ramp_secs", ramp.as_secs_f64());
    report.param("drain_secs", opts.drain.as_secs_f64());
    report.param("seed", ctx.common.seed);
    report.param("channels", &slugs);
    report.absorb(&rec.snapshot());
    let secs = measured.as_secs_f64().max(1e-3);
    let p = &ctx.prefix;
    report
        .counters
        .insert(format!("{p}expected"), delivery.expected);
    report
        .counters
        .insert(format!("{p}received"), delivery.received);
    report.counters.insert(format!("{p}lost"), delivery.lost);
    report
        .counters
        .insert(format!("{p}duplicates"), delivery.duplicates);
    report.counters.insert(
        format!("{p}readers_connected"),
        readers_connected.max(0) as u64,
    );
    report.figures.insert(
        format!("{p}delivered_per_sec"),
        delivered_in_run as f64 / secs,
    );
    report
        .counters
        .insert(format!("{p}delivered_after_stop"), delivered_after_stop);
    report.figures.insert(
        format!("{p}loss_ratio"),
        if delivery.expected == 0 {
            0.0
        } else {
            delivery.lost as f64 / delivery.expected as f64
        },
    );
    if let (Some(a), Some(b)) = (rss_before, rss_connected)
        && readers_connected > 0
    {
        report.figures.insert(
            format!("{p}server_kib_per_conn"),
            b.saturating_sub(a) as f64 / readers_connected as f64,
        );
        report.param("server_rss_kib_before", a);
        report.param("server_rss_kib_connected", b);
    }
    if peer {
        report.notes.push(
            "the peer has no acknowledgements: every message written counts as accepted".into(),
        );
    }
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn message_text_round_trips_at_the_requested_size() {
        let t = message_text(12, 345, 100);
        assert_eq!(t.len(), 100);
        let (ts, s, q) = parse_text(&t).unwrap();
        assert_eq!((s, q), (12, 345));
        assert!(now_micros() - ts < 10_000_000);
        assert!(message_text(1, 1, 10).len() >= MIN_SIZE);
        assert_eq!(parse_text("hello there"), None);
        assert_eq!(parse_text("1:2:3"), None, "no padding separator");
    }

    #[test]
    fn frames_parse_borrowed() {
        let f: Frame =
            serde_json::from_str(r#"{"type":"ack","client_id":"l3-17","id":9}"#).unwrap();
        assert_eq!((f.kind, f.client_id.as_deref()), ("ack", Some("l3-17")));
        let f: Frame = serde_json::from_str(
            r#"{"type":"message","id":1,"user_id":2,"username":"a","role":"viewer","text":"1:2:3:xx","sent_at":"now"}"#,
        )
        .unwrap();
        assert_eq!(f.text.as_deref().and_then(parse_text), Some((1, 2, 3)));
    }
}
