#!/usr/bin/env bash
# The HLS lane against actix-http's dispatcher on one server: the same playlist and segments
# fetched as /hls/... (the lane: no copy, sendfile for segments up to 512 KiB) and as /%68ls/...
# (the same route percent-encoded, which does not match the lane's prefix, so the dispatcher
# serves it by copying). Three channels are pushed for 8 s as in compare/hls_sizes.sh (segments
# of about 300 KiB, 1 MB and 2 MB); then for each connection count and file, wrk -t1 fetches it
# ROUNDS times each way, alternating.
#   loadtests/bench/hls_lane.sh [SECONDS=4] [CONNECTIONS="100 1000"] [ROUNDS=2]
# Prints one line per fetch: file, connections, path, round, req/s, transfer/s. Needs ffmpeg,
# wrk, curl.
set -euo pipefail
. "$(dirname "$0")/../compare/lib.sh"
secs=${1:-4} conns=${2:-100 1000} rounds=${3:-2}
ulimit -n "$(ulimit -Hn)"
build
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
start_streamhall 18710 19710 STREAMHALL_LIVE__GRACE_SECS=300 STREAMHALL_HTTP__WORKERS=1 \
  STREAMHALL_LIVE__LADDER__RENDITIONS='[]' STREAMHALL_HTTP__MAX_REQUESTS_PER_IP=0 \
  STREAMHALL_HTTP__VIEWER_IDS_PER_ADDRESS=0
push_sized_channels 18710 19710 "s300k:2350k s1m:7800k s2m:15600k"
echo "== $(date -u +%F) $(machine); wrk -t1, ${secs}s per fetch"
for c in $conns; do
  for what in playlist s300k s1m s2m; do
    if [ $what = playlist ]; then path=s300k/source/index.m3u8; else
      # The second-to-last segment: a full second.
      seg=$(curl -sf "http://127.0.0.1:18710/hls/$what/source/index.m3u8" | grep -v '^#' | tail -2 | head -1)
      path=$what/source/$seg
    fi
    for round in $(seq "$rounds"); do
      for via in hls %68ls; do
        r=$(wrk -t1 -c"$c" -d"${secs}s" "http://127.0.0.1:18710/$via/$path" 2>&1 |
          awk '/Requests\/sec/{r=$2} /Transfer\/sec/{t=$2} END{print r, t}')
        [ "$via" = hls ] && who=lane || who=dispatcher
        echo "$what c$c $who round$round: $r"
      done
    done
  done
done
