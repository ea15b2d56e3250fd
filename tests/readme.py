#!/usr/bin/python3
"""The README, literally: what a newcomer does on a fresh machine, as a test.

    /usr/bin/python3 tests/readme.py target/debug/streamhall

`./dev test` runs it with the server binary its `cargo test` built (the dev profile; `./dev run`
builds the same code in the release profile); any build of `streamhall` will do. It:

1. reads README.md's shell blocks: the one that registers and creates a channel, and the
   ffmpeg one (it fails if it cannot find them, so the README cannot drift away from it);
2. starts `streamhall serve` as `./dev run` does, in a fresh temporary folder with no
   `STREAMHALL_*` variable at all: default `./data`, SQLite, 127.0.0.1:8080 and 0.0.0.0:1935
   (if either port is taken it fails and says so; it never picks others);
3. runs the register + create-channel block exactly as written, with the PATH a newcomer has
   (Debian's python3, not a version manager's shim), and takes the stream key from its output;
4. runs the README's ffmpeg line with that key in place of STREAM_KEY, unchanged otherwise
   (it is stopped after the checks);
5. polls /hls/SLUG/master.m3u8 until the channel is live and the master lists the source and
   at least one lower rendition, then checks that no transcoded rendition repeats the source
   height, and that a segment of every listed rendition decodes as H.264 at its height
   (the source at the README's `size=`), with ffprobe; then the README's low-latency URL
   (/hls/SLUG/ll.m3u8): the same renditions, parts and a preload hint, and an init segment
   plus a whole segment that decode at each rendition's height; the channel offers it;
6. checks /api/v1/channels/SLUG (is_live, viewer_count after a segment fetch) and that the
   SQLite database is in ./data under the temporary folder;
7. opens the channel's watch page in Debian's Chromium (web/e2e/readme_viewer.mjs, with
   playwright-core from web/node_modules) and waits until the video has played 2 s.

Only the standard library; no third-party packages.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")

START_DEADLINE = 30  # seconds for the server to answer /healthz
LIVE_DEADLINE = 150  # seconds from the first publish to every rendition playing
SEGMENT_COUNT_DEADLINE = 15  # seconds for a segment fetch to show in viewer_count
VOD_DEADLINE = 90  # seconds from stopping the push to a ready VOD (30 s of it is the grace window)


class Failed(Exception):
    pass


def say(msg):
    print(f"readme-test: {msg}", flush=True)


def ok(msg):
    print(f"readme-test: ok   {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# The README's blocks


def readme_blocks():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", text, re.S | re.M)
    api = [b for b in blocks if "/api/v1/auth/register" in b and "/api/v1/channels" in b]
    enc = [b for b in blocks if re.search(r"^\s*ffmpeg\s", b, re.M) and "STREAM_KEY" in b]
    if len(api) != 1:
        raise Failed(
            f"README.md: expected one ```sh block that registers (/api/v1/auth/register) and "
            f"creates a channel (/api/v1/channels), found {len(api)}"
        )
    if len(enc) != 1:
        raise Failed(f"README.md: expected one ```sh block with the ffmpeg line and STREAM_KEY, found {len(enc)}")
    play = re.search(r"(https?://[^\s`]+)/hls/SLUG/master\.m3u8", text)
    if not play:
        raise Failed("README.md: no `http://HOST:PORT/hls/SLUG/master.m3u8` playback URL")
    size = re.search(r"size=(\d+)x(\d+)", enc[0])
    if not size:
        raise Failed("README.md: the ffmpeg block has no `size=WxH`: the expected source height is unknown")
    rtmp = re.search(r"rtmp://([^/\s]+):(\d+)/", enc[0])
    if not rtmp:
        raise Failed("README.md: the ffmpeg block pushes to no rtmp://HOST:PORT/ URL")
    videos = re.search(r"https?://[^\s`]+(/api/v1/channels/SLUG/videos)", text)
    if not videos:
        raise Failed("README.md: no `http://HOST:PORT/api/v1/channels/SLUG/videos` line for the recordings")
    return {
        "videos": videos.group(1),
        "api": api[0],
        "ffmpeg": enc[0],
        "base": play.group(1),
        "source_size": (int(size.group(1)), int(size.group(2))),
        "rtmp_port": int(rtmp.group(2)),
    }


# ---------------------------------------------------------------------------------------------
# The newcomer's environment


def newcomer_env():
    """This environment without any STREAMHALL_* variable, RUST_LOG, or a version manager's
    directories in PATH (the README's `| python3` must work with the system's python3)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMHALL_") and k != "RUST_LOG"}
    for k in ("PYENV_ROOT", "PYENV_VERSION", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH"):
        env.pop(k, None)
    path = [p for p in env.get("PATH", "").split(":") if p and "pyenv" not in p and "/venv" not in p]
    for p in ("/usr/local/bin", "/usr/bin", "/bin"):
        if p not in path:
            path.append(p)
    env["PATH"] = ":".join(path)
    return env


def port_free(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # As the server binds (Rust's std sets SO_REUSEADDR): a TIME_WAIT is no conflict.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def who_listens(port):
    if not shutil.which("ss"):
        return ""
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return out.strip()


# ---------------------------------------------------------------------------------------------
# HTTP


def get(url, timeout=5):
    """(status, body bytes); status 0 when the request itself failed."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def get_json(url):
    status, body = get(url)
    if status != 200:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def parse_master(text, master_url):
    """[(name, width, height, uri)] in order, from #EXT-X-STREAM-INF lines."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("#EXT-X-STREAM-INF:"):
            continue
        res = re.search(r"RESOLUTION=(\d+)x(\d+)", line)
        uri = next((u.strip() for u in lines[i + 1 :] if u.strip() and not u.startswith("#")), None)
        if not res or not uri:
            raise Failed(f"master playlist entry without RESOLUTION or URI: {line!r}\n{text}")
        url = urllib.parse.urljoin(master_url, uri)
        name = urllib.parse.urlparse(url).path.split("/")[-2]
        out.append((name, int(res.group(1)), int(res.group(2)), url))
    return out


def media_segments(text, playlist_url):
    return [urllib.parse.urljoin(playlist_url, l.strip()) for l in text.splitlines() if l.strip() and not l.startswith("#")]


def probe(path):
    """(codec, width, height, frames decoded) of the first video stream."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json", path],
        capture_output=True, text=True, timeout=60,
    )
    if out.returncode != 0:
        raise Failed(f"ffprobe failed on {path}: {out.stderr.strip()}")
    streams = json.loads(out.stdout).get("streams") or []
    if not streams:
        raise Failed(f"ffprobe found no video stream in {path}")
    s = streams[0]
    return s.get("codec_name"), int(s.get("width", 0)), int(s.get("height", 0)), int(s.get("nb_read_frames", 0) or 0)


# ---------------------------------------------------------------------------------------------
# The run


def tail(path, n):
    """The last `n` lines of a log, with the first start's admin password masked."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()[-n:]
    except OSError as e:
        return f"(cannot read {path}: {e})"
    return "".join(re.sub(r"(password:\s*)\S+", r"\1(not shown)", line) for line in lines)


def stop(proc, sig, wait):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=wait)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run(binary, work):
    readme = readme_blocks()
    base = readme["base"]
    http = urllib.parse.urlparse(base)
    (src_w, src_h) = readme["source_size"]
    ok(f"README.md: found the register/create-channel block, the ffmpeg block ({src_w}x{src_h}) and {base}/hls/SLUG/master.m3u8")

    for host, port, what in ((http.hostname, http.port, "HTTP"), ("0.0.0.0", readme["rtmp_port"], "RTMP")):
        if not port_free(host, port):
            holder = who_listens(port)
            raise Failed(
                f"{what} port {host}:{port} is taken. The README test runs on the README's default "
                f"ports and never picks others: stop what listens there and run again."
                + (f"\n  {holder}" if holder else "")
            )
    ok(f"ports {http.hostname}:{http.port} and 0.0.0.0:{readme['rtmp_port']} are free")

    env = newcomer_env()
    py = shutil.which("python3", path=env["PATH"])
    if not py:
        raise Failed(f"no python3 in the newcomer's PATH ({env['PATH']}): the README's curl line pipes into it")
    stripped = sorted(k for k in os.environ if k.startswith("STREAMHALL_"))
    say(f"temporary folder {work}; python3 is {py}; removed from the environment: {', '.join(stripped) or 'nothing'}")

    server_log = os.path.join(work, "server.log")
    ffmpeg_log = os.path.join(work, "ffmpeg.log")
    server = publisher = None
    try:
        with open(server_log, "wb") as log:
            server = subprocess.Popen([binary, "serve"], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_DEADLINE
        while get(f"{base}/healthz", timeout=1)[0] != 200:
            if server.poll() is not None:
                raise Failed(f"the server exited with code {server.returncode} before answering")
            if time.monotonic() > deadline:
                raise Failed(f"the server did not answer {base}/healthz within {START_DEADLINE} s")
            time.sleep(0.1)
        ok(f"`streamhall serve` answers at {base} (cwd {work}, no STREAMHALL_* variables)")

        # The register + create-channel block, as written.
        api = subprocess.run(["bash", "-c", readme["api"]], cwd=work, env=env, capture_output=True, text=True, timeout=60)
        out = api.stdout
        start = out.find("{")
        try:
            created = json.JSONDecoder().raw_decode(out[start:])[0] if start >= 0 else None
        except ValueError:
            created = None
        if api.returncode != 0 or not isinstance(created, dict) or not created.get("stream_key"):
            raise Failed(
                f"the README's register/create-channel block gave no stream key (exit {api.returncode})\n"
                f"stdout: {out.strip()[:2000]}\nstderr: {api.stderr.strip()[:2000]}"
            )
        key = created["stream_key"]
        slug = (created.get("channel") or {}).get("slug")
        if not slug:
            raise Failed(f"the create-channel response has no channel.slug: {out.strip()[:2000]}")
        ok(f"the README's register and create-channel block ran; channel {slug!r}, stream key received")

        # The README's ffmpeg line with the key, nothing else changed; stopped after the checks.
        line = readme["ffmpeg"].replace("STREAM_KEY", key)
        with open(ffmpeg_log, "wb") as log:
            publisher = subprocess.Popen(["bash", "-c", line], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        published = time.monotonic()
        say("the README's ffmpeg line is publishing")

        master_url = f"{base}/hls/{slug}/master.m3u8"
        channel_url = f"{base}/api/v1/channels/{slug}"
        deadline = published + LIVE_DEADLINE
        why = "nothing polled yet"
        progress = published + 15
        def channel_state():
            c = get_json(channel_url) or {}
            problem = c.get("stream_problem")
            return f"the channel says is_live={c.get('is_live')}, stream_status={c.get('stream_status')}" + (
                f", stream_problem={problem!r}" if problem else "")

        while True:
            if time.monotonic() > progress:
                say(f"still waiting ({time.monotonic() - published:.0f} s): {why}; {channel_state()}")
                progress += 15
            if publisher.poll() is not None:
                raise Failed(f"the README's ffmpeg line exited with code {publisher.returncode}:\n{tail(ffmpeg_log, 20)}")
            if server.poll() is not None:
                raise Failed(f"the server exited with code {server.returncode}")
            if time.monotonic() > deadline:
                raise Failed(f"no playable stream {LIVE_DEADLINE} s after the first publish: {why}; {channel_state()}")
            time.sleep(0.25)
            status, body = get(master_url)
            if status != 200:
                why = f"{master_url} answers {status}"
                continue
            renditions = parse_master(body.decode("utf-8", "replace"), master_url)
            if not any(r[0] == "source" for r in renditions) or not any(r[2] < src_h for r in renditions):
                why = f"the master lists {[r[0] for r in renditions]}, not yet the source and a lower rendition"
                continue
            missing = []
            for name, _, _, url in renditions:
                s, pl = get(url)
                if s != 200 or not media_segments(pl.decode("utf-8", "replace"), url):
                    missing.append(f"{name} ({s})")
            if missing:
                why = f"media playlists without segments: {', '.join(missing)}"
                continue
            ch = get_json(channel_url)
            if not ch or ch.get("is_live") is not True:
                why = f"{channel_url} says is_live={ch and ch.get('is_live')}, stream_status={ch and ch.get('stream_status')}"
                continue
            break
        took = time.monotonic() - published
        ok(f"{master_url} lists {', '.join(f'{n} {w}x{h}' for n, w, h, _ in renditions)} ({took:.1f} s after the first publish)")
        ok(f"{channel_url}: is_live true" + (f", stream_status {ch['stream_status']}" if "stream_status" in ch else ""))

        # A segment of every rendition decodes as H.264 at its height.
        for name, width, height, url in renditions:
            s, pl = get(url)
            segs = media_segments(pl.decode("utf-8", "replace"), url)
            if s != 200 or not segs:
                raise Failed(f"{url} answers {s} with {len(segs)} segments")
            seg_url = segs[-1]
            s, data = get(seg_url, timeout=15)
            if s != 200 or not data:
                raise Failed(f"{seg_url} answers {s} ({len(data)} bytes)")
            path = os.path.join(work, f"probe-{name}.ts")
            with open(path, "wb") as f:
                f.write(data)
            codec, w, h, frames = probe(path)
            if codec != "h264" or h != height or w != width or frames < 1:
                raise Failed(f"{seg_url}: ffprobe says {codec} {w}x{h}, {frames} frames decoded; expected h264 {width}x{height}")
            ok(f"{name}: {seg_url.rsplit('/', 2)[-2]}/{seg_url.rsplit('/', 1)[-1]} ({len(data)} bytes) decodes as h264 {w}x{h}, {frames} frames")

        # The ladder fits the source: exactly one rendition at the source height, the source itself.
        source = [r for r in renditions if r[0] == "source"]
        if len(source) != 1 or (source[0][1], source[0][2]) != (src_w, src_h):
            raise Failed(f"the master's source is {source}, expected one at {src_w}x{src_h}")
        repeats = [r[0] for r in renditions if r[0] != "source" and r[2] >= src_h]
        if repeats:
            raise Failed(f"transcoded renditions at or above the source height {src_h}: {repeats}")
        names = [r[0] for r in renditions]
        if len(set(names)) != len(names):
            raise Failed(f"the master lists a rendition twice: {names}")
        ok(f"the ladder fits the source: source {src_h}p plus {', '.join(f'{r[2]}p' for r in renditions if r[0] != 'source')}, none repeating {src_h}p")
        listed = (ch.get("live") or {}).get("renditions")
        if listed is not None:
            if sorted(r["name"] for r in listed) != sorted(names):
                raise Failed(f"the channel's live.renditions {[r['name'] for r in listed]} differ from the master's {names}")
            ok("the channel's live.renditions name the same renditions as the master")

        # The README's low-latency URL: the same renditions, LL-HLS playlists whose init segment
        # plus a whole segment decode at the rendition's height; the channel offers it.
        with open(README, encoding="utf-8") as f:
            readme_text = f.read()
        if not re.search(r"https?://[^\s`]+/hls/SLUG/ll\.m3u8", readme_text):
            raise Failed("README.md: no `http://HOST:PORT/hls/SLUG/ll.m3u8` low-latency URL")
        ll_url = f"{base}/hls/{slug}/ll.m3u8"
        s, body = get(ll_url)
        if s != 200:
            raise Failed(f"{ll_url} answers {s}")
        ll_renditions = parse_master(body.decode("utf-8", "replace"), ll_url)
        if sorted(r[0] for r in ll_renditions) != sorted(names):
            raise Failed(f"{ll_url} lists {[r[0] for r in ll_renditions]}, the MPEG-TS master {names}")
        for name, width, height, url in ll_renditions:
            s, pl = get(url)
            text_pl = pl.decode("utf-8", "replace")
            for tag in ("#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:", "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES", "#EXT-X-MAP:"):
                if s != 200 or tag not in text_pl:
                    raise Failed(f"{url} answers {s} without {tag}:\n{text_pl}")
            init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text_pl).group(1)
            segs = media_segments(text_pl, url)
            if not segs:
                raise Failed(f"{url} lists no complete segment yet:\n{text_pl}")
            s1, init_data = get(urllib.parse.urljoin(url, init))
            s2, seg_data = get(segs[-1], timeout=15)
            if s1 != 200 or s2 != 200:
                raise Failed(f"{url}: init answers {s1}, {segs[-1]} answers {s2}")
            path = os.path.join(work, f"probe-ll-{name}.mp4")
            with open(path, "wb") as f:
                f.write(init_data + seg_data)
            codec, w, h, frames = probe(path)
            if codec != "h264" or h != height or frames < 1:
                raise Failed(f"{segs[-1]} with {init}: ffprobe says {codec} {w}x{h}, {frames} frames; expected h264 at {height}p")
            ok(f"{name}: low latency {url.rsplit('/', 1)[-1]} has parts and a preload hint; {segs[-1].rsplit('/', 1)[-1]} decodes as h264 {w}x{h}, {frames} frames")
        offered = (ch.get("live") or {}).get("low_latency_url") or ""
        if not offered.endswith(f"/hls/{slug}/ll.m3u8"):
            raise Failed(f"the channel's live.low_latency_url is {offered!r}")
        ok(f"the channel offers low latency at {offered}")

        # The segment fetches above are a viewer.
        deadline = time.monotonic() + SEGMENT_COUNT_DEADLINE
        while True:
            ch = get_json(channel_url) or {}
            if (ch.get("viewer_count") or 0) >= 1:
                break
            if time.monotonic() > deadline:
                raise Failed(f"viewer_count is {ch.get('viewer_count')} {SEGMENT_COUNT_DEADLINE} s after fetching segments")
            time.sleep(0.25)
            # Keep watching, as a player would.
            get(segs[-1])
        ok(f"{channel_url}: viewer_count {ch['viewer_count']} after the segment fetches")

        # The default data directory was used.
        db = os.path.join(work, "data", "streamhall.db")
        try:
            with open(db, "rb") as f:
                header = f.read(16)
        except OSError as e:
            raise Failed(f"no SQLite database at ./data/streamhall.db under {work}: {e}") from e
        if header != b"SQLite format 3\x00":
            raise Failed(f"{db} is not an SQLite database (header {header!r})")
        ok(f"./data/streamhall.db under the temporary folder is the SQLite database ({os.path.getsize(db)} bytes)")

        # A viewer in Chromium plays it, from the web app the binary serves.
        viewer = subprocess.run(
            ["node", os.path.join(ROOT, "web", "e2e", "readme_viewer.mjs"), base, slug],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        if viewer.returncode != 0:
            raise Failed(f"Chromium did not play {base}/c/{slug}:\n{viewer.stdout}{viewer.stderr}")
        print(viewer.stdout.strip(), flush=True)

        # The README: stopping the push ends the broadcast after the grace window, and its
        # recording shows up as a VOD under ./data/objects.
        videos_path = readme["videos"].replace("SLUG", slug)
        stop(publisher, signal.SIGINT, 10)
        say(f"the push is stopped; waiting for the VOD at {videos_path}")
        deadline = time.monotonic() + VOD_DEADLINE
        while True:
            page = get_json(base + videos_path) or {}
            items = page.get("items") or []
            if items and items[0].get("status") == "ready":
                video = items[0]
                break
            if items and items[0].get("status") == "failed":
                raise Failed(f"the recording failed: {items[0]}")
            if time.monotonic() > deadline:
                raise Failed(f"no ready VOD at {videos_path} {VOD_DEADLINE} s after the push stopped: {page}")
            time.sleep(0.5)
        vod_master = os.path.join(work, "data", "objects", "vod", video["id"], "master.m3u8")
        if not os.path.exists(vod_master):
            raise Failed(f"the VOD's master playlist is not under ./data/objects: {vod_master}")
        status, body = get(video["playback_url"])
        if status != 200:
            raise Failed(f"GET {video['playback_url']}: {status}")
        name, w, h, url = parse_master(body.decode(), video["playback_url"])[0]
        status, body = get(url)
        segs = media_segments(body.decode(), url)
        if status != 200 or "#EXT-X-ENDLIST" not in body.decode() or not segs:
            raise Failed(f"the VOD playlist {url} is not a finished playlist ({status}):\n{body[:400]!r}")
        status, data = get(segs[-1])
        seg_path = os.path.join(work, "vod-last.ts")
        with open(seg_path, "wb") as f:
            f.write(data)
        codec, pw, ph, frames = probe(seg_path)
        if status != 200 or codec != "h264" or (pw, ph) != (w, h) or frames == 0:
            raise Failed(f"the VOD's last {name} segment: {status} {codec} {pw}x{ph}, {frames} frames")
        ok(f"{videos_path}: VOD {video['id']} of {video['duration_secs']:.1f} s, {name} {w}x{h} decodes, stored under ./data/objects")
    except BaseException:
        print(f"\n--- server log (last 60 lines of {server_log}) ---", file=sys.stderr)
        print(tail(server_log, 60), file=sys.stderr)
        if publisher is not None:
            print(f"--- ffmpeg (last 15 lines of {ffmpeg_log}) ---", file=sys.stderr)
            print(tail(ffmpeg_log, 15), file=sys.stderr)
        raise
    finally:
        stop(publisher, signal.SIGINT, 10)
        stop(server, signal.SIGINT, 30)


def main():
    if len(sys.argv) != 2:
        print("usage: tests/readme.py PATH/TO/streamhall", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print(f"readme-test: FAILED: {binary} is not an executable (build it: cargo build --release --bin streamhall)", file=sys.stderr)
        return 1
    for tool in ("bash", "curl", "ffmpeg", "ffprobe", "node"):
        if not shutil.which(tool):
            print(f"readme-test: FAILED: `{tool}` is missing (./dev test installs it)", file=sys.stderr)
            return 1
    work = tempfile.mkdtemp(prefix="streamhall-readme-")
    try:
        run(binary, work)
    except Failed as e:
        kept = bool(os.listdir(work))
        if not kept:
            os.rmdir(work)
        print(f"readme-test: FAILED: {e}" + (f"\n(the temporary folder {work} is kept)" if kept else ""), file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    say("passed: the README's commands give a channel that plays")
    return 0


if __name__ == "__main__":
    sys.exit(main())
