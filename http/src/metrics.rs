//! Prometheus metrics for the HTTP layer, in a registry owned by the app (not the global
//! default), so several servers in one process (tests) never share counters. The live
//! metrics (streams, viewers, ffmpeg, actor restarts, chat) are computed from the health tree
//! at scrape time ([`Metrics::render_live`]): label sets of streams and rooms that are gone
//! are removed on the next scrape, so the series stay bounded by what is live.

use std::{collections::HashMap, sync::Mutex};
use streamhall_media::ingest::Protocol;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use streamhall_actors::health::RestreamState;
use streamhall_actors::{ActorNode, HealthTree, StreamStatus};

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub db_pool: IntGaugeVec,
    /// HLS responses by kind, resolved once so the hot path does no label lookup.
    pub hls_playlists: IntCounter,
    pub hls_segments: IntCounter,
    pub hls_misses: IntCounter,
    /// HLS requests for another node's stream whose owner failed to answer (502/504).
    pub hls_relay_errors: IntCounter,
    /// Requests refused before a handler saw them, by reason (`in_flight_per_ip`).
    pub requests_refused: IntCounterVec,
    live: LiveMetrics,
    /// Per chat room (by slug): its message count and uptime at the last scrape, to turn the
    /// rooms' own counters (which restart with the room) into one that only grows.
    chat_seen: Mutex<Seen>,
}

/// The live metrics' scrape state: chat rooms' counts and dead letters as last seen.
#[derive(Default)]
struct Seen {
    rooms: HashMap<String, RoomSeen>,
    dead_letters: HashMap<String, u64>,
}

struct LiveMetrics {
    streams: IntGaugeVec,
    viewers: IntGaugeVec,
    ffmpeg_cpu: GaugeVec,
    ffmpeg_speed: GaugeVec,
    restarts: IntGaugeVec,
    mailbox: IntGaugeVec,
    messages_per_s: GaugeVec,
    handling: GaugeVec,
    dead_letters: IntCounterVec,
    restreams: IntGaugeVec,
    ingest: IntGaugeVec,
    chat_messages: IntCounter,
}

#[derive(Clone, Copy)]
struct RoomSeen {
    messages: u64,
    uptime_s: f64,
}

/// Every restream state a live destination can be in, so each has a series.
const RESTREAM_STATES: [(RestreamState, &str); 3] = [
    (RestreamState::Connecting, "connecting"),
    (RestreamState::Live, "live"),
    (RestreamState::Failed, "failed"),
];

/// Every stream status, so each has a series (0 when no stream is in it).
const STATUSES: [(StreamStatus, &str); 4] = [
    (StreamStatus::Offline, "offline"),
    (StreamStatus::Starting, "starting"),
    (StreamStatus::Live, "live"),
    (StreamStatus::Failed, "failed"),
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("streamhall".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )?;
        let db_pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(db_pool.clone()))?;
        let hls = IntCounterVec::new(
            Opts::new(
                "hls_responses_total",
                "HLS responses: playlist, segment, not found, or relay_error (the owning node failed)",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(hls.clone()))?;
        let live = LiveMetrics {
            streams: IntGaugeVec::new(
                Opts::new("live_streams", "Streams on this node by status"),
                &["status"],
            )?,
            viewers: IntGaugeVec::new(
                Opts::new("stream_viewers", "Viewers of each stream on this node"),
                &["channel"],
            )?,
            ffmpeg_cpu: GaugeVec::new(
                Opts::new(
                    "ffmpeg_cpu_percent",
                    "Each stream's ffmpeg CPU use over the last sample, percent of one core",
                ),
                &["channel"],
            )?,
            ffmpeg_speed: GaugeVec::new(
                Opts::new(
                    "ffmpeg_speed",
                    "Each stream's ffmpeg speed over the last seconds (1 = real time)",
                ),
                &["channel"],
            )?,
            restarts: IntGaugeVec::new(
                Opts::new(
                    "actor_restarts",
                    "Restarts of the actors running now, summed by kind (falls when a stream ends)",
                ),
                &["kind"],
            )?,
            mailbox: IntGaugeVec::new(
                Opts::new(
                    "actor_mailbox_depth",
                    "Messages sent to the actors running now and not handled yet, summed by kind \
                     (every handle on an actor counts its sends)",
                ),
                &["kind"],
            )?,
            messages_per_s: GaugeVec::new(
                Opts::new(
                    "actor_messages_per_second",
                    "Messages handled per second by the actors running now, summed by kind",
                ),
                &["kind"],
            )?,
            handling: GaugeVec::new(
                Opts::new(
                    "actor_handling_seconds",
                    "Handling time over the last one to two minutes, the worst actor of each kind \
                     (quantile 0.5 and 0.99; upper bound of a log2 bucket)",
                ),
                &["kind", "quantile"],
            )?,
            dead_letters: IntCounterVec::new(
                Opts::new(
                    "actor_dead_letters_total",
                    "Messages that could not be delivered (actor stopped, mailbox full) by kind",
                ),
                &["kind"],
            )?,
            restreams: IntGaugeVec::new(
                Opts::new(
                    "restream_destinations",
                    "Restream destinations of the streams on this node by state",
                ),
                &["state"],
            )?,
            ingest: IntGaugeVec::new(
                Opts::new(
                    "ingest_publishers",
                    "Publishers connected to the streams on this node, by protocol (rtmp, srt, rtsp)",
                ),
                &["protocol"],
            )?,
            chat_messages: IntCounter::with_opts(Opts::new(
                "chat_messages_total",
                "Chat messages delivered by the rooms on this node (a channel's room runs on \
                 every node its chatters are connected to), counted at scrape time",
            ))?,
        };
        let requests_refused = IntCounterVec::new(
            Opts::new(
                "http_requests_refused_total",
                "Requests refused before any handler, by reason (in_flight_per_ip: the client \
                 address had http.max_requests_per_ip requests in flight)",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests_refused.clone()))?;
        registry.register(Box::new(live.streams.clone()))?;
        registry.register(Box::new(live.viewers.clone()))?;
        registry.register(Box::new(live.ffmpeg_cpu.clone()))?;
        registry.register(Box::new(live.ffmpeg_speed.clone()))?;
        registry.register(Box::new(live.restarts.clone()))?;
        registry.register(Box::new(live.mailbox.clone()))?;
        registry.register(Box::new(live.messages_per_s.clone()))?;
        registry.register(Box::new(live.handling.clone()))?;
        registry.register(Box::new(live.dead_letters.clone()))?;
        registry.register(Box::new(live.restreams.clone()))?;
        registry.register(Box::new(live.ingest.clone()))?;
        registry.register(Box::new(live.chat_messages.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            db_pool,
            hls_playlists: hls.with_label_values(&["playlist"]),
            hls_segments: hls.with_label_values(&["segment"]),
            hls_misses: hls.with_label_values(&["not_found"]),
            hls_relay_errors: hls.with_label_values(&["relay_error"]),
            requests_refused,
            live,
            chat_seen: Mutex::new(Seen::default()),
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Sets the live metrics from `tree`, then renders everything. One scrape at a time, so a
    /// concurrent one never sees the per-stream label sets half rebuilt.
    pub fn render_live(&self, tree: &HealthTree) -> String {
        let mut seen = self.chat_seen.lock().unwrap_or_else(|e| e.into_inner());
        self.observe(tree, &mut seen);
        self.render()
    }

    fn observe(&self, tree: &HealthTree, seen: &mut Seen) {
        let live = &self.live;
        for (status, label) in STATUSES {
            let n = tree.streams.iter().filter(|s| s.status == status).count();
            live.streams.with_label_values(&[label]).set(n as i64);
        }

        for (state, label) in RESTREAM_STATES {
            let n = tree
                .streams
                .iter()
                .flat_map(|s| &s.restreams)
                .filter(|r| r.state == state)
                .count();
            live.restreams.with_label_values(&[label]).set(n as i64);
        }

        for protocol in Protocol::ALL {
            let n = tree
                .streams
                .iter()
                .filter(|s| s.publisher_connected && s.protocol == Some(protocol))
                .count();
            live.ingest
                .with_label_values(&[protocol.as_str()])
                .set(n as i64);
        }

        // Rebuilt from scratch: streams that ended lose their series.
        live.viewers.reset();
        live.ffmpeg_cpu.reset();
        live.ffmpeg_speed.reset();
        for s in &tree.streams {
            let channel = [s.slug.as_str()];
            live.viewers
                .with_label_values(&channel)
                .set(i64::try_from(s.viewers).unwrap_or(i64::MAX));
            if let Some(cpu) = s.ffmpeg_cpu_percent {
                live.ffmpeg_cpu.with_label_values(&channel).set(cpu);
            }
            if let Some(speed) = s.ffmpeg_speed {
                live.ffmpeg_speed.with_label_values(&channel).set(speed);
            }
        }

        // Per kind, over every node of the tree.
        fn walk<'a>(n: &'a ActorNode, out: &mut Vec<&'a ActorNode>) {
            out.push(n);
            for c in &n.children {
                walk(c, out);
            }
        }
        let mut nodes = Vec::new();
        walk(&tree.root, &mut nodes);
        #[derive(Default)]
        struct Kind {
            restarts: i64,
            mailbox: i64,
            rate: f64,
            p50: Option<f64>,
            p99: Option<f64>,
        }
        let mut kinds: HashMap<&str, Kind> = HashMap::new();
        for n in nodes {
            let a = &n.actor;
            let k = kinds.entry(a.kind.as_str()).or_default();
            k.restarts += i64::from(a.restarts);
            k.mailbox += a
                .mailbox
                .map_or(0, |m| i64::try_from(m).unwrap_or(i64::MAX));
            k.rate += a.messages_per_s;
            let worst = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
            k.p50 = worst(k.p50, a.handling_p50_ms);
            k.p99 = worst(k.p99, a.handling_p99_ms);
        }
        live.restarts.reset();
        live.mailbox.reset();
        live.messages_per_s.reset();
        live.handling.reset();
        for (kind, k) in kinds {
            live.restarts.with_label_values(&[kind]).set(k.restarts);
            live.mailbox.with_label_values(&[kind]).set(k.mailbox);
            live.messages_per_s.with_label_values(&[kind]).set(k.rate);
            for (q, v) in [("0.5", k.p50), ("0.99", k.p99)] {
                if let Some(ms) = v {
                    live.handling.with_label_values(&[kind, q]).set(ms / 1000.0);
                }
            }
        }
        // Dead letters only grow on a node: add what is new since the last scrape.
        for d in &tree.dead_letters {
            let prev = seen
                .dead_letters
                .insert(d.kind.clone(), d.count)
                .unwrap_or(0);
            live.dead_letters
                .with_label_values(&[d.kind.as_str()])
                .inc_by(d.count.saturating_sub(prev));
        }

        // The counter only grows: each scrape adds what every room delivered since the last
        // one. A room whose count or uptime went down is a new room (counted from zero).
        // Messages of a room that stopped between two scrapes after the first are not counted.
        let rooms = tree
            .chat
            .as_ref()
            .map(|c| c.rooms.as_slice())
            .unwrap_or(&[]);
        for r in rooms {
            let now = RoomSeen {
                messages: r.messages,
                uptime_s: r.actor.uptime_s,
            };
            let delta = match seen.rooms.get(&r.slug) {
                Some(prev) if now.messages >= prev.messages && now.uptime_s >= prev.uptime_s => {
                    now.messages - prev.messages
                }
                _ => now.messages,
            };
            live.chat_messages.inc_by(delta);
            seen.rooms.insert(r.slug.clone(), now);
        }
        seen.rooms
            .retain(|slug, _| rooms.iter().any(|r| &r.slug == slug));
    }
}
