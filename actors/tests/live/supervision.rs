//! A stream actor that stops without ending its broadcast, or whose handler panics (injected,
//! test builds only), still ends it: the row closed, the window ended, the registry free for
//! the next publish, and the registry's last error saying what happened.

use std::time::Duration;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(10);

#[actix_web::test]
async fn a_stream_actor_that_stops_ends_its_broadcast() {
    a_stream_actor_that_dies_ends_its_broadcast(false, "stopped without ending its broadcast")
        .await;
}

#[actix_web::test]
async fn a_stream_actor_whose_handler_panics_ends_its_broadcast() {
    a_stream_actor_that_dies_ends_its_broadcast(true, "a handler panicked").await;
}

fn walk(node: &streamhall_actors::ActorNode, f: &mut impl FnMut(&streamhall_actors::ActorNode)) {
    f(node);
    for c in &node.children {
        walk(c, f);
    }
}

async fn a_stream_actor_that_dies_ends_its_broadcast(panic: bool, why: &str) {
    let t = spawn_live().await;
    let a = t.publish(KEY).await.unwrap();
    t.go_live(&a).await;
    // Every actor's senders are counted: the registry, the stream and each of its children
    // show a mailbox depth.
    let tree = t.live.health().await;
    let mut uncounted = Vec::new();
    walk(&tree.root, &mut |n| {
        if n.actor.mailbox.is_none() {
            uncounted.push(format!("{} {}", n.actor.kind, n.actor.id));
        }
    });
    assert!(uncounted.is_empty(), "no mailbox depth: {uncounted:?}");
    let kinds: Vec<&str> = tree.root.children[0]
        .children
        .iter()
        .map(|c| c.actor.kind.as_str())
        .collect();
    for kind in ["ingest", "transcode", "segment", "thumbnail"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(t.live.inject_stream_fault(SLUG, panic).await);
    eventually("the broadcast row closed", WAIT, || async {
        t.broadcasts().await[0].ended_at.map(|_| ())
    })
    .await;
    assert!(a.kick.is_cancelled(), "the publisher is let go");
    eventually("the channel offline", WAIT, || async {
        (!t.is_live().await).then_some(())
    })
    .await;
    assert!(t.live.hls.live_info(SLUG).unwrap().ended);
    // The admin sees it: the registry's last error names the stream and the cause, and the
    // stream is gone from the tree.
    let tree = eventually("the registry told", WAIT, || async {
        let tree = t.live.health().await;
        tree.registry
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(SLUG) && e.contains(why))
            .then_some(tree)
    })
    .await;
    assert!(tree.streams.is_empty(), "{:?}", tree.streams);
    // The registry heard: the next publish opens a new broadcast.
    let b = t.publish(KEY).await.unwrap();
    t.go_live(&b).await;
    let rows = t.broadcasts().await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().filter(|r| r.ended_at.is_none()).count() == 1);
}
