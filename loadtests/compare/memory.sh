#!/usr/bin/env bash
# Memory per idle chat room and per live stream, on the release server's defaults, a fresh
# server per run:
#   loadtests/compare/memory.sh [READERS=1000] [STREAMS="1 10"] [SECONDS=40]
# Rooms: READERS idle readers, each in a room of its own, then all in one room; the difference
# in server RSS per reader is what an open, idle room costs. Streams: N small publishers
# (320x180, 15 fps, 300 kb/s, so ten fit on two cores) for SECONDS; the RSS of the server and of
# its children (the ffmpeg each stream runs) is read from /proc 5 s before the end. Appends one
# JSON line per run to $out/memory.jsonl. READERS=0 or STREAMS="" skips that half.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
readers=${1:-1000} streams=${2-1 10} secs=${3:-40}
build
echo "== $(date -u +%F) $(machine); results in $out"

rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

if [ "$readers" -gt 0 ]; then
  for rooms in "$readers" 1; do
    start_streamhall 18640 19640 STREAMHALL_CHAT__MAX_CONNECTIONS_PER_IP=0
    "$load" chat --quiet --target http://127.0.0.1:18640 --rooms "$rooms" --connections "$readers" --senders 0 \
      --ramp "$(( readers / 100 + 1 ))s" --duration 3s --drain 0s --server-pid "$server_pid" --json "$out/rooms-$rooms.json" >/dev/null
    stop_pid "$server_pid"
    python3 - "$out/rooms-$rooms.json" "$rooms" "$readers" >>"$out/memory.jsonl" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(json.dumps({"what": "rooms", "rooms": int(sys.argv[2]), "readers": int(sys.argv[3]),
                  "connected": r["counters"].get("readers_connected", 0),
                  "kib_per_reader": r["figures"].get("server_kib_per_conn")}))
PY
    tail -1 "$out/memory.jsonl"
  done
fi

for n in $streams; do
  start_streamhall 18640 19640
  before=$(rss_kib "$server_pid")
  "$load" ingest --quiet --target http://127.0.0.1:18640 --rtmp rtmp://127.0.0.1:19640/live --publishers "$n" \
    --size 320x180 --fps 15 --bitrate 300k --ramp 2s --duration "${secs}s" --json "$out/streams-$n.json" >/dev/null &
  gen=$!
  sleep $((secs - 3))
  live=$(rss_kib "$server_pid") kids=0 nkids=0
  for k in $(pgrep -P "$server_pid" || true); do kids=$((kids + $(rss_kib "$k"))); nkids=$((nkids + 1)); done
  wait "$gen" || true
  stop_pid "$server_pid"
  echo "{\"what\":\"streams\",\"streams\":$n,\"server_rss_kib_before\":$before,\"server_rss_kib_live\":$live,\"children\":$nkids,\"children_rss_kib\":$kids}" >>"$out/memory.jsonl"
  tail -1 "$out/memory.jsonl"
done
