//! The chat scenario's peer mode against a broadcast server written here that misbehaves on
//! purpose: it drops one message and sends another twice. The report must count exactly that.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// tungstenite's handshake callback returns its own large error type.
#![allow(clippy::result_large_err)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use streamhall_load::{Common, Ctx, chat};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_tungstenite::tungstenite::{
    Message,
    handshake::server::{Request, Response},
};

type Subs = Arc<Mutex<Vec<mpsc::UnboundedSender<Message>>>>;

/// `/sub` subscribes, every text frame on `/pub` goes to every subscriber, except that message
/// 3 of sender 0 is dropped and message 5 of sender 1 is sent twice. Returns its URL.
async fn faulty_broadcast() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let subs: Subs = Arc::default();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let subs = subs.clone();
            tokio::spawn(async move {
                let path = Arc::new(Mutex::new(String::new()));
                let p = path.clone();
                let ws = tokio_tungstenite::accept_hdr_async(
                    tcp,
                    move |req: &Request, res: Response| {
                        *p.lock().unwrap() = req.uri().path().to_owned();
                        Ok(res)
                    },
                )
                .await
                .unwrap();
                let (mut tx, mut rx) = ws.split();
                if path.lock().unwrap().as_str() == "/pub" {
                    while let Some(Ok(msg)) = rx.next().await {
                        let Message::Text(t) = &msg else { continue };
                        let (_, sender, seq) = chat::parse_text(t).unwrap();
                        let copies = match (sender, seq) {
                            (0, 3) => 0,
                            (1, 5) => 2,
                            _ => 1,
                        };
                        for s in subs.lock().unwrap().iter() {
                            for _ in 0..copies {
                                let _ = s.send(msg.clone());
                            }
                        }
                    }
                } else {
                    let (q, mut out) = mpsc::unbounded_channel();
                    subs.lock().unwrap().push(q);
                    tokio::spawn(async move { while rx.next().await.is_some() {} });
                    while let Some(m) = out.recv().await {
                        if tx.send(m).await.is_err() {
                            break;
                        }
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn counts_exactly_the_lost_and_duplicated_messages() {
    let url = faulty_broadcast().await;
    let mut c = Common::new(&url);
    c.duration = Duration::from_millis(1500);
    c.ramp = Duration::from_millis(200);
    let ctx = Arc::new(Ctx::new(c).await.unwrap());
    let opts = chat::ChatOpts {
        connections: 30,
        senders: 2,
        rate: 10.0,
        size: 100,
        peer: Some(chat::ChatPeer::WsBroadcast),
        drain: Duration::from_millis(500),
        ..chat::ChatOpts::default()
    };
    let r = chat::run(ctx, &opts).await.unwrap();
    let t = r.table();
    let sent = r.counter("sent");
    assert!(sent >= 20, "{t}");
    assert_eq!(r.counter("readers_connected"), 30, "{t}");
    assert_eq!(r.counter("expected"), sent * 30, "{t}");
    assert_eq!(
        r.counter("lost"),
        30,
        "one message lost by every reader: {t}"
    );
    assert_eq!(
        r.counter("duplicates"),
        30,
        "one message twice for every reader: {t}"
    );
    assert_eq!(
        r.counter("received"),
        sent * 30,
        "-1 lost +1 duplicate per reader: {t}"
    );
    assert_eq!(r.latency("delivery").count, sent * 30, "{t}");
    assert!(r.latency("delivery").p99_ms < 1_000.0, "{t}");
    assert_eq!(r.counter("connect_failures"), 0, "{t}");
}
