//! Presence counts across nodes through a real Redis (`STREAMHALL_TEST_REDIS`).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use deadpool_redis::{Runtime, redis};
use streamhall_actors::RedisPresence;

fn redis_pool() -> deadpool_redis::Pool {
    let url = std::env::var("STREAMHALL_TEST_REDIS").unwrap_or_else(|_| {
        panic!(
            "STREAMHALL_TEST_REDIS is not set: point it at a Redis server, e.g. \
             STREAMHALL_TEST_REDIS=redis://127.0.0.1:6379 (./dev test sets it)"
        )
    });
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(Runtime::Tokio1))
        .unwrap()
}

fn counts(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn counts_add_up_across_two_nodes_and_stale_nodes_drop_out() {
    let pool = redis_pool();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let prefix = format!("streamhall-test-{}-{now}:", std::process::id());
    let a = RedisPresence::new(pool.clone(), prefix.clone(), "node-a".into());
    let b = RedisPresence::new(pool.clone(), prefix.clone(), "node-b".into());

    let got = a.sync(&counts(&[("ch", 3)]), &[], now).await.unwrap();
    assert_eq!(got, counts(&[("ch", 3)]));
    let got = b
        .sync(&counts(&[("ch", 2), ("other", 1)]), &[], now + 100)
        .await
        .unwrap();
    assert_eq!(got, counts(&[("ch", 5), ("other", 1)]));
    // Node A gets the sum of a channel only B counts, without asking for it.
    let got = a
        .sync(&counts(&[("ch", 4)]), &[], now + 1000)
        .await
        .unwrap();
    assert_eq!(got, counts(&[("ch", 6), ("other", 1)]));
    // B stops reporting: its counts go stale and drop out of the index; A's viewers leave and
    // it removes its field.
    let got = a
        .sync(&HashMap::new(), &["ch".into()], now + 5000)
        .await
        .unwrap();
    assert!(got.is_empty(), "{got:?}");

    let mut conn = pool.get().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(a.key("other"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (1..=10).contains(&ttl),
        "keys expire on their own: ttl {ttl}"
    );
    let _: () = redis::cmd("DEL")
        .arg(a.key("ch"))
        .arg(a.key("other"))
        .arg(a.channels_key())
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[actix_web::test]
async fn two_presence_actors_see_the_sum_of_their_viewers() {
    use actix::Actor;
    use std::time::Duration;
    use streamhall_actors::{HlsDirectory, Presence, PresenceHandle};

    let pool = redis_pool();
    let dir = tempfile::tempdir().unwrap();
    let db = crate::helpers::database(&dir).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("streamhall-test-actor-{now}:");
    let mut nodes = Vec::new();
    for node in ["node-a", "node-b"] {
        let handle = PresenceHandle::new();
        let redis = RedisPresence::new(pool.clone(), prefix.clone(), node.into());
        Presence::new(
            handle.clone(),
            HlsDirectory::new(),
            db.clone(),
            Some(redis),
            Default::default(),
        )
        .start();
        nodes.push((
            handle,
            RedisPresence::new(pool.clone(), prefix.clone(), node.into()),
        ));
    }
    let (a, b) = (&nodes[0].0, &nodes[1].0);
    a.touch("ch", "v1");
    a.touch("ch", "v2");
    b.touch("ch", "v3");
    assert_eq!(a.count("ch"), 2, "before the first sync: this node's own");
    crate::helpers::eventually("the sum on both nodes", Duration::from_secs(5), || async {
        (a.count("ch") == 3 && b.count("ch") == 3).then_some(())
    })
    .await;
    // A node that never saw the channel gets the sum too (from the index of counted channels).
    let c = PresenceHandle::new();
    Presence::new(
        c.clone(),
        HlsDirectory::new(),
        db.clone(),
        Some(RedisPresence::new(
            pool.clone(),
            prefix.clone(),
            "node-c".into(),
        )),
        Default::default(),
    )
    .start();
    assert_eq!(c.count("ch"), 0);
    crate::helpers::eventually(
        "the sum on an idle node",
        Duration::from_secs(5),
        || async { (c.count("ch") == 3).then_some(()) },
    )
    .await;

    let mut conn = pool.get().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(nodes[0].1.key("ch"))
        .arg(nodes[0].1.channels_key())
        .query_async(&mut conn)
        .await
        .unwrap();
}
