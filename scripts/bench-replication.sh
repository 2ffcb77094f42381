#!/usr/bin/env bash
# Replication benchmark (tests/py/bench_replication.py), all in one run on loopback:
#   - a library of 4 MB tracks (1 GiB by default) replicated across five chorus daemons at
#     R = 3, W = 2, uploaded to one node: MB/s of stored copies (3 x the library over the time
#     until every root has three holders), beside a chorus -> chorus pairwise copy of the same
#     library (`pin add` of every root over Bitswap) measured in the same run;
#   - the acknowledgement latency of a 4 MB upload at W = 2 (median, p99) beside a plain local
#     add of 4 MB on a node without replication.
#
#   ./scripts/bench-replication.sh [LIBRARY_MIB]    # default 1024; needs ~8x that on disk
#   TMPDIR=/dev/shm ./scripts/bench-replication.sh  # repos on tmpfs
set -euo pipefail
cd "$(dirname "$0")/.."
library_mib="${1:-1024}"
work="$(mktemp -d "${TMPDIR:-/tmp}/chorus-replbench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cargo build --release --locked -p chorus >&2
target="${CARGO_TARGET_DIR:-$PWD/target}/release"
python3 tests/py/bench_replication.py --chorus "$target/chorus" --work "$work" \
  --library-mib "$library_mib"
