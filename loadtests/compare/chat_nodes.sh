#!/usr/bin/env bash
# Chat across two nodes: what delivery through Redis adds, in one run.
#   loadtests/compare/chat_nodes.sh [READERS=1000] [SENDERS=10] [RATE=10] [SECONDS=10]
# Two streamhall nodes share one PostgreSQL database and one Redis (PostgreSQL at
# 127.0.0.1:5432 as user postgres, Redis at 127.0.0.1:6379; override with PG_URL / REDIS_URL).
# Run 1: readers and senders on node A. Run 2: senders on node A, readers on node B.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
readers=${1:-1000} senders=${2:-10} rate=${3:-10} secs=${4:-10}
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
  STREAMHALL_AUTH__JWT_SECRET="$secret" STREAMHALL_CHAT__MESSAGES_PER_WINDOW=1000000 STREAMHALL_CHAT__MAX_CONNECTIONS_PER_IP=0
  STREAMHALL_AUTH__THROTTLE__REGISTRATIONS_PER_IP=1000)
start_streamhall 18600 19600 "${node_env[@]}"; node_a=$server_pid
start_streamhall 18601 19601 "${node_env[@]}"; node_b=$server_pid
echo "== $(date -u +%F) $(machine); two nodes on PostgreSQL + Redis; $readers readers, $senders senders x $rate msg/s, ${secs}s"
common=(--duration "${secs}s" --ramp 3s --connections "$readers" --senders "$senders" --rate "$rate" --size 100 --quiet)
"$load" chat --target http://127.0.0.1:18600 "${common[@]}" --json "$out/one-node.json" >/dev/null
"$load" chat --target http://127.0.0.1:18600 --readers-target http://127.0.0.1:18601 "${common[@]}" \
  --json "$out/two-nodes.json" >/dev/null
python3 - "$out/one-node.json" "$out/two-nodes.json" <<'PY'
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:3])
for label, r in (("one node ", one), ("two nodes", two)):
    d, c = r["latencies"]["delivery"], r["counters"]
    print(f"{label}: delivery p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, "
          f"delivered {c.get('received', 0):,}, lost {c.get('lost', 0)}, duplicates {c.get('duplicates', 0)}")
d1, d2 = one["latencies"]["delivery"], two["latencies"]["delivery"]
print(f"added by crossing nodes: p50 {d2['p50_ms'] - d1['p50_ms']:+.1f} ms, p99 {d2['p99_ms'] - d1['p99_ms']:+.1f} ms")
PY
