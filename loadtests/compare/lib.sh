# Shared by the compare scripts: build, start and stop servers, all on loopback.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=${STREAMHALL_PEERS:-$root/../shared/peers}
target_dir=${CARGO_TARGET_DIR:-$root/target}
# LOAD_BIN_DIR=DIR uses release binaries already built there instead of building.
bin_dir=${LOAD_BIN_DIR:-$target_dir/release}
load="$bin_dir/streamhall-load"
server="$bin_dir/streamhall"
out=${OUT:-$(mktemp -d /tmp/streamhall-compare.XXXXXX)}
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

build() {
  [ -n "${LOAD_BIN_DIR:-}" ] && return 0
  (cd "$root" && cargo build --release --locked -p streamhall-load -p streamhall --bins)
}

# start_streamhall PORT RTMP_PORT [ENV=VALUE...]: a fresh server on embedded defaults; sets $server_pid.
start_streamhall() {
  local port=$1 rport=$2; shift 2
  local dir; dir=$(mktemp -d "$out/server.XXXXXX")
  # STREAMHALL_PEERS is this script's setting, not the server's (which refuses unknown keys).
  env -u STREAMHALL_PEERS STREAMHALL_DATA_DIR="$dir" STREAMHALL_HTTP__LISTEN="127.0.0.1:$port" STREAMHALL_RTMP__LISTEN="127.0.0.1:$rport" STREAMHALL_SRT__LISTEN=127.0.0.1:0 \
    STREAMHALL_LOG__LEVEL=warn "$@" "$server" serve >"$dir/out.log" 2>&1 &
  server_pid=$!; pids+=("$server_pid")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "streamhall did not start; see $dir/out.log" >&2; exit 1
}

stop_pid() { kill -INT "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

machine() { echo "$(nproc) vCPU, $(free -g | awk '/Mem:/{print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME")"; }

# Registers a user on the server at PORT and pushes one channel per NAME:BITRATE for 8 s over
# RTMP_PORT (720p30 testsrc2, constant bitrate, 1 s GOP: one segment of the copied source is
# about BITRATE/8 bytes); returns once every push has ended.
#   push_sized_channels PORT RTMP_PORT "NAME:BITRATE ..."
push_sized_channels() {
  local api=http://127.0.0.1:$1/api/v1 rport=$2 token s name rate key pushers=()
  token=$(curl -sf -X POST "$api/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"benchmark-password"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  for s in $3; do
    name=${s%%:*} rate=${s#*:}
    key=$(curl -sf -X POST "$api/channels" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' -d "{\"slug\":\"$name\",\"title\":\"$name\"}" | sed -E 's/.*"stream_key":"([^"]+)".*/\1/')
    ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine \
      -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g 30 -b:v "$rate" -minrate "$rate" -maxrate "$rate" \
      -bufsize "$rate" -x264-params nal-hrd=cbr -c:a aac -t 8 -f flv "rtmp://127.0.0.1:$rport/live/$key" &
    pushers+=($!)
  done
  wait "${pushers[@]}"
}
