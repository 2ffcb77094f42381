#!/usr/bin/env bash
# Quick start: installs what is missing, builds chorus (release), and runs its main job on the
# embedded default store: a repo in $CHORUS_PATH (default ~/.chorus), created if absent, a demo
# file added and read back, then `chorus daemon` in the foreground (Ctrl-C stops it cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release -p chorus --locked
chorus="${CARGO_TARGET_DIR:-$PWD/target}/release/chorus"
repo="${CHORUS_PATH:-$HOME/.chorus}"

if [ ! -f "$repo/config.toml" ]; then
  "$chorus" --repo "$repo" init
fi

# Add a demo file, print its CID, read it back.
demo="$(mktemp "${TMPDIR:-/tmp}/chorus-demo.XXXXXX")"
trap 'rm -f "$demo"' EXIT
printf 'hello from chorus, %s\n' "$(date -u +%F)" >"$demo"
cid=$("$chorus" --repo "$repo" add -Q "$demo")
echo "added $cid"
echo "reading it back: $("$chorus" --repo "$repo" cat "$cid")"
"$chorus" --repo "$repo" repo stat

echo "starting the daemon (gateway: http://127.0.0.1:8080/ipfs/$cid)"
exec "$chorus" --repo "$repo" daemon "$@"
