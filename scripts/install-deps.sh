#!/usr/bin/env bash
# Installs what chorus needs to build and run (and, with --test, to test) on a fresh Debian 12
# machine.
# Idempotent: packages already present are skipped, so running it twice costs seconds.
set -euo pipefail

# Build (and run): a C toolchain for aws-lc-sys (QUIC), FFmpeg's dev libraries + clang for
# ffmpeg-next.
APT_PACKAGES=(
  build-essential pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswresample-dev libavfilter-dev
  libavdevice-dev libswscale-dev curl
)
# With --test (scripts/test.sh): ipfs-cid (kubo's CID oracle), ffmpeg/sox/espeak-ng (real
# audio), prometheus (scrape test, alert rules), wrk + nginx (gateway benchmark), chromium (player
# test), systemd (systemd-analyze verify of deploy/systemd), podman + mmdebstrap (the container
# image, built from Debian's archive: scripts/check-image.sh), openssl (a test certificate
# authority for the chain's https endpoint test).
# An operator running only the node (scripts/run.sh) does not get these.
if [ "${1:-}" = "--test" ]; then
  APT_PACKAGES+=(ipfs-cid ffmpeg sox espeak-ng prometheus wrk nginx-light openssl jq psmisc bc chromium systemd
    podman mmdebstrap uidmap fuse-overlayfs slirp4netns containernetworking-plugins catatonit
    arch-test libdistro-info-perl libdpkg-perl gpg)
fi

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
