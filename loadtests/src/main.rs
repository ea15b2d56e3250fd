//! `streamhall-load`: see loadtests/README.md.

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::{Parser, Subcommand};
use streamhall_load::{Common, Ctx, Report, api, chat, hls, ingest, mix};

#[derive(Parser)]
#[command(
    name = "streamhall-load",
    version,
    about = "Drives a streamhall deployment (or a peer) like a crowd and reports what it saw"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// WebSocket chat: readers and senders over rooms; delivery latency, loss, duplicates.
    Chat {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: chat::ChatOpts,
    },
    /// HLS viewers that play like hls.js: playlist polls, segment fetches, stalls.
    Hls {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: hls::HlsOpts,
    },
    /// Closed-loop GETs of one URL (playlist or segment): req/s and bytes/s, for peer comparisons.
    Get {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: hls::GetOpts,
    },
    /// A browse mix over the REST API with think time: per-endpoint req/s and latency.
    Api {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: api::ApiOpts,
    },
    /// Concurrent RTMP publishers (ffmpeg, lavfi test sources, -re): time to first segment, real time.
    Ingest {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: ingest::IngestOpts,
    },
    /// An evening: a few streams, many HLS viewers, a share of them in chat.
    Mix {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        opts: mix::MixOpts,
    },
}

async fn run(s: Scenario) -> anyhow::Result<Report> {
    let (common, bound) = match &s {
        Scenario::Chat { common, opts } => (common.clone(), opts.drain),
        Scenario::Hls { common, .. }
        | Scenario::Get { common, .. }
        | Scenario::Api { common, .. } => (common.clone(), Duration::ZERO),
        Scenario::Ingest { common, .. } | Scenario::Mix { common, .. } => {
            (common.clone(), Duration::from_secs(20))
        }
    };
    // Every run stops by itself: setup, ramp, the measured phase, draining, and a margin.
    let limit = common.ramp + common.duration + bound + Duration::from_secs(120);
    let ctx = Arc::new(Ctx::new(common.clone()).await?);
    let fut = async {
        match &s {
            Scenario::Chat { opts, .. } => chat::run(ctx.clone(), opts).await,
            Scenario::Hls { opts, .. } => hls::run(ctx.clone(), opts).await,
            Scenario::Get { opts, .. } => hls::get(ctx.clone(), opts).await,
            Scenario::Api { opts, .. } => api::run(ctx.clone(), opts).await,
            Scenario::Ingest { opts, .. } => ingest::run(ctx.clone(), opts).await,
            Scenario::Mix { opts, .. } => mix::run(ctx.clone(), opts).await,
        }
    };
    let report = tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| anyhow::anyhow!("the run did not finish within {limit:?}: stopped"))??;
    if let Some(p) = &common.json {
        report.write_json(p)?;
    }
    if let Some(p) = &common.html {
        report.write_html(p)?;
    }
    Ok(report)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.scenario)) {
        Ok(report) => {
            print!("{}", report.table());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
