//! The stream core's unit tests: attaching, run planning, restarts, stalls and CPU sampling.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

const GRACE: Duration = Duration::from_secs(30);

#[test]
fn publish_then_drop_then_reconnect_within_grace_resumes() {
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    let (s1, how) = core.attach(CancellationToken::new()).unwrap();
    assert_eq!(how, Attached::First);
    let g = core.record(ChildKind::Ingest).starting(t0);
    assert!(core.publisher_connected());
    let dropped = t0 + Duration::from_secs(5);
    assert_eq!(
        core.child_exited(ChildKind::Ingest, g, "publisher disconnected", dropped),
        ExitAction::PublisherGone
    );
    assert!(!core.grace_expired(dropped + Duration::from_secs(29)));
    let (s2, how) = core.attach(CancellationToken::new()).unwrap();
    assert_eq!(how, Attached::Resumed);
    assert_ne!(s1, s2);
    assert!(!core.grace_expired(dropped + Duration::from_secs(60)));
    // Publisher changes are not restarts.
    assert_eq!(core.record(ChildKind::Ingest).restarts, 0);
}

#[test]
fn grace_expiry_ends_and_refuses_publishers() {
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    core.attach(CancellationToken::new()).unwrap();
    let g = core.record(ChildKind::Ingest).starting(t0);
    core.child_exited(ChildKind::Ingest, g, "gone", t0);
    assert!(core.grace_expired(t0 + GRACE));
    assert!(core.end());
    assert!(!core.end(), "ends once");
    assert!(core.attach(CancellationToken::new()).is_none());
    assert!(!core.grace_expired(t0 + GRACE * 2));
}

#[test]
fn a_new_publisher_replaces_and_kicks_the_connected_one() {
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    let old_kick = CancellationToken::new();
    core.attach(old_kick.clone()).unwrap();
    let old = core.record(ChildKind::Ingest).starting(t0);
    let new_kick = CancellationToken::new();
    let (_, how) = core.attach(new_kick.clone()).unwrap();
    assert_eq!(how, Attached::Replaced);
    assert!(old_kick.is_cancelled() && !new_kick.is_cancelled());
    core.record(ChildKind::Ingest).starting(t0);
    // The old connection's exit arrives late: ignored, still live.
    assert_eq!(
        core.child_exited(ChildKind::Ingest, old, "kicked", t0),
        ExitAction::Ignore
    );
    assert!(core.publisher_connected());
    core.end();
    assert!(new_kick.is_cancelled(), "ending kicks the publisher");
}

#[test]
fn ffmpeg_crash_restarts_with_growing_backoff_while_published() {
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    core.attach(CancellationToken::new()).unwrap();
    let mut delays = Vec::new();
    for i in 0..3 {
        let at = t0 + Duration::from_secs(i);
        let g = core.record(ChildKind::Transcode).starting(at);
        match core.child_exited(ChildKind::Transcode, g, "killed by signal 9", at) {
            ExitAction::Restart(d) => delays.push(d),
            other => panic!("{other:?}"),
        }
    }
    assert!(delays[0] <= Duration::from_secs(2));
    assert!(delays[0] < delays[1] && delays[1] < delays[2]);
    assert_eq!(core.record(ChildKind::Transcode).restarts, 3);
    // Once the publisher is gone, ffmpeg finishing is not a crash.
    let gi = core.record(ChildKind::Ingest).starting(t0);
    core.child_exited(ChildKind::Ingest, gi, "gone", t0);
    let g = core.record(ChildKind::Transcode).starting(t0);
    assert_eq!(
        core.child_exited(ChildKind::Transcode, g, "exited normally", t0),
        ExitAction::Idle
    );
    assert_eq!(core.record(ChildKind::Transcode).restarts, 3);
}

fn source() -> SourceInfo {
    SourceInfo {
        width: 1280,
        height: 720,
        fps: Some(30.0),
        video_bitrate_kbps: Some(3000),
        audio: true,
        audio_aac: true,
        video_codec: None,
    }
}

fn names(plan: &[PlannedRendition]) -> Vec<&str> {
    plan.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn a_run_starts_only_with_a_publisher_a_source_and_nothing_running() {
    let ladder = LadderConfig::default();
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    assert!(
        core.begin_run(t0, false, Some(&source()), &ladder)
            .is_none(),
        "no publisher"
    );
    core.attach(CancellationToken::new()).unwrap();
    assert!(
        core.begin_run(t0, false, None, &ladder).is_none(),
        "source unknown"
    );
    assert!(
        core.begin_run(t0, true, Some(&source()), &ladder).is_none(),
        "one is running"
    );
    let run = core.begin_run(t0, false, Some(&source()), &ladder).unwrap();
    assert_eq!(run.run, 1);
    assert!(run.ladder_changed && !run.resync);
    assert!(!run.plan.is_empty());
    assert!(
        core.begin_run(t0, false, Some(&source()), &ladder)
            .is_none(),
        "one is being prepared"
    );
    assert_eq!(
        core.run_prepared(run.plan.clone(), true, true, t0),
        Prepared::Start
    );
    assert_eq!(core.plan(), run.plan.as_slice());
    // ffmpeg crashes: the next run waits for the backoff, then resyncs the same session.
    let g = core.record(ChildKind::Transcode).starting(t0);
    let ExitAction::Restart(delay) = core.child_exited(ChildKind::Transcode, g, "killed", t0)
    else {
        panic!("not a restart");
    };
    assert!(
        core.begin_run(t0, false, Some(&source()), &ladder)
            .is_none()
    );
    let again = core
        .begin_run(t0 + delay, false, Some(&source()), &ladder)
        .unwrap();
    assert_eq!(again.run, 2);
    assert!(again.resync && !again.ladder_changed);
}

#[test]
fn a_failed_preparation_retries_and_a_stale_one_starts_nothing() {
    let ladder = LadderConfig::default();
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    core.attach(CancellationToken::new()).unwrap();
    let run = core.begin_run(t0, false, Some(&source()), &ladder).unwrap();
    assert_eq!(
        core.run_prepared(run.plan, false, true, t0),
        Prepared::Retry(PREPARE_RETRY)
    );
    assert!(
        core.begin_run(t0, false, Some(&source()), &ladder)
            .is_none()
    );
    let run = core
        .begin_run(t0 + PREPARE_RETRY, false, Some(&source()), &ladder)
        .unwrap();
    assert_eq!(
        core.run_prepared(run.plan, true, false, t0),
        Prepared::Stale
    );
    assert!(core.plan().is_empty(), "a stale run's ladder is not taken");
    // A new publisher session starts its first run at once and from the start.
    let run = core.begin_run(t0, false, Some(&source()), &ladder);
    assert!(run.is_none(), "retry pending");
    core.attach(CancellationToken::new()).unwrap();
    let run = core.begin_run(t0, false, Some(&source()), &ladder).unwrap();
    assert!(!run.resync);
    core.end();
    assert_eq!(core.run_prepared(run.plan, true, true, t0), Prepared::Stale);
}

#[test]
fn stepping_down_leaves_the_rendition_out_of_the_next_ladder() {
    let ladder = LadderConfig::default();
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    core.attach(CancellationToken::new()).unwrap();
    let first = core.begin_run(t0, false, Some(&source()), &ladder).unwrap();
    core.run_prepared(first.plan.clone(), true, true, t0);
    let top = first.plan.iter().find(|p| !p.copy).unwrap().name.clone();
    core.step_down(top.clone());
    assert_eq!(core.dropped(), std::slice::from_ref(&top));
    let g = core.record(ChildKind::Transcode).starting(t0);
    core.child_exited(ChildKind::Transcode, g, "retired", t0);
    let next = core
        .begin_run(
            t0 + Duration::from_secs(60),
            false,
            Some(&source()),
            &ladder,
        )
        .unwrap();
    assert!(next.ladder_changed);
    assert!(
        !names(&next.plan).contains(&top.as_str()),
        "{:?}",
        names(&next.plan)
    );
}

#[test]
fn a_segment_restart_restarts_ffmpeg_too() {
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    core.attach(CancellationToken::new()).unwrap();
    let g = core.record(ChildKind::Segment).starting(t0);
    let ExitAction::Restart(delay) = core.child_exited(ChildKind::Segment, g, "panic", t0) else {
        panic!("not a restart");
    };
    assert!(!core.restart_due(ChildKind::Segment, t0));
    assert!(!core.restart_due(ChildKind::Transcode, t0));
    assert!(core.restart_due(ChildKind::Transcode, t0 + delay));
    assert!(core.restart_due(ChildKind::Thumbnail, t0));
}

#[test]
fn a_stall_is_no_progress_with_a_backlog_and_resets_without_a_run() {
    use super::super::transcode::{STALL_BACKLOG, STALL_TIMEOUT};
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    assert!(!core.stalled(Some((5, STALL_BACKLOG)), t0));
    assert!(
        !core.stalled(Some((5, 0)), t0 + STALL_TIMEOUT),
        "idle publisher"
    );
    assert!(core.stalled(Some((5, STALL_BACKLOG)), t0 + STALL_TIMEOUT));
    // No run: the watch starts over.
    assert!(!core.stalled(Some((7, STALL_BACKLOG)), t0));
    assert!(!core.stalled(None, t0));
    assert!(!core.stalled(Some((7, STALL_BACKLOG)), t0 + STALL_TIMEOUT));
}

#[test]
fn cpu_is_sampled_once_a_second_per_process() {
    let mut core = StreamCore::new(GRACE, "s");
    let t0 = Instant::now();
    assert_eq!(core.cpu_due(Some(42), t0), Some(42));
    core.cpu_sampled(42, 10.0, t0);
    assert_eq!(core.cpu_percent(), None, "one sample is no rate");
    assert_eq!(
        core.cpu_due(Some(42), t0 + Duration::from_millis(500)),
        None
    );
    let t1 = t0 + Duration::from_secs(2);
    assert_eq!(core.cpu_due(Some(42), t1), Some(42));
    core.cpu_sampled(42, 13.0, t1);
    assert_eq!(core.cpu_percent(), Some(150.0));
    // A new ffmpeg: sampled at once, its first sample starts a new count.
    assert_eq!(core.cpu_due(Some(43), t1), Some(43));
    core.cpu_sampled(43, 0.5, t1);
    assert_eq!(core.cpu_percent(), Some(150.0));
    assert_eq!(core.cpu_due(None, t1), None);
    assert_eq!(core.cpu_percent(), None, "no process, no figure");
}

#[test]
fn the_first_source_warning_is_logged_once() {
    let mut core = StreamCore::new(GRACE, "s");
    assert_eq!(core.source_warning_to_log(&[]), None);
    let w = vec!["keyframes every 10 s".to_owned(), "other".to_owned()];
    assert_eq!(core.source_warning_to_log(&w), Some(w[0].clone()));
    assert_eq!(core.source_warning_to_log(&w), None);
}
