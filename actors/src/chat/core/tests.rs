#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

fn msg(id: i64, user_id: i64, text: &str) -> StoredMessage {
    StoredMessage {
        msg: ChatMessage {
            id,
            user_id,
            username: format!("u{user_id}"),
            role: ChatRole::Viewer,
            text: text.into(),
            sent_at: DateTime::from_timestamp(1_700_000_000 + id, 0).unwrap(),
        },
        client_id: Some(format!("c{id}")),
        deleted: false,
    }
}

fn room_with(recent: Vec<StoredMessage>) -> RoomCore {
    let head = recent.last().map_or(0, |m| m.msg.id);
    RoomCore::new(
        1,
        "chan".into(),
        100,
        RoomState {
            head,
            recent,
            ..RoomState::default()
        },
        RoomLimits::default(),
    )
}

struct Client {
    rx: crate::chat::queue::QueueReceiver<Outbound>,
    kick: CancellationToken,
}

impl Client {
    fn frames(&mut self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while let Ok(Outbound::Batch(b)) = self.rx.try_recv() {
            for f in &b.frames {
                out.push(serde_json::from_str(f).unwrap());
            }
        }
        out
    }

    fn ids(&mut self) -> Vec<i64> {
        let mut ids = Vec::new();
        for f in self.frames() {
            match f["type"].as_str().unwrap() {
                "message" => ids.push(f["id"].as_i64().unwrap()),
                "history" => {
                    for m in f["messages"].as_array().unwrap() {
                        ids.push(m["id"].as_i64().unwrap());
                    }
                }
                _ => {}
            }
        }
        ids
    }
}

fn join(
    core: &mut RoomCore,
    session: SessionId,
    user: Option<JoinUser>,
    resume: Option<i64>,
    cap: usize,
) -> Client {
    let (tx, rx) = crate::chat::queue::queue(cap);
    let kick = CancellationToken::new();
    core.join(
        session,
        MemberHandle {
            tx,
            kick: kick.clone(),
        },
        user,
        resume,
    );
    Client { rx, kick }
}

fn viewer(id: i64) -> JoinUser {
    JoinUser {
        id,
        username: format!("u{id}"),
        is_admin: false,
    }
}

fn send(
    core: &mut RoomCore,
    s: SessionId,
    u: &JoinUser,
    cid: &str,
    text: &str,
    now: Instant,
) -> SendDecision {
    core.check_send(s, u, cid, text, now, Utc::now())
}

#[test]
fn followers_only_asks_for_the_follow_then_holds_to_its_age() {
    let mut core = room_with(Vec::new());
    let alice = viewer(5);
    let _a = join(&mut core, 1, Some(alice.clone()), None, 64);
    let now = Instant::now();
    let wall = Utc::now();
    core.apply_mode(RoomMode {
        followers_only: Some(10),
        ..RoomMode::default()
    });
    // Not known yet: the room must read the follow first.
    assert_eq!(
        core.check_send(1, &alice, "k1", "hi", now, wall),
        SendDecision::NeedsFollow
    );
    core.set_follow(5, None, now);
    let r = core.check_send(1, &alice, "k1", "hi", now, wall);
    assert!(
        matches!(&r, SendDecision::Rejected(x) if x.code == RejectCode::FollowersOnly),
        "{r:?}"
    );
    // "Not following" is re-read after a short while (they may have just followed).
    assert_eq!(
        core.check_send(1, &alice, "k1", "hi", now + NOT_FOLLOWING_FRESH * 2, wall),
        SendDecision::NeedsFollow
    );
    // Followed 4 minutes ago, 10 needed: rejected with the wait.
    core.set_follow(5, Some(wall - chrono::Duration::minutes(4)), now);
    match core.check_send(1, &alice, "k1", "hi", now, wall) {
        SendDecision::Rejected(x) => {
            assert_eq!(x.code, RejectCode::FollowersOnly);
            let wait = x.retry_after_ms.unwrap();
            assert!((359_000..=360_000).contains(&wait), "{wait}");
            assert_eq!(
                x.message,
                "the chat is in followers-only mode: you can chat 10 minutes after following (in 6 minutes)"
            );
        }
        other => panic!("{other:?}"),
    }
    // Old enough.
    core.set_follow(5, Some(wall - chrono::Duration::minutes(11)), now);
    assert_eq!(
        core.check_send(1, &alice, "k1", "hi", now, wall),
        SendDecision::Queued
    );
    // Moderators and the owner are exempt without a lookup.
    let owner = viewer(100);
    let _o = join(&mut core, 2, Some(owner.clone()), None, 64);
    assert_eq!(
        core.check_send(2, &owner, "o1", "hi", now, wall),
        SendDecision::Queued
    );
}

#[test]
fn join_gets_welcome_then_recent_history() {
    let mut core = room_with((1..=60).map(|i| msg(i, 5, "x")).collect());
    let mut c = join(&mut core, 1, None, None, 8);
    let frames = c.frames();
    assert_eq!(frames[0]["type"], "welcome");
    assert_eq!(frames[0]["last_id"], 60);
    assert_eq!(frames[0]["you"], serde_json::Value::Null);
    assert_eq!(frames[1]["type"], "history");
    let ids: Vec<i64> = frames[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (11..=60).collect::<Vec<_>>());
    assert_eq!(frames[1]["more"], true);
}

#[test]
fn send_is_delivered_only_after_commit_and_acked() {
    let mut core = room_with(Vec::new());
    let alice = viewer(5);
    let mut a = join(&mut core, 1, Some(alice.clone()), None, 8);
    let mut b = join(&mut core, 2, None, None, 8);
    a.frames();
    b.frames();
    let now = Instant::now();
    assert_eq!(
        send(&mut core, 1, &alice, "k1", " hello ", now),
        SendDecision::Queued
    );
    core.flush();
    assert!(
        b.frames().is_empty(),
        "nothing is delivered before the commit"
    );
    let batch = core.take_batch().unwrap();
    assert_eq!(batch.len(), 1);
    assert!(core.take_batch().is_none(), "one batch at a time");
    let stored = core.batch_committed(1, Utc::now());
    assert_eq!(stored[0].msg.text, "hello");
    core.flush();
    let fa = a.frames();
    assert!(
        fa.iter()
            .any(|f| f["type"] == "ack" && f["client_id"] == "k1" && f["id"] == 1)
    );
    assert_eq!(b.ids(), vec![1]);
    // A retry of a stored message is acked with the same id, not stored twice.
    assert_eq!(
        send(&mut core, 1, &alice, "k1", "hello", now),
        SendDecision::AlreadyStored(1)
    );
}

#[test]
fn a_failed_batch_rejects_every_sender_and_delivers_nothing() {
    let mut core = room_with(Vec::new());
    let alice = viewer(5);
    let mut a = join(&mut core, 1, Some(alice.clone()), None, 8);
    a.frames();
    let now = Instant::now();
    send(&mut core, 1, &alice, "k1", "one", now);
    send(&mut core, 1, &alice, "k2", "two", now);
    core.take_batch().unwrap();
    // A retry while the first attempt is in flight attaches to it.
    assert_eq!(
        send(&mut core, 1, &alice, "k1", "one", now),
        SendDecision::Attached
    );
    core.batch_failed("database unavailable");
    core.flush();
    let f = a.frames();
    let rejected: Vec<_> = f.iter().filter(|f| f["type"] == "rejected").collect();
    assert_eq!(rejected.len(), 2);
    assert!(rejected.iter().all(|r| r["code"] == "unavailable"));
    assert!(!f.iter().any(|f| f["type"] == "message"));
    assert_eq!(core.head(), 0);
    // The retry after the failure is queued again.
    assert_eq!(
        send(&mut core, 1, &alice, "k1", "one", now),
        SendDecision::Queued
    );
}

#[test]
fn a_retry_of_a_commit_whose_reply_was_lost_is_acked_not_stored_twice() {
    let mut core = room_with(Vec::new());
    let alice = viewer(5);
    let mut a = join(&mut core, 1, Some(alice.clone()), None, 8);
    let mut b = join(&mut core, 2, None, None, 8);
    a.frames();
    b.frames();
    let now = Instant::now();
    send(&mut core, 1, &alice, "k1", "one", now);
    core.take_batch().unwrap();
    // The commit went through but its reply was lost: the sender is told to retry.
    core.batch_failed("database unavailable");
    assert_eq!(
        send(&mut core, 1, &alice, "k1", "one", now),
        SendDecision::Queued
    );
    send(&mut core, 1, &alice, "k2", "two", now);
    // The room reads what the database holds past its head: message 1 with k1's client id.
    let mut stored = msg(1, 5, "one");
    stored.client_id = Some("k1".into());
    assert!(core.accept(stored, now));
    assert_eq!(core.settle_stored(), 1);
    core.flush();
    let f = a.frames();
    assert!(
        f.iter()
            .any(|f| f["type"] == "ack" && f["client_id"] == "k1" && f["id"] == 1),
        "{f:?}"
    );
    assert_eq!(b.ids(), vec![1], "delivered once");
    // Only k2 is left to store.
    let batch = core.take_batch().unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].client_id, "k2");
    assert_eq!(core.settle_stored(), 0);
}

#[test]
fn waiting_sends_are_refused_when_the_room_cannot_settle() {
    let mut core = room_with(Vec::new());
    let alice = viewer(5);
    let mut a = join(&mut core, 1, Some(alice.clone()), None, 8);
    a.frames();
    let now = Instant::now();
    send(&mut core, 1, &alice, "k1", "one", now);
    send(&mut core, 1, &alice, "k2", "two", now);
    core.fail_waiting("database unavailable");
    core.flush();
    let f = a.frames();
    let codes: Vec<_> = f
        .iter()
        .filter(|f| f["type"] == "rejected")
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, vec!["unavailable", "unavailable"]);
    assert_eq!(core.pending(), 0);
    assert_eq!(
        send(&mut core, 1, &alice, "k1", "one", now),
        SendDecision::Queued,
        "and may be retried"
    );
}

#[test]
fn pending_is_bounded_and_overflow_is_rejected() {
    let mut core = RoomCore::new(
        1,
        "c".into(),
        100,
        RoomState::default(),
        RoomLimits {
            max_pending: 3,
            rate_messages: 100,
            ..RoomLimits::default()
        },
    );
    let alice = viewer(5);
    let _a = join(&mut core, 1, Some(alice.clone()), None, 8);
    let now = Instant::now();
    for i in 0..3 {
        assert_eq!(
            send(&mut core, 1, &alice, &format!("k{i}"), "x", now),
            SendDecision::Queued
        );
    }
    match send(&mut core, 1, &alice, "k9", "x", now) {
        SendDecision::Rejected(r) => assert_eq!(r.code, RejectCode::Overloaded),
        other => panic!("{other:?}"),
    }
}

#[test]
fn out_of_order_messages_wait_for_the_gap() {
    let mut core = room_with(Vec::new());
    let mut c = join(&mut core, 1, None, None, 8);
    c.frames();
    let t0 = Instant::now();
    assert!(core.accept(msg(2, 5, "b"), t0));
    assert!(core.accept(msg(3, 5, "c"), t0));
    core.flush();
    assert!(c.ids().is_empty());
    assert_eq!(core.gap_to_fill(t0, Duration::from_millis(300)), None);
    assert_eq!(
        core.gap_to_fill(t0 + Duration::from_millis(300), Duration::from_millis(300)),
        Some((1, 1))
    );
    assert!(core.accept(msg(1, 5, "a"), t0));
    assert!(!core.accept(msg(2, 5, "b"), t0), "duplicates are dropped");
    core.flush();
    assert_eq!(c.ids(), vec![1, 2, 3]);
    assert_eq!(
        core.gap_to_fill(t0 + Duration::from_secs(9), Duration::from_millis(300)),
        None
    );
}

#[test]
fn resume_sends_exactly_what_was_missed() {
    let mut core = room_with((1..=20).map(|i| msg(i, 5, "x")).collect());
    // A client that saw up to 12 reconnects.
    let mut c = join(&mut core, 1, None, Some(12), 8);
    assert_eq!(c.ids(), (13..=20).collect::<Vec<_>>());
    core.accept(msg(21, 5, "y"), Instant::now());
    core.flush();
    assert_eq!(c.ids(), vec![21]);
    // A resume on the open connection does not repeat anything it was sent.
    core.resume(1, 15);
    assert_eq!(c.ids(), Vec::<i64>::new());
    core.resume(1, 3);
    assert_eq!(c.ids(), (4..=12).collect::<Vec<_>>());
    core.resume(1, 0);
    assert_eq!(c.ids(), (1..=3).collect::<Vec<_>>());
}

#[test]
fn resume_after_join_history_fills_only_older_messages() {
    let mut core = room_with((1..=100).map(|i| msg(i, 5, "x")).collect());
    let mut c = join(&mut core, 1, None, None, 8);
    assert_eq!(c.ids(), (51..=100).collect::<Vec<_>>());
    core.resume(1, 40);
    assert_eq!(c.ids(), (41..=50).collect::<Vec<_>>());
}

#[test]
fn resume_past_the_ring_says_more() {
    let mut core = RoomCore::new(
        1,
        "c".into(),
        100,
        RoomState {
            head: 30,
            recent: (21..=30).map(|i| msg(i, 5, "x")).collect(),
            ..RoomState::default()
        },
        RoomLimits {
            ring_capacity: 10,
            ..RoomLimits::default()
        },
    );
    let mut c = join(&mut core, 1, None, Some(5), 8);
    let f = c.frames();
    assert_eq!(f[1]["more"], true);
    assert_eq!(f[1]["messages"].as_array().unwrap().len(), 10);
}

#[test]
fn deleted_messages_are_never_in_history() {
    let mut core = room_with((1..=5).map(|i| msg(i, 5, "x")).collect());
    core.apply_deleted(3, "mod");
    let mut c = join(&mut core, 1, None, Some(0), 8);
    assert_eq!(c.ids(), vec![1, 2, 4, 5]);
    // A delete that arrives before its message (from another node) still applies.
    core.apply_deleted(7, "mod");
    core.accept(msg(6, 5, "x"), Instant::now());
    core.accept(msg(7, 5, "x"), Instant::now());
    core.flush();
    assert_eq!(c.ids(), vec![6]);
}

#[test]
fn a_full_queue_kicks_the_member_and_others_still_receive() {
    let mut core = room_with(Vec::new());
    let slow = join(&mut core, 1, None, None, 3);
    let mut fast = join(&mut core, 2, None, None, 64);
    // The slow one never reads; its queue (3) already holds the welcome batch.
    fast.frames();
    for i in 1..=5 {
        core.accept(msg(i, 5, "x"), Instant::now());
        core.flush();
    }
    assert!(slow.kick.is_cancelled(), "the slow consumer is kicked");
    assert!(!fast.kick.is_cancelled());
    assert_eq!(core.members(), 1);
    assert_eq!(fast.ids(), vec![1, 2, 3, 4, 5]);
    assert_eq!(core.counters.kicked, 1);
}

#[test]
fn frames_are_serialized_once_and_shared() {
    let mut core = room_with(Vec::new());
    let mut a = join(&mut core, 1, None, None, 8);
    let mut b = join(&mut core, 2, None, None, 8);
    a.frames();
    b.frames();
    core.accept(msg(1, 5, "x"), Instant::now());
    core.flush();
    let (Ok(Outbound::Batch(x)), Ok(Outbound::Batch(y))) = (a.rx.try_recv(), b.rx.try_recv())
    else {
        panic!("both get the batch")
    };
    assert!(Arc::ptr_eq(&x, &y));
    assert_eq!(x.max_id, Some(1));
}

#[test]
fn rate_limit_and_slow_mode() {
    let mut core = RoomCore::new(
        1,
        "c".into(),
        100,
        RoomState::default(),
        RoomLimits {
            rate_messages: 3,
            rate_window: Duration::from_secs(30),
            ..RoomLimits::default()
        },
    );
    let alice = viewer(5);
    let _a = join(&mut core, 1, Some(alice.clone()), None, 64);
    let t0 = Instant::now();
    for i in 0..3 {
        assert_eq!(
            send(&mut core, 1, &alice, &format!("k{i}"), "x", t0),
            SendDecision::Queued
        );
    }
    match send(
        &mut core,
        1,
        &alice,
        "k3",
        "x",
        t0 + Duration::from_secs(10),
    ) {
        SendDecision::Rejected(r) => {
            assert_eq!(r.code, RejectCode::RateLimited);
            assert_eq!(r.retry_after_ms, Some(20_000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        send(
            &mut core,
            1,
            &alice,
            "k4",
            "x",
            t0 + Duration::from_secs(31)
        ),
        SendDecision::Queued
    );

    core.apply_mode(RoomMode {
        slow_seconds: 10,
        ..RoomMode::default()
    });
    let bob = viewer(6);
    let _b = join(&mut core, 2, Some(bob.clone()), None, 64);
    let t1 = t0 + Duration::from_secs(100);
    assert_eq!(
        send(&mut core, 2, &bob, "b1", "x", t1),
        SendDecision::Queued
    );
    match send(&mut core, 2, &bob, "b2", "x", t1 + Duration::from_secs(4)) {
        SendDecision::Rejected(r) => {
            assert_eq!(r.code, RejectCode::SlowMode);
            assert_eq!(r.retry_after_ms, Some(6_000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        send(&mut core, 2, &bob, "b3", "x", t1 + Duration::from_secs(10)),
        SendDecision::Queued
    );
    // Moderators are exempt from slow mode.
    core.set_moderators([7].into());
    let m = viewer(7);
    let _m = join(&mut core, 3, Some(m.clone()), None, 64);
    assert_eq!(send(&mut core, 3, &m, "m1", "x", t1), SendDecision::Queued);
    assert_eq!(send(&mut core, 3, &m, "m2", "x", t1), SendDecision::Queued);
}

#[test]
fn bans_timeouts_modes_and_terms_reject_viewers_only() {
    let mut core = room_with(Vec::new());
    let alice = viewer(5);
    let now = Instant::now();
    let wall = Utc::now();
    let _a = join(&mut core, 1, Some(alice.clone()), None, 64);
    core.apply_ban(
        5,
        "u5",
        Some(wall + chrono::Duration::seconds(60)),
        None,
        "mod",
        wall,
    );
    match core.check_send(1, &alice, "k", "hi", now, wall) {
        SendDecision::Rejected(r) => {
            assert_eq!(r.code, RejectCode::TimedOut);
            assert_eq!(r.retry_after_ms, Some(60_000));
            assert_eq!(r.message, "you are timed out for another 1 minute");
        }
        other => panic!("{other:?}"),
    }
    // The timeout expires.
    assert_eq!(
        core.check_send(
            1,
            &alice,
            "k",
            "hi",
            now,
            wall + chrono::Duration::seconds(61)
        ),
        SendDecision::Queued
    );
    core.apply_ban(5, "u5", None, Some("spam".into()), "mod", wall);
    assert!(matches!(
        core.check_send(1, &alice, "k2", "hi", now, wall),
        SendDecision::Rejected(Rejection {
            code: RejectCode::Banned,
            ..
        })
    ));
    core.apply_unban(5, "u5", "mod");

    core.apply_mode(RoomMode {
        emote_only: true,
        ..RoomMode::default()
    });
    assert!(matches!(
        core.check_send(1, &alice, "k3", "hi", now, wall),
        SendDecision::Rejected(Rejection {
            code: RejectCode::EmoteOnly,
            ..
        })
    ));
    assert_eq!(
        core.check_send(1, &alice, "k4", ":wave: :heart:", now, wall),
        SendDecision::Queued
    );
    core.apply_mode(RoomMode::default());

    core.set_blocked_terms(vec!["Forbidden".into()]);
    assert!(matches!(
        core.check_send(1, &alice, "k5", "so ＦＯＲＢＩＤＤＥＮ", now, wall),
        SendDecision::Rejected(Rejection {
            code: RejectCode::BlockedTerm,
            ..
        })
    ));
    // The owner is not held to the room's rules.
    let owner = viewer(100);
    let _o = join(&mut core, 2, Some(owner.clone()), None, 64);
    assert_eq!(
        core.check_send(2, &owner, "o1", "forbidden", now, wall),
        SendDecision::Queued
    );
}

#[test]
fn text_is_validated_before_queueing() {
    let mut core = room_with(Vec::new());
    let alice = viewer(5);
    let _a = join(&mut core, 1, Some(alice.clone()), None, 64);
    let now = Instant::now();
    assert!(matches!(
        send(&mut core, 1, &alice, "k", "   ", now),
        SendDecision::Rejected(Rejection {
            code: RejectCode::Invalid,
            ..
        })
    ));
    assert!(matches!(
        send(&mut core, 1, &alice, "k", &"x".repeat(501), now),
        SendDecision::Rejected(Rejection {
            code: RejectCode::Invalid,
            ..
        })
    ));
    assert!(matches!(
        send(&mut core, 1, &alice, "", "x", now),
        SendDecision::Rejected(Rejection {
            code: RejectCode::Invalid,
            ..
        })
    ));
    assert_eq!(
        send(&mut core, 1, &alice, "k", &"x".repeat(500), now),
        SendDecision::Queued
    );
}
