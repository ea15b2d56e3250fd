//! The status core's unit tests: starting, live, failed, dropped renditions and the words for each.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

const S: Duration = Duration::from_secs(1);

fn ladder(segments: [u64; 3], age: Option<Duration>) -> Vec<RenditionObs> {
    [
        ("source", 720, false),
        ("480p", 480, true),
        ("360p", 360, true),
    ]
    .iter()
    .zip(segments)
    .map(|((name, height, transcoded), n)| RenditionObs {
        name: (*name).into(),
        height: *height,
        transcoded: *transcoded,
        segments: n,
        last_segment_age: (n > 0).then_some(age.unwrap_or_default()),
    })
    .collect()
}

struct World {
    t0: Instant,
    transcoder: TranscoderObs,
    renditions: Vec<RenditionObs>,
    dropped: Vec<String>,
    connected: bool,
    backlog: usize,
}

impl World {
    fn new() -> Self {
        Self {
            t0: Instant::now(),
            transcoder: TranscoderObs {
                running: true,
                reporting: true,
                ..Default::default()
            },
            renditions: ladder([0, 0, 0], None),
            dropped: Vec::new(),
            connected: true,
            backlog: 0,
        }
    }

    fn obs(&self, at: Duration) -> Observation {
        Observation {
            now: self.t0 + at,
            publisher_connected: self.connected,
            source_known: true,
            keyframe_interval: Some(S * 2),
            target_duration: S,
            transcoder: self.transcoder.clone(),
            renditions: self.renditions.clone(),
            backlog: self.backlog,
            dropped: self.dropped.clone(),
            adaptive: true,
        }
    }
}

#[test]
fn announced_only_once_every_rendition_has_video() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    let v = core.observe(&w.obs(S), None, 1);
    assert!(!v.announce && core.status() == StreamStatus::Starting);
    assert!(
        core.problem(&w.obs(S))
            .unwrap()
            .contains("waiting for the first video")
    );
    w.renditions = ladder([0, 1, 1], None);
    assert!(
        !core.observe(&w.obs(S * 2), None, 1).announce,
        "source still missing"
    );
    w.renditions = ladder([1, 2, 2], None);
    assert!(core.observe(&w.obs(S * 3), None, 1).announce);
    assert_eq!(core.status(), StreamStatus::Live);
    assert!(core.problem(&w.obs(S * 3)).is_none());
    assert!(!core.observe(&w.obs(S * 4), None, 1).announce, "once");
}

#[test]
fn no_video_within_the_deadline_fails_without_announcing_and_recovers_later() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    for s in 0..30 {
        let v = core.observe(&w.obs(S * s), None, 1);
        assert!(!v.announce && v.failed.is_none(), "{s}");
    }
    let v = core.observe(&w.obs(S * 30), None, 1);
    assert!(!v.announce);
    let reason = v.failed.unwrap();
    assert!(reason.contains("produced no video in 30 s"), "{reason}");
    assert_eq!(core.status(), StreamStatus::Failed);
    assert!(core.viewer_problem().is_some());
    // Said once.
    assert!(core.observe(&w.obs(S * 31), None, 1).failed.is_none());
    // Video at last: announced then, never before.
    w.renditions = ladder([1, 1, 1], None);
    assert!(core.observe(&w.obs(S * 40), None, 1).announce);
    assert_eq!(core.status(), StreamStatus::Live);
    assert!(core.viewer_problem().is_none());
}

#[test]
fn a_transcoder_that_keeps_failing_is_failed_before_the_deadline_with_its_error() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    w.transcoder = TranscoderObs {
        running: false,
        reporting: false,
        restarts: 3,
        last_error: Some("ffmpeg exited with code 1: Unknown encoder 'libx264'".into()),
    };
    assert_eq!(core.transcoder_state(&w.obs(S)), "restarting");
    let reason = core.observe(&w.obs(S * 5), None, 1).failed.unwrap();
    assert_eq!(
        reason,
        "Viewers cannot see your stream: the transcoder keeps failing: ffmpeg exited with \
         code 1: Unknown encoder 'libx264'"
    );
    assert_eq!(core.problem(&w.obs(S * 5)).unwrap(), reason);
    assert_eq!(core.transcoder_state(&w.obs(S * 5)), "failed");
    // A reconnecting publisher starts a new attempt: starting again, restarts so far forgiven.
    core.publisher_attached(w.t0 + S * 6, 3);
    assert!(core.observe(&w.obs(S * 6), None, 1).failed.is_none());
    assert_eq!(core.status(), StreamStatus::Starting);
}

#[test]
fn a_rendition_that_never_produces_is_left_out_and_the_rest_announced() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    w.renditions = ladder([1, 1, 0], None);
    let v = core.observe(&w.obs(S), None, 1);
    assert!(!v.announce && v.failed_renditions.is_none());
    // The grace is at least two keyframe intervals and 10 s.
    assert!(!core.observe(&w.obs(S * 10), None, 1).announce);
    let v = core.observe(&w.obs(S * 11), None, 1);
    assert!(v.announce);
    assert_eq!(v.failed_renditions.unwrap(), ["360p"]);
    assert_eq!(core.status(), StreamStatus::Live);
    let o = w.obs(S * 11);
    assert!(
        core.warnings(&o)
            .iter()
            .any(|m| m.starts_with("360p is not producing"))
    );
    let states: Vec<_> = core.renditions(&o).iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            RenditionState::Ok,
            RenditionState::Ok,
            RenditionState::Failed
        ]
    );
    // It starts producing: listed again.
    w.renditions = ladder([5, 5, 1], None);
    assert_eq!(
        core.observe(&w.obs(S * 12), None, 1)
            .failed_renditions
            .unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn every_rendition_stalling_after_going_live_is_a_failure_until_video_flows() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    w.renditions = ladder([3, 3, 3], Some(S / 2));
    assert!(core.observe(&w.obs(S), None, 1).announce);
    w.renditions = ladder([3, 3, 3], Some(S * 7));
    w.transcoder = TranscoderObs {
        running: false,
        reporting: false,
        restarts: 1,
        last_error: Some("ffmpeg killed by signal 9".into()),
    };
    let reason = core.observe(&w.obs(S * 8), None, 1).failed.unwrap();
    assert!(
        reason.contains("no new video") && reason.contains("signal 9"),
        "{reason}"
    );
    assert_eq!(core.status(), StreamStatus::Failed);
    w.renditions = ladder([4, 4, 4], Some(S / 4));
    core.observe(&w.obs(S * 9), None, 2);
    assert_eq!(core.status(), StreamStatus::Live);
}

#[test]
fn a_publisher_coming_back_gets_time_before_stale_video_is_a_failure() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    w.renditions = ladder([3, 3, 3], None);
    assert!(core.observe(&w.obs(S), None, 1).announce);
    // Back after 20 s of grace: the newest segments are 20 s old.
    core.publisher_attached(w.t0 + S * 21, 0);
    w.renditions = ladder([3, 3, 3], Some(S * 20));
    assert!(core.observe(&w.obs(S * 21), None, 2).failed.is_none());
    assert!(core.observe(&w.obs(S * 26), None, 2).failed.is_none());
    assert!(core.observe(&w.obs(S * 27), None, 2).failed.is_some());
}

#[test]
fn the_grace_window_is_not_a_failure() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    w.renditions = ladder([1, 1, 1], None);
    core.observe(&w.obs(S), None, 1);
    w.connected = false;
    w.transcoder.running = false;
    w.renditions = ladder([1, 1, 1], Some(S * 20));
    assert!(core.observe(&w.obs(S * 20), None, 1).failed.is_none());
    assert_eq!(core.status(), StreamStatus::Live);
    assert_eq!(core.transcoder_state(&w.obs(S * 20)), "stopped");
}

#[test]
fn slow_and_backed_up_warns_then_steps_down_highest_first() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    w.renditions = ladder([1, 1, 1], None);
    core.observe(&w.obs(Duration::ZERO), Some(1.0), 1);
    w.backlog = 100;
    for s in 1..=9 {
        let v = core.observe(&w.obs(S * s), Some(0.9), 1);
        assert!(v.step_down.is_none());
    }
    assert!(core.warnings(&w.obs(S * 9)).is_empty(), "not sustained yet");
    core.observe(&w.obs(S * 11), Some(0.9), 1);
    let warn = core.warnings(&w.obs(S * 11));
    assert!(warn[0].contains("cannot keep up (speed 0.90x"), "{warn:?}");
    let v = core.observe(&w.obs(S * 16), Some(0.9), 1);
    assert_eq!(v.step_down.as_deref(), Some("480p"));
    // A new run (without 480p) is judged from its own start.
    w.renditions.retain(|r| r.name != "480p");
    w.dropped = vec!["480p".into()];
    assert!(
        core.observe(&w.obs(S * 17), Some(0.9), 2)
            .step_down
            .is_none()
    );
    assert!(
        core.warnings(&w.obs(S * 17))
            .iter()
            .any(|m| m.starts_with("Dropped 480p"))
    );
    assert_eq!(
        core.observe(&w.obs(S * 33), Some(0.9), 2)
            .step_down
            .as_deref(),
        Some("360p")
    );
    // Only the source is left: nothing more to drop.
    w.renditions.retain(|r| r.name != "360p");
    core.observe(&w.obs(S * 34), Some(0.9), 3);
    assert!(
        core.observe(&w.obs(S * 60), Some(0.9), 3)
            .step_down
            .is_none()
    );
}

#[test]
fn slow_without_a_backlog_is_the_encoder_not_the_server() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    w.renditions = ladder([1, 1, 1], None);
    for s in 0..40 {
        assert!(
            core.observe(&w.obs(S * s), Some(0.5), 1)
                .step_down
                .is_none()
        );
    }
    assert!(core.warnings(&w.obs(S * 40)).is_empty());
}

#[test]
fn a_pinned_ladder_only_warns() {
    let mut w = World::new();
    let mut core = StatusCore::new(StatusConfig::default(), w.t0);
    w.renditions = ladder([1, 1, 1], None);
    w.backlog = 100;
    let mut o = w.obs(Duration::ZERO);
    o.adaptive = false;
    for s in 0..40 {
        o.now = w.t0 + S * s;
        assert!(core.observe(&o, Some(0.8), 1).step_down.is_none());
    }
    assert!(!core.warnings(&o).is_empty());
}

#[test]
fn speed_is_measured_over_recent_reports_not_since_the_start() {
    let t0 = Instant::now();
    let window = Duration::from_secs(5);
    let mut m = SpeedMeter::default();
    // A slow first second, then real time: ffmpeg's average would stay below 1.0.
    m.sample(1, t0, Duration::ZERO, window);
    m.sample(1, t0 + S * 2, S, window);
    assert_eq!(m.speed(window), None, "less than half a window");
    for s in 3..=12 {
        m.sample(1, t0 + S * s, S * (s - 1), window);
    }
    let speed = m.speed(window).unwrap();
    assert!((speed - 1.0).abs() < 0.01, "{speed}");
    // 0.8 s of media per second.
    for s in 13..=20u32 {
        m.sample(
            1,
            t0 + S * s,
            S * 11 + Duration::from_millis(800) * (s - 12),
            window,
        );
    }
    let speed = m.speed(window).unwrap();
    assert!((speed - 0.8).abs() < 0.01, "{speed}");
    // A new run starts over.
    m.sample(2, t0 + S * 21, S, window);
    assert_eq!(m.speed(window), None);
}
