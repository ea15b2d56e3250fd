#!/usr/bin/python3
"""`./dev bench`: every comparison of docs/PERFORMANCE.md's table, streamhall and its peer back to
back in one run, and the table with the goals.

Usage: table.py [--smoke] [--out DIR] [STAGE ...]
  stages (default: all but build): idle fanout hls transcode quality api memory build
  --smoke   tiny parameters and no peers (`./dev test` runs this so the scripts cannot rot; its
            figures mean nothing)
  --out     where each stage's log and results go (default: a new /tmp/streamhall-bench.*)
Environment: LOAD_BIN_DIR=DIR uses the streamhall and streamhall-load binaries there (otherwise
the release profile is built first); STREAMHALL_PEERS as for loadtests/compare.

Each stage runs one script of loadtests/ (its command is printed, and its output goes to
OUT/STAGE.log), reads the JSON lines the script wrote, and adds rows: scenario, streamhall,
peer, ratio, goal, met. A stage whose script fails, or that yields no figure, is a failed row and
makes the exit status 1. The table is printed and written to OUT/table.md.
"""
import argparse, json, os, shlex, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPARE = os.path.join(ROOT, "loadtests", "compare")
BENCH = os.path.join(ROOT, "loadtests", "bench")
STAGES = ["idle", "fanout", "hls", "transcode", "quality", "api", "memory", "build"]
DEFAULT = STAGES[:-1]

# Full-size and smoke-size parameters per stage.
FULL = {
    "idle": ["19000"],
    "fanout": ["1000:1,10,11,12,13,15,20,50,100,110,120,130,150 10000:1", "10", "10"],
    "hls": ["10", "100 1000", "1 2"],
    "transcode": ["60", "4"],
    "quality": ["20", "veryfast"],
    "api": ["10", "sqlite postgres"],
    "memory": ["1000", "1 10", "40"],
}
SMOKE = {
    "idle": ["100"],
    "fanout": ["100:1", "2", "2"],
    "hls": ["1", "10", "1"],
    "transcode": ["10", "1"],
    "quality": ["2", "veryfast"],
    "api": ["1", "sqlite"],
    "memory": ["50", "1", "8"],
}


class Failed(Exception):
    pass


def lines(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except FileNotFoundError:
        return []


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def span(values, show):
    """`show(lo)-show(hi)`, or one figure when they are the same."""
    lo, hi = min(values), max(values)
    return show(lo) if lo == hi else f"{show(lo)}-{show(hi)}"


def num(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


class Bench:
    def __init__(self, args):
        self.smoke = args.smoke
        self.out = args.out or tempfile.mkdtemp(prefix="streamhall-bench.")
        os.makedirs(self.out, exist_ok=True)
        self.params = SMOKE if self.smoke else FULL
        self.bins = os.environ.get("LOAD_BIN_DIR") or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
        self.bins = os.path.abspath(self.bins)
        self.rows, self.failed = [], []

    def run(self, stage, argv, env=None):
        """Runs one script with OUT=OUT/STAGE; its output goes to OUT/STAGE.log."""
        d = os.path.join(self.out, stage)
        os.makedirs(d, exist_ok=True)
        e = dict(os.environ, OUT=d, LOAD_BIN_DIR=self.bins, BENCH_JSONL=os.path.join(d, "results.jsonl"), **(env or {}))
        if self.smoke:
            e["NO_PEER"] = "1"
        shown = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        cmd = (shown + " " if shown else "") + " ".join(shlex.quote(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a) for a in argv)
        print(f"==> [{stage}] {cmd}", file=sys.stderr, flush=True)
        t0 = time.time()
        with open(os.path.join(self.out, f"{stage}.log"), "w") as log:
            rc = subprocess.run(argv, cwd=ROOT, env=e, stdout=log, stderr=subprocess.STDOUT).returncode
        print(f"    {time.time() - t0:.0f} s, exit {rc}, log {self.out}/{stage}.log", file=sys.stderr, flush=True)
        if rc != 0:
            raise Failed(f"`{cmd}` exited with {rc}")
        return d, cmd

    def row(self, scenario, ours, peer, r, goal, met):
        self.rows.append((scenario, ours, peer, r, goal, "n/a (smoke)" if self.smoke and met not in ("", "-") else met))

    # Each stage: run the script, read its results, add rows.

    def idle(self):
        n = self.params["idle"][0]
        d, cmd = self.run("idle", [os.path.join(COMPARE, "chat.sh"), "0", "1", "1", "1", n],
                          {"IDLE_RAMP": "2s"} if self.smoke else None)
        ours = json.load(open(os.path.join(d, "idle-streamhall.json")))
        kib = ours["figures"].get("server_kib_per_conn")
        connected = ours["counters"].get("readers_connected", 0)
        if kib is None or connected < int(n):
            raise Failed(f"{connected} of {n} idle connections opened")
        peer = None if self.smoke else json.load(open(os.path.join(d, "idle-peer.json")))["figures"].get("server_kib_per_conn")
        self.row(f"idle chat connections, server RSS per connection at {int(n):,} (`{cmd}`)", f"{kib:.2f} KiB",
                 f"{peer:.2f} KiB (Node `ws`)" if peer else "-", ratio(peer, kib), "at or below the peer's",
                 "yes" if peer and kib <= peer else "no")

    def fanout(self):
        d, cmd = self.run("fanout", [os.path.join(COMPARE, "chat_fanout.sh")] + self.params["fanout"])
        runs = lines(os.path.join(d, "fanout.jsonl"))
        ours = [r for r in runs if r["server"] == "streamhall"]
        if not ours:
            raise Failed("no fan-out run reported")
        peer = [r for r in runs if r["server"] == "peer"]
        top = max(r["subs"] for r in ours)
        low = min(r["subs"] for r in ours)

        def best(rs, subs):
            ok = [r for r in rs if r["subs"] == subs and r["ok"]]
            return max(ok, key=lambda r: r["delivered_per_sec"]) if ok else None

        a, b = best(ours, low), best(peer, low)
        fig = lambda r: f"{num(r['delivered_per_sec'])}/s, p99 {r['p99_ms']:.1f} ms" if r else "none within p99 ≤ 100 ms"
        x = a["delivered_per_sec"] / b["delivered_per_sec"] if a and b else None
        self.row(f"chat fan-out: highest deliveries/s with p99 ≤ 100 ms and nothing lost, {low:,} readers (`{cmd}`)",
                 fig(a), (fig(b) + (" (Node `ws`)" if b else "")) if peer else "-", f"{x:.2f}x" if x else "-", "≥ 10x", "yes" if x and x >= 10 else "no")
        if top != low:
            t = [r for r in ours if r["subs"] == top]
            tp = [r for r in peer if r["subs"] == top]
            show = lambda r: f"p99 {r['p99_ms']:.1f} ms, lost {r['lost']:,}"
            self.row(f"chat, {top:,} readers x {t[0]['rate'] * (t[0]['senders'] or 1):g} msg/s: delivery p99", show(t[0]),
                     show(tp[0]) if tp else "-", ratio(tp[0]["p99_ms"], t[0]["p99_ms"]) + " lower" if tp else "-",
                     "≤ 100 ms, nothing lost", "yes" if t[0]["p99_ms"] <= 100 and t[0]["lost"] == 0 else "no")
        # CPU per million deliveries in the steady state, at every rate both ran.
        pairs = [(r, p) for r in ours for p in peer if (r["subs"], r["rate"]) == (p["subs"], p["rate"])
                 and r["steady_cpu_s_per_m"] and p["steady_cpu_s_per_m"]]
        if pairs or self.smoke:
            worst = max(pairs, key=lambda rp: rp[0]["steady_cpu_s_per_m"] / rp[1]["steady_cpu_s_per_m"]) if pairs else None
            ours_range = [r["steady_cpu_s_per_m"] for r in ours if r["steady_cpu_s_per_m"]]
            two = lambda v: f"{v:.2f}"
            self.row("chat: server CPU-s per million deliveries, steady state, every rate of the sweep",
                     span(ours_range, two) if ours_range else "-",
                     span([p["steady_cpu_s_per_m"] for _, p in pairs], two) if pairs else "-",
                     f"worst {worst[1]['steady_cpu_s_per_m'] / worst[0]['steady_cpu_s_per_m']:.2f}x ({worst[0]['subs']:,} readers, "
                     f"{num(worst[0]['delivered_per_sec'])}/s)" if worst else "-",
                     "below the peer's at every rate", "yes" if pairs and all(r["steady_cpu_s_per_m"] < p["steady_cpu_s_per_m"] for r, p in pairs) else "no")

    def hls(self):
        d, cmd = self.run("hls", [os.path.join(COMPARE, "hls_sizes.sh")] + self.params["hls"])
        rows = lines(os.path.join(d, "hls_sizes.jsonl"))
        if not rows:
            raise Failed("no HLS case reported")
        for what in dict.fromkeys(r["what"] for r in rows):
            rs = [r for r in rows if r["what"] == what]
            ours = [r["streamhall"] for r in rs]
            unit = rs[0]["unit"]
            show = (lambda v: f"{v:,.0f} req/s") if unit == "req/s" else (lambda v: f"{v / 1e9:.2f} GB/s")
            rat = [r["streamhall"] / r["nginx"] for r in rs if r["nginx"]]
            self.row(f"HLS {what}, wrk -t1, {len(rs)} case(s) of workers x connections (`{cmd}`)",
                     span(ours, show),
                     span([r["nginx"] for r in rs if r["nginx"]], show) + " (nginx)" if rat else "-",
                     span(rat, lambda v: f"{v:.2f}x") if rat else "-", "≥ 1.0x in every case",
                     "yes" if rat and min(rat) >= 1.0 else ("partly" if rat and max(rat) >= 1.0 else "no"))

    def transcode(self):
        secs, n = self.params["transcode"]
        d, cmd = self.run("transcode", [sys.executable, os.path.join(BENCH, "transcode_cost.py"), os.path.join(self.bins, "streamhall"), secs, n],
                          {"CONCURRENCY_ONLY": "1", "MODE": "pinned", "FROM": n})
        rs = [r for r in lines(os.path.join(d, "results.jsonl")) if r["bench"] == "transcode_concurrency"]
        if not rs:
            raise Failed("no transcoder speed reported")
        r = rs[-1]
        self.row(f"{n} 720p30 channel(s) transcoded at once, default ladder ({' / '.join(r['renditions'])}): lowest 5 s ffmpeg speed (`{cmd}`)",
                 f"min {r['speed_min']:.2f}, median {r['speed_median']:.2f}", "", "", "≥ 0.97 with 4 channels",
                 "yes" if int(n) >= 4 and r["speed_min"] >= 0.97 else "no")

    def quality(self):
        d, cmd = self.run("quality", [sys.executable, os.path.join(BENCH, "transcode_quality.py"), os.path.join(self.bins, "streamhall")] + self.params["quality"])
        rs = [r for r in lines(os.path.join(d, "results.jsonl")) if r["bench"] == "transcode_quality"]
        if not rs:
            raise Failed("no SSIM reported")
        for preset in dict.fromkeys(r["preset"] for r in rs):
            p = [r for r in rs if r["preset"] == preset]
            cpu = [r["cpu_per_media_s"] for r in p]
            db = [v for r in p for v in r["ssim_db"].values()]
            self.row(f"transcoder cost and picture, `{preset}`, {len(p)} sources: CPU-s per media-s, SSIM dB of every rendition (`{cmd}`)",
                     f"{span(cpu, lambda v: f'{v:.2f}')} CPU-s/s, SSIM {span(db, lambda v: f'{v:.2f}')} dB", "", "", "reported", "-")

    def api(self):
        d, cmd = self.run("api", [os.path.join(COMPARE, "api.sh")] + self.params["api"])
        rs = lines(os.path.join(d, "api.jsonl"))
        if not rs:
            raise Failed("no API case reported")
        for r in rs:
            if r["path"] == "/api/v1/channels" and r["who"] == "signed-in":
                self.row(f"signed-in `GET /api/v1/channels`, {r['backend']}, wrk -t2 -c64 (`{cmd}`)",
                         f"{num(r['req_per_sec'])} req/s, p99 {r['p99_ms']:.1f} ms" + (f", {r['non_2xx']} errors" if r["non_2xx"] else ""),
                         "", "", "≥ 10,000 req/s", "yes" if r["req_per_sec"] >= 10000 and not r["non_2xx"] else "no")

    def memory(self):
        d, cmd = self.run("memory", [os.path.join(COMPARE, "memory.sh")] + self.params["memory"])
        rs = lines(os.path.join(d, "memory.jsonl"))
        if not rs:
            raise Failed("no memory figure reported")
        # A figure of fewer readers or streams than asked for would be a wrong figure, not a small one.
        short = [r for r in rs if (r["what"] == "rooms" and r["connected"] < r["readers"])
                 or (r["what"] == "streams" and (r["children"] < r["streams"] or not r["server_rss_kib_live"]))]
        if short:
            raise Failed(f"a run fell short of what it asked for: {json.dumps(short[0])}")
        rooms = {r["rooms"]: r for r in rs if r["what"] == "rooms"}
        many = [k for k in rooms if k > 1]
        if many and 1 in rooms and rooms[many[0]]["kib_per_reader"] is not None:
            per = rooms[many[0]]["kib_per_reader"] - rooms[1]["kib_per_reader"]
            self.row(f"memory per idle chat room ({many[0]:,} rooms vs 1, one reader each) (`{cmd}`)", f"{per:.1f} KiB", "", "", "recorded", "-")
        for r in (r for r in rs if r["what"] == "streams"):
            n = r["streams"]
            self.row(f"memory per live stream, {n} small publisher(s): server, and each stream's ffmpeg",
                     f"{(r['server_rss_kib_live'] - r['server_rss_kib_before']) / n / 1024:.1f} MB, "
                     f"ffmpeg {r['children_rss_kib'] / r['children'] / 1024:.1f} MB ({r['children']} running)",
                     "", "", "recorded", "-")

    def build(self):
        """`./dev run` from a clean clone of HEAD with an empty target dir, to its first /healthz."""
        clone = os.path.join(self.out, "clone")
        subprocess.run(["git", "clone", "-q", ROOT, clone], check=True)
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(self.out, "target"), STREAMHALL_HTTP__LISTEN="127.0.0.1:18690",
                   STREAMHALL_RTMP__LISTEN="127.0.0.1:19690", STREAMHALL_SRT__LISTEN="127.0.0.1:0")
        print("==> [build] git clone . && ./dev run (empty target dir), until /healthz answers", file=sys.stderr, flush=True)
        t0 = time.time()
        log = open(os.path.join(self.out, "build.log"), "w")
        p = subprocess.Popen(["./dev", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while p.poll() is None:
                try:
                    subprocess.run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:18690/healthz"], check=True)
                    break
                except subprocess.CalledProcessError:
                    time.sleep(1)
            took = time.time() - t0
            if p.poll() is not None:
                raise Failed(f"./dev run exited with {p.returncode} before serving")
        finally:
            if p.poll() is None:
                os.killpg(p.pid, 2)
                p.wait()
        self.row("`./dev run` from a clean clone to serving (packages present, empty target dir)",
                 f"{int(took // 60)} min {int(took % 60)} s", "", "", "< 10 min", "yes" if took < 600 else "no")

    def table(self):
        out = ["| scenario | streamhall | peer | ratio | goal | met |", "|---|---|---|---|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("stages", nargs="*", metavar="STAGE", help=" ".join(STAGES))
    args = ap.parse_args()
    stages = args.stages or DEFAULT
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        ap.error(f"unknown stage {' '.join(unknown)} (stages: {' '.join(STAGES)})")
    b = Bench(args)
    if not os.environ.get("LOAD_BIN_DIR"):
        print("==> building the release binaries", file=sys.stderr, flush=True)
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "streamhall-load", "-p", "streamhall", "--bins"], cwd=ROOT, check=True)
    machine = f"{os.cpu_count()} vCPU, load average {os.getloadavg()[0]:.1f} at the start"
    for stage in stages:
        try:
            getattr(b, stage)()
        except (Failed, OSError, KeyError, ValueError, subprocess.CalledProcessError) as e:
            b.failed.append(stage)
            b.rows.append((f"{stage}: FAILED", str(e), "", "", "", "no"))
    head = f"`./dev bench{' --smoke' if args.smoke else ''} {' '.join(stages)}`, {time.strftime('%Y-%m-%d')}, {machine}; logs in {b.out}"
    text = head + "\n\n" + b.table() + "\n"
    open(os.path.join(b.out, "table.md"), "w").write(text)
    print(text)
    if b.failed:
        print(f"failed stages: {' '.join(b.failed)} (see their logs)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
