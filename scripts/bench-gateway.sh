#!/usr/bin/env bash
# Gateway throughput: chorus serving 100 KB and 10 MB objects from /ipfs/<cid> under wrk, next
# to nginx serving the same bytes from disk in the same run; prints requests/s and MB/s as
# chorus/nginx ratios (targets: >= 0.8 for 100 KB, >= 0.9 for 10 MB) and the daemon's RSS;
# then 1,000 concurrent streams of the 10 MB object and the daemon's peak RSS.
#
#   ./scripts/bench-gateway.sh [SECONDS]   # per wrk run, default 10
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
# 1,000 client sockets for the concurrency run, plus wrk's own files.
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work="$(mktemp -d "${TMPDIR:-/tmp}/chorus-gwbench.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# CHORUS=/path/to/chorus measures another build (e.g. the one before a change).
if [ -z "${CHORUS:-}" ]; then
  cargo build --release -p chorus --locked >&2
fi
chorus="${CHORUS:-${CARGO_TARGET_DIR:-$PWD/target}/release/chorus}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx workers run as an unprivileged user: the served files must be world-readable.
chmod 755 "$work"
mkdir -p "$work/www"
head -c 100000 /dev/urandom >"$work/www/small.bin"
head -c 10000000 /dev/urandom >"$work/www/large.bin"

repo="$work/repo"
"$chorus" --repo "$repo" init >/dev/null
small=$("$chorus" --repo "$repo" add -Q "$work/www/small.bin")
large=$("$chorus" --repo "$repo" add -Q "$work/www/large.bin")
gw_port=$(free_port)
"$chorus" --repo "$repo" daemon --offline --api-addr 127.0.0.1:0 --gateway-addr "127.0.0.1:$gw_port" \
  --metrics-addr "" >"$work/daemon.log" 2>&1 &
pids+=($!)
daemon_pid=$!
until grep -q "Daemon is ready" "$work/daemon.log"; do
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
  sleep 0.1
done

ng_port=$(free_port)
cat >"$work/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $work/tmp;
  proxy_temp_path $work/tmp;
  fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp;
  scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$ng_port; root $work/www; }
}
NGINX
mkdir -p "$work/tmp"
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$ng_port/small.bin" -o /dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$ng_port/small.bin" -o /dev/null ||
  { echo "nginx does not serve the files:" >&2; cat "$work/nginx-error.log" >&2; exit 1; }

# run URL -> "requests_per_sec mb_per_sec"
run() {
  wrk -t2 -c16 -d"${secs}s" --latency "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /Transfer\/sec/ {v=$2; u=substr(v, length(v)-1); n=substr(v, 1, length(v)-2);
                     if (u=="GB") n*=1024; else if (u=="KB") n/=1024; mb=n*1.048576}
    END {printf "%.1f %.1f\n", rps, mb}'
}

printf '%-8s %-7s %12s %10s\n' object server "requests/s" "MB/s"
for name in small large; do
  cid=$([ "$name" = small ] && echo "$small" || echo "$large")
  read -r c_rps c_mb < <(run "http://127.0.0.1:$gw_port/ipfs/$cid")
  read -r n_rps n_mb < <(run "http://127.0.0.1:$ng_port/$name.bin")
  printf '%-8s %-7s %12s %10s\n' "$name" chorus "$c_rps" "$c_mb"
  printf '%-8s %-7s %12s %10s\n' "$name" nginx "$n_rps" "$n_mb"
  target=$([ "$name" = small ] && echo 0.8 || echo 0.9)
  printf '%-8s ratio chorus/nginx: requests %.2f, bytes %.2f (target >= %s)\n' "$name" \
    "$(echo "$c_rps / $n_rps" | bc -l)" "$(echo "$c_mb / $n_mb" | bc -l)" "$target"
done
echo "chorus daemon RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$daemon_pid/status")"
# The gateway's memory bound: 1,000 streams of the 10 MB object at once.
wrk -t2 -c1000 -d"${secs}s" "http://127.0.0.1:$gw_port/ipfs/$large" >"$work/wrk-1000.log" 2>&1 ||
  { cat "$work/wrk-1000.log" >&2; exit 1; }
echo "1,000 concurrent 10 MB streams: $(awk '/Requests\/sec/ {print $2}' "$work/wrk-1000.log") requests/s," \
  "$(awk '/Transfer\/sec/ {print $2}' "$work/wrk-1000.log")/s;" \
  "daemon peak RSS $(awk '/VmHWM/ {print $2, $3}' "/proc/$daemon_pid/status")"
