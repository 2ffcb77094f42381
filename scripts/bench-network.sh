#!/usr/bin/env bash
# chorus -> chorus transfer over loopback: node A adds a generated file, node B (bootstrapped to
# A) reads it through its gateway, which fetches every block over Bitswap. Prints MB/s and the
# time to first byte of a 1-hop fetch of a fresh small file (target < 50 ms).
#
#   ./scripts/bench-network.sh [SIZE_MIB]   # default 256
#
# Not yet measured in the same run (see the issue notes): kubo->kubo, Helia->Helia, the
# chorus<->kubo/Helia directions and the plain libp2p stream limit.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-256}"
work="$(mktemp -d "${TMPDIR:-/tmp}/chorus-netbench.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -p chorus --locked >&2
chorus="${CARGO_TARGET_DIR:-$PWD/target}/release/chorus"

# start NAME -> starts a daemon on loopback ports, waits until ready.
start() {
  local repo="$work/$1"
  "$chorus" --repo "$repo" daemon --swarm-addr /ip4/127.0.0.1/tcp/0 --api-addr 127.0.0.1:0 \
    --gateway-addr 127.0.0.1:0 --metrics-addr "" >"$work/$1.log" 2>&1 &
  pids+=($!)
  until grep -q "Daemon is ready" "$work/$1.log"; do
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/$1.log" >&2; exit 1; }
    sleep 0.1
  done
}
for n in a b; do
  "$chorus" --repo "$work/$n" init >/dev/null
  sed -i 's/^routing = "auto"/routing = "dhtserver"/' "$work/$n/config.toml"
done
start a
a_addr=$(awk '/^Swarm listening on \/ip4\/127.0.0.1\/tcp\// {print $4; exit}' "$work/a.log")
a_id=$("$chorus" --repo "$work/a" id | awk -F'"' '/"ID"/ {print $4}')
"$chorus" --repo "$work/b" bootstrap add "$a_addr/p2p/$a_id" >/dev/null
start b
gw_b=$(awk '/^Gateway server listening on/ {split($5, p, "/"); print p[3] ":" p[5]}' "$work/b.log")

head -c "$((size_mib * 1024 * 1024))" /dev/zero |
  openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 >"$work/big.bin"
big=$("$chorus" --repo "$work/a" add -Q "$work/big.bin")
small_file="$work/small.bin"
head -c 200000 /dev/urandom >"$small_file"
small=$("$chorus" --repo "$work/a" add -Q "$small_file")

ttfb=$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://$gw_b/ipfs/$small")
start_t=$(date +%s.%N)
curl -sf "http://$gw_b/ipfs/$big" -o "$work/got.bin"
end_t=$(date +%s.%N)
cmp -s "$work/big.bin" "$work/got.bin" || { echo "transferred bytes differ" >&2; exit 1; }
secs=$(echo "$end_t - $start_t" | bc -l)
printf 'chorus -> chorus (gateway of B, blocks from A): %d MiB in %.2f s = %.1f MB/s\n' \
  "$size_mib" "$secs" "$(echo "$size_mib * 1.048576 / $secs" | bc -l)"
printf 'time to first byte, 1-hop fetch through the gateway: %.1f ms (target < 50)\n' \
  "$(echo "$ttfb * 1000" | bc -l)"
