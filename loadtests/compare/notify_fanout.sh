#!/usr/bin/env bash
# Go-live fan-out: a channel with FOLLOWERS followers (seeded), CONNECTED of them with an open
# notification socket, goes live; how long until every notification row exists and every
# socket got its push, the server's peak RSS, and chat latency in another room meanwhile.
#   loadtests/compare/notify_fanout.sh [FOLLOWERS=100000] [CONNECTED=1000] [BACKEND=sqlite|postgres]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
followers=${1:-100000} connected=${2:-1000} backend=${3:-sqlite}
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432}
secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
build
(cd "$root" && cargo build --release --locked --example notify_fanout)
bench="$target_dir/release/examples/notify_fanout"
case $backend in
  sqlite) dburl="sqlite://$out/fanout.db?mode=rwc" ;;
  postgres)
    db="streamhall_fanout_$$"
    psql "$pg/postgres" -qc "CREATE DATABASE $db"
    trap 'cleanup; psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true' EXIT
    dburl="$pg/$db" ;;
  *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac
start_streamhall 18700 19700 STREAMHALL_DATABASE__URL="$dburl" STREAMHALL_AUTH__JWT_SECRET="$secret" \
  STREAMHALL_CHAT__MESSAGES_PER_WINDOW=1000000 STREAMHALL_CHAT__MAX_CONNECTIONS_PER_IP=0 \
  STREAMHALL_AUTH__THROTTLE__REGISTRATIONS_PER_IP=1000
echo "== $(date -u +%F) $(machine); $backend; $followers followers, $connected connected"
"$bench" --target http://127.0.0.1:18700 --rtmp rtmp://127.0.0.1:19700/live --database "$dburl" \
  --jwt-secret "$secret" --server-pid "$server_pid" --followers "$followers" --connected "$connected" \
  --load "$load" --json "$out/fanout.json"
