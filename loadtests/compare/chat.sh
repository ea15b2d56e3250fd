#!/usr/bin/env bash
# Chat fan-out, streamhall vs the Node `ws` broadcast peer, same load, one run:
#   loadtests/compare/chat.sh [READERS=1000] [SENDERS=10] [RATE=10] [SECONDS=10] [IDLE=10000]
# READERS readers in one room, SENDERS senders at RATE msg/s each, 100-byte messages; then a
# sweep of the total message rate (SWEEP="20 50 100 150 200" msg/s, 5 s each; SWEEP= skips) for
# each server's capacity at p99 <= 100 ms; then IDLE idle connections to each server for memory
# per connection (0 skips; IDLE_RAMP=10s is how long they take to connect). READERS=0 runs the
# idle part alone; the idle server logs at IDLE_LOG_LEVEL (default info, the server's own default:
# a request's span lives as long as its socket). Prints both reports and the ratios. Needs node
# (npm install in the peer's folder is done here). NO_PEER=1 with READERS=0 measures streamhall's
# idle connections alone (no peer column).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
readers=${1:-1000} senders=${2:-10} rate=${3:-10} secs=${4:-10} idle=${5:-10000}
build
[ "${NO_PEER:-}" = 1 ] || (cd "$peers/ws-broadcast" && [ -d node_modules ] || npm install --no-audit --no-fund >/dev/null)
# Senders post faster than a viewer may by default, and each run registers its own accounts.
limits=(STREAMHALL_CHAT__MESSAGES_PER_WINDOW=1000000 STREAMHALL_AUTH__THROTTLE__REGISTRATIONS_PER_IP=100000)
common=(--duration "${secs}s" --ramp 3s --connections "$readers" --senders "$senders" --rate "$rate" --size 100)
echo "== $(date -u +%F) $(machine); $readers readers, $senders senders x $rate msg/s, ${secs}s; results in $out"

[ "${NO_PEER:-}" = 1 ] && [ "$readers" -gt 0 ] && { echo "NO_PEER=1 measures idle connections only: READERS must be 0" >&2; exit 2; }
if [ "$readers" -gt 0 ]; then
  PORT=19001 node "$peers/ws-broadcast/server.js" >"$out/peer.log" 2>&1 &
  peer=$!; pids+=("$peer"); sleep 1
  "$load" chat --target http://127.0.0.1:19001 --peer ws-broadcast --server-pid "$peer" "${common[@]}" \
    --json "$out/chat-peer.json" --html "$out/chat-peer.html"
  stop_pid "$peer"

  start_streamhall 18600 19600 "${limits[@]}"
  "$load" chat --target http://127.0.0.1:18600 --server-pid "$server_pid" "${common[@]}" \
    --json "$out/chat-streamhall.json" --html "$out/chat-streamhall.html"
  stop_pid "$server_pid"

  echo "== chat fan-out (goal: delivered/s >= 10x the peer, p99 <= 100 ms, nothing lost)"
  python3 "$here/ratio.py" "$out/chat-streamhall.json" "$out/chat-peer.json" \
    figures.delivered_per_sec latencies.delivery.p50_ms latencies.delivery.p99_ms figures.loss_ratio counters.lost
fi

sweep=${SWEEP-20 50 100 150 200}
if [ "$readers" -gt 0 ] && [ -n "$sweep" ]; then
  sweep_run() { # WHO TARGET [ARGS...]
    local who=$1 target=$2; shift 2
    for total in $sweep; do
      "$load" chat --quiet --target "$target" "$@" --duration 5s --ramp 2s --connections "$readers" \
        --senders "$senders" --rate "$(python3 -c "print($total / $senders)")" --size 100 \
        --json "$out/sweep-$who-$total.json" >/dev/null
    done
  }
  PORT=19001 node "$peers/ws-broadcast/server.js" >"$out/peer-sweep.log" 2>&1 &
  peer=$!; pids+=("$peer"); sleep 1
  sweep_run peer http://127.0.0.1:19001 --peer ws-broadcast
  stop_pid "$peer"
  start_streamhall 18600 19600 "${limits[@]}"
  sweep_run streamhall http://127.0.0.1:18600
  stop_pid "$server_pid"
  echo "== fan-out capacity, $readers readers in one room (goal: >= 10x the peer at p99 <= 100 ms)"
  python3 "$here/capacity.py" "$out" 100
fi

if [ "$idle" -gt 0 ]; then
  idle_args=(--duration 2s --ramp "${IDLE_RAMP:-10s}" --connections "$idle" --senders 0 --drain 0s)
  if [ "${NO_PEER:-}" != 1 ]; then
    PORT=19001 node "$peers/ws-broadcast/server.js" >"$out/peer-idle.log" 2>&1 &
    peer=$!; pids+=("$peer"); sleep 1
    "$load" chat --target http://127.0.0.1:19001 --peer ws-broadcast --server-pid "$peer" "${idle_args[@]}" --json "$out/idle-peer.json" >/dev/null
    stop_pid "$peer"
  fi
  start_streamhall 18600 19600 STREAMHALL_LOG__LEVEL="${IDLE_LOG_LEVEL:-info}"
  "$load" chat --target http://127.0.0.1:18600 --server-pid "$server_pid" "${idle_args[@]}" --json "$out/idle-streamhall.json" >/dev/null
  stop_pid "$server_pid"
  echo "== $idle idle connections (goal: at most the peer's memory per connection)"
  python3 "$here/ratio.py" "$out/idle-streamhall.json" "$([ "${NO_PEER:-}" = 1 ] && echo - || echo "$out/idle-peer.json")" \
    counters.readers_connected counters.connect_failures figures.server_kib_per_conn latencies.connect.p99_ms
fi
