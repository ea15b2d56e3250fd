//! The RTMP ingest against real ffmpeg publishers and hand-made hostile clients.
//! Needs `ffmpeg` and `ffprobe` on PATH (the tests fail, not skip, without them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use secrecy::ExposeSecret;
use streamhall_media::flv::{self, FlvTag, IngestSnapshot, IngestStats, StreamMetadata, TagKind};
use streamhall_media::rtmp::{
    self, FailureLimiter, IngestEvent, PublishGrant, PublishHandler, PublishRejected,
    PublishRequest, RtmpConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk_test_0123456789abcdef";
const WAIT: Duration = Duration::from_secs(30);

// ---- the server under test ----

struct Granted {
    rx: mpsc::Receiver<IngestEvent>,
    kick: CancellationToken,
    encoder: Option<String>,
}

struct TestHandler {
    attempts: AtomicUsize,
    keys_seen: Mutex<Vec<String>>,
    granted: mpsc::Sender<Granted>,
}

impl PublishHandler for TestHandler {
    fn publish(
        &self,
        req: PublishRequest,
    ) -> Pin<Box<dyn Future<Output = Result<PublishGrant, PublishRejected>> + Send>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let key = req.stream_key.expose_secret().to_owned();
        self.keys_seen.lock().unwrap().push(key.clone());
        let granted = self.granted.clone();
        Box::pin(async move {
            if key != KEY {
                return Err(PublishRejected::BadKey);
            }
            let (sink, rx) = mpsc::channel(64);
            let kick = CancellationToken::new();
            granted
                .send(Granted {
                    rx,
                    kick: kick.clone(),
                    encoder: req.encoder,
                })
                .await
                .map_err(|_| PublishRejected::Internal)?;
            Ok(PublishGrant { sink, kick })
        })
    }
}

struct TestServer {
    addr: SocketAddr,
    handler: Arc<TestHandler>,
    granted: mpsc::Receiver<Granted>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

async fn spawn_server(cfg: RtmpConfig) -> TestServer {
    spawn_server_limited(cfg, FailureLimiter::default()).await
}

async fn spawn_server_limited(cfg: RtmpConfig, limiter: FailureLimiter) -> TestServer {
    require_tools();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (granted_tx, granted) = mpsc::channel(8);
    let handler = Arc::new(TestHandler {
        attempts: AtomicUsize::new(0),
        keys_seen: Mutex::new(Vec::new()),
        granted: granted_tx,
    });
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(rtmp::serve(
        listener,
        cfg,
        handler.clone(),
        Arc::new(limiter),
        shutdown.clone(),
    ));
    TestServer {
        addr,
        handler,
        granted,
        shutdown,
        task,
    }
}

impl TestServer {
    fn url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.addr)
    }

    async fn next_grant(&mut self) -> Granted {
        timeout(WAIT, self.granted.recv())
            .await
            .expect("no publish granted in time")
            .unwrap()
    }
}

// ---- ffmpeg ----

fn require_tools() {
    for tool in ["ffmpeg", "ffprobe"] {
        let ok = std::process::Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "`{tool}` is not on PATH: the RTMP integration tests need it (apt-get install ffmpeg)"
        );
    }
}

/// The publish command of the brief: 720p30 test pattern, 440 Hz sine, x264 with 1 s GOP, AAC.
fn ffmpeg_publish(url: &str, seconds: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", "30", "-c:a", "aac", "-b:a", "128k"])
        .args(["-t", &seconds.to_string(), "-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("failed to start ffmpeg")
}

async fn wait_exit(child: &mut Child) -> ExitStatus {
    timeout(WAIT, child.wait())
        .await
        .expect("ffmpeg did not exit in time")
        .unwrap()
}

async fn stderr_of(child: &mut Child) -> String {
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = timeout(Duration::from_secs(5), pipe.read_to_string(&mut err)).await;
    }
    err
}

// ---- collecting what a publish delivers ----

#[derive(Default)]
struct Collected {
    tags: Vec<FlvTag>,
    metadata: Vec<StreamMetadata>,
    stats: IngestStats,
    last_arrival: Option<Instant>,
}

/// Drains a grant's channel until the sink is dropped; `progress` counts tags as they come.
fn collect(
    mut rx: mpsc::Receiver<IngestEvent>,
    progress: Arc<AtomicUsize>,
) -> JoinHandle<Collected> {
    tokio::spawn(async move {
        let mut c = Collected::default();
        while let Some(event) = rx.recv().await {
            let now = Instant::now();
            match event {
                IngestEvent::Metadata(m) => c.metadata.push(m),
                IngestEvent::Tag(tag) => {
                    c.stats.observe(&tag, now);
                    c.tags.push(tag);
                    c.last_arrival = Some(now);
                    progress.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        c
    })
}

impl Collected {
    fn snapshot(&self) -> IngestSnapshot {
        self.stats
            .snapshot(self.last_arrival.expect("no tags arrived"))
    }
}

async fn wait_for_progress(progress: &AtomicUsize, at_least: usize) {
    timeout(WAIT, async {
        while progress.load(Ordering::SeqCst) < at_least {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("fewer than {at_least} tags arrived in time"));
}

fn assert_healthy_720p30(snap: &IngestSnapshot) {
    let video = snap.video.as_ref().expect("no video codec info");
    assert!(
        video.codec.starts_with("avc1."),
        "video codec {}",
        video.codec
    );
    assert_eq!((video.width, video.height), (1280, 720));
    let audio = snap.audio.as_ref().expect("no audio codec info");
    assert_eq!(
        (audio.codec.as_str(), audio.sample_rate),
        ("mp4a.40.2", 48000)
    );
    assert!((24.0..=36.0).contains(&snap.fps), "fps {}", snap.fps);
    let gop = snap.keyframe_interval_s.expect("no keyframe interval");
    assert!((0.9..=1.1).contains(&gop), "keyframe interval {gop}");
    assert!(snap.bitrate_kbps > 100.0, "bitrate {}", snap.bitrate_kbps);
}

// ---- raw clients ----

async fn raw_handshake(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0x5A, 1536));
    s.write_all(&c0c1).await.unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 2 * 1536];
    timeout(WAIT, s.read_exact(&mut s0s1s2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s0s1s2[0], 3);
    s.write_all(&s0s1s2[1..1 + 1536]).await.unwrap();
    s
}

/// Handshake plus `connect` to app `live`, and the first bytes of the server's answer.
async fn raw_connected(addr: SocketAddr) -> TcpStream {
    let mut s = raw_handshake(addr).await;
    let mut payload = Vec::new();
    payload.extend_from_slice(&[0x02, 0x00, 0x07]);
    payload.extend_from_slice(b"connect");
    payload.push(0x00);
    payload.extend_from_slice(&1.0f64.to_be_bytes());
    payload.extend_from_slice(&[0x03, 0x00, 0x03]);
    payload.extend_from_slice(b"app");
    payload.extend_from_slice(&[0x02, 0x00, 0x04]);
    payload.extend_from_slice(b"live");
    payload.extend_from_slice(&[0x00, 0x00, 0x09]);
    let mut chunk = vec![0x03, 0, 0, 0, 0, 0, payload.len() as u8, 20, 0, 0, 0, 0];
    chunk.extend_from_slice(&payload);
    s.write_all(&chunk).await.unwrap();
    let mut reply = [0u8; 512];
    let n = timeout(WAIT, s.read(&mut reply)).await.unwrap().unwrap();
    assert!(n > 0, "server closed instead of answering connect");
    s
}

/// Reads (and discards) until the server closes the connection; returns how long that took
/// and how many bytes came before the close.
async fn expect_closed(s: &mut TcpStream, within: Duration) -> (Duration, usize) {
    let start = Instant::now();
    let mut total = 0;
    let mut buf = [0u8; 4096];
    let closed = timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "server kept the connection open for {within:?}"
    );
    (start.elapsed(), total)
}

fn pseudo_random(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publish_delivers_a_healthy_stream_that_ffprobe_reads() {
    let mut server = spawn_server(RtmpConfig::default()).await;
    // Encoders may append a query to the key; the handler sees the bare key.
    let mut ffmpeg = ffmpeg_publish(&server.url(&format!("{KEY}?token=abc")), 4);
    let granted = server.next_grant().await;
    assert!(
        granted
            .encoder
            .as_deref()
            .is_some_and(|e| e.starts_with("FMLE/")),
        "{:?}",
        granted.encoder
    );
    let collector = collect(granted.rx, Arc::default());

    let status = wait_exit(&mut ffmpeg).await;
    assert!(
        status.success(),
        "ffmpeg failed: {}",
        stderr_of(&mut ffmpeg).await
    );
    // The sink closes when the publisher is done.
    let collected = timeout(WAIT, collector)
        .await
        .expect("sink did not close after ffmpeg ended")
        .unwrap();
    assert_eq!(server.handler.keys_seen.lock().unwrap().as_slice(), [KEY]);

    assert!(!collected.metadata.is_empty(), "no onMetaData");
    assert_eq!(collected.metadata[0].width, Some(1280.0));
    let snap = collected.snapshot();
    assert_healthy_720p30(&snap);
    assert!(
        (100..=125).contains(&snap.video_frames),
        "video frames {}",
        snap.video_frames
    );
    assert!(
        snap.audio_frames > 150,
        "audio frames {}",
        snap.audio_frames
    );
    assert!(collected.tags.iter().any(FlvTag::is_sequence_header));
    assert!(
        collected
            .tags
            .iter()
            .filter(|t| t.is_video_keyframe())
            .count()
            >= 4
    );

    // file_header + the tags as delivered is an FLV file ffprobe understands.
    let mut file = BytesMut::from(&flv::file_header(true, true)[..]);
    for tag in &collected.tags {
        tag.encode(&mut file);
    }
    assert!(collected.tags.iter().any(|t| t.kind == TagKind::Script));
    let path =
        std::env::temp_dir().join(format!("streamhall-rtmp-test-{}.flv", std::process::id()));
    std::fs::write(&path, &file).unwrap();
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams"])
        .arg(&path)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let out = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    assert!(
        probe.stderr.is_empty(),
        "ffprobe complained: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    for line in [
        "codec_name=h264",
        "width=1280",
        "height=720",
        "codec_name=aac",
        "sample_rate=48000",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "ffprobe output lacks {line}:\n{out}"
        );
    }

    // serve returns once shut down.
    server.shutdown.cancel();
    timeout(WAIT, server.task)
        .await
        .expect("serve did not return after shutdown")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_makes_ffmpeg_fail_and_nothing_is_granted() {
    let mut server = spawn_server(RtmpConfig::default()).await;
    let mut ffmpeg = ffmpeg_publish(&server.url("sk_wrong"), 4);
    let status = wait_exit(&mut ffmpeg).await;
    assert!(!status.success(), "ffmpeg succeeded with a wrong key");
    assert_eq!(server.handler.attempts.load(Ordering::SeqCst), 1);
    assert!(
        server.granted.try_recv().is_err(),
        "a sink was handed out for a wrong key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_closes_the_publishers_connection() {
    let mut server = spawn_server(RtmpConfig::default()).await;
    let mut ffmpeg = ffmpeg_publish(&server.url(KEY), 60);
    let granted = server.next_grant().await;
    let progress = Arc::new(AtomicUsize::new(0));
    let collector = collect(granted.rx, progress.clone());
    wait_for_progress(&progress, 30).await;

    granted.kick.cancel();
    let collected = timeout(WAIT, collector)
        .await
        .expect("sink did not close after kick")
        .unwrap();
    let status = wait_exit(&mut ffmpeg).await;
    assert!(!status.success(), "ffmpeg exited cleanly although kicked");
    assert!(collected.tags.len() < 60 * 80, "ffmpeg kept publishing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_clients_are_closed_while_a_publisher_keeps_going() {
    let cfg = RtmpConfig {
        handshake_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
        max_chunk_size: 64 * 1024,
        max_message_len: 4 * 1024 * 1024,
        ..RtmpConfig::default()
    };
    let mut server = spawn_server(cfg).await;
    let addr = server.addr;
    let mut ffmpeg = ffmpeg_publish(&server.url(KEY), 7);
    let granted = server.next_grant().await;
    let progress = Arc::new(AtomicUsize::new(0));
    let collector = collect(granted.rx, progress.clone());
    wait_for_progress(&progress, 10).await;

    let quick = Duration::from_secs(5);
    let hostile = [
        // Random bytes instead of a handshake.
        tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let _ = s.write_all(&pseudo_random(4096, 1)).await;
            expect_closed(&mut s, quick).await;
        }),
        // Random bytes after a valid handshake.
        tokio::spawn(async move {
            let mut s = raw_handshake(addr).await;
            let _ = s.write_all(&pseudo_random(64 * 1024, 2)).await;
            expect_closed(&mut s, quick).await;
        }),
        // Random bytes after connect, chunk by chunk on the command stream.
        tokio::spawn(async move {
            let mut s = raw_connected(addr).await;
            let mut junk = vec![0x03, 0, 0, 0, 0, 0, 100, 20, 0, 0, 0, 0];
            junk.extend(pseudo_random(100, 3));
            let _ = s.write_all(&junk).await;
            expect_closed(&mut s, quick).await;
        }),
        // C0 and half of C1, then silence: closed by the handshake timeout, not at once.
        tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut partial = vec![3u8];
            partial.extend(std::iter::repeat_n(0u8, 768));
            s.write_all(&partial).await.unwrap();
            let (took, got) = expect_closed(&mut s, quick).await;
            assert!(
                took >= Duration::from_millis(1500),
                "closed after {took:?}, before the timeout"
            );
            assert_eq!(got, 0, "server answered a truncated handshake");
        }),
        // SetChunkSize above the cap (idle timeout is 30 s, so only the cap can close it).
        tokio::spawn(async move {
            let mut s = raw_connected(addr).await;
            let too_big = (1u32 << 20).to_be_bytes();
            let mut msg = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
            msg.extend_from_slice(&too_big);
            s.write_all(&msg).await.unwrap();
            expect_closed(&mut s, quick).await;
        }),
        // A message header announcing 16 MiB.
        tokio::spawn(async move {
            let mut s = raw_connected(addr).await;
            s.write_all(&[0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0])
                .await
                .unwrap();
            expect_closed(&mut s, quick).await;
        }),
    ];
    // The control: an allowed SetChunkSize keeps the connection open.
    let mut fine = raw_connected(addr).await;
    let mut msg = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
    msg.extend_from_slice(&4096u32.to_be_bytes());
    fine.write_all(&msg).await.unwrap();
    let mut buf = [0u8; 64];
    let open = timeout(Duration::from_secs(1), fine.read(&mut buf)).await;
    assert!(
        open.is_err(),
        "an allowed SetChunkSize closed the connection: {open:?}"
    );

    for h in hostile {
        h.await.unwrap();
    }

    // The publisher never noticed.
    let before = progress.load(Ordering::SeqCst);
    wait_for_progress(&progress, before + 30).await;
    let status = wait_exit(&mut ffmpeg).await;
    assert!(
        status.success(),
        "publisher failed: {}",
        stderr_of(&mut ffmpeg).await
    );
    let collected = timeout(WAIT, collector)
        .await
        .expect("sink did not close")
        .unwrap();
    let snap = collected.snapshot();
    assert_healthy_720p30(&snap);
    assert!(
        (190..=215).contains(&snap.video_frames),
        "video frames {}",
        snap.video_frames
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_bad_keys_from_one_address_are_refused_for_the_window() {
    let limiter = FailureLimiter::new(2, Duration::from_secs(300), 16);
    let mut server = spawn_server_limited(RtmpConfig::default(), limiter).await;
    for _ in 0..2 {
        let mut ffmpeg = ffmpeg_publish(&server.url("sk_guess"), 4);
        assert!(!wait_exit(&mut ffmpeg).await.success());
    }
    assert_eq!(server.handler.attempts.load(Ordering::SeqCst), 2);

    // Now even the handshake is refused: closed right away, nothing sent.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let _ = s.write_all(&[3u8; 1537]).await;
    let (took, got) = expect_closed(&mut s, Duration::from_secs(5)).await;
    assert_eq!(got, 0);
    assert!(took < Duration::from_secs(1), "closed after {took:?}");

    // The right key from the same address is refused too, without reaching the handler.
    let mut ffmpeg = ffmpeg_publish(&server.url(KEY), 4);
    assert!(!wait_exit(&mut ffmpeg).await.success());
    assert_eq!(server.handler.attempts.load(Ordering::SeqCst), 2);
    assert!(server.granted.try_recv().is_err());
}
