#!/usr/bin/python3
"""Publish-to-first-segment for each way in: RTMP and SRT pushed by ffmpeg, RTSP pulled from a
GStreamer camera (tests/fixtures/rtsp_camera.py), all into one streamhall node in one run.

Usage: ingest_latency.py STREAMHALL_BINARY [ROUNDS=3]

For each round and protocol, on a fresh channel: the clock starts when the encoder starts (RTMP,
SRT) or when the pull is switched on (RTSP, with the camera already running), and stops when the
`source` playlist lists its first segment, polled every 20 ms. Same source for all three:
320x240 30 fps H.264 (a keyframe a second) + AAC. Prints each figure and the median per protocol.
Loopback only; everything runs under a temp dir that is removed at the end.
"""
import os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.error, urllib.request

from benchlib import req

BIN = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
HERE = os.path.dirname(os.path.abspath(__file__))
CAMERA = os.path.join(HERE, "..", "..", "tests", "fixtures", "rtsp_camera.py")
work = tempfile.mkdtemp(prefix="streamhall-ingest-")


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def first_segment(base, slug, since, deadline=30):
    url = f"{base}/hls/{slug}/source/index.m3u8"
    while time.monotonic() - since < deadline:
        try:
            if ".ts" in urllib.request.urlopen(url, timeout=2).read().decode():
                return time.monotonic() - since
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.02)
    raise SystemExit(f"{slug}: no segment within {deadline} s")


def encoder(url, fmt):
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
         "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-c:a", "aac", "-t", "60", "-f", fmt, url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    http, rtmp, srt = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
    env = dict(os.environ, STREAMHALL_DATA_DIR=os.path.join(work, "data"),
               STREAMHALL_HTTP__LISTEN=f"127.0.0.1:{http}", STREAMHALL_RTMP__LISTEN=f"127.0.0.1:{rtmp}",
               STREAMHALL_SRT__LISTEN=f"127.0.0.1:{srt}", STREAMHALL_INGEST__ALLOW_PRIVATE='["127.0.0.1"]',
               STREAMHALL_LOG__LEVEL="warn")
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    camera = subprocess.Popen(["/usr/bin/python3", CAMERA], stdout=subprocess.PIPE, text=True)
    try:
        cam_port = int(camera.stdout.readline())
        base = f"http://127.0.0.1:{http}"
        api = base + "/api/v1"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        token = req(api + "/auth/register", {"username": "bench", "email": "bench@example.com",
                                             "password": "bench password 1"})["access_token"]
        results = {"rtmp": [], "srt": [], "rtsp": []}
        for r in range(ROUNDS):
            for proto in results:
                slug = f"{proto}-{r}"
                key = req(api + "/channels", {"slug": slug, "title": slug}, token)["stream_key"]
                if proto == "rtsp":
                    since = time.monotonic()
                    req(f"{api}/channels/{slug}/ingest", {"source": "pull", "pull_always_on": True,
                        "pull_url": f"rtsp://127.0.0.1:{cam_port}/cam"}, token, method="PUT")
                    took = first_segment(base, slug, since)
                    req(f"{api}/channels/{slug}/ingest", {"source": "push"}, token, method="PUT")
                else:
                    url = (f"rtmp://127.0.0.1:{rtmp}/live/{key}" if proto == "rtmp"
                           else f"srt://127.0.0.1:{srt}?streamid=#!::r=live/{key},m=publish")
                    since = time.monotonic()
                    enc = encoder(url, "flv" if proto == "rtmp" else "mpegts")
                    took = first_segment(base, slug, since)
                    enc.kill()
                    enc.wait()
                results[proto].append(took)
                print(f"round {r + 1} {proto}: first segment after {took:.2f} s", flush=True)
        for proto, xs in results.items():
            print(f"{proto}: median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})")
    finally:
        for p in (camera, server):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
