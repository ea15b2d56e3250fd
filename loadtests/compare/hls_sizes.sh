#!/usr/bin/env bash
# HLS serving by segment size: streamhall (from memory) against nginx (the peer: 1 worker,
# sendfile, open_file_cache) on the same files, measured with wrk, one run.
#   loadtests/compare/hls_sizes.sh [SECONDS=10] [CONNECTIONS="100 1000"] [WORKERS="1 2"]
# Three channels are pushed for 8 s at constant bitrates chosen so one 1 s segment of the copied
# source is about 300 KiB, 1 MB and 2 MB; within the reconnect grace the windows stay put, so
# both servers serve identical bytes. For each streamhall worker count and each connection
# count, wrk fetches the playlist and each segment in a closed loop (`wrk -t1 -cN -dSECONDS`),
# streamhall then nginx. Prints one row per case with both figures and the ratio, and appends it
# as a JSON line to $out/hls_sizes.jsonl.
# Needs ffmpeg, nginx, wrk, curl. NO_PEER=1 measures streamhall alone (no nginx column): the
# smoke run in ./dev test, where ../shared/peers may be absent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
secs=${1:-10} conns=${2:-100 1000} workers=${3:-1 2}
# wrk -c1000, the server and nginx each need more than the usual 1,024 descriptors.
ulimit -n "$(ulimit -Hn)"
build
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
echo "== $(date -u +%F) $(machine); wrk -t1, ${secs}s per case; results in $out"

# name:bitrate (a 1 s segment of ~16 Mb/s CBR is ~2 MB; the muxing overhead is ~4%)
sizes="s300k:2350k s1m:7800k s2m:15600k"
files="$out/peer"
mkdir -p "$files"
first=1 failed=0
for w in $workers; do
  # Every wrk connection comes from one address: no cap on its requests in flight or viewer ids
  # (nginx has none); only the source is offered (nothing to transcode while measuring).
  start_streamhall 18620 19620 STREAMHALL_LIVE__GRACE_SECS=300 STREAMHALL_HTTP__WORKERS="$w" \
    STREAMHALL_LIVE__LADDER__RENDITIONS='[]' STREAMHALL_HTTP__MAX_REQUESTS_PER_IP=0 \
    STREAMHALL_HTTP__VIEWER_IDS_PER_ADDRESS=0
  push_sized_channels 18620 19620 "$sizes"
  declare -A seg
  for s in $sizes; do
    name=${s%%:*} base=http://127.0.0.1:18620/hls/${s%%:*}/source
    mkdir -p "$files/$name/source"
    curl -sf "$base/index.m3u8" -o "$files/$name/source/index.m3u8"
    # The second-to-last segment: a full second (the last one can be the short tail).
    seg[$name]=$(grep -v '^#' "$files/$name/source/index.m3u8" | tail -2 | head -1)
    curl -sf "$base/${seg[$name]}" -o "$files/$name/source/${seg[$name]}"
    [ $first = 1 ] && echo "$name: segment ${seg[$name]} $(stat -c %s "$files/$name/source/${seg[$name]}") bytes, playlist $(stat -c %s "$files/$name/source/index.m3u8") bytes"
  done
  if [ $first = 1 ]; then
    if [ "${NO_PEER:-}" != 1 ]; then
      chmod a+x "$out"; chmod -R a+rX "$files"   # nginx's worker runs unprivileged
      "$peers/serve-hls-nginx.sh" "$files" 18628 >/dev/null
      nginx_pid=$(cat /tmp/hls-nginx-18628/nginx.pid)
      trap 'kill "$nginx_pid" 2>/dev/null || true; cleanup' EXIT
    fi
    printf '%-22s %-7s %-6s %14s %14s %7s\n' what workers conns streamhall nginx ratio
    first=0
  fi
  run_wrk() { wrk -t1 -c"$2" -d"${secs}s" "$1" 2>&1 | awk '/Requests\/sec/{r=$2} /Transfer\/sec/{t=$2} /Socket errors|Non-2xx/{e=e" "$0} END{print r, t, (e==""?"-":e)}'; }
  to_bytes() { awk -v v="$1" 'BEGIN{m=1; if (v~/KB$/) m=1024; if (v~/MB$/) m=1048576; if (v~/GB$/) m=1073741824; sub(/[KMG]?B$/,"",v); printf "%.0f", v*m}'; }
  for c in $conns; do
    for what in playlist s300k s1m s2m; do
      if [ $what = playlist ]; then path=s300k/source/index.m3u8; else path=$what/source/${seg[$what]}; fi
      read -r sr st se <<<"$(run_wrk "http://127.0.0.1:18620/hls/$path" "$c")"
      if [ "${NO_PEER:-}" = 1 ]; then nr=1 nt=1B ne=-; else
        read -r nr nt ne <<<"$(run_wrk "http://127.0.0.1:18628/hls/$path" "$c")"
      fi
      if [ $what = playlist ]; then a=$sr b=$nr unit=req/s; else a=$(to_bytes "$st") b=$(to_bytes "$nt") unit=B/s; fi
      ratio=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2fx", (b>0 ? a/b : 0)}')
      [ "${NO_PEER:-}" = 1 ] && b=- ratio=-
      printf '%-22s %-7s %-6s %14s %14s %7s' "$what ($unit)" "$w" "$c" "$a" "$b" "$ratio"
      [ "$se$ne" != "--" ] && printf '  errors: streamhall %s nginx %s' "$se" "$ne"
      echo
      printf '{"what":"%s","workers":%s,"connections":%s,"unit":"%s","streamhall":%s,"nginx":%s,"errors":%s}\n' \
        "$what" "$w" "$c" "$unit" "$a" "${b/-/null}" "$([ "$se$ne" != "--" ] && echo true || echo false)" >>"$out/hls_sizes.jsonl"
      # A wrong answer or nothing served is a failed run, not a figure (timeouts under load are
      # figures: they are printed).
      case "$se $ne" in *Non-2xx*) failed=1 ;; esac
      awk -v a="$a" -v b="${b/-/1}" 'BEGIN{exit !(a > 0 && b > 0)}' || failed=1
    done
  done
  stop_pid "$server_pid"
done
[ $failed = 0 ] || { echo "some requests were answered with an error or not at all (see above)" >&2; exit 1; }
