#!/usr/bin/env bash
# HLS through a node that does not own the stream vs from its owner, in one run.
#   loadtests/compare/hls_nodes.sh [SECONDS=10] [CONCURRENCY=50] [VIEWERS=1000]
# Two streamhall nodes share one PostgreSQL database and one Redis (PostgreSQL at
# 127.0.0.1:5432 as user postgres, Redis at 127.0.0.1:6379; override with PG_URL / REDIS_URL).
# A 640x360 publisher pushes to node A (the owner). Then, for the live playlist and the newest
# segment: closed-loop GETs on A and on B (B fetches from A through its relay), one connection
# and CONCURRENCY connections. Last, VIEWERS simulated viewers play the stream from B for
# SECONDS x 3; A's /metrics counts what B asked of it (A has no viewers of its own), so
# segments served to viewers / segments fetched from A is what coalescing saved.
# Needs ffmpeg, curl, psql, redis-cli.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-10} conc=${2:-50} viewers=${3:-1000}
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432} redis=${REDIS_URL:-redis://127.0.0.1:6379}
db="streamhall_bench_$$" prefix="streamhall_bench_$$:"
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
build
psql "$pg/postgres" -qc "CREATE DATABASE $db"
drop() {
  cleanup
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  redis-cli -u "$redis" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$redis" del >/dev/null || true
}
trap drop EXIT
node_env=(STREAMHALL_DATABASE__URL="$pg/$db" STREAMHALL_REDIS__URL="$redis" STREAMHALL_REDIS__KEY_PREFIX="$prefix"
  STREAMHALL_AUTH__JWT_SECRET="$secret" STREAMHALL_HTTP__VIEWER_IDS_PER_ADDRESS=0)
start_streamhall 18620 19620 "${node_env[@]}" STREAMHALL_CLUSTER__NODE_ID=bench-a \
  STREAMHALL_CLUSTER__ADVERTISE_URL=http://127.0.0.1:18620; node_a=$server_pid
start_streamhall 18621 19621 "${node_env[@]}" STREAMHALL_CLUSTER__NODE_ID=bench-b \
  STREAMHALL_CLUSTER__ADVERTISE_URL=http://127.0.0.1:18621; node_b=$server_pid
a=http://127.0.0.1:18620 b=http://127.0.0.1:18621
token=$(curl -sf -X POST "$a/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"benchmark-password"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
key=$(curl -sf -X POST "$a/api/v1/channels" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"slug":"bench","title":"Bench"}' | sed -E 's/.*"stream_key":"([^"]+)".*/\1/')
play=$((secs * 3))
ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 30 -b:v 1M -c:a aac -t $((secs * 4 + play + 60)) \
  -f flv "rtmp://127.0.0.1:19620/live/$key" 2>/dev/null &
publisher=$!; pids+=("$publisher")
for _ in $(seq 150); do curl -sf "$b/hls/bench/master.m3u8" >/dev/null && break; sleep 0.2; done
curl -sf "$b/hls/bench/master.m3u8" >/dev/null || { echo "B never served the stream" >&2; exit 1; }
rendition=$(curl -sf "$a/hls/bench/master.m3u8" | grep -v '^#' | tail -1 | cut -d/ -f1)
seg=$(curl -sf "$a/hls/bench/$rendition/index.m3u8" | grep -v '^#' | tail -1)
echo "== $(date -u +%F) $(machine); two nodes on PostgreSQL + Redis; rendition $rendition, segment $seg"
for what in playlist segment; do
  path=/hls/bench/$rendition/index.m3u8; [ $what = segment ] && path=/hls/bench/$rendition/$seg
  for c in 1 "$conc"; do
    for node in a b; do
      url=$a$path; [ $node = b ] && url=$b$path
      "$load" get --quiet --url "$url" --concurrency "$c" --duration "${secs}s" \
        --json "$out/$what-c$c-$node.json" >/dev/null
    done
    python3 - "$what" "$c" "$out/$what-c$c-a.json" "$out/$what-c$c-b.json" <<'PY'
import json, sys
what, c = sys.argv[1:3]
a, b = (json.load(open(p)) for p in sys.argv[3:5])
def fig(r):
    l = r["latencies"]["request"]
    errors = sum(n for k, t in r["tallies"].items() if "error" in k for n in t.values())
    return r["figures"]["requests_per_sec"], l["p50_ms"], l["p99_ms"], errors
(ar, a50, a99, ae), (br, b50, b99, be) = fig(a), fig(b)
print(f"{what:<8} c={c:<4} owner A: {ar:>9,.0f} req/s p50 {a50:6.2f} ms p99 {a99:6.2f} ms | "
      f"via B: {br:>9,.0f} req/s p50 {b50:6.2f} ms p99 {b99:6.2f} ms | added p50 {b50 - a50:+.2f} ms, "
      f"p99 {b99 - a99:+.2f} ms | errors {ae:.0f}/{be:.0f}")
PY
  done
done

if [ "$viewers" -gt 0 ]; then
  counter() { curl -sf "$1/metrics" | awk -v k="streamhall_hls_responses_total{kind=\"$2\"}" '$1 == k { print $2 }'; }
  a_seg0=$(counter "$a" segment) a_pl0=$(counter "$a" playlist)
  b_seg0=$(counter "$b" segment) b_pl0=$(counter "$b" playlist)
  echo "== $viewers viewers on B for ${play}s (A owns the stream)"
  "$load" hls --quiet --target "$b" --channel bench --viewers "$viewers" --ramp 10s \
    --duration "${play}s" --json "$out/viewers.json" --html "$out/viewers.html"
  python3 - "$out/viewers.json" "$(counter "$a" segment)" "$a_seg0" "$(counter "$a" playlist)" "$a_pl0" \
    "$(counter "$b" segment)" "$b_seg0" "$(counter "$b" playlist)" "$b_pl0" "$(counter "$b" relay_error)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a_seg, a_seg0, a_pl, a_pl0, b_seg, b_seg0, b_pl, b_pl0 = (float(x or 0) for x in sys.argv[2:10])
errors = float(sys.argv[10] or 0)
stalls = {k: v for k, v in r["counters"].items() if "stall" in k}
errors_seen = {k: t for k, t in r["tallies"].items() if "error" in k and t}
print(f"viewers: {stalls}, errors {errors_seen or 'none'}")
seg_b, seg_a, pl_b, pl_a = b_seg - b_seg0, a_seg - a_seg0, b_pl - b_pl0, a_pl - a_pl0
print(f"B served {seg_b:,.0f} segments and {pl_b:,.0f} playlists; it fetched {seg_a:,.0f} segments and "
      f"{pl_a:,.0f} playlists from A (relay errors: {errors:.0f})")
if seg_a:
    print(f"segments per upstream fetch: {seg_b / seg_a:,.0f}; playlists per upstream fetch: {pl_b / max(pl_a, 1):,.0f}")
PY
fi
stop_pid "$node_b"
stop_pid "$node_a"
