#!/usr/bin/env bash
# Refreshes the hls.js copy that the gateway's player page embeds (node/assets/player/) from the
# npm release installed by scripts/install-test-peers.sh into .cache/npm. The files are copied
# byte for byte: bin/tests/player.rs checks that the embedded bytes equal the npm package's.
#
# To move to another hls.js release:
#   1. change "hls.js" in tests/npm/package.json and refresh tests/npm/package-lock.json
#      (cd tests/npm && npm install --package-lock-only hls.js@X.Y.Z);
#   2. bump the marker in scripts/install-test-peers.sh (or delete .cache/npm) and run it;
#   3. run this script, then `cargo test -p chorus --test player`.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${CHORUS_TEST_CACHE:-$PWD/.cache}"
pkg="$cache/npm/node_modules/hls.js"
dest="node/assets/player"
# The light build is enough for chorus tracks: variant streams of AAC-LC in MPEG-TS, no
# alternate audio, subtitles or DRM (the parts the light build leaves out).
build="hls.light.min.js"

if [ ! -f "$pkg/package.json" ] || [ ! -f "$pkg/dist/$build" ]; then
  echo "hls.js is not installed in $cache/npm: run scripts/install-test-peers.sh first" >&2
  exit 1
fi
version="$(jq -r .version "$pkg/package.json")"
locked="$(jq -r '.packages["node_modules/hls.js"].version' tests/npm/package-lock.json)"
if [ -z "$version" ] || [ "$version" != "$locked" ]; then
  echo "installed hls.js ($version) is not the locked one ($locked): rerun scripts/install-test-peers.sh" >&2
  exit 1
fi

mkdir -p "$dest"
cp "$pkg/dist/$build" "$dest/$build"
cp "$pkg/LICENSE" "$dest/hls.js-LICENSE.txt"
printf '%s\n' "$version" >"$dest/hls.js-version.txt"
echo "vendored hls.js $version ($build, $(wc -c <"$dest/$build") bytes) into $dest"
