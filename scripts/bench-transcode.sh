#!/usr/bin/env bash
# Benchmark: chorus's transcoder versus the ffmpeg CLI with the same settings, in one run.
#
# Generates a 5-minute stereo 44.1 kHz track (a tone over pink noise, so the encoders have
# real work), then transcodes it RUNS times each way, interleaved, and reports the best wall
# time and CPU time of each:
#   chorus: the transcode worker (release build) doing HLS AAC-LC 320k/48k/6 s + MP3 320k
#   ffmpeg: one CLI invocation producing the same two outputs
# and prints the speed ratio (ffmpeg time / chorus time; >= 0.95 is the target) and chorus's
# realtime factor (seconds of audio per wall-clock second).
#
# Usage: scripts/bench-transcode.sh            (builds the worker in release mode)
#        CHORUS_BIN=target/release/chorus scripts/bench-transcode.sh
#                                              (uses `chorus transcode-worker` instead)
#        RUNS=5 DURATION=300 scripts/bench-transcode.sh
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
DURATION="${DURATION:-300}"

for tool in ffmpeg python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

if [[ -n "${CHORUS_BIN:-}" ]]; then
    WORKER=("$CHORUS_BIN" transcode-worker)
else
    cargo build --release -p chorus-transcoder --bin chorus-transcode-worker >&2
    WORKER=("${CARGO_TARGET_DIR:-target}/release/chorus-transcode-worker")
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/source.wav"

echo "generating ${DURATION}s stereo 44.1 kHz source..." >&2
ffmpeg -hide_banner -loglevel error -nostdin -y \
    -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=${DURATION}" \
    -f lavfi -i "anoisesrc=color=pink:amplitude=0.2:sample_rate=44100:duration=${DURATION}" \
    -filter_complex "amix=inputs=2,aformat=channel_layouts=stereo" \
    -ar 44100 -c:a pcm_s16le "$SRC"

# Runs a shell command; prints "<wall seconds> <cpu seconds>" (CPU = user + sys of the
# children, which a busy machine disturbs far less than wall time).
measure() {
    python3 - "$1" <<'PY'
import resource, subprocess, sys, time
start = time.monotonic()
subprocess.run(["bash", "-c", sys.argv[1]], check=True)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.3f} {usage.ru_utime + usage.ru_stime:.3f}")
PY
}

run_chorus() {
    local out="$WORK/chorus-$1"
    local job
    job=$(printf '{"input":"%s","output_dir":"%s"}' "$SRC" "$out")
    measure "echo '$job' | ${WORKER[*]} | tail -n 1 | grep -q '\"type\":\"done\"'"
}

run_ffmpeg() {
    local out="$WORK/ffmpeg-$1"
    mkdir -p "$out/320k"
    measure "ffmpeg -hide_banner -loglevel error -nostdin -y -i '$SRC' \
        -map 0:a -ar 48000 -ac 2 -c:a aac -b:a 320k -fflags +bitexact -flags:a +bitexact \
        -f hls -hls_time 6 -hls_playlist_type vod \
        -hls_segment_filename '$out/320k/seg%05d.ts' '$out/320k/index.m3u8' \
        -map 0:a -ar 48000 -ac 2 -c:a libmp3lame -b:a 320k -fflags +bitexact \
        '$out/download.mp3'"
}

results="$WORK/results"
for i in $(seq 1 "$RUNS"); do
    read -r cw cc < <(run_chorus "$i")
    read -r fw fc < <(run_ffmpeg "$i")
    echo "run $i: chorus wall ${cw}s cpu ${cc}s, ffmpeg wall ${fw}s cpu ${fc}s" >&2
    echo "$cw $cc $fw $fc" >> "$results"
    rm -rf "$WORK/chorus-$i" "$WORK/ffmpeg-$i"
done

python3 - "$results" "$DURATION" <<'PY'
import sys
rows = [[float(x) for x in line.split()] for line in open(sys.argv[1])]
duration = float(sys.argv[2])
cw, cc, fw, fc = (min(r[i] for r in rows) for i in range(4))
print(f"source:           {duration:.0f} s stereo 44.1 kHz WAV, {len(rows)} runs, best of each")
print(f"chorus:           wall {cw:.3f} s, cpu {cc:.3f} s")
print(f"ffmpeg CLI:       wall {fw:.3f} s, cpu {fc:.3f} s")
print(f"speed ratio:      {fw / cw:.3f} by wall time, {fc / cc:.3f} by CPU time (target >= 0.95)")
print(f"realtime factor:  {duration / cw:.1f}x chorus, {duration / fw:.1f}x ffmpeg (wall)")
PY
