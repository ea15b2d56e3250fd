#!/usr/bin/env bash
# Writes per delivery in chat fan-out: one room, SUBS readers, 10 senders x RATE msg/s, 100-byte
# messages, on a fresh release server; 8 s in, for 6 s, counts the server's writev calls
# (`perf stat -e syscalls:sys_enter_writev`) and its CPU from /proc.
#   loadtests/bench/fanout_writes.sh [SUBS=1000] [RATE=10]
# Prints deliveries/s, delivery p50/p99, lost, writev/s, deliveries per write, and CPU-s per
# million deliveries over those 6 s (perf's tracepoint adds a little to every syscall, so the
# CPU reads higher than chat_fanout.sh's). Needs perf (Debian's linux-perf).
set -euo pipefail
. "$(dirname "$0")/../compare/lib.sh"
subs=${1:-1000} rate=${2:-10}
ulimit -n "$(ulimit -Hn)"
build
command -v perf >/dev/null || { echo "perf is missing (apt-get install linux-perf)" >&2; exit 1; }
start_streamhall 18650 19650 STREAMHALL_CHAT__MESSAGES_PER_WINDOW=1000000 STREAMHALL_CHAT__MAX_CONNECTIONS_PER_IP=0
"$load" chat --quiet --target http://127.0.0.1:18650 --duration 14s --ramp 3s --connections "$subs" --senders 10 \
  --rate "$rate" --size 100 --server-pid "$server_pid" --json "$out/fanout.json" >/dev/null &
gen=$!
sleep 8
cpu0=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
writes=$(perf stat -x, -e syscalls:sys_enter_writev -p "$server_pid" -- sleep 6 2>&1 | awk -F, '/writev/{print $1}')
cpu1=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
wait "$gen"
stop_pid "$server_pid"
python3 - "$out/fanout.json" "$writes" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
writes, cpu0, cpu1, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
f, d = r["figures"]["delivered_per_sec"], r["latencies"]["delivery"]
print(f"delivered/s {f:,.0f} p50 {d['p50_ms']:.1f} ms p99 {d['p99_ms']:.1f} ms lost {r['counters'].get('lost', 0)} "
      f"writev/s {writes / 6:,.0f} deliveries/write {f * 6 / writes:.2f} "
      f"CPU-s/M {(cpu1 - cpu0) / hz / 6 / (f / 1e6):.2f}")
PY
