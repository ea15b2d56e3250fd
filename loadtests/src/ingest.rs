//! `ingest`: concurrent RTMP publishers. Each is an `ffmpeg -re` pushing lavfi test sources
//! (testsrc2 + sine, x264) to its own channel. Measured per publisher: time from spawning
//! ffmpeg to the first segment listed in the channel's HLS playlist, ffmpeg's own pace (media
//! time encoded and sent per wall second), and the server's pace (media time added to the
//! playlist per wall second). A publisher stays at real time when both are at least 0.95.

use std::{
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    task::JoinSet,
};

use crate::{
    Ctx, Report,
    hls::{parse_master, parse_media, resolve},
    metrics::{Counter, Gauge, Latency, Unit},
    rest,
};

#[derive(Debug, Clone, clap::Args)]
pub struct IngestOpts {
    /// Concurrent publishers (one channel each).
    #[arg(long, default_value_t = 2)]
    pub publishers: usize,
    /// RTMP application URL; default rtmp://TARGET_HOST:1935/live.
    #[arg(long)]
    pub rtmp: Option<String>,
    /// Video size of the test source.
    #[arg(long, default_value = "1280x720")]
    pub size: String,
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Video bitrate given to x264.
    #[arg(long, default_value = "2500k")]
    pub bitrate: String,
    /// x264 preset of the publishers (their encoding shares the machine with the server).
    #[arg(long, default_value = "ultrafast")]
    pub preset: String,
}

impl Default for IngestOpts {
    fn default() -> Self {
        Self {
            publishers: 2,
            rtmp: None,
            size: "1280x720".into(),
            fps: 30,
            bitrate: "2500k".into(),
            preset: "ultrafast".into(),
        }
    }
}

/// What one publisher achieved.
#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct PublisherResult {
    pub slug: String,
    pub first_segment_secs: Option<f64>,
    /// Media seconds ffmpeg sent per wall second, after its first second.
    pub ffmpeg_pace: Option<f64>,
    /// Media seconds the server listed per wall second, from its first segment on.
    pub server_pace: Option<f64>,
    pub ffmpeg_exit: Option<String>,
}

impl PublisherResult {
    pub fn real_time(&self) -> bool {
        self.ffmpeg_pace.is_some_and(|p| p >= 0.95) && self.server_pace.is_some_and(|p| p >= 0.95)
    }
}

struct M {
    live: Arc<Gauge>,
    first_segment: Arc<Latency>,
    media_ms: Arc<Counter>,
    listed_ms: Arc<Counter>,
}

/// Running publishers, started by [`start`].
pub struct Publishers {
    pub slugs: Vec<String>,
    tasks: JoinSet<PublisherResult>,
}

impl Publishers {
    /// Waits until every publisher is done (ffmpeg exited at its `-t`) and returns the results.
    pub async fn finish(mut self) -> Vec<PublisherResult> {
        let mut out = Vec::new();
        while let Some(r) = self.tasks.join_next().await {
            if let Ok(r) = r {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.slug.cmp(&b.slug));
        out
    }
}

fn ffmpeg_args(o: &IngestOpts, secs: f64, url: &str) -> Vec<String> {
    let gop = o.fps.to_string();
    [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:1",
        "-re",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={}:rate={}", o.size, o.fps),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=1000:sample_rate=48000",
        "-c:v",
        "libx264",
        "-preset",
        &o.preset,
        "-pix_fmt",
        "yuv420p",
        "-g",
        &gop,
        "-keyint_min",
        &gop,
        "-sc_threshold",
        "0",
        "-b:v",
        &o.bitrate,
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-t",
        &format!("{secs:.1}"),
        "-f",
        "flv",
        url,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Creates `opts.publishers` channels and starts one ffmpeg per channel, spread over the ramp;
/// each pushes for `push` (plus the rest of the ramp).
pub async fn start(
    ctx: &Arc<Ctx>,
    opts: &IngestOpts,
    push: Duration,
) -> anyhow::Result<Publishers> {
    which_ffmpeg()?;
    let http = crate::net::http_clients(&ctx.sources, 1)?
        .into_iter()
        .next()
        .context("http client")?;
    let tag = ctx.run_tag();
    let owner = rest::account(
        &http,
        &ctx.target,
        &format!("ld_{tag}_pub"),
        &format!("load-{tag}-password"),
    )
    .await?;
    let rtmp = opts
        .rtmp
        .clone()
        .unwrap_or_else(|| format!("rtmp://{}:1935/live", ctx.target.addr.ip()));
    let rec = ctx.recorder.clone();
    let m = Arc::new(M {
        live: rec.gauge(&ctx.name("publishing")),
        first_segment: rec.latency(&ctx.name("first_segment"))?,
        media_ms: rec.counter(&ctx.name("media_ms_sent"), Unit::Count, false),
        listed_ms: rec.counter(&ctx.name("media_ms_listed"), Unit::Count, false),
    });
    let mut slugs = Vec::new();
    let mut tasks = JoinSet::new();
    let ramp = ctx.common.ramp;
    let t0 = tokio::time::Instant::now();
    for k in 0..opts.publishers {
        let slug = format!("ld-{tag}-p{k}");
        let key = rest::create_channel(&http, &ctx.target, &owner, &slug).await?;
        slugs.push(slug.clone());
        let delay = ramp.mul_f64(k as f64 / opts.publishers.max(1) as f64);
        let secs = (push + ramp - delay).as_secs_f64();
        let args = ffmpeg_args(opts, secs, &format!("{rtmp}/{key}"));
        let (m, http, target) = (m.clone(), http.clone(), ctx.target.clone());
        tasks.spawn(async move {
            tokio::time::sleep_until(t0 + delay).await;
            publish(m, http, target, slug, args, secs).await
        });
    }
    Ok(Publishers { slugs, tasks })
}

fn which_ffmpeg() -> anyhow::Result<()> {
    let ok = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("ffmpeg").is_file()))
        .unwrap_or(false);
    anyhow::ensure!(ok, "ffmpeg is not on PATH (apt-get install ffmpeg)");
    Ok(())
}

async fn publish(
    m: Arc<M>,
    http: reqwest::Client,
    target: crate::net::Target,
    slug: String,
    args: Vec<String>,
    secs: f64,
) -> PublisherResult {
    let mut result = PublisherResult {
        slug: slug.clone(),
        ..PublisherResult::default()
    };
    let spawned = Instant::now();
    let child = Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            result.ffmpeg_exit = Some(format!("spawn: {e}"));
            return result;
        }
    };
    m.live.add(1);
    // ffmpeg's progress: out_time_us every half second.
    let progress = child.stdout.take().map(|out| {
        let m = m.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            let mut first: Option<(Instant, f64)> = None;
            let mut last: Option<(Instant, f64)> = None;
            let mut prev_ms = 0u64;
            while let Ok(Some(l)) = lines.next_line().await {
                let Some(v) = l.strip_prefix("out_time_us=") else {
                    continue;
                };
                let Ok(us) = v.trim().parse::<u64>() else {
                    continue;
                };
                let media = us as f64 / 1e6;
                let ms = us / 1000;
                m.media_ms.add(ms.saturating_sub(prev_ms));
                prev_ms = prev_ms.max(ms);
                let now = Instant::now();
                if first.is_none() && media >= 1.0 {
                    first = Some((now, media));
                }
                last = Some((now, media));
            }
            match (first, last) {
                (Some((t1, m1)), Some((t2, m2))) if t2 > t1 + Duration::from_millis(500) => {
                    Some((m2 - m1) / (t2 - t1).as_secs_f64())
                }
                _ => None,
            }
        })
    });
    // The server's side: first segment, then the edge's pace.
    let deadline = spawned + Duration::from_secs_f64(secs + 5.0);
    let master = target.url(&format!("/hls/{slug}/master.m3u8"));
    let mut media_url: Option<String> = None;
    let mut last_seq: Option<u64> = None;
    let mut edge: Option<Instant> = None;
    let mut listed = 0.0f64;
    let mut exit = None;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            exit = Some(st.to_string());
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        if media_url.is_none()
            && let Ok(r) = http.get(&master).send().await
            && r.status().is_success()
            && let Ok(text) = r.text().await
            && let Some(v) = parse_master(&text).first()
        {
            media_url = Some(resolve(&master, &v.uri));
        }
        if let Some(u) = &media_url
            && let Ok(r) = http.get(u).send().await
            && r.status().is_success()
            && let Ok(text) = r.text().await
        {
            let pl = parse_media(&text);
            let now = Instant::now();
            let mut appeared = false;
            for (seq, dur, _) in &pl.segments {
                if last_seq.is_some_and(|l| *seq <= l) {
                    continue;
                }
                if last_seq.is_none() {
                    let took = spawned.elapsed();
                    result.first_segment_secs = Some(took.as_secs_f64());
                    m.first_segment.record(took);
                    edge = Some(now);
                } else {
                    listed += dur;
                    appeared = true;
                    m.listed_ms.add((dur * 1000.0) as u64);
                }
                last_seq = Some(*seq);
            }
            // Pace between segment appearances, so the polling phase cancels out.
            if let (Some(t_first), true) = (edge, appeared)
                && now > t_first + Duration::from_secs(2)
            {
                result.server_pace = Some(listed / (now - t_first).as_secs_f64());
            }
        }
        let pause = if last_seq.is_none() { 50 } else { 250 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    if exit.is_none() {
        let _ = child.kill().await;
        exit = Some("killed at the deadline".into());
    }
    result.ffmpeg_exit = exit;
    if let Some(p) = progress {
        result.ffmpeg_pace = p.await.ok().flatten();
    }
    m.live.add(-1);
    result
}

/// Runs the ingest scenario.
pub async fn run(ctx: Arc<Ctx>, opts: &IngestOpts) -> anyhow::Result<Report> {
    let pubs = start(&ctx, opts, ctx.common.duration).await?;
    let ticker = ctx.start_ticker();
    let results = pubs.finish().await;
    ticker.stop().await;
    let mut report = Report::new("ingest", &ctx.target.base);
    report.measured_secs = ctx.common.duration.as_secs_f64();
    report.param("publishers", opts.publishers);
    report.param(
        "source",
        format!(
            "testsrc2 {} {} fps, x264 {} {}",
            opts.size, opts.fps, opts.preset, opts.bitrate
        ),
    );
    report.param("per_publisher", &results);
    report.absorb(&ctx.recorder.snapshot());
    add_results(&mut report, &ctx.prefix, &results);
    Ok(report)
}

pub fn add_results(report: &mut Report, p: &str, results: &[PublisherResult]) {
    report
        .counters
        .insert(format!("{p}publishers"), results.len() as u64);
    report.counters.insert(
        format!("{p}real_time"),
        results.iter().filter(|r| r.real_time()).count() as u64,
    );
    report.counters.insert(
        format!("{p}with_segments"),
        results
            .iter()
            .filter(|r| r.first_segment_secs.is_some())
            .count() as u64,
    );
    let min = |f: fn(&PublisherResult) -> Option<f64>| {
        results.iter().filter_map(f).fold(f64::INFINITY, f64::min)
    };
    let (fp, sp) = (min(|r| r.ffmpeg_pace), min(|r| r.server_pace));
    if fp.is_finite() {
        report.figures.insert(format!("{p}ffmpeg_pace_min"), fp);
    }
    if sp.is_finite() {
        report.figures.insert(format!("{p}server_pace_min"), sp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_pushes_a_paced_test_source() {
        let a = ffmpeg_args(
            &IngestOpts::default(),
            12.0,
            "rtmp://127.0.0.1:1935/live/KEY",
        );
        let s = a.join(" ");
        assert!(
            s.contains("-re -f lavfi -i testsrc2=size=1280x720:rate=30"),
            "{s}"
        );
        assert!(s.contains("-g 30 -keyint_min 30"), "{s}");
        assert!(
            s.contains("-t 12.0 -f flv rtmp://127.0.0.1:1935/live/KEY"),
            "{s}"
        );
        assert!(s.contains("-progress pipe:1"));
    }

    #[test]
    fn real_time_needs_both_sides() {
        let mut r = PublisherResult {
            ffmpeg_pace: Some(1.0),
            server_pace: Some(0.99),
            ..Default::default()
        };
        assert!(r.real_time());
        r.server_pace = Some(0.8);
        assert!(!r.real_time());
        r.server_pace = None;
        assert!(!r.real_time());
    }
}
