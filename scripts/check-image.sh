#!/usr/bin/env bash
# Builds the container image around an already built chorus and checks it (run by
# scripts/test.sh; the full multi-stage build is `deploy/image/build.sh`, timed in the README):
#   - the image's configuration: user, volume, ports, health check, stop signal, entrypoint;
#   - the image runs: `chorus --version`, then the entrypoint initialises an empty /data and
#     starts the daemon, the image's own HEALTHCHECK command passes, and SIGTERM (the image's
#     stop signal) ends the daemon cleanly.
# Where the engine can start containers, the image runs as a container. Where it cannot (these
# machines: crun stops at "cgroups in hybrid mode not supported"), the script says so and runs
# the same commands in the image's file system, entered with chroot as the image's user, with
# the image's environment: everything but the engine's own namespaces is exercised.
#
#   scripts/check-image.sh [path/to/chorus]     (default: target/debug/chorus)
set -euo pipefail
cd "$(dirname "$0")/.."
chorus=$(realpath "${1:-target/debug/chorus}")
image=localhost/chorus:check
work=$(mktemp -d)
ctr="" mnt="" daemon=""
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  if [ -n "$mnt" ]; then
    umount "$mnt/dev" 2>/dev/null || true
    umount "$mnt/proc" 2>/dev/null || true
    podman umount "$ctr" >/dev/null 2>&1 || true
  fi
  if [ -n "$ctr" ]; then podman rm -f "$ctr" >/dev/null 2>&1 || true; fi
  podman rm -f chorus-check >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "image: build around $chorus"
deploy/image/build.sh --binary "$chorus" --tag "$image" >"$work/build.log" 2>&1 || {
  cat "$work/build.log" >&2
  exit 1
}
tail -1 "$work/build.log"

echo "image: configuration"
podman image inspect "$image" >"$work/inspect.json"
python3 - "$work/inspect.json" >"$work/env" <<'PY'
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg = img["Config"]
health = img.get("Healthcheck") or cfg.get("Healthcheck") or {}
problems = []
def want(cond, what):
    if not cond:
        problems.append(what)
want(cfg.get("User") == "chorus", "runs as the chorus user")
want("/data" in (cfg.get("Volumes") or {}), "/data is a volume")
for port in ("4001/tcp", "4001/udp", "8080/tcp", "9464/tcp", "5001/tcp"):
    want(port in (cfg.get("ExposedPorts") or {}), f"exposes {port}")
want(cfg.get("StopSignal") == "SIGTERM", "STOPSIGNAL SIGTERM")
want(health.get("Test", [""])[0] == "CMD-SHELL" and "/health" in health["Test"][1],
     "HEALTHCHECK on /health")
want(cfg.get("Entrypoint") == ["/usr/local/bin/chorus-entrypoint"], "the entrypoint")
want("CHORUS_PATH=/data" in cfg.get("Env", []), "CHORUS_PATH=/data")
if problems:
    sys.exit("image configuration lacks: " + "; ".join(problems))
# The environment, one assignment per line, and the health command last, for the shell.
for e in cfg["Env"]:
    print(e)
print("HEALTH_CMD=" + health["Test"][1])
PY
health_cmd=$(sed -n 's/^HEALTH_CMD=//p' "$work/env")
sed -i '/^HEALTH_CMD=/d' "$work/env"
mapfile -t image_env <"$work/env"
# Only loopback for the swarm while testing (the image's default listens on every interface).
image_env+=("CHORUS_SWARM_LISTEN=[\"/ip4/127.0.0.1/tcp/4001\"]")

# Waits (at most 60 s) for the image's health command to pass, run by `$@`.
wait_healthy() {
  for _ in $(seq 1 120); do
    if "$@" /bin/sh -c "$health_cmd" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "the image's health check did not pass within 60 s" >&2
  return 1
}

if out=$(timeout 60 podman run --rm "$image" --version 2>&1); then
  echo "image: running as a container"
  echo "$out" | grep -q '^chorus ' || { echo "unexpected --version output: $out" >&2; exit 1; }
  podman run -d --name chorus-check -e 'CHORUS_SWARM_LISTEN=["/ip4/127.0.0.1/tcp/4001"]' \
    "$image" >/dev/null
  wait_healthy podman exec chorus-check
  podman stop --time 60 chorus-check >/dev/null
  code=$(podman inspect chorus-check --format '{{.State.ExitCode}}')
  [ "$code" = 0 ] || { podman logs chorus-check >&2; echo "daemon exited $code on SIGTERM" >&2; exit 1; }
  echo "image: ok (container)"
  exit 0
fi
echo "image: podman cannot start containers here ($(echo "$out" | tail -1)); entering the image with chroot"

ctr=$(podman create "$image")
mnt=$(podman mount "$ctr")
mount -t proc proc "$mnt/proc"
mount --rbind /dev "$mnt/dev"
in_image() {
  chroot --userspec=10001:10001 "$mnt" /usr/bin/env -i "${image_env[@]}" "$@"
}
version=$(in_image /usr/local/bin/chorus-entrypoint --version)
echo "$version" | grep -q '^chorus ' || { echo "unexpected --version output: $version" >&2; exit 1; }
echo "image: $version"

# Not through in_image: $! must be the daemon itself (chroot, env and sh each exec the next).
chroot --userspec=10001:10001 "$mnt" /usr/bin/env -i "${image_env[@]}" \
  /bin/sh -c 'cd /data && exec /usr/local/bin/chorus-entrypoint daemon' >"$work/daemon.log" 2>&1 &
daemon=$!
wait_healthy in_image || { cat "$work/daemon.log" >&2; exit 1; }
curl -fsS http://127.0.0.1:9464/health | grep -q '"version"' || { echo "/health has no version" >&2; exit 1; }
[ -f "$mnt/data/config.toml" ] || { echo "the entrypoint did not initialise /data" >&2; exit 1; }
[ "$(stat -c %u "$mnt/data/config.toml")" = 10001 ] || { echo "/data is not the chorus user's" >&2; exit 1; }
grep -q '"level"' "$work/daemon.log" || { echo "the daemon's logs are not JSON:" >&2; cat "$work/daemon.log" >&2; exit 1; }

kill -TERM "$daemon"
code=0
wait "$daemon" || code=$?
daemon=""
[ "$code" = 0 ] || { cat "$work/daemon.log" >&2; echo "daemon exited $code on SIGTERM" >&2; exit 1; }
[ ! -e "$mnt/data/api" ] || { echo "the daemon left its api file behind" >&2; exit 1; }
echo "image: ok (chroot)"
