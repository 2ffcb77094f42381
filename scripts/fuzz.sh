#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, on a scratch copy of the seed
# corpus in fuzz/corpus/, and prints runs, coverage and corpus size per target. Exits non-zero
# if any target finds a crash, a hang (over 10 s on one input) or an input that needs more
# than 2 GiB; libFuzzer leaves the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]        e.g. scripts/fuzz.sh 600   (the campaign)
#   FUZZ_PROFILE=dev scripts/fuzz.sh 15          (the CI smoke run: unoptimised, builds faster)
#
# libFuzzer through cargo-fuzz, without a sanitizer: this machine's toolchain is stable, and
# the code under test is safe Rust (a panic, an overflow in debug builds, an abort on
# allocation failure or a stack overflow is what a crash means here).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
profile=()
if [ "${FUZZ_PROFILE:-release}" = dev ]; then
  profile=(--dev)
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -s none "${profile[@]}" >/dev/null
triple=$(rustc -vV | sed -n 's/^host: //p')
dir=release
if [ ${#profile[@]} -gt 0 ]; then
  dir=debug
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
printf '%-18s %12s %8s %8s %8s\n' target runs exec/s cov corpus
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="$work/$t.log"
  # The binaries built above, run directly: `cargo fuzz run` would rebuild them whenever the
  # sources changed since, mid-campaign.
  if "fuzz/target/$triple/$dir/$t" "$work/$t" "fuzz/corpus/$t" \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="fuzz/artifacts/$t/" \
      >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(find "$work/$t" "fuzz/corpus/$t" -type f | wc -l)
  printf '%-18s %12s %8s %8s %8s %s\n' "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$corpus" "$status"
  if [ "$status" != ok ]; then
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -8 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
