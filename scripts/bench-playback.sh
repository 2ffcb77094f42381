#!/usr/bin/env bash
# Playback benchmark (tests/py/bench_playback.py): two chorus nodes in two network namespaces
# this script creates, joined by a link of 40 ms RTT (20 ms each way) and 20 Mbit/s; a track
# stored only on node A; a scripted HLS listener (hls.js's 30 s buffer target) reading it
# through node B's gateway at real time. Reports time to first audio (target < 2 RTT + one
# segment's transfer), stalls (target 0) and seek-to-play latency (target < 300 ms), with the
# gateway's HLS look-ahead off and on, each with a fresh B that holds nothing.
#
#   sudo ./scripts/bench-playback.sh            # root: it creates namespaces and links
#   PLAY_SECONDS=90 ./scripts/bench-playback.sh # audio played per run before the seek (60)
#   MODES=off,on,off,on ./scripts/bench-playback.sh   # runs, in this order (off,on)
#   MODES=off,on,chromium ./scripts/bench-playback.sh # chromium: look-ahead on, and the
#       listener is Debian's headless Chromium playing the gateway's player page (hls.js),
#       driven by tests/js/playback_bench.mjs with npm playwright-core from .cache/npm
#       (scripts/install-deps.sh --test and scripts/install-test-peers.sh install both)
#   CHORUS=/path/to/chorus ./scripts/bench-playback.sh  # default target/release/chorus
#   AUDIO=song.flac ./scripts/bench-playback.sh # a real track instead of the generated one
#   LINK=emulated ./scripts/bench-playback.sh   # force the TUN link emulator (see below);
#                                               # LINK=netem fails instead of falling back
#
# Other knobs: TRACK_SECONDS (generated track, 240), SEEK_FRACTION (0.6), BUFFER_TARGET (30),
# DELAY_MS (one way, 20), RATE_MBIT (20), JSON_OUT (file for the raw results).
#
# The link is a veth pair with `tc netem delay 20ms rate 20mbit` on both ends. Kernels built
# without netem (CONFIG_NET_SCH_NETEM unset, as on the VM this was written on) get the same link from a
# userspace emulator instead: two TUN devices, one per namespace, and a process forwarding the
# packets between them through a FIFO per direction that serialises at the rate and delivers
# after the one-way delay (netem's semantics, netem's default 1000-packet limit). Either way the
# link is checked before the runs (ICMP RTT, one bulk TCP transfer) and both are printed.
#
# Nothing dials outside the namespaces: the nodes listen and dial only on 10.77.0.1/10.77.0.2,
# API and gateway are on each namespace's own 127.0.0.1, the DHT is off (swarm.routing none),
# bootstrap is empty and B's only peer is A (swarm.peering). Does not build: run
# `cargo build --release -p chorus` first, or point CHORUS at a binary.
set -euo pipefail
cd "$(dirname "$0")/.."

# The config key of the gateway's HLS look-ahead, set on B with `chorus config --json KEY 5|0`
# (5 segments ahead, the default, or off). A build that refuses it as unknown (before the
# look-ahead existed) still runs; the "on" run is then the default gateway, marked with a warning.
LOOKAHEAD_KEY="${LOOKAHEAD_KEY:-gateway.hls_segments_ahead}"

chorus="${CHORUS:-$PWD/target/release/chorus}"
play_seconds="${PLAY_SECONDS:-60}"
track_seconds="${TRACK_SECONDS:-240}"
delay_ms="${DELAY_MS:-20}"
rate_mbit="${RATE_MBIT:-20}"
link_mode="${LINK:-auto}"
addr_a=10.77.0.1
addr_b=10.77.0.2

[ "$(id -u)" = 0 ] || { echo "bench-playback.sh: must run as root (network namespaces)" >&2; exit 1; }
[ -x "$chorus" ] || { echo "bench-playback.sh: no chorus binary at $chorus (build it or set CHORUS)" >&2; exit 1; }
for tool in ip tc ffmpeg python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench-playback.sh: $tool not found" >&2; exit 1; }
done
python="$(python3 -c 'import sys; print(sys.executable)')"
driver="$PWD/tests/py/bench_playback.py"

ns_a="chorus-pb-a-$$"
ns_b="chorus-pb-b-$$"
dev_a="cpb-a-$$"
dev_b="cpb-b-$$"
work="$(mktemp -d "${TMPDIR:-/tmp}/chorus-playbench.XXXXXX")"
link_pid=""
driver_pid=""

cleanup() {
  set +e
  [ -n "$driver_pid" ] && kill "$driver_pid" 2>/dev/null
  # Whatever still runs inside our namespaces (daemons, listener) was started by this run.
  for ns in "$ns_a" "$ns_b"; do
    pids="$(ip netns pids "$ns" 2>/dev/null)"
    [ -n "$pids" ] && kill $pids 2>/dev/null
  done
  sleep 0.5
  for ns in "$ns_a" "$ns_b"; do
    pids="$(ip netns pids "$ns" 2>/dev/null)"
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  if [ -n "$link_pid" ]; then
    kill "$link_pid" 2>/dev/null
    wait "$link_pid" 2>/dev/null
  fi
  ip link del "$dev_a" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns_a"
ip netns add "$ns_b"
ip -n "$ns_a" link set lo up
ip -n "$ns_b" link set lo up

address() { # ns dev addr
  ip -n "$1" addr add "$3/24" dev "$2"
  ip -n "$1" link set "$2" up
}

link_desc=""
if [ "$link_mode" != emulated ]; then
  ip link add "$dev_a" netns "$ns_a" type veth peer name "$dev_b" netns "$ns_b"
  if tc -n "$ns_a" qdisc add dev "$dev_a" root netem delay "${delay_ms}ms" rate "${rate_mbit}mbit" 2>"$work/tc.err" &&
     tc -n "$ns_b" qdisc add dev "$dev_b" root netem delay "${delay_ms}ms" rate "${rate_mbit}mbit" 2>>"$work/tc.err"; then
    address "$ns_a" "$dev_a" "$addr_a"
    address "$ns_b" "$dev_b" "$addr_b"
    link_desc="veth pair, tc netem delay ${delay_ms}ms rate ${rate_mbit}mbit on both ends"
  else
    [ "$link_mode" = netem ] && { echo "bench-playback.sh: tc netem: $(cat "$work/tc.err")" >&2; exit 1; }
    echo "bench-playback.sh: tc netem unavailable ($(head -1 "$work/tc.err")); using the TUN link emulator" >&2
    ip -n "$ns_a" link del "$dev_a"
  fi
fi
if [ -z "$link_desc" ]; then
  # Real-time priority where allowed, so that the benchmark's own CPU load (two daemons, the
  # listener) does not delay the packets; it sleeps in epoll between them.
  rt=()
  chrt -f 20 true 2>/dev/null && rt=(chrt -f 20)
  "${rt[@]}" "$python" -u "$driver" link --dev-a "$dev_a" --dev-b "$dev_b" \
    --delay-ms "$delay_ms" --rate-mbit "$rate_mbit" >"$work/link.log" 2>&1 &
  link_pid=$!
  for _ in $(seq 100); do
    grep -q ready "$work/link.log" && break
    kill -0 "$link_pid" 2>/dev/null || { cat "$work/link.log" >&2; exit 1; }
    sleep 0.1
  done
  grep -q ready "$work/link.log" || { echo "bench-playback.sh: link emulator did not start" >&2; exit 1; }
  ip link set "$dev_a" netns "$ns_a"
  ip link set "$dev_b" netns "$ns_b"
  address "$ns_a" "$dev_a" "$addr_a"
  address "$ns_b" "$dev_b" "$addr_b"
  link_desc="TUN pair + userspace emulator (no netem in this kernel): ${delay_ms} ms each way, ${rate_mbit} Mbit/s each way, 1000-packet FIFO"
fi

audio="${AUDIO:-}"
if [ -z "$audio" ]; then
  # Pink noise under a tone: dense enough that the encoder spends its 320 kbps (a pure sine
  # gives ~270 kbps segments), so segment sizes are those of music.
  audio="$work/track.wav"
  ffmpeg -hide_banner -loglevel error -f lavfi -i "anoisesrc=color=pink:amplitude=0.3:duration=${track_seconds}:seed=7" \
    -f lavfi -i "sine=frequency=440:duration=${track_seconds}" \
    -filter_complex "[0][1]amix=inputs=2:normalize=0" -ac 2 -ar 44100 "$audio"
fi

# In the background, so that a signal to this script cleans up at once (bash runs traps only
# between foreground commands).
"$python" -u "$driver" run \
  --chorus "$chorus" --work "$work" --audio "$audio" \
  --ns-a "$ns_a" --ns-b "$ns_b" --addr-a "$addr_a" --addr-b "$addr_b" \
  --rate-mbit "$rate_mbit" --link-desc "$link_desc" --lookahead-key "$LOOKAHEAD_KEY" \
  --modes "${MODES:-off,on}" --play-seconds "$play_seconds" \
  --chromium "${CHROMIUM:-/usr/bin/chromium}" --npm-dir "$PWD/.cache/npm" \
  --buffer-target "${BUFFER_TARGET:-30}" --seek-fraction "${SEEK_FRACTION:-0.6}" \
  --json-out "${JSON_OUT:-}" &
driver_pid=$!
wait "$driver_pid"
driver_pid=""
