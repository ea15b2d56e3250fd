//! `hls`: viewers that play a live stream the way hls.js does, and `get`: closed-loop fetches of
//! one URL for serving comparisons against a static-file peer (nginx).
//!
//! A viewer fetches the master playlist, picks a rendition (seeded), loads the media playlist
//! (with its own `vid`, as the web player sends, so the server can count it), starts three
//! segments from the live edge (hls.js's `liveSyncDurationCount`), fetches each new segment
//! one at a time, and reloads the playlist every target duration (half that when it did not
//! change). A playback clock starts once two target durations are buffered, drains the buffer
//! in real time, and a stall is the buffer running dry before the next segment has arrived;
//! playback resumes when two target durations are buffered again (a rebuffer, which moves the
//! viewer further from the live edge, as a player does).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use tokio::task::JoinSet;

use crate::{
    Ctx, Report,
    metrics::{Counter, Gauge, Latency, Tally, Unit},
    rest,
    rng::Rng,
};

#[derive(Debug, Clone, clap::Args)]
pub struct HlsOpts {
    /// Simulated viewers.
    #[arg(long, default_value_t = 100)]
    pub viewers: usize,
    /// The channel to watch (`/hls/SLUG/master.m3u8`); several, comma-separated, share the viewers.
    #[arg(long, value_delimiter = ',', required = true)]
    pub channel: Vec<String>,
    /// `random` (seeded), `lowest`, `highest`, or a rendition name (`source`, `720p`, …).
    #[arg(long, default_value = "random")]
    pub rendition: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GetOpts {
    /// The URL to fetch (same loopback rule as --target; --target is then ignored).
    #[arg(long)]
    pub url: String,
    /// Concurrent connections, each fetching in a loop.
    #[arg(long, default_value_t = 100)]
    pub concurrency: usize,
    /// Names the server in the report (`streamhall`, `nginx`, …).
    #[arg(long)]
    pub label: Option<String>,
}

/// One variant of a master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub bandwidth: u64,
    pub uri: String,
}

/// The variants of a master playlist, in order.
pub fn parse_master(text: &str) -> Vec<Variant> {
    let mut out = Vec::new();
    let mut pending: Option<u64> = None;
    for line in text.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let bw = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("BANDWIDTH="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            pending = Some(bw);
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(bandwidth) = pending.take()
        {
            out.push(Variant {
                bandwidth,
                uri: line.to_owned(),
            });
        }
    }
    out
}

/// What a viewer needs from a media playlist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaPlaylist {
    pub target_duration: f64,
    pub media_sequence: u64,
    /// (sequence number, duration, uri).
    pub segments: Vec<(u64, f64, String)>,
    pub ended: bool,
}

pub fn parse_media(text: &str) -> MediaPlaylist {
    let mut pl = MediaPlaylist {
        target_duration: 1.0,
        ..MediaPlaylist::default()
    };
    let mut dur: Option<f64> = None;
    let mut next = 0u64;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            pl.target_duration = v.parse().unwrap_or(1.0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            pl.media_sequence = v.parse().unwrap_or(0);
            next = pl.media_sequence;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            dur = v.split(',').next().and_then(|d| d.parse().ok());
        } else if line == "#EXT-X-ENDLIST" {
            pl.ended = true;
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(d) = dur.take()
        {
            pl.segments.push((next, d, line.to_owned()));
            next += 1;
        }
    }
    pl
}

/// `rel` resolved against the URL of the playlist that named it.
pub fn resolve(base: &str, rel: &str) -> String {
    if rel.starts_with("http://") || rel.starts_with("https://") {
        return rel.to_owned();
    }
    let base = base.split('?').next().unwrap_or(base);
    if let Some(path) = rel.strip_prefix('/') {
        let origin_end = base
            .find("://")
            .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
            .unwrap_or(base.len());
        return format!("{}/{path}", &base[..origin_end]);
    }
    match base.rfind('/') {
        Some(i) => format!("{}/{rel}", &base[..i]),
        None => rel.to_owned(),
    }
}

/// The playback clock: media buffered ahead, drained in real time once playing.
#[derive(Debug)]
pub struct Playback {
    /// Seconds of media needed to start, and to resume after a stall.
    start_at: f64,
    buffered: f64,
    at: Instant,
    playing: bool,
    stalled_since: Option<Instant>,
    pub stalls: u64,
    pub stalled: Duration,
}

impl Playback {
    pub fn new(now: Instant, start_at: f64) -> Self {
        Self {
            start_at,
            buffered: 0.0,
            at: now,
            playing: false,
            stalled_since: None,
            stalls: 0,
            stalled: Duration::ZERO,
        }
    }

    /// Plays up to `now`; true when the buffer ran dry in this step (a new stall).
    pub fn advance(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        if !self.playing || self.stalled_since.is_some() {
            return false;
        }
        if self.buffered >= dt {
            self.buffered -= dt;
            return false;
        }
        let dry_at = now - Duration::from_secs_f64(dt - self.buffered);
        self.buffered = 0.0;
        self.stalled_since = Some(dry_at);
        self.stalls += 1;
        true
    }

    /// A segment of `secs` arrived at `now`; playback starts (or resumes) once enough is
    /// buffered.
    pub fn append(&mut self, now: Instant, secs: f64) {
        self.advance(now);
        self.buffered += secs;
        if self.buffered + 1e-9 < self.start_at {
            return;
        }
        self.playing = true;
        if let Some(since) = self.stalled_since.take() {
            self.stalled += now.saturating_duration_since(since);
        }
    }

    /// Closes the books at the end of the run.
    pub fn finish(&mut self, now: Instant) {
        self.advance(now);
        if let Some(since) = self.stalled_since.take() {
            self.stalled += now.saturating_duration_since(since);
        }
    }

    pub fn buffered(&self) -> f64 {
        self.buffered
    }
}

struct M {
    playing: Arc<Gauge>,
    reported: Arc<Gauge>,
    master: Arc<Latency>,
    playlist: Arc<Latency>,
    segment: Arc<Latency>,
    playlists: Arc<Counter>,
    segments: Arc<Counter>,
    bytes: Arc<Counter>,
    stalls: Arc<Counter>,
    stalled_ms: Arc<Counter>,
    errors: Arc<Tally>,
}

enum Fetch {
    Ok(bytes::Bytes),
    Status(u16),
    Failed(String),
}

async fn fetch(http: &reqwest::Client, url: &str) -> Fetch {
    match http.get(url).send().await {
        Ok(res) if res.status().is_success() => match res.bytes().await {
            Ok(b) => Fetch::Ok(b),
            Err(e) => Fetch::Failed(short_err(&e)),
        },
        Ok(res) => Fetch::Status(res.status().as_u16()),
        Err(e) => Fetch::Failed(short_err(&e)),
    }
}

fn short_err(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

fn pick(variants: &[Variant], how: &str, rng: &mut Rng) -> Option<Variant> {
    match how {
        "random" => variants.get(rng.below(variants.len())).cloned(),
        "lowest" => variants.iter().min_by_key(|v| v.bandwidth).cloned(),
        "highest" => variants.iter().max_by_key(|v| v.bandwidth).cloned(),
        name => variants
            .iter()
            .find(|v| v.uri.split('/').next() == Some(name))
            .cloned(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn viewer(
    i: usize,
    http: reqwest::Client,
    master_url: String,
    how: String,
    seed: u64,
    m: Arc<M>,
    start_at: tokio::time::Instant,
    end_at: tokio::time::Instant,
) {
    tokio::time::sleep_until(start_at).await;
    let mut rng = Rng::for_actor(seed, i as u64);
    let vid = format!("ld{:x}v{i:07}", seed & 0xffff);
    // Master playlist: retry each second until it exists (the stream may still be starting).
    let variant = loop {
        if tokio::time::Instant::now() >= end_at {
            return;
        }
        let t = Instant::now();
        match fetch(&http, &master_url).await {
            Fetch::Ok(body) => {
                m.master.record(t.elapsed());
                m.bytes.add(body.len() as u64);
                let text = String::from_utf8_lossy(&body);
                if let Some(v) = pick(&parse_master(&text), &how, &mut rng) {
                    break v;
                }
                m.errors.add("master without that rendition");
            }
            Fetch::Status(s) => m.errors.add(format!("master {s}")),
            Fetch::Failed(e) => m.errors.add(format!("master {e}")),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let media_url = resolve(&master_url, &variant.uri);
    let polled_url = format!("{media_url}?vid={vid}");
    let mut play: Option<Playback> = None;
    let mut last_seq: Option<u64> = None;
    let mut counted = false;
    while tokio::time::Instant::now() < end_at {
        let poll_start = tokio::time::Instant::now();
        let t = Instant::now();
        let pl = match fetch(&http, &polled_url).await {
            Fetch::Ok(body) => {
                m.playlist.record(t.elapsed());
                m.playlists.inc();
                m.bytes.add(body.len() as u64);
                parse_media(&String::from_utf8_lossy(&body))
            }
            Fetch::Status(s) => {
                m.errors.add(format!("playlist {s}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Fetch::Failed(e) => {
                m.errors.add(format!("playlist {e}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let fresh: Vec<&(u64, f64, String)> = match last_seq {
            // Start three segments from the live edge, like hls.js.
            None => pl.segments.iter().rev().take(3).rev().collect(),
            Some(last) => pl.segments.iter().filter(|s| s.0 > last).collect(),
        };
        let changed = !fresh.is_empty();
        for (seq, dur, uri) in fresh {
            if tokio::time::Instant::now() >= end_at {
                break;
            }
            // Segments carry the `vid` too, as the web player sends it: the server counts
            // viewers on segment requests.
            let url = format!("{}?vid={vid}", resolve(&media_url, uri));
            let t = Instant::now();
            match fetch(&http, &url).await {
                Fetch::Ok(body) => {
                    m.segment.record(t.elapsed());
                    m.segments.inc();
                    m.bytes.add(body.len() as u64);
                    let play = play.get_or_insert_with(|| {
                        Playback::new(Instant::now(), 2.0 * pl.target_duration.max(0.1))
                    });
                    let before = play.stalls;
                    let was_stalled = play.stalled;
                    play.append(Instant::now(), *dur);
                    if play.stalls > before {
                        m.stalls.inc();
                    }
                    m.stalled_ms
                        .add((play.stalled - was_stalled).as_millis() as u64);
                    if !counted {
                        counted = true;
                        m.playing.add(1);
                    }
                }
                Fetch::Status(s) => m.errors.add(format!("segment {s}")),
                Fetch::Failed(e) => m.errors.add(format!("segment {e}")),
            }
            last_seq = Some(*seq);
        }
        if let Some(play) = play.as_mut()
            && play.advance(Instant::now())
        {
            m.stalls.inc();
        }
        if pl.ended {
            m.errors.add("stream ended");
            break;
        }
        let wait =
            Duration::from_secs_f64(pl.target_duration.max(0.1) * if changed { 1.0 } else { 0.5 });
        tokio::time::sleep_until((poll_start + wait).min(end_at)).await;
    }
    if let Some(play) = play.as_mut() {
        let was = play.stalled;
        play.finish(Instant::now());
        m.stalled_ms.add((play.stalled - was).as_millis() as u64);
    }
    if counted {
        m.playing.add(-1);
    }
}

/// Runs the HLS viewer scenario.
pub async fn run(ctx: Arc<Ctx>, opts: &HlsOpts) -> anyhow::Result<Report> {
    anyhow::ensure!(!opts.channel.is_empty(), "--channel is required");
    let rec = ctx.recorder.clone();
    let n = |s: &str| ctx.name(s);
    let m = Arc::new(M {
        playing: rec.gauge(&n("playing")),
        reported: rec.gauge(&n("server_viewers")),
        playlist: rec.latency(&n("playlist"))?,
        segment: rec.latency(&n("segment"))?,
        master: rec.latency(&n("master"))?,
        playlists: rec.counter(&n("playlists"), Unit::Count, true),
        segments: rec.counter(&n("segments"), Unit::Count, true),
        bytes: rec.counter(&n("bytes"), Unit::Bytes, true),
        stalls: rec.counter(&n("stalls"), Unit::Count, false),
        stalled_ms: rec.counter(&n("stalled_ms"), Unit::Count, false),
        errors: rec.tally(&n("errors")),
    });
    rec.headline(&m.segment);
    crate::net::raise_file_limit(opts.viewers as u64 * 2 + 1024);
    let clients = crate::net::http_clients(&ctx.sources, opts.viewers)?;
    let api = clients.first().context("http client")?.clone();

    let ticker = ctx.start_ticker();
    let t0 = tokio::time::Instant::now();
    let ramp = ctx.common.ramp;
    let end_at = t0 + ramp + ctx.common.duration;
    let per = ctx.common.per_address.max(1);
    let mut set = JoinSet::new();
    for i in 0..opts.viewers {
        let slug = &opts.channel[i % opts.channel.len()];
        let at = t0 + ramp.mul_f64(i as f64 / opts.viewers.max(1) as f64);
        set.spawn(viewer(
            i,
            clients[(i / per).min(clients.len() - 1)].clone(),
            ctx.target.url(&format!("/hls/{slug}/master.m3u8")),
            opts.rendition.clone(),
            ctx.common.seed,
            m.clone(),
            at,
            end_at,
        ));
    }
    // What the server says: the channels' viewer counts, every 2 s.
    let watch_m = m.clone();
    let (t, slugs) = (ctx.target.clone(), opts.channel.clone());
    let watcher = tokio::spawn(async move {
        loop {
            let mut sum = 0;
            for s in &slugs {
                sum += rest::viewer_count(&api, &t, s).await.unwrap_or(0);
            }
            watch_m.reported.set(sum as i64);
            if tokio::time::Instant::now() + Duration::from_secs(2) > end_at {
                return sum;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let measured_from = Instant::now();
    while set.join_next().await.is_some() {}
    let measured = measured_from.elapsed();
    let reported_last = watcher.await.unwrap_or(0);
    ticker.stop().await;

    let mut report = Report::new("hls", &ctx.target.base);
    report.measured_secs = ctx.common.duration.as_secs_f64();
    report.param("viewers", opts.viewers);
    report.param("channels", &opts.channel);
    report.param("rendition", &opts.rendition);
    report.param("duration_secs", ctx.common.duration.as_secs_f64());
    report.param("ramp_secs", ramp.as_secs_f64());
    report.param("seed", ctx.common.seed);
    report.absorb(&rec.snapshot());
    let p = &ctx.prefix;
    let secs = measured.as_secs_f64().max(1e-3);
    report
        .figures
        .insert(format!("{p}bytes_per_sec"), m.bytes.get() as f64 / secs);
    report.figures.insert(
        format!("{p}playlists_per_sec"),
        m.playlists.get() as f64 / secs,
    );
    report.figures.insert(
        format!("{p}segments_per_sec"),
        m.segments.get() as f64 / secs,
    );
    report
        .counters
        .insert(format!("{p}server_viewers_last"), reported_last);
    report.counters.insert(
        format!("{p}server_viewers_max"),
        m.reported.max().max(0) as u64,
    );
    report
        .counters
        .insert(format!("{p}viewers"), opts.viewers as u64);
    report.notes.push(format!(
        "throughput is over the whole run including the {:.1} s ramp ({secs:.1} s)",
        ramp.as_secs_f64()
    ));
    Ok(report)
}

/// Closed-loop GETs of one URL by `concurrency` connections for `--duration`.
pub async fn get(ctx: Arc<Ctx>, opts: &GetOpts) -> anyhow::Result<Report> {
    let target = crate::net::Target::resolve(&opts.url, ctx.common.allow_remote).await?;
    let sources = crate::net::Sources::new(&target, ctx.common.per_address);
    let clients = crate::net::http_clients(&sources, opts.concurrency)?;
    crate::net::raise_file_limit(opts.concurrency as u64 * 2 + 1024);
    let rec = ctx.recorder.clone();
    let lat = rec.latency(&ctx.name("request"))?;
    let reqs = rec.counter(&ctx.name("requests"), Unit::Count, true);
    let bytes = rec.counter(&ctx.name("bytes"), Unit::Bytes, true);
    let errors = rec.tally(&ctx.name("errors"));
    let ticker = ctx.start_ticker();
    // Warm-up: open the connections, then measure.
    let end_at = tokio::time::Instant::now() + ctx.common.duration;
    let per = ctx.common.per_address.max(1);
    let mut set = JoinSet::new();
    for i in 0..opts.concurrency {
        let http = clients[(i / per).min(clients.len() - 1)].clone();
        let (url, lat, reqs, bytes, errors) = (
            opts.url.clone(),
            lat.clone(),
            reqs.clone(),
            bytes.clone(),
            errors.clone(),
        );
        set.spawn(async move {
            let mut local = crate::stats::Latencies::new().ok();
            while tokio::time::Instant::now() < end_at {
                let t = Instant::now();
                let res = tokio::time::timeout_at(end_at, http.get(&url).send()).await;
                let Ok(res) = res else { break };
                match res {
                    Ok(mut res) if res.status().is_success() => {
                        let mut n = 0u64;
                        loop {
                            match res.chunk().await {
                                Ok(Some(c)) => n += c.len() as u64,
                                Ok(None) => break,
                                Err(_) => {
                                    errors.add("body");
                                    break;
                                }
                            }
                        }
                        let took = t.elapsed();
                        if let Some(h) = local.as_mut() {
                            h.record(took);
                            if h.len() >= 64 {
                                lat.add(h);
                                h.reset();
                            }
                        }
                        reqs.inc();
                        bytes.add(n);
                    }
                    Ok(res) => errors.add(format!("status {}", res.status().as_u16())),
                    Err(e) => errors.add(short_err(&e)),
                }
            }
            if let Some(h) = local.as_ref() {
                lat.add(h);
            }
        });
    }
    let t0 = Instant::now();
    while set.join_next().await.is_some() {}
    let secs = t0.elapsed().as_secs_f64().max(1e-3);
    ticker.stop().await;
    let mut report = Report::new("get", &target.base);
    report.peer = opts.label.clone().filter(|l| l != "streamhall");
    report.measured_secs = secs;
    report.param("url", &opts.url);
    report.param("concurrency", opts.concurrency);
    report.absorb(&rec.snapshot());
    let p = &ctx.prefix;
    report
        .figures
        .insert(format!("{p}requests_per_sec"), reqs.get() as f64 / secs);
    report
        .figures
        .insert(format!("{p}bytes_per_sec"), bytes.get() as f64 / secs);
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_master_and_media_playlists() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1280x720\nsource/index.m3u8\n\
                      #EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n";
        let v = parse_master(master);
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[1],
            Variant {
                bandwidth: 800_000,
                uri: "360p/index.m3u8".into()
            }
        );
        let mut rng = Rng::new(1);
        assert_eq!(pick(&v, "lowest", &mut rng).unwrap().uri, "360p/index.m3u8");
        assert_eq!(pick(&v, "source", &mut rng).unwrap().bandwidth, 5_000_000);
        assert!(pick(&v, "1080p", &mut rng).is_none());

        let media = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n\
                     #EXTINF:1.000,\nseg-41.ts\n#EXTINF:0.5,\nseg-42.ts\n#EXTINF:1.0,";
        let pl = parse_media(media);
        assert_eq!(pl.target_duration, 2.0);
        assert_eq!(
            pl.segments,
            vec![(41, 1.0, "seg-41.ts".into()), (42, 0.5, "seg-42.ts".into())]
        );
        assert!(!pl.ended);
        assert!(parse_media("#EXTM3U\n#EXT-X-ENDLIST\n").ended);
    }

    #[test]
    fn resolves_relative_uris() {
        let m = "http://127.0.0.1:8080/hls/a/master.m3u8";
        assert_eq!(
            resolve(m, "720p/index.m3u8"),
            "http://127.0.0.1:8080/hls/a/720p/index.m3u8"
        );
        assert_eq!(resolve(m, "/x/y.ts"), "http://127.0.0.1:8080/x/y.ts");
        assert_eq!(
            resolve("http://h/a/i.m3u8?vid=1", "s.ts"),
            "http://h/a/s.ts"
        );
        assert_eq!(resolve(m, "http://o/z.ts"), "http://o/z.ts");
    }

    #[test]
    fn playback_stalls_only_when_the_buffer_runs_dry() {
        let t0 = Instant::now();
        let s = |x: f64| t0 + Duration::from_secs_f64(x);
        let mut p = Playback::new(t0, 2.0);
        assert!(!p.advance(s(5.0)), "nothing plays before the first segment");
        p.append(s(4.0), 1.0);
        assert!(
            !p.advance(s(5.0)),
            "nor with less than two seconds buffered"
        );
        p.append(s(5.0), 2.0);
        p.append(s(6.0), 1.0); // 3 - 1 + 1 = 3 s ahead
        assert!((p.buffered() - 3.0).abs() < 1e-6);
        assert!(!p.advance(s(8.5)));
        assert!(p.advance(s(9.5)), "dry at 9.0");
        assert_eq!(p.stalls, 1);
        assert!(!p.advance(s(10.0)), "one stall, not one per check");
        p.append(s(10.0), 1.0);
        assert!(!p.advance(s(10.5)), "one second is not enough to resume");
        p.append(s(11.0), 1.0);
        assert_eq!(p.stalled, Duration::from_secs(2));
        p.finish(s(14.0)); // dry again at 13.0, finished at 14.0
        assert_eq!(p.stalls, 2);
        assert_eq!(p.stalled, Duration::from_secs(3));
    }
}
