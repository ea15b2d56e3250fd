//! What every scenario gets: the target, the run's bounds, the source addresses and the
//! recorder.

use std::{path::PathBuf, sync::Arc, time::Duration};

use crate::{
    metrics::Recorder,
    net::{Sources, Target},
    parse_duration,
};

/// Options every scenario takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The server: http://HOST:PORT. Loopback only unless --allow-remote.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// How long the measured phase lasts (after setup and ramp).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Connections, viewers and senders start spread over this long.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub ramp: Duration,
    /// Seeds every random choice (renditions, think times, send offsets).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Writes the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Writes the HTML report (tables, latency and throughput plots) here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Allows a target that is not a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Connections per loopback source address (127.0.0.2, .3, …). Keep it at or below the
    /// server's per-address cap (chat: `chat.max_connections_per_ip`, 100 by default).
    #[arg(long, default_value_t = 100)]
    pub per_address: usize,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

impl Common {
    /// Defaults for `target`, as the CLI has them (for tests and scripts).
    pub fn new(target: &str) -> Self {
        Self {
            target: target.to_owned(),
            duration: Duration::from_secs(30),
            ramp: Duration::from_secs(5),
            seed: 1,
            json: None,
            html: None,
            allow_remote: false,
            per_address: 100,
            quiet: true,
        }
    }
}

pub struct Ctx {
    pub common: Common,
    pub target: Target,
    pub sources: Sources,
    pub recorder: Arc<Recorder>,
    /// Prefix for metric names (`mix` runs several scenarios in one recorder).
    pub prefix: String,
    /// Whether the scenario runs the recorder's ticker (false inside `mix`, which runs one).
    pub ticks: bool,
}

impl Ctx {
    pub async fn new(common: Common) -> anyhow::Result<Self> {
        let target = crate::net::Target::resolve(&common.target, common.allow_remote).await?;
        let sources = Sources::new(&target, common.per_address);
        Ok(Self {
            common,
            target,
            sources,
            recorder: Arc::new(Recorder::new()),
            prefix: String::new(),
            ticks: true,
        })
    }

    /// The same run under another metric prefix.
    pub fn scoped(&self, prefix: &str) -> Self {
        Self {
            common: self.common.clone(),
            target: self.target.clone(),
            sources: self.sources,
            recorder: self.recorder.clone(),
            prefix: format!("{prefix}."),
            ticks: false,
        }
    }

    /// Starts the series clock and the ticker, unless an outer run ticks. Send `true` on the
    /// returned sender and await the handle to stop it.
    pub fn start_ticker(&self) -> Ticker {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let handle = self.ticks.then(|| {
            self.recorder.restart_clock();
            crate::metrics::spawn_ticker(self.recorder.clone(), self.common.quiet, rx)
        });
        Ticker { tx, handle }
    }

    pub fn name(&self, n: &str) -> String {
        format!("{}{n}", self.prefix)
    }

    /// A suffix that makes this run's user and channel names unique on a server.
    pub fn run_tag(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or_default();
        let mut r = crate::rng::Rng::new(self.common.seed ^ (now as u64));
        format!("{:06x}", r.next_u64() & 0xff_ffff)
    }
}

/// A running ticker (see [`Ctx::start_ticker`]).
pub struct Ticker {
    tx: tokio::sync::watch::Sender<bool>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Ticker {
    pub async fn stop(self) {
        let _ = self.tx.send(true);
        if let Some(h) = self.handle {
            let _ = h.await;
        }
    }
}
