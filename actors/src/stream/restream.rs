//! Restream: the broadcast's source pushed on to another platform's RTMP ingest, copied without
//! re-encoding. One actor per enabled destination of the channel.
//!
//! Parent: [`StreamActor`](super::StreamActor), which keeps them in [`Restreams`]: it loads the
//! channel's enabled destinations when the broadcast starts and again every
//! [`RELOAD_EVERY`] (so a destination added, changed, disabled or removed through the API
//! applies within seconds), starts and stops the actors to match, hands each new publisher
//! connection on ([`SwitchSession`]) and stops them all when the broadcast ends ([`StopChild`]).
//! Children: one ffmpeg process at a time
//! (`ffmpeg -f flv -i pipe:0 -c copy -f flv {url}/{key}`) and its stdin writer task.
//! In: [`SwitchSession`], [`StopChild`]. Out: nothing to the parent; its state goes into a
//! shared [`RestreamStatus`] the parent reads for health (the actor never ends on its own).
//!
//! Restart policy (written here, not in the parent: a destination failing is this actor's own
//! business and never the broadcast's): ffmpeg exiting for any reason is a failure; the next
//! attempt follows after 1 s, doubling to 30 s, from 1 s again after a minute of success. A new
//! publisher connection restarts ffmpeg at once (timestamps start again) without counting.
//!
//! Feeding: each run registers its own bounded [`TagQueue`] as a tap of the
//! [`IngestSession`]; the drop policy is the transcoder's (full: drop, then skip video to the
//! next keyframe), so a slow destination never slows ingest or the other destinations. A run
//! starts once the source's sequence headers are known, writes them first, then the queue
//! from a keyframe on.
//!
//! Secrets: the key is in ffmpeg's argv (ffmpeg has no other way to take it). It is scrubbed
//! from every stderr line before that line is logged or shown; logs name the destination by id
//! and host, never by its full URL.
//!
//! Who sees what: the streamer each destination's state and last error (API and the channel's
//! health), the admin the same in the health tree (children of kind `restream`) and
//! `streamhall_restream_destinations{state}`; viewers nothing (the broadcast is unaffected).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use secrecy::SecretString;
use streamhall_entities::secret::Sealer;
use streamhall_entities::{RestreamDestination, restream_destination};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::session::{IngestSession, TagQueue};
use crate::health::{ActorHealth, RestreamHealth, RestreamState};
use crate::locks::lock;
use crate::notify::webhook::{Cidr, check_host, parse_allow_list};
use crate::stats::{ActorStats, DeadLetters, Mailbox};
use crate::supervision::{Backoff, StopChild};

/// How often a live stream re-reads its destinations.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);
/// At most this many destinations per channel.
pub const MAX_DESTINATIONS: u64 = 5;
/// Resolving a destination's host gives up after this long.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a run waiting for the source's headers looks again.
const HEADERS_POLL: Duration = Duration::from_millis(200);

mod run;

pub use run::Restream;
#[cfg(test)]
use run::read_stderr;

// ---------------------------------------------------------------------------------------------
// Messages

/// A new publisher connection: restart ffmpeg on its tags (not counted as a failure).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SwitchSession(pub Arc<IngestSession>);

// ---------------------------------------------------------------------------------------------
// Plain logic

/// Why a destination URL is refused, in words for the streamer.
pub fn parse_destination_url(raw: &str) -> Result<(String, u16), String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a valid URL: {e}"))?;
    let port = match url.scheme() {
        "rtmp" => url.port().unwrap_or(1935),
        "rtmps" => url.port().unwrap_or(443),
        _ => return Err("the URL must start with rtmp:// or rtmps://".into()),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| "the URL has no host".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL may not contain a user name or password".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(
            "the URL may not have a query or fragment; put the stream key in its own field".into(),
        );
    }
    Ok((host.to_owned(), port))
}

/// Whether the server may push to `url`: an `rtmp://`/`rtmps://` URL whose host resolves only
/// to public addresses or to ones `allow` lists (`[ingest] allow_private`).
pub async fn check_destination(url: &str, allow: &[Cidr]) -> Result<(), String> {
    let (host, port) = parse_destination_url(url)?;
    check_host(allow, &host, port, RESOLVE_TIMEOUT)
        .await
        .map(|_| ())
        .map_err(|e| match e {
            crate::notify::webhook::UrlError::NotAllowed(m) => {
                format!("{m}; an admin can allow it with [ingest] allow_private")
            }
            other => other.to_string(),
        })
}

/// The push target: the URL (without a trailing slash) then the key.
fn target(url: &str, key: &str) -> String {
    format!("{}/{key}", url.trim().trim_end_matches('/'))
}

/// ffmpeg's arguments for one push: FLV on stdin, copied, FLV to the destination; progress
/// blocks on stdout.
pub fn build_argv(url: &str, key: &str) -> Vec<OsString> {
    [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        "-f",
        "flv",
        "-i",
        "pipe:0",
        "-c",
        "copy",
        "-flvflags",
        "no_duration_filesize",
        "-f",
        "flv",
    ]
    .iter()
    .map(OsString::from)
    .chain(std::iter::once(OsString::from(target(url, key))))
    .collect()
}

/// `text` with the key (as written and percent-encoded) replaced by `***`.
pub fn scrub(text: &str, key: &str) -> String {
    if key.is_empty() {
        return text.to_owned();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let mut out = text.replace(key, "***");
    if encoded != key {
        out = out.replace(&encoded, "***");
    }
    out
}

/// The host of a destination URL, for logs.
fn host_of(url: &str) -> String {
    parse_destination_url(url).map_or_else(|_| "?".into(), |(h, p)| format!("{h}:{p}"))
}

/// A destination's state across its ffmpeg runs, shared by the actor (writer) and the stream
/// (health).
#[derive(Debug)]
pub struct RestreamStatus {
    inner: Mutex<StatusInner>,
}

#[derive(Debug, Clone)]
struct StatusInner {
    state: RestreamState,
    last_error: Option<String>,
    restarts: u32,
    since: Instant,
}

impl RestreamStatus {
    pub fn new(now: Instant) -> Self {
        Self {
            inner: Mutex::new(StatusInner {
                state: RestreamState::Connecting,
                last_error: None,
                restarts: 0,
                since: now,
            }),
        }
    }

    fn set(&self, state: RestreamState, now: Instant) {
        let mut s = lock(&self.inner);
        if s.state != state {
            s.state = state;
            s.since = now;
        }
    }

    pub fn connecting(&self, now: Instant) {
        self.set(RestreamState::Connecting, now);
    }

    /// The destination takes the stream; the last error stays until then.
    pub fn live(&self, now: Instant) {
        self.set(RestreamState::Live, now);
        lock(&self.inner).last_error = None;
    }

    /// An attempt failed (counted).
    pub fn failed(&self, reason: String, now: Instant) {
        self.set(RestreamState::Failed, now);
        let mut s = lock(&self.inner);
        s.restarts += 1;
        s.last_error = Some(reason);
    }

    /// A failure that no retry can mend (the key cannot be opened).
    fn broken(&self, reason: String, now: Instant) {
        self.set(RestreamState::Failed, now);
        lock(&self.inner).last_error = Some(reason);
    }

    pub fn state(&self) -> RestreamState {
        lock(&self.inner).state
    }

    pub fn health(&self, id: i64, name: &str, now: Instant) -> RestreamHealth {
        let s = lock(&self.inner).clone();
        RestreamHealth {
            id,
            name: name.to_owned(),
            state: s.state,
            last_error: s.last_error,
            restarts: s.restarts,
            since_s: now.saturating_duration_since(s.since).as_secs_f64(),
        }
    }
}

/// One destination as the stream knows it.
struct Slot {
    row: restream_destination::Model,
    status: Arc<RestreamStatus>,
    addr: Option<Mailbox<Restream>>,
    /// The child's counters (mailbox depth, messages, handling times).
    stats: Arc<ActorStats>,
}

/// The stream's restream children: which destinations run, and their status.
pub struct Restreams {
    channel_id: i64,
    /// `{slug}/{broadcast_id}`, the prefix of the children's ids in the health tree.
    id_prefix: String,
    ffmpeg: PathBuf,
    allow: Arc<[Cidr]>,
    sealer: Sealer,
    dead_letters: DeadLetters,
    slots: Vec<Slot>,
    loading: bool,
    next_load: Option<Instant>,
    stopped: bool,
}

impl Restreams {
    pub fn new(
        channel_id: i64,
        id_prefix: String,
        ffmpeg: PathBuf,
        allow_private: &[String],
        sealer: Sealer,
        dead_letters: DeadLetters,
    ) -> Self {
        Self {
            channel_id,
            id_prefix,
            ffmpeg,
            allow: parse_allow_list("ingest.allow_private", allow_private).into(),
            sealer,
            dead_letters,
            slots: Vec::new(),
            loading: false,
            next_load: None,
            stopped: false,
        }
    }

    /// Whether the destinations are due to be read again.
    fn load_due(&self, now: Instant) -> bool {
        !self.stopped && !self.loading && self.next_load.is_none_or(|at| now >= at)
    }

    /// Starts and stops children to match `rows` (the channel's enabled destinations).
    fn reconcile(
        &mut self,
        rows: Vec<restream_destination::Model>,
        session: Option<&Arc<IngestSession>>,
        span: &tracing::Span,
    ) {
        if self.stopped {
            return;
        }
        let now = Instant::now();
        // Gone, or changed where it matters (URL, key): stopped; renamed: just renamed.
        self.slots.retain_mut(|slot| {
            match rows
                .iter()
                .find(|r| r.id == slot.row.id && r.url == slot.row.url)
            {
                Some(r) if r.stream_key == slot.row.stream_key => {
                    slot.row.name = r.name.clone();
                    true
                }
                _ => {
                    if let Some(a) = slot.addr.take() {
                        a.do_send(StopChild);
                    }
                    false
                }
            }
        });
        for row in rows {
            if self.slots.iter().any(|s| s.row.id == row.id) {
                continue;
            }
            let status = Arc::new(RestreamStatus::new(now));
            let stats = ActorStats::new("restream", self.dead_letters.clone());
            let addr = match self.sealer.open(&row.stream_key) {
                Ok(key) => {
                    let span = tracing::info_span!(parent: span, "restream", destination = row.id, host = %host_of(&row.url));
                    let actor = Restream {
                        id: row.id,
                        url: row.url.clone(),
                        key: SecretString::from(key),
                        ffmpeg: self.ffmpeg.clone(),
                        allow: Arc::clone(&self.allow),
                        status: Arc::clone(&status),
                        session: watch::channel(session.cloned()).0,
                        stop: CancellationToken::new(),
                        stats: Arc::clone(&stats),
                        span,
                    };
                    Some(Mailbox::new(actor.start(), Arc::clone(&stats)))
                }
                Err(e) => {
                    let _g = span.enter();
                    tracing::error!(destination = row.id, "restream key cannot be opened");
                    status.broken(e.to_string(), now);
                    None
                }
            };
            self.slots.push(Slot {
                row,
                status,
                addr,
                stats,
            });
        }
        self.slots.sort_by_key(|s| s.row.id);
    }

    /// A new publisher connection: every destination restarts on it.
    pub fn switch_session(&self, session: &Arc<IngestSession>) {
        for a in self.slots.iter().filter_map(|s| s.addr.as_ref()) {
            a.do_send(SwitchSession(Arc::clone(session)));
        }
    }

    /// The broadcast ends: every child stops, none starts again.
    pub fn stop_all(&mut self) {
        self.stopped = true;
        for slot in self.slots.drain(..) {
            if let Some(a) = slot.addr {
                a.do_send(StopChild);
            }
        }
    }

    pub fn health(&self, now: Instant) -> Vec<RestreamHealth> {
        self.slots
            .iter()
            .map(|s| s.status.health(s.row.id, &s.row.name, now))
            .collect()
    }

    /// The children as the admin tree shows them (kind `restream`).
    pub fn children(&self, now: Instant) -> Vec<ActorHealth> {
        self.slots
            .iter()
            .map(|s| {
                let h = s.status.health(s.row.id, &s.row.name, now);
                ActorHealth {
                    kind: "restream".into(),
                    id: format!("{}/restream/{}", self.id_prefix, s.row.id),
                    state: match h.state {
                        RestreamState::Idle => "idle",
                        RestreamState::Connecting => "starting",
                        RestreamState::Live => "running",
                        RestreamState::Failed if s.addr.is_some() => "restarting",
                        RestreamState::Failed => "failed",
                    }
                    .into(),
                    uptime_s: if h.state == RestreamState::Live {
                        h.since_s
                    } else {
                        0.0
                    },
                    restarts: h.restarts,
                    last_error: h.last_error,
                    ..ActorHealth::default()
                }
                .with_stats(s.stats.snapshot(now))
            })
            .collect()
    }
}

async fn load(
    db: &DatabaseConnection,
    channel_id: i64,
) -> Result<Vec<restream_destination::Model>, sea_orm::DbErr> {
    RestreamDestination::find()
        .filter(restream_destination::Column::ChannelId.eq(channel_id))
        .filter(restream_destination::Column::Enabled.eq(true))
        .order_by_asc(restream_destination::Column::Id)
        .all(db)
        .await
}

impl super::StreamActor {
    /// Each tick: (re)reads the destinations when due and reconciles the children.
    pub(super) fn tick_restreams(&mut self, ctx: &mut Context<Self>, now: Instant) {
        if self.ending || !self.restreams.load_due(now) {
            return;
        }
        self.restreams.loading = true;
        let db = self.deps.db.clone();
        let channel_id = self.restreams.channel_id;
        let fut = async move { load(&db, channel_id).await };
        ctx.spawn(
            fut.instrument(self.span.clone())
                .into_actor(self)
                .map(|res, act, _ctx| {
                    act.restreams.loading = false;
                    act.restreams.next_load = Some(Instant::now() + RELOAD_EVERY);
                    if act.ending {
                        return;
                    }
                    match res {
                        Ok(rows) => {
                            let span = act.span.clone();
                            act.restreams.reconcile(rows, act.session.as_ref(), &span);
                        }
                        Err(e) => {
                            let _g = act.span.clone().entered();
                            tracing::warn!(error = %e, "reading the restream destinations failed");
                        }
                    }
                }),
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn argv_copies_flv_from_stdin_to_the_url_and_key() {
        let argv: Vec<String> = build_argv("rtmp://a.rtmp.youtube.com/live2/", "abcd-efgh")
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            argv.join(" "),
            "-hide_banner -loglevel error -nostats -progress pipe:1 -f flv -i pipe:0 -c copy \
             -flvflags no_duration_filesize -f flv rtmp://a.rtmp.youtube.com/live2/abcd-efgh"
        );
    }

    #[test]
    fn keys_are_scrubbed_raw_and_encoded() {
        let line = "Error opening output rtmp://h/live/s3cr%2Bt and s3cr+t";
        assert_eq!(
            scrub(line, "s3cr+t"),
            "Error opening output rtmp://h/live/*** and ***"
        );
        assert_eq!(scrub("nothing here", ""), "nothing here");
    }

    #[test]
    fn destination_urls_are_rtmp_or_rtmps_with_a_host() {
        assert_eq!(
            parse_destination_url("rtmp://live.example.com/app").unwrap(),
            ("live.example.com".into(), 1935)
        );
        assert_eq!(
            parse_destination_url("rtmps://live.example.com:4443/app").unwrap(),
            ("live.example.com".into(), 4443)
        );
        assert_eq!(
            parse_destination_url("rtmps://live.example.com/app")
                .unwrap()
                .1,
            443
        );
        assert!(parse_destination_url("http://example.com/live").is_err());
        assert!(parse_destination_url("rtmp:///live").is_err());
        assert!(parse_destination_url("rtmp://u:p@example.com/live").is_err());
        assert!(parse_destination_url("rtmp://example.com/live?key=1").is_err());
    }

    #[tokio::test]
    async fn private_destinations_need_an_allowance() {
        let e = check_destination("rtmp://127.0.0.1/live", &[])
            .await
            .unwrap_err();
        assert!(e.contains("allow_private"), "{e}");
        let allow = parse_allow_list("t", &["127.0.0.1".into()]);
        check_destination("rtmp://127.0.0.1/live", &allow)
            .await
            .unwrap();
        assert!(
            check_destination("rtmp://10.1.2.3/live", &allow)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn stderr_lines_are_kept_and_logged_without_the_key() {
        let stderr: &[u8] =
            b"[tcp @ 0x1] Connection refused\nrtmp://h:1935/live/k3y: Connection refused\n";
        let last = Arc::new(Mutex::new(None));
        read_stderr(stderr, "k3y".into(), Arc::clone(&last)).await;
        assert_eq!(
            lock(&last).as_deref(),
            Some("rtmp://h:1935/live/***: Connection refused")
        );
    }

    #[test]
    fn status_keeps_the_last_error_until_live_and_counts_failures() {
        let t0 = Instant::now();
        let s = RestreamStatus::new(t0);
        assert_eq!(s.state(), RestreamState::Connecting);
        s.failed("refused".into(), t0);
        s.connecting(t0);
        let h = s.health(1, "yt", t0 + Duration::from_secs(2));
        assert_eq!(h.state, RestreamState::Connecting);
        assert_eq!((h.restarts, h.last_error.as_deref()), (1, Some("refused")));
        assert_eq!(h.since_s, 2.0);
        s.live(t0);
        assert_eq!(s.health(1, "yt", t0).last_error, None);
    }
}
