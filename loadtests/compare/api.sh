#!/usr/bin/env bash
# API reads: the release server on SQLite, then on PostgreSQL, 30 channels, wrk with 64
# connections on `GET /api/v1/channels` and one channel, anonymous and signed in.
#   loadtests/compare/api.sh [SECONDS=10] [BACKENDS="sqlite postgres"]
# PostgreSQL at $STREAMHALL_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432): a database
# is created for the run and dropped after. Prints wrk's figures per case and appends one JSON
# line per case to $out/api.jsonl. Needs wrk, curl, psql (for PostgreSQL).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-10} backends=${2:-sqlite postgres}
pg_url=${STREAMHALL_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}
build
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
echo "== $(date -u +%F) $(machine); wrk -t2 -c64 -d${secs}s; results in $out"
port=18480
for backend in $backends; do
  env=(STREAMHALL_AUTH__THROTTLE__REGISTRATIONS_PER_IP=100000)
  db=""
  if [ "$backend" = postgres ]; then
    db="streamhall_bench_$$"
    psql "$pg_url/postgres" -qc "CREATE DATABASE $db" >/dev/null
    env+=(STREAMHALL_DATABASE__URL="$pg_url/$db")
  fi
  start_streamhall "$port" 19480 "${env[@]}"
  token=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"benchmark-password"}' \
    | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  for i in $(seq -w 1 30); do
    curl -sf -X POST "http://127.0.0.1:$port/api/v1/channels" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' -d "{\"slug\":\"bench-$i\",\"title\":\"Bench channel $i\"}" >/dev/null
  done
  for path in /api/v1/channels /api/v1/channels/bench-07; do
    for who in anonymous signed-in; do
      auth=()
      [ "$who" = signed-in ] && auth=(-H "authorization: Bearer $token")
      echo "== $backend GET $path, $who"
      wrk -t2 -c64 -d"${secs}s" --latency "${auth[@]}" "http://127.0.0.1:$port$path" >"$out/wrk.txt"
      grep -E 'Requests/sec|Latency|50%|99%|Non-2xx|errors' "$out/wrk.txt"
      # wrk prints latencies as 1.23ms / 456.00us / 1.20s.
      awk -v b="$backend" -v p="$path" -v w="$who" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ { r = $2 } / 50%/ { p50 = ms($2) } / 99%/ { p99 = ms($2) } /Non-2xx/ { e = $NF }
        END { printf "{\"backend\":\"%s\",\"path\":\"%s\",\"who\":\"%s\",\"req_per_sec\":%s,\"p50_ms\":%s,\"p99_ms\":%s,\"non_2xx\":%d}\n", b, p, w, r + 0, p50 + 0, p99 + 0, e + 0 }
      ' "$out/wrk.txt" >>"$out/api.jsonl"
    done
  done
  stop_pid "$server_pid"
  if [ -n "$db" ]; then psql "$pg_url/postgres" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null; fi
done
