#!/usr/bin/env bash
# HLS serving, streamhall (from memory) vs nginx (the peer, from disk, 1 worker) on the same
# files, one run; then simulated viewers of one live stream on streamhall.
#   loadtests/compare/hls.sh [SECONDS=10] [CONCURRENCY=100] [VIEWERS=2000]
# A 720p publisher with a ~16 Mb/s source rendition pushes 14 s and stops; within the
# reconnect grace the window stays put, so both servers serve identical bytes: one playlist and
# one segment, each fetched in a closed loop by CONCURRENCY connections (`streamhall-load get`).
# Then VIEWERS viewers (0 skips) play a fresh live stream for SECONDS x 3 and stalls are counted.
# Needs ffmpeg, nginx, curl.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-10} conc=${2:-100} viewers=${3:-2000}
build
echo "== $(date -u +%F) $(machine); c=$conc, ${secs}s each; results in $out"
# Up to 100 simulated viewers share a source address: no cap on viewer ids per address.
start_streamhall 18610 19610 STREAMHALL_LIVE__GRACE_SECS=300 STREAMHALL_HTTP__VIEWER_IDS_PER_ADDRESS=0
api=http://127.0.0.1:18610/api/v1
token=$(curl -sf -X POST "$api/auth/register" -H 'content-type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"benchmark-password"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
key=$(curl -sf -X POST "$api/channels" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' -d '{"slug":"bench","title":"Bench"}' | sed -E 's/.*"stream_key":"([^"]+)".*/\1/')
ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 30 -b:v 16M -minrate 16M -maxrate 16M -bufsize 4M \
  -x264-params nal-hrd=cbr -c:a aac -t 14 -f flv "rtmp://127.0.0.1:19610/live/$key"
base=http://127.0.0.1:18610/hls/bench/source files="$out/peer/bench/source"
mkdir -p "$files"
curl -sf "$base/index.m3u8" -o "$files/index.m3u8"
seg=$(grep -v '^#' "$files/index.m3u8" | tail -2 | head -1)
curl -sf "$base/$seg" -o "$files/$seg"
echo "segment $seg: $(stat -c %s "$files/$seg") bytes; playlist $(stat -c %s "$files/index.m3u8") bytes"
chmod a+x "$out"; chmod -R a+rX "$out/peer"   # nginx's worker runs unprivileged
"$peers/serve-hls-nginx.sh" "$out/peer" 18618 >/dev/null
nginx_pid=$(cat /tmp/hls-nginx-18618/nginx.pid)
stop_nginx() { kill "$nginx_pid" 2>/dev/null || true; }
trap 'stop_nginx; cleanup' EXIT
for what in playlist segment; do
  file=index.m3u8; [ $what = segment ] && file=$seg
  "$load" get --quiet --url "$base/$file" --concurrency "$conc" --duration "${secs}s" --json "$out/$what-streamhall.json" >/dev/null
  "$load" get --quiet --url "http://127.0.0.1:18618/hls/bench/source/$file" --label nginx --concurrency "$conc" \
    --duration "${secs}s" --json "$out/$what-nginx.json" >/dev/null
done
stop_nginx
echo "== playlist (goal: req/s >= 1.0x nginx)"
python3 "$here/ratio.py" "$out/playlist-streamhall.json" "$out/playlist-nginx.json" \
  figures.requests_per_sec latencies.request.p50_ms latencies.request.p99_ms
echo "== segment (goal: bytes/s >= 0.8x nginx)"
python3 "$here/ratio.py" "$out/segment-streamhall.json" "$out/segment-nginx.json" \
  figures.bytes_per_sec figures.requests_per_sec latencies.request.p99_ms

if [ "$viewers" -gt 0 ]; then
  play=$((secs * 3))
  key=$(curl -sf -X POST "$api/channels" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"slug":"viewers","title":"Viewers"}' | sed -E 's/.*"stream_key":"([^"]+)".*/\1/')
  ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine \
    -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 30 -b:v 600k -c:a aac -t $((play + 40)) \
    -f flv "rtmp://127.0.0.1:19610/live/$key" 2>/dev/null &
  publisher=$!; pids+=("$publisher")
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18610/hls/viewers/master.m3u8 >/dev/null && break; sleep 0.2; done
  echo "== $viewers viewers of one stream for ${play}s (goal: zero stalls)"
  "$load" hls --quiet --target http://127.0.0.1:18610 --channel viewers --viewers "$viewers" --ramp 20s \
    --duration "${play}s" --json "$out/viewers.json" --html "$out/viewers.html"
  kill "$publisher" 2>/dev/null || true
fi
stop_pid "$server_pid"
