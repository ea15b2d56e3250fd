#!/usr/bin/env bash
# Chat fan-out sweep, streamhall vs the Node `ws` broadcast peer, the same load on each, one run:
#   loadtests/compare/chat_fanout.sh ["SUBS:RATE,RATE SUBS:RATE,..."] [SENDERS=10] [SECONDS=10]
# For each subscriber count, one room, SENDERS senders at each RATE msg/s (100-byte messages).
# Prints per run: deliveries/s, delivery p50/p99, lost, and server CPU-seconds per million
# deliveries (from /proc): over the whole run (setup and ramp included) and in the steady
# state (from the last subscriber's connect to the end). The best rate with no loss and p99 <= 100 ms
# is each server's fan-out figure. Each run also appends a JSON line to $out/fanout.jsonl.
# NO_PEER=1 runs streamhall alone (the smoke run in ./dev test, where ../shared/peers may be absent).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
plan=${1:-"1000:20,50,100,200 10000:2,5,10,20"} senders=${2:-10} secs=${3:-10}
build
[ "${NO_PEER:-}" = 1 ] || (cd "$peers/ws-broadcast" && [ -d node_modules ] || npm install --no-audit --no-fund >/dev/null)
echo "== $(date -u +%F) $(machine); senders=$senders, ${secs}s per run; results in $out"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # run NAME PID SUBS RATE EXTRA...
  local name=$1 pid=$2 subs=$3 rate=$4; shift 4
  local ramp=$(( subs / 1000 + 2 ))
  local before; before=$(cpu_ticks "$pid")
  local base; base=$(ls "/proc/$pid/fd" | wc -l)
  "$load" chat --quiet --duration "${secs}s" --ramp "${ramp}s" --connections "$subs" --senders "$senders" \
    --rate "$rate" --size 100 --server-pid "$pid" --json "$out/$name-$subs-$rate.json" "$@" >/dev/null &
  local gen=$! steady=""
  # The steady state starts when the server holds a socket per subscriber: from there on, what
  # it spends is delivering (the senders' sign-in, the connects and the ramp are behind it).
  while kill -0 "$gen" 2>/dev/null; do
    if [ -z "$steady" ] && [ "$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)" -ge $((base + subs)) ]; then
      steady=$(cpu_ticks "$pid")
    fi
    sleep 0.1
  done
  wait "$gen"
  local after; after=$(cpu_ticks "$pid")
  python3 - "$out/$name-$subs-$rate.json" "$name" "$subs" "$rate" "$before" "$after" "$(getconf CLK_TCK)" "${steady:-}" "$secs" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
name, subs, rate, before, after, hz, steady, secs = sys.argv[2:]
f, c, d = r["figures"], r["counters"], r["latencies"]["delivery"]
cpu = (int(after) - int(before)) / int(hz)
delivered = c.get("received", 0)
per_m = cpu / (delivered / 1e6) if delivered else float("nan")
# Steady: the CPU from the last subscriber's connect to the end, over the deliveries of the
# measured window.
window = f["delivered_per_sec"] * int(secs)
steady_m = (int(after) - int(steady)) / int(hz) / (window / 1e6) if steady and window else float("nan")
ok = c.get("lost", 0) == 0 and d["p99_ms"] <= 100
print(f"{name:10} subs={subs:>6} rate={rate:>4} delivered/s={f['delivered_per_sec']:>11,.0f} "
      f"p50={d['p50_ms']:7.1f}ms p99={d['p99_ms']:8.1f}ms lost={c.get('lost', 0):>9} "
      f"cpu={cpu:6.1f}s cpu_s_per_M={per_m:6.2f} steady_per_M={steady_m:6.2f} {'OK' if ok else 'over'}")
nan = lambda v: None if v != v else round(v, 3)
with open(os.path.join(os.path.dirname(sys.argv[1]), "fanout.jsonl"), "a") as log:
    log.write(json.dumps({"server": name, "subs": int(subs), "rate": float(rate), "senders": r.get("params", {}).get("senders"),
                          "delivered_per_sec": f["delivered_per_sec"], "p50_ms": d["p50_ms"], "p99_ms": d["p99_ms"],
                          "lost": c.get("lost", 0), "cpu_s_per_m": nan(per_m), "steady_cpu_s_per_m": nan(steady_m),
                          "ok": ok}) + "\n")
PY
}

for entry in $plan; do
  subs=${entry%%:*}
  IFS=, read -r -a rates <<<"${entry#*:}"
  for rate in "${rates[@]}"; do
    if [ "${NO_PEER:-}" != 1 ]; then
      PORT=19001 node "$peers/ws-broadcast/server.js" >"$out/peer.log" 2>&1 &
      peer=$!; pids+=("$peer"); sleep 1
      run peer "$peer" "$subs" "$rate" --target http://127.0.0.1:19001 --peer ws-broadcast || true
      stop_pid "$peer"
    fi
    start_streamhall 18600 19600 STREAMHALL_CHAT__MESSAGES_PER_WINDOW=1000000 STREAMHALL_CHAT__MAX_CONNECTIONS_PER_IP=0
    run streamhall "$server_pid" "$subs" "$rate" --target http://127.0.0.1:18600 || true
    stop_pid "$server_pid"
  done
done
