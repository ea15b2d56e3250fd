#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Analytics from a scripted audience: the core in memory, then the write and read paths
//! against SQLite.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ActiveValue::Set, EntityTrait};
use streamhall_entities::{broadcast, chat_message, follow, view_session};

use super::core::*;
use super::query::*;
use super::write::*;

#[test]
fn sessions_are_kept_for_as_many_viewers_as_presence_stores() {
    assert_eq!(
        MAX_SESSIONS_PER_BROADCAST,
        crate::presence::MAX_VIEWERS_PER_CHANNEL
    );
}

const TTL: Duration = Duration::from_secs(4);

/// Second `s` of the script.
fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn session(token: u64, viewer: &str, from: i64, to: i64, id: Option<i64>) -> SessionRow {
    SessionRow {
        token,
        broadcast_id: 7,
        viewer_id: viewer_id(viewer),
        started_at: t(from),
        last_seen_at: t(to),
        id,
    }
}

fn sorted(mut rows: Vec<SessionRow>) -> Vec<SessionRow> {
    rows.sort_by_key(|r| r.token);
    rows
}

/// Ids as the database would hand them out: 100 + token.
fn store(core: &mut AnalyticsCore, batch: &Batch) {
    let ids: Vec<(u64, i64)> = batch
        .insert_open
        .iter()
        .map(|r| (r.token, 100 + r.token as i64))
        .collect();
    core.written(&ids);
}

/// Second `s` (0..=31) of the script: broadcast 7 of channel `a` from second 0 to 31,
/// three players poll every 2 s from second 1, v3 stops after second 11; presence counts
/// 3 viewers until second 15, then 2. Samples every 10 s. The batch to write, if any.
fn script_second(core: &mut AnalyticsCore, s: i64) -> Option<Batch> {
    let running = [("a".to_owned(), 7, t(0))];
    let live: &[(String, i64, DateTime<Utc>)] = if s < 31 { &running } else { &[] };
    let viewers = |_: &str| if s <= 15 { 3 } else { 2 };
    core.sync_broadcasts(live, viewers, t(s));
    if s % 2 == 1 && s < 31 {
        core.seen("a", "v1", t(s), TTL);
        core.seen("a", "v2", t(s), TTL);
        if s <= 11 {
            core.seen("a", "v3", t(s), TTL);
        }
    }
    core.expire(t(s), |_| TTL);
    core.take_batch(t(s), viewers)
}

fn scripted_audience() -> Vec<(i64, Batch)> {
    let mut core = AnalyticsCore::new(Duration::from_secs(10), 100);
    let mut batches = Vec::new();
    for s in 0..=31 {
        if let Some(batch) = script_second(&mut core, s) {
            store(&mut core, &batch);
            batches.push((s, batch));
        }
    }
    assert_eq!(core.open_sessions("a"), 0);
    batches
}

#[test]
fn a_scripted_audience_gives_exact_samples_and_sessions() {
    let batches = scripted_audience();
    let at: Vec<i64> = batches.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        at,
        [10, 16, 20, 30, 31],
        "a batch per sample, and one when v3 left"
    );

    let (_, b) = &batches[0];
    assert_eq!(
        b.samples,
        [SampleRow {
            broadcast_id: 7,
            at: t(10),
            viewers: 3,
            since: None
        }]
    );
    assert_eq!(
        sorted(b.insert_open.clone()),
        [
            session(1, "v1", 1, 9, None),
            session(2, "v2", 1, 9, None),
            session(3, "v3", 1, 9, None),
        ]
    );
    assert!(b.update.is_empty() && b.insert_ended.is_empty());

    // v3 is silent from second 11: ended once more than the TTL passed (second 16).
    let (_, b) = &batches[1];
    assert!(b.samples.is_empty() && b.insert_open.is_empty());
    assert_eq!(b.update, [session(3, "v3", 1, 11, Some(103))]);
    assert_eq!(b.update[0].watch_seconds(), 10);

    let (_, b) = &batches[2];
    assert_eq!(
        b.samples,
        [SampleRow {
            broadcast_id: 7,
            at: t(20),
            viewers: 2,
            since: Some(t(10))
        }]
    );
    assert_eq!(
        sorted(b.update.clone()),
        [
            session(1, "v1", 1, 19, Some(101)),
            session(2, "v2", 1, 19, Some(102)),
        ]
    );

    // The end: a final sample, and both open sessions closed at their last request.
    let (_, b) = &batches[4];
    assert_eq!(
        b.samples,
        [SampleRow {
            broadcast_id: 7,
            at: t(31),
            viewers: 2,
            since: Some(t(30))
        }]
    );
    assert_eq!(
        sorted(b.update.clone()),
        [
            session(1, "v1", 1, 29, Some(101)),
            session(2, "v2", 1, 29, Some(102)),
        ]
    );
    let watch: i64 = b.update.iter().map(SessionRow::watch_seconds).sum::<i64>() + 10;
    assert_eq!(watch, 66, "28 + 28 + 10 seconds watched");
}

#[test]
fn a_viewer_back_after_the_ttl_starts_a_new_session() {
    let mut core = AnalyticsCore::new(Duration::from_secs(30), 100);
    core.begin("a", 7, t(0));
    core.seen("a", "v1", t(1), TTL);
    core.seen("a", "v1", t(3), TTL);
    // Reports may repeat and arrive out of order.
    core.seen("a", "v1", t(2), TTL);
    core.seen("a", "v1", t(10), TTL);
    let b = core.take_batch(t(10), |_| 1).unwrap();
    assert_eq!(b.insert_ended, [session(1, "v1", 1, 3, None)]);
    assert!(b.samples.is_empty() && b.insert_open.is_empty());
    assert_eq!(core.open_sessions("a"), 1);
    // Nothing else to write until the sample.
    assert_eq!(core.take_batch(t(11), |_| 1), None);
    let b = core.take_batch(t(30), |_| 1).unwrap();
    assert_eq!(b.insert_open, [session(2, "v1", 10, 10, None)]);
}

#[test]
fn presence_reports_first_and_latest_requests() {
    let mut core = AnalyticsCore::new(Duration::from_secs(30), 100);
    core.begin("a", 7, t(0));
    // Two requests between rounds: the session starts at the first.
    core.present("a", "v1", t(1), t(2), TTL);
    core.present("a", "v1", t(1), t(4), TTL);
    // Expired in presence and back: a new entry, so a new session.
    core.present("a", "v1", t(12), t(13), TTL);
    let b = core.take_batch(t(13), |_| 1).unwrap();
    assert_eq!(b.insert_ended, [session(1, "v1", 1, 4, None)]);
    let b = core.take_batch(t(30), |_| 1).unwrap();
    assert_eq!(b.insert_open, [session(2, "v1", 12, 13, None)]);
    let mut half = session(3, "v1", 0, 0, None);
    half.last_seen_at = half.started_at + TimeDelta::milliseconds(2_500);
    assert_eq!(half.watch_seconds(), 3, "to the nearest second");
}

#[test]
fn requests_before_the_broadcast_began_count_from_its_start_and_others_are_ignored() {
    let mut core = AnalyticsCore::new(Duration::from_secs(30), 100);
    core.seen("a", "v1", t(1), TTL);
    core.begin("a", 7, t(5));
    core.seen("a", "v1", t(4), TTL);
    core.seen("b", "v1", t(6), TTL);
    core.end("a", 1, t(8));
    let b = core.take_batch(t(8), |_| 1).unwrap();
    assert_eq!(b.insert_ended, [session(1, "v1", 5, 5, None)]);
    assert_eq!(b.samples[0].since, None);
    assert_eq!(core.broadcast("b"), None);
}

#[test]
fn sessions_are_capped_per_broadcast() {
    let mut core = AnalyticsCore::new(Duration::from_secs(30), 2);
    core.begin("a", 7, t(0));
    for v in ["v1", "v2", "v3", "v3"] {
        core.seen("a", v, t(1), TTL);
    }
    assert_eq!(core.open_sessions("a"), 2);
    assert_eq!(core.untracked, 2);
}

#[test]
fn a_session_ending_while_its_insert_is_out_waits_for_its_id() {
    let mut core = AnalyticsCore::new(Duration::from_secs(1), 100);
    core.begin("a", 7, t(0));
    core.seen("a", "v1", t(0), TTL);
    let b = core.take_batch(t(1), |_| 1).unwrap();
    assert_eq!(b.insert_open.len(), 1);
    // Ended while that batch is being written: not inserted a second time...
    core.expire(t(9), |_| TTL);
    let b = core.take_batch(t(9), |_| 0).unwrap();
    assert!(b.insert_ended.is_empty() && b.update.is_empty());
    // ...but updated once its id is known.
    core.written(&[(1, 55)]);
    let b = core.take_batch(t(10), |_| 0).unwrap();
    assert_eq!(b.update, [session(1, "v1", 0, 0, Some(55))]);

    // An insert that failed is retried.
    core.seen("a", "v2", t(10), TTL);
    let b = core.take_batch(t(11), |_| 1).unwrap();
    assert_eq!(b.insert_open.len(), 1);
    core.written(&[]);
    let b = core.take_batch(t(12), |_| 1).unwrap();
    assert_eq!(b.insert_open, [session(2, "v2", 10, 10, None)]);
}

#[test]
fn a_replaced_broadcast_ends_and_the_new_one_begins() {
    let mut core = AnalyticsCore::new(Duration::from_secs(30), 100);
    let begun = core.sync_broadcasts(&[("a".to_owned(), 7, t(0))], |_| 0, t(0));
    assert_eq!(begun, ["a"]);
    core.seen("a", "v1", t(1), TTL);
    let begun = core.sync_broadcasts(&[("a".to_owned(), 8, t(2))], |_| 4, t(2));
    assert_eq!(begun, ["a"]);
    assert!(
        core.sync_broadcasts(&[("a".to_owned(), 8, t(2))], |_| 4, t(3))
            .is_empty()
    );
    assert_eq!(core.broadcast("a"), Some(8));
    let b = core.take_batch(t(2), |_| 4).unwrap();
    assert_eq!(
        b.samples,
        [SampleRow {
            broadcast_id: 7,
            at: t(2),
            viewers: 4,
            since: None
        }]
    );
    assert_eq!(b.insert_ended, [session(1, "v1", 1, 1, None)]);
}

fn sample(s: i64, broadcast_id: i64, viewers: i64) -> Sample {
    Sample {
        at: t(s),
        broadcast_id,
        viewers,
        chatters: viewers % 3,
        chat_messages: 2 * viewers,
    }
}

#[test]
fn downsampling_averages_buckets_of_one_broadcast() {
    // Few samples pass through.
    let mut d = Downsampler::new(t(0), t(100), 10, 3);
    for s in [sample(0, 1, 5), sample(5, 1, 6), sample(10, 1, 7)] {
        d.push(s);
    }
    assert_eq!(d.finish().len(), 3);

    // 20 samples over 100 s into 10 buckets of 10 s; broadcast 2 starts at second 55.
    let mut d = Downsampler::new(t(0), t(100), 10, 20);
    for i in 0..20 {
        d.push(sample(i * 5, if i < 11 { 1 } else { 2 }, i));
    }
    let out = d.finish();
    assert_eq!(out.len(), 11, "bucket 5 is split between the broadcasts");
    assert_eq!(
        out[0],
        Sample {
            at: t(0),
            broadcast_id: 1,
            viewers: 1, // (0 + 1) / 2, rounded half up
            chatters: 1,
            chat_messages: 1,
        }
    );
    assert_eq!(
        (out[5].at, out[5].broadcast_id, out[5].viewers),
        (t(50), 1, 10)
    );
    assert_eq!(
        (out[6].at, out[6].broadcast_id, out[6].viewers),
        (t(55), 2, 11)
    );
    assert_eq!((out[10].at, out[10].viewers), (t(90), 19));
}

fn broadcast_row(ended: Option<i64>) -> broadcast::Model {
    broadcast::Model {
        id: 7,
        channel_id: 1,
        started_at: t(0),
        ended_at: ended.map(t),
        title: "show".into(),
        peak_viewers: 2,
        went_live_at: Some(t(0)),
        failure: None,
        owner_node: None,
    }
}

#[test]
fn a_summary_sums_up_the_figures() {
    let f = Figures {
        sample_peak: 3,
        sample_sum: 7,
        samples: 4,
        unique_viewers: 3,
        watch_time_s: 66,
        chat_messages: 5,
        chatters: 2,
        new_followers: 1,
    };
    let s = summarize(&broadcast_row(Some(31)), &f, t(100));
    assert_eq!(s.duration_s, 31);
    assert_eq!(s.peak_viewers, 3, "the higher of saved and sampled");
    assert_eq!(s.avg_viewers, 1.75);
    assert_eq!(s.avg_watch_s, 22.0);
    assert_eq!((s.unique_viewers, s.watch_time_s), (3, 66));
    assert_eq!((s.chat_messages, s.chatters, s.new_followers), (5, 2, 1));

    let live = summarize(&broadcast_row(None), &Figures::default(), t(100));
    assert_eq!(live.duration_s, 100, "a live broadcast lasts until now");
    assert_eq!(
        (live.peak_viewers, live.avg_viewers, live.avg_watch_s),
        (2, 0.0, 0.0)
    );
}

/// The scripted audience through the real write path into SQLite and back.
#[tokio::test]
async fn written_batches_sum_up_in_the_database() {
    use sea_orm::{ActiveModelTrait, Database};
    use streamhall_entities::{channel, user};
    use streamhall_migration::MigratorTrait;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let db = Database::connect(url).await.unwrap();
    streamhall_migration::Migrator::up(&db, None).await.unwrap();
    let now = t(0);
    let u = |id: i64, name: &str| user::ActiveModel {
        id: Set(id),
        username: Set(name.into()),
        username_key: Set(name.into()),
        email: Set(format!("{name}@example.com")),
        display_name: Set(name.into()),
        bio: Set(String::new()),
        password_hash: Set("x".into()),
        role: Set("user".into()),
        token_version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    for (id, name) in [(1, "owner"), (2, "alice"), (3, "bob"), (4, "carol")] {
        u(id, name).insert(&db).await.unwrap();
    }
    channel::ActiveModel {
        id: Set(1),
        owner_id: Set(1),
        slug: Set("a".into()),
        title: Set("show".into()),
        description: Set(String::new()),
        category: Set(String::new()),
        is_live: Set(false),
        stream_key_hash: Set("h".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    let mut b = broadcast_row(Some(31));
    b.peak_viewers = 0;
    broadcast::ActiveModel {
        id: Set(7),
        channel_id: Set(1),
        started_at: Set(b.started_at),
        ended_at: Set(b.ended_at),
        title: Set(b.title.clone()),
        peak_viewers: Set(0),
        went_live_at: Set(b.went_live_at),
        failure: Set(None),
        owner_node: Set(None),
    }
    .insert(&db)
    .await
    .unwrap();
    // Chat: alice at 5 and 12, bob at 25, alice after the end; a follow at 20, one before.
    for (id, user_id, s) in [(1, 2, 5), (2, 2, 12), (3, 3, 25), (4, 2, 40)] {
        chat_message::ActiveModel {
            channel_id: Set(1),
            id: Set(id),
            user_id: Set(user_id),
            username: Set("x".into()),
            role: Set("viewer".into()),
            text: Set("hi".into()),
            client_id: Set(None),
            created_at: Set(t(s)),
            deleted_at: Set(None),
            deleted_by: Set(None),
        }
        .insert(&db)
        .await
        .unwrap();
    }
    for (user_id, s) in [(3, -100), (4, 20)] {
        follow::ActiveModel {
            user_id: Set(user_id),
            channel_id: Set(1),
            created_at: Set(t(s)),
            last_emailed_at: Set(None),
        }
        .insert(&db)
        .await
        .unwrap();
    }

    // The script again, written for real (ids from the database this time).
    let mut core = AnalyticsCore::new(Duration::from_secs(10), 100);
    for s in 0..=31 {
        if let Some(batch) = script_second(&mut core, s) {
            let written = write_batch(&db, batch).await;
            assert!(written.errors.is_empty(), "{:?}", written.errors);
            core.written(&written.inserted);
        }
    }
    let rows = view_session::Entity::find().all(&db).await.unwrap();
    assert_eq!(rows.len(), 3, "one row per session: {rows:?}");

    let got = samples(&db, SampleScope::Broadcast(7), t(0), t(31), MAX_SAMPLES)
        .await
        .unwrap();
    let figures: Vec<(i64, i64, i64, i64)> = got
        .iter()
        .map(|s| {
            (
                (s.at - t(0)).num_seconds(),
                s.viewers,
                s.chatters,
                s.chat_messages,
            )
        })
        .collect();
    assert_eq!(
        figures,
        [(10, 3, 1, 1), (20, 2, 1, 1), (30, 2, 1, 1), (31, 2, 0, 0)]
    );

    let s = summaries(&db, &[b], t(100)).await.unwrap().remove(0);
    assert_eq!(s.peak_viewers, 3);
    assert_eq!(s.avg_viewers, 2.25);
    assert_eq!(s.unique_viewers, 3);
    assert_eq!(s.watch_time_s, 66);
    assert_eq!(s.avg_watch_s, 22.0);
    assert_eq!((s.chat_messages, s.chatters, s.new_followers), (3, 2, 1));
    assert_eq!(followers(&db, 1, t(0), t(31)).await.unwrap(), (2, 1));
    let listed = broadcasts_in(&db, 1, t(30), t(60)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        broadcasts_in(&db, 1, t(32), t(60))
            .await
            .unwrap()
            .is_empty()
    );
}
