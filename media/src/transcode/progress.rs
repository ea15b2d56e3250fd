//! ffmpeg's `-progress` key=value blocks, and CPU time of a process from `/proc`.

use std::time::Duration;

/// The latest progress block ffmpeg reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Video frames output so far (ffmpeg counts the first video output stream).
    pub frame: u64,
    /// Output frames per second, averaged by ffmpeg.
    pub fps: f64,
    /// Media time processed per wall-clock time (1.0 = real time); `None` while ffmpeg says N/A.
    pub speed: Option<f64>,
    /// Media time written so far.
    pub out_time: Option<Duration>,
    pub dup_frames: u64,
    pub drop_frames: u64,
    /// ffmpeg's last block said `progress=end`.
    pub ended: bool,
    /// How many blocks have been parsed (0 = nothing reported yet).
    pub reports: u64,
}

/// Turns ffmpeg's `-progress` lines into [`Progress`] values, one per `progress=` line.
#[derive(Debug, Default)]
pub struct ProgressParser {
    current: Progress,
}

impl ProgressParser {
    /// Feeds one line; returns the completed block when the line is `progress=continue|end`.
    /// Unknown keys and unparsable values are ignored (the previous value is kept).
    pub fn feed_line(&mut self, line: &str) -> Option<Progress> {
        let (key, value) = line.trim().split_once('=')?;
        let value = value.trim();
        let p = &mut self.current;
        match key.trim() {
            "frame" => set(&mut p.frame, value.parse().ok()),
            "fps" => set(&mut p.fps, value.parse().ok()),
            "dup_frames" => set(&mut p.dup_frames, value.parse().ok()),
            "drop_frames" => set(&mut p.drop_frames, value.parse().ok()),
            "speed" => {
                p.speed = value
                    .strip_suffix('x')
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0);
            }
            "out_time_us" => {
                if let Ok(us) = value.parse::<u64>() {
                    p.out_time = Some(Duration::from_micros(us));
                }
            }
            "progress" => {
                p.ended = value == "end";
                p.reports += 1;
                return Some(p.clone());
            }
            _ => {}
        }
        None
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Clock ticks per second for `/proc/PID/stat` times. `sysconf(_SC_CLK_TCK)` would need
/// `unsafe`; Linux's USER_HZ is 100 on every architecture we build for.
const CLK_TCK: f64 = 100.0;

/// `utime + stime` in clock ticks from the contents of `/proc/PID/stat`.
pub fn parse_proc_stat_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may contain spaces and ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds (user + system) that process `pid` has used; `None` when it is gone or `/proc`
/// is unavailable. Sample twice and divide by the media seconds in between for a per-stream
/// cost.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_proc_stat_cpu_ticks(&stat).map(|ticks| ticks as f64 / CLK_TCK)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const BLOCK: &str = "frame=123\nfps=29.97\nstream_0_0_q=28.0\nbitrate=N/A\n\
        total_size=N/A\nout_time_us=4100000\nout_time_ms=4100000\nout_time=00:00:04.100000\n\
        dup_frames=1\ndrop_frames=2\nspeed=1.02x\nprogress=continue\n";

    fn feed(parser: &mut ProgressParser, text: &str) -> Vec<Progress> {
        text.lines().filter_map(|l| parser.feed_line(l)).collect()
    }

    #[test]
    fn a_block_yields_one_progress() {
        let mut parser = ProgressParser::default();
        let got = feed(&mut parser, BLOCK);
        assert_eq!(
            got,
            [Progress {
                frame: 123,
                fps: 29.97,
                speed: Some(1.02),
                out_time: Some(Duration::from_millis(4100)),
                dup_frames: 1,
                drop_frames: 2,
                ended: false,
                reports: 1,
            }]
        );
    }

    #[test]
    fn na_values_and_the_end_block() {
        let mut parser = ProgressParser::default();
        feed(&mut parser, BLOCK);
        let got = feed(
            &mut parser,
            "frame=150\nfps=30.0\nout_time_us=N/A\nspeed=N/A\nprogress=end\n",
        );
        assert_eq!(got.len(), 1);
        let p = &got[0];
        assert_eq!((p.frame, p.speed, p.ended, p.reports), (150, None, true, 2));
        // N/A keeps the last known media time.
        assert_eq!(p.out_time, Some(Duration::from_millis(4100)));
    }

    #[test]
    fn garbage_lines_are_ignored() {
        let mut parser = ProgressParser::default();
        let got = feed(
            &mut parser,
            "[hls @ 0x1] warning\nframe=abc\n=\nspeed= 0.5x\nprogress=continue",
        );
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].frame, got[0].speed), (0, Some(0.5)));
        let got = feed(&mut parser, "speed=-1x\nprogress=continue");
        assert_eq!(got[0].speed, None);
    }

    #[test]
    fn proc_stat_cpu_ticks() {
        // Real layout; the name contains a space and a ')'.
        let stat = "4242 (ff mpeg) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 7 0 \
            100 200000000 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_proc_stat_cpu_ticks(stat), Some(287));
        assert_eq!(parse_proc_stat_cpu_ticks("garbage"), None);
        assert_eq!(parse_proc_stat_cpu_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn own_process_has_cpu_time() {
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let secs = process_cpu_seconds(std::process::id()).unwrap();
        assert!(secs >= 0.0);
        assert_eq!(process_cpu_seconds(u32::MAX), None);
    }
}
