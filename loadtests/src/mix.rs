//! `mix`: an evening on the platform. A few publishers go live (the ingest scenario), then
//! HLS viewers arrive over the ramp, spread over the streams, and a share of them also opens the
//! stream's chat, where some of them post. All in one recorder: `ingest.*`, `hls.*`, `chat.*`.

use std::{sync::Arc, time::Duration};

use crate::{Ctx, Report, chat, hls, ingest, parse_duration};

#[derive(Debug, Clone, clap::Args)]
pub struct MixOpts {
    /// Live streams (publishers).
    #[arg(long, default_value_t = 2)]
    pub streams: usize,
    /// HLS viewers over all streams.
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Share of viewers that also read chat.
    #[arg(long, default_value_t = 0.2)]
    pub chat_share: f64,
    /// Chatters who post, over all rooms.
    #[arg(long, default_value_t = 10)]
    pub chatters: usize,
    /// Messages per second per chatter.
    #[arg(long, default_value_t = 0.5)]
    pub chat_rate: f64,
    /// Publisher video size (small keeps the machine's CPU for the viewers).
    #[arg(long, default_value = "640x360")]
    pub video_size: String,
    /// RTMP application URL; default rtmp://TARGET_HOST:1935/live.
    #[arg(long)]
    pub rtmp: Option<String>,
    /// Longest wait for the streams' first segments.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub warmup: Duration,
}

pub async fn run(ctx: Arc<Ctx>, opts: &MixOpts) -> anyhow::Result<Report> {
    let ingest_opts = ingest::IngestOpts {
        publishers: opts.streams.max(1),
        size: opts.video_size.clone(),
        bitrate: "800k".into(),
        rtmp: opts.rtmp.clone(),
        ..ingest::IngestOpts::default()
    };
    // The publishers push through the warm-up, the ramp, the measured phase and the drain.
    let push = opts.warmup + ctx.common.ramp + ctx.common.duration + Duration::from_secs(5);
    let mut ingest_common = ctx.common.clone();
    ingest_common.ramp = Duration::ZERO;
    let ingest_ctx = Arc::new(Ctx {
        common: ingest_common,
        ..ctx.scoped("ingest")
    });
    let ticker = ctx.start_ticker();
    let pubs = ingest::start(&ingest_ctx, &ingest_opts, push).await?;
    let slugs = pubs.slugs.clone();
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + opts.warmup;
    for slug in &slugs {
        let url = ctx.target.url(&format!("/hls/{slug}/master.m3u8"));
        while tokio::time::Instant::now() < deadline {
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let hls_ctx = Arc::new(ctx.scoped("hls"));
    let chat_ctx = Arc::new(ctx.scoped("chat"));
    let hls_opts = hls::HlsOpts {
        viewers: opts.viewers,
        channel: slugs.clone(),
        rendition: "random".into(),
    };
    let chat_opts = chat::ChatOpts {
        connections: ((opts.viewers as f64) * opts.chat_share).round() as usize,
        senders: opts.chatters,
        rate: opts.chat_rate,
        channels: slugs.clone(),
        ..chat::ChatOpts::default()
    };
    let (h, c) = tokio::join!(
        hls::run(hls_ctx, &hls_opts),
        chat::run(chat_ctx, &chat_opts)
    );
    let (h, c) = (h?, c?);
    let results = pubs.finish().await;
    ticker.stop().await;

    let mut report = Report::new("mix", &ctx.target.base);
    report.measured_secs = ctx.common.duration.as_secs_f64();
    report.param("streams", &slugs);
    report.param("viewers", opts.viewers);
    report.param("chat_readers", chat_opts.connections);
    report.param("chatters", opts.chatters);
    report.param("chat_rate", opts.chat_rate);
    report.param("publishers", &results);
    // Both scenarios absorbed the shared recorder; take the later snapshot and both sets of
    // derived figures.
    report.absorb(&ctx.recorder.snapshot());
    for r in [&h, &c] {
        report
            .counters
            .extend(r.counters.iter().map(|(k, v)| (k.clone(), *v)));
        report.figures.extend(r.figures.clone());
        report.notes.extend(r.notes.iter().cloned());
    }
    ingest::add_results(&mut report, "ingest.", &results);
    Ok(report)
}
