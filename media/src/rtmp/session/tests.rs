#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::io::DuplexStream;

use super::media::stream_metadata;
use super::*;
use crate::flv::StreamMetadata;
use crate::rtmp::PublishGrant;
use crate::rtmp::PublishRequest;

type Granted = (PublishRequest, mpsc::Receiver<IngestEvent>);

/// Grants the key `good`, rejects everything else.
struct FakeHandler {
    granted: mpsc::Sender<Granted>,
}

impl PublishHandler for FakeHandler {
    fn publish(
        &self,
        req: PublishRequest,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishRejected>> + Send>> {
        let granted = self.granted.clone();
        Box::pin(async move {
            if req.stream_key.expose_secret() != "good" {
                return Err(PublishRejected::BadKey);
            }
            let (sink, rx) = mpsc::channel(16);
            granted
                .send((req, rx))
                .await
                .map_err(|_| PublishRejected::Internal)?;
            Ok(PublishGrant {
                sink,
                kick: CancellationToken::new(),
            })
        })
    }
}

/// A scripted client speaking through the session's own chunk codec and AMF0.
struct Client {
    io: DuplexStream,
    enc: ChunkEncoder,
    dec: ChunkDecoder,
    rbuf: BytesMut,
    sent: u64,
}

impl Client {
    async fn write(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
        self.sent += bytes.len() as u64;
    }

    async fn send(&mut self, csid: u32, msg_type: u8, stream_id: u32, ts: u32, payload: &[u8]) {
        let mut out = BytesMut::new();
        self.enc
            .write(&mut out, csid, msg_type, stream_id, ts, payload);
        self.write(&out).await;
    }

    async fn command(&mut self, stream_id: u32, values: &[Amf0Value]) {
        let payload = amf0::encode_all(values);
        self.send(3, msg_type::COMMAND_AMF0, stream_id, 0, &payload)
            .await;
    }

    async fn recv(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(m) = self.dec.decode(&mut self.rbuf).unwrap() {
                    if m.msg_type == msg_type::SET_CHUNK_SIZE {
                        self.dec.set_chunk_size(read_u32(&m.payload).unwrap());
                    }
                    return m;
                }
                assert!(
                    self.io.read_buf(&mut self.rbuf).await.unwrap() > 0,
                    "server closed"
                );
            }
        })
        .await
        .expect("no message from the server")
    }

    async fn recv_command(&mut self) -> Vec<Amf0Value> {
        let m = self.recv().await;
        assert_eq!(m.msg_type, msg_type::COMMAND_AMF0, "{m:?}");
        amf0::decode_all(&m.payload).unwrap()
    }

    async fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), self.io.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
    }
}

fn start(cfg: RtmpConfig) -> (Client, mpsc::Receiver<Granted>, Arc<Shared>) {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let (granted_tx, granted) = mpsc::channel(4);
    let limiter = Arc::new(FailureLimiter::new(5, Duration::from_secs(60), 16));
    let shared = Arc::new(Shared {
        cfg,
        handler: Arc::new(FakeHandler {
            granted: granted_tx,
        }),
        limiter,
        epoch: Instant::now(),
    });
    let peer = "192.0.2.10:50000".parse().unwrap();
    tokio::spawn(run(
        server_io,
        peer,
        shared.clone(),
        CancellationToken::new(),
    ));
    let client = Client {
        io: client_io,
        enc: ChunkEncoder::default(),
        dec: ChunkDecoder::new(1 << 20),
        rbuf: BytesMut::new(),
        sent: 0,
    };
    (client, granted, shared)
}

async fn handshake(c: &mut Client) {
    let mut c0c1 = vec![3u8];
    c0c1.resize(1537, 7);
    c.write(&c0c1).await;
    let mut s0s1s2 = vec![0u8; 3073];
    c.io.read_exact(&mut s0s1s2).await.unwrap();
    c.write(&s0s1s2[1..1537]).await;
}

fn s(v: &str) -> Amf0Value {
    Amf0Value::String(v.into())
}

fn n(v: f64) -> Amf0Value {
    Amf0Value::Number(v)
}

async fn connect(c: &mut Client, app: &str) {
    let cmd = Amf0Value::Object(vec![
        ("app".into(), s(app)),
        ("flashVer".into(), s("FMLE/3.0 (compatible; test)")),
        ("tcUrl".into(), s("rtmp://localhost/live")),
    ]);
    c.command(0, &[s("connect"), n(1.0), cmd]).await;
}

/// Handshake, `connect` to `live` (and its four replies), `createStream` (stream 1).
async fn ready_to_publish(c: &mut Client) {
    handshake(c).await;
    connect(c, "live").await;
    for _ in 0..4 {
        c.recv().await;
    }
    c.command(0, &[s("createStream"), n(2.0), Amf0Value::Null])
        .await;
    c.recv_command().await;
}

fn status_code(values: &[Amf0Value]) -> (&str, &str) {
    let info = &values[3];
    (
        info.get("level").and_then(Amf0Value::as_str).unwrap(),
        info.get("code").and_then(Amf0Value::as_str).unwrap(),
    )
}

#[tokio::test]
async fn publish_conversation_as_encoders_have_it() {
    let (mut c, mut granted, _) = start(RtmpConfig::default());
    handshake(&mut c).await;
    connect(&mut c, "live/").await;

    // Window Ack Size, Set Peer Bandwidth, Set Chunk Size, then _result.
    let m = c.recv().await;
    assert_eq!(
        (m.msg_type, &m.payload[..]),
        (msg_type::WINDOW_ACK_SIZE, &WINDOW_SIZE.to_be_bytes()[..])
    );
    let m = c.recv().await;
    assert_eq!(m.msg_type, msg_type::SET_PEER_BANDWIDTH);
    assert_eq!(m.payload.len(), 5);
    let m = c.recv().await;
    assert_eq!(
        (m.msg_type, &m.payload[..]),
        (msg_type::SET_CHUNK_SIZE, &OUT_CHUNK_SIZE.to_be_bytes()[..])
    );
    let reply = c.recv_command().await;
    assert_eq!((&reply[0], &reply[1]), (&s("_result"), &n(1.0)));
    assert_eq!(
        status_code(&reply),
        ("status", "NetConnection.Connect.Success")
    );

    c.command(0, &[s("releaseStream"), n(2.0), Amf0Value::Null, s("good")])
        .await;
    c.command(0, &[s("FCPublish"), n(3.0), Amf0Value::Null, s("good")])
        .await;
    c.command(0, &[s("createStream"), n(4.0), Amf0Value::Null])
        .await;
    assert_eq!(c.recv_command().await[..2], [s("_result"), n(2.0)]);
    assert_eq!(c.recv_command().await[..2], [s("_result"), n(3.0)]);
    assert_eq!(
        c.recv_command().await,
        [s("_result"), n(4.0), Amf0Value::Null, n(1.0)]
    );

    c.command(
        1,
        &[
            s("publish"),
            n(5.0),
            Amf0Value::Null,
            s("good?sig=123"),
            s("live"),
        ],
    )
    .await;
    let m = c.recv().await;
    assert_eq!(
        (m.msg_type, &m.payload[..]),
        (msg_type::USER_CONTROL, &[0, 0, 0, 0, 0, 1][..])
    );
    let status = c.recv_command().await;
    assert_eq!(status[0], s("onStatus"));
    assert_eq!(status_code(&status), ("status", "NetStream.Publish.Start"));
    let (req, mut rx) = granted.recv().await.unwrap();
    assert_eq!(req.stream_key.expose_secret(), "good");
    assert_eq!(req.encoder.as_deref(), Some("FMLE/3.0 (compatible; test)"));

    // Metadata, then a video message bigger than the chunk size the client announces.
    let meta = Amf0Value::EcmaArray(vec![
        ("width".into(), n(640.0)),
        ("framerate".into(), n(25.0)),
    ]);
    let data = amf0::encode_all(&[s("@setDataFrame"), s("onMetaData"), meta.clone()]);
    c.send(4, msg_type::DATA_AMF0, 1, 0, &data).await;
    let mut chunk_size = BytesMut::new();
    c.enc.write(
        &mut chunk_size,
        2,
        msg_type::SET_CHUNK_SIZE,
        0,
        0,
        &1000u32.to_be_bytes(),
    );
    c.write(&chunk_size).await;
    c.enc.set_chunk_size(1000);
    let mut video = vec![0x17, 0x01, 0, 0, 0];
    video.resize(3000, 0xEE);
    c.send(6, msg_type::VIDEO, 1, 40, &video).await;

    match rx.recv().await.unwrap() {
        IngestEvent::Metadata(m) => {
            assert_eq!((m.width, m.framerate), (Some(640.0), Some(25.0)))
        }
        other => panic!("expected metadata, got {other:?}"),
    }
    match rx.recv().await.unwrap() {
        IngestEvent::Tag(t) => {
            assert_eq!(t.kind, TagKind::Script);
            assert_eq!(
                amf0::decode_all(&t.data).unwrap(),
                vec![s("onMetaData"), meta]
            );
        }
        other => panic!("expected the script tag, got {other:?}"),
    }
    match rx.recv().await.unwrap() {
        IngestEvent::Tag(t) => {
            assert_eq!(
                (t.kind, t.timestamp_ms, &t.data[..]),
                (TagKind::Video, 40, &video[..])
            );
            assert!(t.is_video_keyframe());
        }
        other => panic!("expected video, got {other:?}"),
    }

    // The client asks for an acknowledgement every 5000 bytes.
    let mut ack_size = BytesMut::new();
    c.enc.write(
        &mut ack_size,
        2,
        msg_type::WINDOW_ACK_SIZE,
        0,
        0,
        &5000u32.to_be_bytes(),
    );
    c.write(&ack_size).await;
    let audio = [0xAFu8, 0x01, 0x21, 0x10];
    let mut ts = 40;
    while c.sent < 3 * 5000 + 3073 {
        ts += 1;
        c.send(4, msg_type::AUDIO, 1, ts, &audio).await;
        assert!(matches!(rx.recv().await, Some(IngestEvent::Tag(t)) if t.kind == TagKind::Audio));
    }

    // deleteStream ends the publish: the sink closes. Acks come before the status reply.
    c.command(0, &[s("FCUnpublish"), n(6.0), Amf0Value::Null, s("good")])
        .await;
    c.command(0, &[s("deleteStream"), n(7.0), Amf0Value::Null, n(1.0)])
        .await;
    assert!(
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .is_none()
    );
    let mut acks = Vec::new();
    let status = loop {
        let m = c.recv().await;
        if m.msg_type == msg_type::ACK {
            acks.push(u64::from(read_u32(&m.payload).unwrap()));
            continue;
        }
        break amf0::decode_all(&m.payload).unwrap();
    };
    assert_eq!(
        status_code(&status),
        ("status", "NetStream.Unpublish.Success")
    );
    // One acknowledgement per 5000 bytes received, each with the byte count so far.
    assert!(acks.len() >= 2, "acks {acks:?}");
    assert!(
        acks.windows(2).all(|w| w[1] - w[0] >= 5000),
        "acks {acks:?}"
    );
    assert!(
        acks.iter().all(|&a| a <= c.sent),
        "acks {acks:?} of {} sent",
        c.sent
    );
}

#[tokio::test]
async fn bad_key_gets_bad_name_then_close_and_counts_as_failure() {
    let (mut c, mut granted, shared) = start(RtmpConfig::default());
    ready_to_publish(&mut c).await;
    c.command(
        1,
        &[
            s("publish"),
            n(3.0),
            Amf0Value::Null,
            s("sk_wrong"),
            s("live"),
        ],
    )
    .await;
    let status = c.recv_command().await;
    assert_eq!(status_code(&status), ("error", "NetStream.Publish.BadName"));
    let description = status[3]
        .get("description")
        .and_then(Amf0Value::as_str)
        .unwrap();
    assert!(!description.contains("sk_wrong"));
    c.expect_closed().await;
    assert!(granted.try_recv().is_err());
    // Four more failures reach the limit of five.
    for _ in 0..4 {
        shared
            .limiter
            .record_failure("192.0.2.10".parse().unwrap(), Instant::now());
    }
    assert!(
        shared
            .limiter
            .is_blocked("192.0.2.10".parse().unwrap(), Instant::now())
    );
}

#[tokio::test]
async fn unknown_app_is_rejected() {
    let (mut c, _granted, _) = start(RtmpConfig::default());
    handshake(&mut c).await;
    connect(&mut c, "admin").await;
    let reply = c.recv_command().await;
    assert_eq!(reply[0], s("_error"));
    assert_eq!(
        status_code(&reply),
        ("error", "NetConnection.Connect.Rejected")
    );
    c.expect_closed().await;
}

#[tokio::test]
async fn commands_before_connect_close_the_connection() {
    let (mut c, _granted, _) = start(RtmpConfig::default());
    handshake(&mut c).await;
    c.command(0, &[s("publish"), n(1.0), Amf0Value::Null, s("good")])
        .await;
    c.expect_closed().await;
}

#[tokio::test(start_paused = true)]
async fn silent_peers_time_out() {
    let cfg = RtmpConfig {
        idle_timeout: Duration::from_secs(30),
        ..RtmpConfig::default()
    };
    // Connected, then silent: the publish timeout (15 s).
    let (mut c, _granted, _) = start(cfg.clone());
    handshake(&mut c).await;
    connect(&mut c, "live").await;
    for _ in 0..4 {
        c.recv().await;
    }
    let before = tokio::time::Instant::now();
    let mut rest = Vec::new();
    c.io.read_to_end(&mut rest).await.unwrap();
    let waited = before.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited < Duration::from_secs(30),
        "{waited:?}"
    );

    // Handshaken but never connecting: the handshake timeout.
    let (mut c, _granted, _) = start(cfg);
    handshake(&mut c).await;
    let before = tokio::time::Instant::now();
    c.io.read_to_end(&mut rest).await.unwrap();
    let waited = before.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(30),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn only_media_keeps_a_publisher_connected() {
    let (mut c, mut granted, _) = start(RtmpConfig::default());
    ready_to_publish(&mut c).await;
    c.command(
        1,
        &[s("publish"), n(3.0), Amf0Value::Null, s("good"), s("live")],
    )
    .await;
    c.recv().await; // StreamBegin
    assert_eq!(
        status_code(&c.recv_command().await),
        ("status", "NetStream.Publish.Start")
    );
    let (_req, mut rx) = granted.recv().await.unwrap();
    // Media keeps it open past the idle timeout...
    for i in 0..8u32 {
        c.send(6, msg_type::VIDEO, 1, i * 8000, &[0x17, 0x01, 0, 0, 0, 1])
            .await;
        tokio::time::sleep(Duration::from_secs(8)).await;
    }
    assert!(rx.recv().await.is_some());
    // ...an acknowledgement every 8 s does not (it used to: 500 such sockets were held).
    let before = tokio::time::Instant::now();
    let closed = async {
        loop {
            let mut ack = BytesMut::new();
            c.enc.write(
                &mut ack,
                2,
                msg_type::ACK,
                0,
                0,
                &(c.sent as u32).to_be_bytes(),
            );
            if c.io.write_all(&ack).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(8)).await;
            let mut b = [0u8; 4096];
            loop {
                match tokio::time::timeout(Duration::from_millis(1), c.io.read(&mut b)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(_)) => continue,
                    Err(_) => break,
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), closed)
        .await
        .expect("still open after two minutes of acknowledgements");
    let waited = before.elapsed();
    assert!(waited <= Duration::from_secs(40), "{waited:?}");
}

#[test]
fn metadata_from_obs_style_array() {
    let meta = Amf0Value::EcmaArray(vec![
        ("width".into(), Amf0Value::Number(1920.0)),
        ("height".into(), Amf0Value::Number(1080.0)),
        ("videodatarate".into(), Amf0Value::Number(6000.0)),
        ("framerate".into(), Amf0Value::Number(60.0)),
        ("audiodatarate".into(), Amf0Value::Number(160.0)),
        (
            "encoder".into(),
            Amf0Value::String("obs-output module (libobs version 30.0.0)".into()),
        ),
    ]);
    assert_eq!(
        stream_metadata(&meta),
        StreamMetadata {
            width: Some(1920.0),
            height: Some(1080.0),
            framerate: Some(60.0),
            video_bitrate_kbps: Some(6000.0),
            audio_bitrate_kbps: Some(160.0),
            encoder: Some("obs-output module (libobs version 30.0.0)".into()),
        }
    );
    assert_eq!(
        stream_metadata(&Amf0Value::EcmaArray(vec![])),
        StreamMetadata::default()
    );
}

#[test]
fn truncation_respects_characters() {
    assert_eq!(truncated("äöü", 2), "äö");
    assert_eq!(truncated("ab", 5), "ab");
}
