#!/usr/bin/env bash
# Builds the chorus container image from deploy/Dockerfile.
#
#   deploy/image/build.sh [--binary PATH] [--tag NAME] [--bases local|hub]
#
# --binary PATH  package a chorus already built on a Debian 12 host (the `prebuilt` stage)
#                instead of compiling it in the build stage (the default, a release build)
# --tag NAME     the image's name (default localhost/chorus:latest)
# --bases local  (default) build the Debian 12 base images from Debian's archive with
#                mmdebstrap, for machines that reach no image registry; the Rust base gets the
#                toolchain of the host's `rustc` (the one the repo is tested with)
# --bases hub    use Docker Hub's debian:bookworm-slim and rust:1.95-bookworm
#
# Engine: podman (CONTAINER_ENGINE=docker for Docker). podman builds with `--isolation chroot`
# (CHORUS_IMAGE_ISOLATION to change it), which needs no container runtime: it builds even
# where `podman run` cannot start containers. Prints the image name last.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAG=localhost/chorus:latest
BINARY=""
BASES=local
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) BINARY=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --bases) BASES=$2; shift 2 ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
ENGINE=${CONTAINER_ENGINE:-podman}
BUILD_FLAGS=()
if [ "$ENGINE" = podman ]; then
  # Docker's image format: the OCI format has no HEALTHCHECK.
  BUILD_FLAGS+=(--format docker --isolation "${CHORUS_IMAGE_ISOLATION:-chroot}")
fi

DEBIAN_BASE=localhost/chorus-debian:bookworm
RUST_BASE=localhost/chorus-rust:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# A minimal Debian 12 with apt, from the archive (what debian:bookworm-slim is).
debian_base() {
  if "$ENGINE" image exists "$DEBIAN_BASE" 2>/dev/null; then return; fi
  local tar
  tar=$(mktemp --suffix=.tar)
  echo "building $DEBIAN_BASE from $MIRROR" >&2
  # As Docker Hub's slim image: no documentation, manuals or translations, now or in any
  # package installed on top (mmdebstrap keeps these dpkg options in the image).
  mmdebstrap --quiet --variant=apt --include=ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$tar" "$MIRROR"
  "$ENGINE" import --change 'CMD ["/bin/bash"]' "$tar" "$DEBIAN_BASE" >/dev/null
  rm -f "$tar"
}

# The Debian base plus the host's Rust toolchain (compiler, cargo and standard library). It
# trusts the certificate authorities the host added locally (/usr/local/share/ca-certificates:
# a TLS-inspecting proxy's, say), so cargo fetches crates.io from inside the build as the host
# does; the runtime image gets none of them.
rust_base() {
  if "$ENGINE" image exists "$RUST_BASE" 2>/dev/null; then return; fi
  local sysroot ctx
  sysroot=$(rustc --print sysroot)
  ctx=$(mktemp -d)
  echo "building $RUST_BASE with the toolchain at $sysroot" >&2
  mkdir -p "$ctx/rust"
  cp -a "$sysroot/bin" "$sysroot/lib" "$ctx/rust/"
  [ -d "$sysroot/libexec" ] && cp -a "$sysroot/libexec" "$ctx/rust/"
  mkdir -p "$ctx/ca"
  find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$ctx/ca/" \; 2>/dev/null || true
  cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $DEBIAN_BASE
COPY ca /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
COPY rust /usr/local/rust
ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HOME=/usr/local/cargo
DOCKERFILE
  "$ENGINE" build "${BUILD_FLAGS[@]}" --quiet --tag "$RUST_BASE" "$ctx" >/dev/null
  rm -rf "$ctx"
}

ARGS=()
if [ "$BASES" = local ]; then
  debian_base
  ARGS+=(--build-arg "DEBIAN_IMAGE=$DEBIAN_BASE")
  if [ -z "$BINARY" ]; then
    rust_base
    ARGS+=(--build-arg "RUST_IMAGE=$RUST_BASE")
  fi
elif [ "$BASES" != hub ]; then
  echo "--bases is local or hub" >&2
  exit 2
fi

if [ -n "$BINARY" ]; then
  # The prebuilt stage copies target/image/chorus (the one file .dockerignore lets through).
  mkdir -p "$ROOT/target/image"
  install -m 0755 "$BINARY" "$ROOT/target/image/chorus"
  ARGS+=(--target prebuilt)
fi

started=$(date +%s)
"$ENGINE" build "${BUILD_FLAGS[@]}" "${ARGS[@]}" --file "$ROOT/deploy/Dockerfile" \
  --tag "$TAG" "$ROOT" >&2
echo "built $TAG in $(( $(date +%s) - started )) s" >&2
echo "$TAG"
