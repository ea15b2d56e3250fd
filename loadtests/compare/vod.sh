#!/usr/bin/env bash
# Recording and VOD serving, one run: the recording's upload lag and CPU while a 1080p30 stream
# is transcoded to four renditions, then one VOD segment served by streamhall vs nginx (the
# peer, 1 worker, from disk) on the same file.
#   loadtests/compare/vod.sh [PUSH_SECONDS=30] [WRK_SECONDS=10] [CONNECTIONS=32]
# A 1920x1080 30 fps testsrc2 + sine source (libx264 veryfast, -g 30, yuv420p, 16 Mb/s CBR, so a
# 1 s source segment is about 2 MB) is encoded to an FLV file first, then pushed with `-re -c copy`
# (the publisher costs almost nothing) to a fresh server with the ladder pinned
# (`live.ladder.adaptive = false`: source copied + 720p/480p/360p). About every second the admin
# health API gives the recording's upload lag p50/p99 and the transcoder's speed; /proc gives the
# server's and the transcoder's CPU time. A transcoder below real time is waited for (reconnect
# grace 600 s) before the broadcast is ended. Runs, each on a fresh server and data dir:
#   1. filesystem store, recording on;  2. the same with `record_vods: false` (a DVR copy is
#   still spooled and uploaded, so this is not a zero-recording baseline);
#   3. with S3=1: an S3 store (moto_server), recording on.
# After runs 1 and 3, `wrk -tTHREADS -cCONNECTIONS -dWRK_SECONDS` fetches the middle segment of
# the VOD's source rendition from streamhall (`/vod/{id}/source/{file}`), then from nginx
# serving `{data_dir}/objects` (the shared `serve-hls-nginx.sh`). Results go to $out.
# SERVER_BIN=PATH uses that binary (e.g. target/debug/streamhall) instead of building the
# release one. Needs ffmpeg, nginx, wrk, curl, jq, python3; moto_server for S3=1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
push_secs=${1:-30} wrk_secs=${2:-10} conns=${3:-32} threads=${WRK_THREADS:-2}
if [ -n "${SERVER_BIN:-}" ]; then
  server=$SERVER_BIN
else
  (cd "$root" && cargo build --release --locked --bin streamhall)
  server=$target_dir/release/streamhall
fi
echo "== $(date -u '+%F %T') UTC, $(machine), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   binary $server ($(stat -c '%y' "$server" | cut -d. -f1)); results in $out"
chmod a+x "$out"   # nginx's worker runs unprivileged

src=$out/src-1080p30.flv
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=1920x1080:rate=30 -f lavfi -i sine \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 30 -b:v 16M -minrate 16M -maxrate 16M -bufsize 4M \
  -x264-params nal-hrd=cbr -c:a aac -t "$push_secs" -f flv "$src"
echo "   source: ${push_secs}s 1920x1080 30 fps, $(stat -c %s "$src") bytes"

# cpu_ticks PID: utime stime cutime cstime of a process, in clock ticks.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12, $13, $14, $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# record_run NAME RECORD(true|false) HTTP_PORT RTMP_PORT [ENV=VALUE...]: one push on a fresh
# server; leaves $dir, $server_pid, $base and $video for the serving step.
record_run() {
  local name=$1 record=$2 port=$3 rport=$4; shift 4
  dir=$(mktemp -d "$out/$name.XXXXXX"); chmod a+x "$dir"
  local envs=(STREAMHALL_DATA_DIR="$dir" STREAMHALL_HTTP__LISTEN="127.0.0.1:$port"
    STREAMHALL_RTMP__LISTEN="127.0.0.1:$rport" STREAMHALL_SRT__LISTEN=127.0.0.1:0 STREAMHALL_LOG__LEVEL=warn
    STREAMHALL_LIVE__LADDER__ADAPTIVE=false STREAMHALL_LIVE__GRACE_SECS=600 "$@")
  echo 'benchmark-password' | env "${envs[@]}" "$server" user create --username bench \
    --email bench@example.com --admin --password-stdin >/dev/null
  env "${envs[@]}" "$server" serve >"$dir/out.log" 2>&1 &
  server_pid=$!; pids+=("$server_pid")
  base=http://127.0.0.1:$port
  for _ in $(seq 300); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
  local api=$base/api/v1 token key
  token=$(curl -sf -X POST "$api/auth/login" -H 'content-type: application/json' \
    -d '{"login":"bench","password":"benchmark-password"}' | jq -r .access_token)
  key=$(curl -sf -X POST "$api/channels" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"slug":"bench","title":"Bench"}' | jq -r .stream_key)
  curl -sf -X PATCH "$api/channels/bench" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "{\"record_vods\": $record}" >/dev/null
  local before after ready t0 t1 t2 pusher h ff
  before=$(cpu_ticks "$server_pid"); t0=$(date +%s.%N)
  ffmpeg -hide_banner -loglevel error -re -i "$src" -c copy -f flv "rtmp://127.0.0.1:$rport/live/$key" &
  pusher=$!; pids+=("$pusher")
  # A line about every second: the stream's health plus the transcoder's CPU ticks from /proc. Once the
  # push has ended, a transcoder below real time is still behind: keep sampling (within the
  # reconnect grace) until three samples in a row show no new segment, then end the broadcast.
  : >"$dir/samples.jsonl"
  local ticks produced last=-1 still=0 pushing=1 t_push=
  for _ in $(seq 300); do
    h=$(curl -sf "$api/admin/health" -H "authorization: Bearer $token" | jq -c '.streams[0] // empty') || h=
    if [ -n "$h" ]; then
      ff=$(jq -r '.ffmpeg_pid // empty' <<<"$h") ticks=
      [ -n "$ff" ] && [ -r "/proc/$ff/stat" ] && ticks=$(cpu_ticks "$ff" | awk '{print $1 + $2}') || true
      jq -c --argjson t "$(date +%s.%N)" --argjson ticks "${ticks:-null}" --argjson pushing $pushing \
        '{t: $t, pushing: ($pushing == 1), ff_ticks: $ticks, speed: .ffmpeg_speed, ff_cpu: .ffmpeg_cpu_percent,
          produced: .segments_produced, renditions: [.renditions[].name], rec: .recording}' <<<"$h" >>"$dir/samples.jsonl"
      produced=$(jq -r '.segments_produced // 0' <<<"$h")
    fi
    if [ $pushing = 1 ] && ! kill -0 "$pusher" 2>/dev/null; then
      wait "$pusher" || true; pushing=0; t_push=$(date +%s.%N)
    fi
    if [ $pushing = 0 ]; then
      if [ "$produced" = "$last" ]; then still=$((still + 1)); else still=0; last=$produced; fi
      [ "$still" -ge 3 ] && break
    fi
    sleep 0.5
  done
  curl -sf "$api/admin/health" -H "authorization: Bearer $token" | jq -c '.streams[0]' >"$dir/health-end.json"
  after=$(cpu_ticks "$server_pid"); t1=$(date +%s.%N)
  curl -sf -X POST "$api/admin/streams/bench/stop" -H "authorization: Bearer $token" >/dev/null || true
  for _ in $(seq 600); do
    video=$(curl -sf "$api/channels/bench/videos" -H "authorization: Bearer $token" | jq -c '.items[0] // empty')
    if [ "$record" = false ] || [ "$(jq -r .status <<<"$video")" = ready ]; then break; fi
    sleep 0.2
  done
  sleep 1   # the DVR-only copy's deletion, the last thumbnail
  ready=$(cpu_ticks "$server_pid"); t2=$(date +%s.%N)
  echo "== run $name: record_vods=$record $*"
  python3 - "$dir/samples.jsonl" "$hz" "$before" "$after" "$ready" "$t0" "$t1" "$t2" "$video" "$dir/health-end.json" "$t_push" <<'PY'
import json, statistics as st, sys
end = json.load(open(sys.argv[10]))
path, hz, before, after, ready = sys.argv[1], int(sys.argv[2]), *(list(map(int, a.split())) for a in sys.argv[3:6])
t0, t1, t2 = map(float, sys.argv[6:9])
video = json.loads(sys.argv[9]) if sys.argv[9] else None
rows = [json.loads(l) for l in open(path)]
live = [r for r in rows if r.get('rec')]
def secs(a, b, i): return sum(b[j] - a[j] for j in i) / hz
p50 = [r['rec']['upload_lag_p50_ms'] for r in live if r['rec'].get('upload_lag_p50_ms') is not None]
p99 = [r['rec']['upload_lag_p99_ms'] for r in live if r['rec'].get('upload_lag_p99_ms') is not None]
pushed = [r for r in rows if r['pushing']]
speeds = [r['speed'] for r in pushed[len(pushed) // 3:] if r.get('speed') is not None]
ladders = sorted({','.join(r['renditions']) for r in rows})
ff = [r['ff_ticks'] for r in rows if r.get('ff_ticks') is not None]
ff_cpu = ff[-1] / hz if ff else None
srv_push = secs(before, after, (0, 1))
print(f"   push {float(sys.argv[11]) - t0:.1f} s, push and drain {t1 - t0:.1f} s, {len(rows)} samples; "
      f"ladder(s) seen: {' | '.join(ladders)}")
print(f"   at the end: {end['segments_produced']} segments produced, {end['segments_lost']} lost, "
      f"{end['dropped_frames']} video / {end['dropped_audio']} audio frames dropped")
if speeds:
    cpu = [r['ff_cpu'] for r in pushed if r.get('ff_cpu') is not None]
    print(f"   transcoder speed over the last two thirds of the push: min {min(speeds):.2f}, median {st.median(speeds):.2f}; "
          f"its CPU (health, % of one core): median {st.median(cpu):.0f}%")
if p99:
    last = live[-1]['rec']
    print(f"   upload lag p50: median of samples {st.median(p50):.0f} ms, max {max(p50)} ms; "
          f"p99: max of samples {max(p99)} ms, last {p99[-1]} ms")
    print(f"   uploaded {last['uploaded_segments']} segments, {last['uploaded_bytes']:,} bytes; "
          f"spooled at the end {last['spooled_segments']}, lost {last['lost_segments']}, state {last['state']}")
print(f"   server process CPU (utime+stime): {srv_push:.2f} s over the push and drain, "
      f"{secs(before, ready, (0, 1)):.2f} s until the VOD was ready ({t2 - t0:.1f} s)")
print(f"   children reaped (cutime+cstime: transcoder, thumbnails, sprite): {secs(before, ready, (2, 3)):.2f} s")
if ff_cpu:
    print(f"   transcoder ffmpeg CPU (its /proc, last sample before the end): {ff_cpu:.2f} s; "
          f"server process / transcoder = {100 * srv_push / ff_cpu:.1f}%")
if video:
    print(f"   video {video['id']}: {video['status']}, {video['duration_secs']} s, "
          f"{video['size_bytes']:,} bytes, renditions {[r['name'] for r in video['renditions']]}")
PY
  video=$(jq -r '.id // empty' <<<"$video")
}

# serve_bench NAME: wrk on the VOD's middle source segment, streamhall (the server of the last
# record_run, still running) then nginx from disk (a copy fetched through streamhall on S3).
serve_bench() {
  local name=$1 seg file peer_dir=$out/$1-peer
  seg=$(curl -sf "$base/vod/$video/source/index.m3u8" | grep -v '^#' | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}')
  file=vod/$video/source/$seg
  if [ -f "$dir/objects/$file" ]; then
    peer_dir=$dir/objects
  else
    mkdir -p "$peer_dir/vod/$video/source"; curl -sf "$base/$file" -o "$peer_dir/$file"
  fi
  chmod -R a+rX "$peer_dir"
  local size; size=$(stat -c %s "$peer_dir/$file")
  echo "== $name: GET /$file ($size bytes), wrk -t$threads -c$conns -d${wrk_secs}s (goal: bytes/s >= 0.8x nginx)"
  wrk -t"$threads" -c"$conns" -d"${wrk_secs}s" --latency "$base/$file" >"$out/$name-streamhall.wrk"
  "$peers/serve-hls-nginx.sh" "$peer_dir" 18728 >/dev/null
  local nginx_pid; nginx_pid=$(cat /tmp/hls-nginx-18728/nginx.pid)
  curl -sf "http://127.0.0.1:18728/hls/$file" | cmp - "$peer_dir/$file"
  wrk -t"$threads" -c"$conns" -d"${wrk_secs}s" --latency "http://127.0.0.1:18728/hls/$file" >"$out/$name-nginx.wrk"
  kill "$nginx_pid"; sleep 0.5
  python3 - "$size" "$out/$name"-*.wrk <<'PY'
import re, sys
units = {'B': 1, 'KB': 2**10, 'MB': 2**20, 'GB': 2**30}
def parse(path):
    text = open(path).read()
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', text).group(1))
    tr = re.search(r'Transfer/sec:\s+([\d.]+)(\w+)', text)
    p99 = re.search(r'99%\s+([\d.]+)(\w+)', text)
    errs = re.search(r'Non-2xx or 3xx responses: (\d+)|Socket errors: .*', text)
    return rps, float(tr.group(1)) * units[tr.group(2)], p99.group(1) + p99.group(2), errs.group(0) if errs else ''
size = int(sys.argv[1])
res = {p.rsplit('-', 1)[1][:-4]: parse(p) for p in sys.argv[2:]}
nginx = res['nginx']
for who, (rps, bps, p99, errs) in res.items():
    print(f"   {who:<10} {rps:>9,.1f} req/s  {bps / 1e9:6.3f} GB/s ({rps * size / 1e9:.3f} GB/s of bodies)  "
          f"p99 {p99:>8}  {bps / nginx[1]:.2f}x nginx bytes/s  {errs}")
PY
}

record_run fs-record true 18720 19720
serve_bench fs
stop_pid "$server_pid"
record_run fs-no-record false 18721 19721
stop_pid "$server_pid"
if [ -n "${S3:-}" ]; then
  moto_dir=$(mktemp -d "$out/moto.XXXXXX")
  moto_server -H 127.0.0.1 -p 18729 >"$moto_dir/out.log" 2>&1 &
  moto_pid=$!; pids+=("$moto_pid")
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18729/ >/dev/null && break; sleep 0.2; done
  curl -sf -X PUT http://127.0.0.1:18729/vods >/dev/null
  record_run s3-record true 18722 19722 STREAMHALL_OBJECTS__BACKEND=s3 \
    STREAMHALL_OBJECTS__S3__ENDPOINT=http://127.0.0.1:18729 STREAMHALL_OBJECTS__S3__BUCKET=vods \
    STREAMHALL_OBJECTS__S3__ACCESS_KEY=bench STREAMHALL_OBJECTS__S3__SECRET_KEY=bench-secret
  serve_bench s3
  stop_pid "$server_pid"
  kill "$moto_pid" 2>/dev/null || true
fi
