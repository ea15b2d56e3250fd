#!/usr/bin/python3
"""Transcode cost of a streamhall node, measured against the same ffmpeg argv run by hand.

Usage: transcode_cost.py STREAMHALL_BINARY [SECONDS=30] [MAX_PUBLISHERS=4]

1. Makes a 720p30 H.264/AAC FLV (1 s GOP) of SECONDS.
2. Starts streamhall on a temp data dir, pushes the file in real time (`-re -c copy`) and samples
   CPU of the streamhall process and of its transcoder child from /proc; records the child's argv.
3. Runs that argv by hand, fed the same FLV in real time, and takes its CPU.
4. Pushes 1..MAX_PUBLISHERS copies at once and reports whether every transcoder kept real time
   (ffmpeg's speed over its last 5 s, from the admin health API), for: three encodes (720p,
   480p, 360p: the work of the former default, which re-encoded a 720p source at 720p), the
   default ladder pinned (source copied + 480p + 360p for a 720p source), the default ladder
   with adaptive step-down (what renditions it keeps).
   CONCURRENCY_ONLY=1 skips steps 2 and 3; MODE=adaptive FROM=4 runs only the modes whose name
   contains MODE, from FROM publishers.
LOW_LATENCY_COST=1 runs step 2 only, twice: with low-latency HLS (the default: every rendition
muxed to MPEG-TS and to fMP4 parts) and with `live.ladder.low_latency = false` (MPEG-TS only),
and prints what the fMP4 copy costs the transcoder and the server.
Loopback only; everything runs under a temp dir that is removed at the end.
"""
import os, shutil, subprocess, sys, tempfile, time

from benchlib import children, record, req

BIN = os.path.abspath(sys.argv[1])
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
MAX_PUB = int(sys.argv[3]) if len(sys.argv) > 3 else 4
TICK = os.sysconf("SC_CLK_TCK")
work = tempfile.mkdtemp(prefix="streamhall-transcode-")


def cpu(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TICK
    except OSError:
        return None


src = os.path.join(work, "src.flv")
subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:v", "libx264", "-preset", "veryfast",
                "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "4500k", "-c:a", "aac", "-t", str(SECONDS), "-f", "flv", src],
               check=True)


def server(tag, extra_env):
    d = os.path.join(work, tag)
    env = dict(os.environ, STREAMHALL_DATA_DIR=d, STREAMHALL_HTTP__LISTEN="127.0.0.1:18700",
               STREAMHALL_RTMP__LISTEN="127.0.0.1:19700", STREAMHALL_SRT__LISTEN="127.0.0.1:0", STREAMHALL_LOG__LEVEL="warn", **extra_env)
    p = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    admin_pw = None
    for line in p.stdout:
        if "password:" in line:
            admin_pw = line.split("password:")[1].strip()
            break
    base = "http://127.0.0.1:18700/api/v1"
    admin = req(base + "/auth/login", {"login": "admin", "password": admin_pw})["access_token"]
    return p, base, admin


def push(key):
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", src, "-c", "copy", "-f", "flv",
                             "rtmp://127.0.0.1:19700/live/" + key], stdin=subprocess.DEVNULL)


def one_stream(tag, extra_env):
    """Step 2: one stream through streamhall; (transcoder CPU-s, server CPU-s, transcoder argv)."""
    p, base, admin = server(tag, extra_env)
    key = req(base + "/channels", {"slug": "cost", "title": "cost"}, admin)["stream_key"]
    server_cpu0 = cpu(p.pid)
    pub = push(key)
    child, argv, child_cpu, last = None, None, 0.0, time.time()
    while pub.poll() is None:
        kids = [k for k in children(p.pid) if "ffmpeg" in open(f"/proc/{k}/cmdline").read()]
        if kids:
            child = kids[0]
            argv = open(f"/proc/{child}/cmdline").read().split("\0")[:-1]
            c = cpu(child)
            child_cpu = c if c is not None else child_cpu
        time.sleep(0.2)
    server_cpu = cpu(p.pid) - server_cpu0  # the server itself, without its children's CPU
    p.terminate(); p.wait()
    print(f"streamhall ({tag}): transcoder child {child_cpu:.2f} CPU-s for {SECONDS} media-s = {child_cpu / SECONDS:.3f} CPU-s/s; "
          f"the server process itself {server_cpu:.2f} CPU-s")
    return child_cpu, server_cpu, argv


def cost():
    """Steps 2 and 3."""
    global argv
    child_cpu, server_cpu, argv = one_stream("one", {})

    # 3. the same argv by hand
    out = os.path.join(work, "by-hand")
    old_out = os.path.join(work, "one", "live", "cost")
    argv = [a.replace(old_out, out) for a in argv]
    for a in argv:  # every rendition directory the argv writes into
        if a.startswith(out) and a.endswith(".m3u8"):
            os.makedirs(os.path.dirname(a), exist_ok=True)
    feeder = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", src, "-c", "copy", "-f", "flv", "pipe:1"],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    before = os.times()
    bare = subprocess.Popen(argv, cwd=out, stdin=feeder.stdout, stdout=subprocess.DEVNULL)
    feeder.stdout.close()
    bare.wait(); feeder.wait()
    after = os.times()
    bare_cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    # children times include the feeder (a copy, cheap); measure it alone to subtract
    t0 = os.times()
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", src, "-c", "copy", "-f", "flv", "-y", os.devnull], check=True)
    t1 = os.times()
    feeder_cpu = (t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)
    bare_cpu -= feeder_cpu
    print(f"by hand: same argv {bare_cpu:.2f} CPU-s = {bare_cpu / SECONDS:.3f} CPU-s/s")
    total = child_cpu + server_cpu
    print(f"overhead of streamhall (server + transcoder) over bare ffmpeg: {100 * (total / bare_cpu - 1):+.1f}%")

if os.environ.get("LOW_LATENCY_COST"):
    ll_child, ll_server, _ = one_stream("low-latency", {})
    ts_child, ts_server, _ = one_stream("mpegts-only", {"STREAMHALL_LIVE__LADDER__LOW_LATENCY": "false"})
    print(f"low-latency HLS costs the transcoder {100 * (ll_child / ts_child - 1):+.1f}% "
          f"({(ll_child - ts_child) / SECONDS:+.3f} CPU-s/s) and the server {ll_server - ts_server:+.2f} CPU-s "
          f"({(ll_server - ts_server) / SECONDS:+.3f} CPU-s/s)")
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0)

if not os.environ.get("CONCURRENCY_ONLY"):
    cost()

# 4. concurrency
PIN = {"STREAMHALL_LIVE__LADDER__ADAPTIVE": "false"}
MODES = [
    ("three encodes (former default)", dict(PIN, STREAMHALL_LIVE__LADDER__PASSTHROUGH="false")),
    ("default ladder, pinned", PIN),
    ("default ladder, adaptive", {}),
]
# MODE=adaptive FROM=4: only the modes whose label contains MODE, from FROM publishers up.
for label, env in [m for m in MODES if os.environ.get("MODE", "") in m[0]]:
    for n in range(int(os.environ.get("FROM", "1")), MAX_PUB + 1):
        p, base, admin = server(f"{label}-{n}", env)
        keys = [req(base + "/channels", {"slug": f"chan-{i}", "title": "x"}, admin)["stream_key"] for i in range(n)]
        pubs = [push(k) for k in keys]
        speeds, kept = [], set()
        t_end = time.time() + SECONDS
        # The adaptive ladder takes 15 s below real time per step: judge the last third only.
        time.sleep(SECONDS * 2 / 3)
        while time.time() < t_end - 2:
            h = req(base + "/admin/health", token=admin)
            # A stream with no speed yet (ffmpeg just restarted, e.g. after a step down) is
            # counted as not real time: None -> 0.
            speeds += [s.get("ffmpeg_speed") or 0 for s in h["streams"]]
            for st in h["streams"]:
                kept.add("+".join(r["name"] for r in st["renditions"] if r["state"] != "dropped"))
            time.sleep(1)
        for x in pubs:
            x.kill()
        p.terminate(); p.wait()
        lo = min(speeds) if speeds else 0
        med = sorted(speeds)[len(speeds) // 2] if speeds else 0
        record(bench="transcode_concurrency", mode=label, publishers=n, speed_min=lo, speed_median=med,
               renditions=sorted(kept))
        print(f"{label}: {n} publisher(s): ffmpeg speed min {lo:.2f} median {med:.2f}, renditions "
              f"{' / '.join(sorted(kept))} -> {'real time' if lo >= 0.97 else 'NOT real time'}", flush=True)
        if lo < 0.97:
            break
shutil.rmtree(work, ignore_errors=True)
