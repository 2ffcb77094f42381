#!/usr/bin/env bash
# Installs everything chorus needs to build and test on a fresh Debian 12 machine.
# Idempotent: packages already present are skipped, so running it twice costs seconds.
set -euo pipefail

# Build: a C toolchain for aws-lc-sys (QUIC), FFmpeg's dev libraries + clang for ffmpeg-next.
# Tests: ipfs-cid (kubo's CID oracle), ffmpeg/sox/espeak-ng (real audio), prometheus (scrape test),
# wrk + nginx (gateway benchmark), chromium (player test), curl.
APT_PACKAGES=(
  build-essential pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswresample-dev libavfilter-dev
  libavdevice-dev libswscale-dev
  ipfs-cid ffmpeg sox espeak-ng prometheus wrk nginx-light curl jq psmisc bc chromium
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing apt packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "cargo not found: install the Rust toolchain (rustup, >= 1.94) first" >&2
    exit 1
  fi
fi
