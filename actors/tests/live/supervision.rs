//! A stream actor that stops without ending its broadcast (injected, test builds only) still
//! ends it: the row closed, the window ended, the registry free for the next publish.

use std::time::Duration;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(10);

#[actix_web::test]
async fn a_stream_actor_that_dies_ends_its_broadcast() {
    let t = spawn_live().await;
    let a = t.publish(KEY).await.unwrap();
    t.go_live(&a).await;
    assert!(t.live.inject_stream_fault(SLUG).await);
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
    // The registry heard: the next publish opens a new broadcast.
    let b = t.publish(KEY).await.unwrap();
    t.go_live(&b).await;
    let rows = t.broadcasts().await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().filter(|r| r.ended_at.is_none()).count() == 1);
}
