#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang, ASan and UBSan in
# their own build, and runs each for a while against its seed corpus (tests/fuzz/corpus/TARGET,
# read only) and a work corpus of what the fuzzer found (BUILD_DIR/corpus/TARGET). A crash, leak,
# timeout or sanitizer report fails the run; the input is kept in BUILD_DIR/artifacts/TARGET/
# (replay it: BUILD_DIR/tests/fuzz/TARGET FILE). The suite runs a bounded form (tests/CMakeLists.txt).
#   scripts/fuzz.sh [--seconds N] [TARGET...]   every target (default) for N seconds each (300)
#   --build-dir DIR   the fuzz build (default build-fuzz)
#   --build-only      configure and build, run nothing;  --no-build  run what is built
#   --fresh           start the work corpus again from the seeds
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
seconds=300 dir=build-fuzz build=1 run=1 fresh=0 targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift ;;
    --build-dir) dir=$2; shift ;;
    --build-only) run=0 ;;
    --no-build) build=0 ;;
    --fresh) fresh=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

if ((build)); then
  command -v clang >/dev/null || { echo "fuzz.sh: clang is missing (scripts/setup.sh installs it)" >&2; exit 1; }
  # the build runs tools/schemagen, instrumented like the rest: no leak check for it
  export ASAN_OPTIONS=detect_leaks=0
  CC=clang cmake -S . -B "$dir" -DBARGE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$dir" --target fuzz -j"$(nproc)"
  unset ASAN_OPTIONS
fi
((run)) || exit 0

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for t in "${targets[@]}"; do
  bin=$dir/tests/fuzz/$t seeds=tests/fuzz/corpus/$t
  [ -x "$bin" ] || { echo "fuzz.sh: no $bin (build first)" >&2; exit 1; }
  [ -d "$seeds" ] || { echo "fuzz.sh: no seed corpus $seeds" >&2; exit 1; }
  work=$dir/corpus/$t art=$dir/artifacts/$t log=$dir/logs/$t.log
  ((fresh)) && rm -rf "$work"
  mkdir -p "$work" "$art" "$(dirname "$log")"
  echo "== $t: $seconds s (seeds $seeds, work corpus $work)"
  start=$(date +%s)
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$art/" "$work" "$seeds" >"$log" 2>&1; then
    runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 || true)
    echo "   ok: $runs runs in $(( $(date +%s) - start )) s, $cov, corpus $(ls "$work" | wc -l) files"
  else
    echo "   FAILED after $(( $(date +%s) - start )) s; the last of $log:"
    grep -E -A40 '==ERROR|runtime error|ERROR: libFuzzer|deadly signal|SUMMARY' "$log" | head -80 || tail -60 "$log"
    ls "$art" | sed 's/^/   artifact: /'
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz.sh: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} target(s) ok"
