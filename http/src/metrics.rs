//! Prometheus metrics for the HTTP layer, in a registry owned by the app (not the global
//! default), so several servers in one process (tests) never share counters.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub db_pool: IntGaugeVec,
    /// HLS responses by kind, resolved once so the hot path does no label lookup.
    pub hls_playlists: IntCounter,
    pub hls_segments: IntCounter,
    pub hls_misses: IntCounter,
}

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
                "HLS responses: playlist, segment, or not found",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(hls.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            db_pool,
            hls_playlists: hls.with_label_values(&["playlist"]),
            hls_segments: hls.with_label_values(&["segment"]),
            hls_misses: hls.with_label_values(&["not_found"]),
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for the text format.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}
