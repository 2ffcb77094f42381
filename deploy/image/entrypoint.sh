#!/bin/sh
# The image's entrypoint: `chorus ARGS`, initialising the repo on /data first when the
# command is `daemon` and the volume is still empty (as the systemd unit does).
set -eu
if [ "${1:-}" = "daemon" ] && [ ! -f "${CHORUS_PATH:-/data}/config.toml" ]; then
  /usr/local/bin/chorus init
fi
exec /usr/local/bin/chorus "$@"
