//! streamhall-load: drives a streamhall deployment (or a peer) over the network the way a crowd
//! does and reports what it saw. It depends on no streamhall crate: only HTTP, WebSocket and
//! RTMP (through ffmpeg), as documented in `docs/CHAT.md` and the README.
//!
//! Each scenario is a function `run(&Ctx, &Opts) -> Report`; the binary maps subcommands to
//! them and the integration tests call them against a server they start.

pub mod api;
pub mod chat;
pub mod ctx;
pub mod hls;
pub mod ingest;
pub mod metrics;
pub mod mix;
pub mod net;
pub mod report;
pub mod rest;
pub mod rng;
pub mod stats;

pub use ctx::{Common, Ctx};
pub use report::Report;

use std::time::Duration;

/// Parses `30s`, `2m`, `500ms`, `1.5s`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (e.g. 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit in {s:?}: use ms, s, m or h")),
    };
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("duration out of range: {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3d").is_err());
    }
}
