//! Presence's unit tests: counting, expiry, caps, peaks and the Redis sums.

#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

const TTL: Duration = Duration::from_secs(4);

#[test]
fn viewers_expire_after_the_ttl() {
    let t0 = Instant::now();
    let mut core = PresenceCore::new(100);
    core.touch("a", "v1", None, 0, t0);
    core.touch("a", "v2", None, 0, t0);
    core.touch("a", "v1", None, 0, t0 + Duration::from_secs(3));
    core.touch("b", "v1", None, 0, t0);
    assert_eq!(core.count("a"), 2);
    let counts = core.expire(t0 + Duration::from_secs(5), |_| TTL);
    assert_eq!(counts.get("a"), Some(&1));
    assert_eq!(counts.get("b"), None, "empty channels are forgotten");
    assert_eq!(core.count("b"), 0);
    let counts = core.expire(t0 + Duration::from_secs(8), |_| TTL);
    assert!(counts.is_empty());
}

#[test]
fn a_full_channel_estimates_instead_of_storing() {
    let t0 = Instant::now();
    let mut core = PresenceCore::new(2);
    for v in ["v1", "v2", "v3", "v4"] {
        core.touch("a", v, None, 0, t0);
        core.touch("a", v, None, 0, t0 + Duration::from_secs(2));
    }
    assert_eq!(core.channels["a"].seen.len(), 2);
    let counts = core.expire(t0 + Duration::from_secs(4), |_| TTL);
    // Two stored, and four overflow requests from two players (a player fetches about
    // three segments per TTL).
    assert_eq!(counts["a"], 4);
}

#[test]
fn an_address_adds_at_most_its_cap_of_viewers() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut core = PresenceCore::new(1000);
    let (script, home) = (Some(1), Some(2));
    // 300 random ids from one address: 8 count, the rest are refused.
    let touched: Vec<Touched> = (0..300)
        .map(|i| core.touch("a", &format!("vid{i:04}"), script, 8, s(0)))
        .collect();
    assert_eq!(touched.iter().filter(|t| **t == Touched::New).count(), 8);
    assert_eq!(
        touched.iter().filter(|t| **t == Touched::Refused).count(),
        292
    );
    assert_eq!(core.take_refused(), 292);
    assert_eq!(core.take_refused(), 0, "taken once");
    // The counted ones keep counting; other addresses are not affected.
    assert_eq!(core.touch("a", "vid0003", script, 8, s(1)), Touched::Again);
    assert_eq!(core.touch("a", "phone", home, 8, s(1)), Touched::New);
    assert_eq!(core.touch("a", "laptop", home, 8, s(1)), Touched::New);
    assert_eq!(core.count("a"), 10);
    // The cap is per channel: the same address may watch another channel.
    assert_eq!(core.touch("b", "vid9999", script, 8, s(1)), Touched::New);
    assert_eq!(core.count("b"), 1);
}

#[test]
fn an_expired_viewer_frees_its_place_under_the_cap() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut core = PresenceCore::new(1000);
    let client = Some(7);
    assert_eq!(core.touch("a", "v1", client, 2, s(0)), Touched::New);
    assert_eq!(core.touch("a", "v2", client, 2, s(3)), Touched::New);
    assert_eq!(core.touch("a", "v3", client, 2, s(3)), Touched::Refused);
    // v1 expires (TTL 4 s): the address has room for one more.
    assert_eq!(core.expire(s(5), |_| TTL)["a"], 1);
    assert_eq!(core.touch("a", "v3", client, 2, s(5)), Touched::New);
    assert_eq!(core.touch("a", "v4", client, 2, s(5)), Touched::Refused);
    assert_eq!(core.count("a"), 2);
    // Everyone gone: the channel and its address book are forgotten.
    assert!(core.expire(s(20), |_| TTL).is_empty());
    assert!(core.channels.is_empty());
    assert_eq!(core.touch("a", "v5", client, 2, s(21)), Touched::New);
}

#[test]
fn no_cap_and_no_address_count_every_id() {
    let t0 = Instant::now();
    let mut core = PresenceCore::new(1000);
    for i in 0..50 {
        assert_eq!(
            core.touch("a", &format!("x{i}"), Some(1), 0, t0),
            Touched::New,
            "0 = no cap"
        );
        assert_eq!(
            core.touch("a", &format!("y{i}"), None, 8, t0),
            Touched::New,
            "nothing to cap by"
        );
    }
    assert_eq!(core.count("a"), 100);
    assert_eq!(core.take_refused(), 0);
}

#[test]
fn peaks_rise_are_saved_at_most_every_few_seconds_and_end() {
    let t0 = Instant::now();
    let mut peaks = PeakTracker::default();
    peaks.begin("a", 7);
    assert_eq!(peaks.observe(|_| 3, t0), [(7, 3)]);
    assert!(peaks.observe(|_| 5, t0 + Duration::from_secs(1)).is_empty());
    assert!(peaks.observe(|_| 1, t0 + Duration::from_secs(2)).is_empty());
    assert_eq!(peaks.observe(|_| 1, t0 + Duration::from_secs(6)), [(7, 5)]);
    assert!(
        peaks
            .observe(|_| 2, t0 + Duration::from_secs(12))
            .is_empty()
    );
    // The same broadcast resuming keeps its peak; a new one starts over.
    peaks.begin("a", 7);
    assert_eq!(peaks.peak("a"), Some(5));
    assert_eq!(peaks.end("a", 6), None, "not that broadcast");
    assert_eq!(peaks.end("a", 7), Some(5));
    peaks.begin("a", 8);
    assert_eq!(peaks.peak("a"), Some(0));
}

#[test]
fn touched_viewers_come_with_their_first_and_latest_request() {
    let t0 = Instant::now();
    let s = |n| t0 + Duration::from_secs(n);
    let mut core = PresenceCore::new(100);
    core.touch("a", "v1", None, 0, s(1));
    core.touch("a", "v1", None, 0, s(3));
    core.touch("a", "v2", None, 0, s(2));
    let mut touched = core.touched_since("a", s(2));
    touched.sort();
    assert_eq!(touched, [("v1".to_owned(), s(1), s(3))]);
    // Expired and back: a new first request.
    core.expire(s(8), |_| TTL);
    core.touch("a", "v1", None, 0, s(9));
    assert_eq!(
        core.touched_since("a", s(8)),
        [("v1".to_owned(), s(9), s(9))]
    );
    assert!(core.touched_since("b", s(0)).is_empty());

    let mut peaks = PeakTracker::default();
    peaks.begin("a", 7);
    assert_eq!(peaks.running()[0].0, "a");
    assert_eq!(peaks.running()[0].1, 7);
}

#[test]
fn handle_counts_locally_without_redis() {
    let h = PresenceHandle::new();
    h.touch("a", "v1");
    h.touch("a", "v2");
    h.touch("a", "v2");
    assert_eq!(h.count("a"), 2);
    let local = h.expire_all(|_| TTL);
    h.set_totals(local);
    assert_eq!(h.count("a"), 2);
    assert_eq!(h.count("nobody"), 0);
}

#[test]
fn handle_caps_ids_per_address_across_shards() {
    let h = PresenceHandle::new();
    for i in 0..300 {
        h.touch_from("a", &format!("vid{i}"), 42, 8);
        h.touch_from("b", &format!("vid{i}"), 42, 8);
    }
    assert_eq!(h.count("a"), 8);
    assert_eq!(h.count("b"), 8);
    assert_eq!(h.take_refused(), 2 * 292);
}

#[test]
fn stale_node_counts_are_ignored() {
    let f: HashMap<String, String> = [
        ("n1".to_owned(), "3:10000".to_owned()),
        ("n2".to_owned(), "4:8000".to_owned()),
        ("n3".to_owned(), "100:1000".to_owned()),
        ("n4".to_owned(), "junk".to_owned()),
    ]
    .into();
    assert_eq!(sum_fresh(&f, 10_500), 7);
}
