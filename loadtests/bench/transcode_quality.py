#!/usr/bin/python3
"""What an x264 setting costs and what it does to the picture, on the transcoder argv streamhall runs.

Usage: transcode_quality.py STREAMHALL_BINARY [SECONDS=20] [PRESET ...]   (presets default: veryfast superfast)

For each preset:
1. Starts streamhall on a temp data dir with `live.ladder.x264_preset = PRESET`, pushes a 720p30
   FLV over RTMP until its transcoder starts, and reads the transcoder's argv from /proc.
2. Runs that argv by hand (unpaced) on three 720p30 H.264/AAC sources of SECONDS, 1 s GOP,
   4.5 Mb/s: `testsrc2` (flat synthetic), `testsrc2` with temporal noise (a camera's sensor noise,
   the hardest case for an encoder) and `mandelbrot` (fine moving detail); takes the ffmpeg's
   CPU-seconds per media-second.
3. Scores every transcoded rendition with ffmpeg's `ssim` filter against the source scaled to the
   same size with lanczos (SSIM in dB: higher is better; +1 dB is roughly 20% fewer bits for the
   same picture).
Loopback only; everything runs under a temp dir that is removed at the end (KEEP=1 keeps it, to
look at the renditions).
"""
import os, re, shutil, subprocess, sys, tempfile, time

from benchlib import children, record, req

BIN = os.path.abspath(sys.argv[1])
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
PRESETS = sys.argv[3:] or ["veryfast", "superfast"]
work = tempfile.mkdtemp(prefix="streamhall-quality-")

SOURCES = {
    "testsrc2": "testsrc2=size=1280x720:rate=30",
    "noisy": "testsrc2=size=1280x720:rate=30,noise=alls=10:allf=t",
    "mandelbrot": "mandelbrot=size=1280x720:rate=30",
}


def ffmpeg(*args, **kw):
    return subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", *args], check=True, **kw)


def transcoder_argv(preset, src):
    """Step 1: the argv streamhall gives its transcoder with this preset."""
    d = os.path.join(work, f"server-{preset}")
    env = dict(os.environ, STREAMHALL_DATA_DIR=d, STREAMHALL_HTTP__LISTEN="127.0.0.1:18710",
               STREAMHALL_RTMP__LISTEN="127.0.0.1:19710", STREAMHALL_SRT__LISTEN="127.0.0.1:0",
               STREAMHALL_LOG__LEVEL="warn", STREAMHALL_LIVE__LADDER__X264_PRESET=preset)
    p = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        pw = next(line.split("password:")[1].strip() for line in p.stdout if "password:" in line)
        base = "http://127.0.0.1:18710/api/v1"
        admin = req(base + "/auth/login", {"login": "admin", "password": pw})["access_token"]
        key = req(base + "/channels", {"slug": "quality", "title": "quality"}, admin)["stream_key"]
        pub = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", src, "-c", "copy",
                                "-f", "flv", "rtmp://127.0.0.1:19710/live/" + key], stdin=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            for k in children(p.pid):
                cmd = open(f"/proc/{k}/cmdline").read().split("\0")[:-1]
                if cmd and "ffmpeg" in cmd[0] and "-filter_complex" in cmd:
                    pub.kill()
                    return cmd, os.path.join(d, "live", "quality")
            time.sleep(0.1)
        raise SystemExit("the transcoder did not start within 20 s")
    finally:
        p.terminate()
        p.wait()


def renditions(argv):
    """(name, width, height) of every transcoded rendition, from the filter graph."""
    graph = argv[argv.index("-filter_complex") + 1]
    sizes = re.findall(r"scale=(\d+):(\d+)", graph)
    names = re.findall(r"hls_segment_filename=([^/]+)/", " ".join(argv)) or \
        [os.path.basename(os.path.dirname(a)) for a in argv if a.endswith("index.m3u8")]
    names = [n for n in names if n != "source"]
    return [(n, int(w), int(h)) for n, (w, h) in zip(names, sizes)]


def ssim_db(encoded, src, w, h):
    out = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", encoded, "-i", src, "-filter_complex",
                          f"[1:v]scale={w}:{h}:flags=lanczos,setsar=1[r];[0:v][r]ssim", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    m = re.search(r"All:[0-9.]+ \(([0-9.]+|inf)\)", out)
    if not m:
        raise SystemExit(f"no SSIM for {encoded}: {out[-500:]}")
    return float(m.group(1))


srcs = {}
for name, graph in SOURCES.items():
    srcs[name] = os.path.join(work, f"{name}.flv")
    ffmpeg("-f", "lavfi", "-i", graph, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "4500k",
           "-maxrate", "4500k", "-bufsize", "4500k", "-c:a", "aac", "-t", str(SECONDS), "-f", "flv", srcs[name])

print(f"{'preset':<10} {'source':<11} {'CPU-s/media-s':>13}  SSIM dB per rendition", flush=True)
for preset in PRESETS:
    argv, live_dir = transcoder_argv(preset, srcs["testsrc2"])
    rends = renditions(argv)
    for sname, src in srcs.items():
        out = os.path.join(work, f"run-{preset}-{sname}")
        run = [a.replace(live_dir, out) for a in argv]
        # Only the MPEG-TS copy: the low-latency copy's socket is absent here (`onfail=ignore`
        # drops it), and nothing else in the argv depends on the server.
        for r in ["source"] + [n for n, _, _ in rends]:
            os.makedirs(os.path.join(out, r), exist_ok=True)
        before = os.times()
        with open(src, "rb") as f:
            subprocess.run(run, cwd=out, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        after = os.times()
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        scores = []
        for n, w, h in rends:
            segs = sorted((s for s in os.listdir(os.path.join(out, n)) if s.endswith(".ts")),
                          key=lambda s: int(re.sub(r"\D", "", s)))
            joined = os.path.join(out, f"{n}.ts")
            with open(joined, "wb") as j:
                for s in segs:
                    j.write(open(os.path.join(out, n, s), "rb").read())
            scores.append((n, ssim_db(joined, src, w, h)))
        record(bench="transcode_quality", preset=preset, source=sname, cpu_per_media_s=cpu / SECONDS,
               ssim_db=dict(scores))
        scores = [f"{n} {db:.2f}" for n, db in scores]
        print(f"{preset:<10} {sname:<11} {cpu / SECONDS:>13.3f}  {', '.join(scores)}", flush=True)
if os.environ.get("KEEP"):
    print("kept", work)
else:
    shutil.rmtree(work, ignore_errors=True)
