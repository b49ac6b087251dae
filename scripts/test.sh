#!/usr/bin/env bash
# test.sh: the whole test suite from a fresh clone: installs what is missing, builds, starts a
# real Kafka broker (a CTest fixture) and runs every test; then the same suite again in a build
# with AddressSanitizer and UndefinedBehaviorSanitizer. Ends with "N passed, N failed".
#   scripts/test.sh            both builds (what CI runs)
#   scripts/test.sh --quick    the normal build only
#   scripts/test.sh --sanitize the sanitizer build only
#   extra arguments after -- go to ctest (e.g. -- -R scheduler)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
modes=(plain asan)
ctest_args=()
while (($#)); do
  case "$1" in
    --quick) modes=(plain) ;;
    --sanitize) modes=(asan) ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

scripts/setup.sh || { echo "test.sh: setup failed"; echo "0 passed, 1 failed"; exit 1; }

total_pass=0 total_fail=0 total_skip=0
for mode in "${modes[@]}"; do
  dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
  if [ "$mode" = asan ]; then
    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DBARGE_SANITIZE=ON)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  fi
  echo "== $mode build in $dir"
  if ! { cmake -S . -B "$dir" "${flags[@]}" >/dev/null && cmake --build "$dir" -j"$(nproc)"; }; then
    echo "test.sh: the $mode build failed"
    total_fail=$((total_fail + 1))
    continue
  fi
  log="$dir/ctest.log"
  (cd "$dir" && ctest --output-on-failure -j2 --timeout 900 "${ctest_args[@]}") 2>&1 | tee "$log"
  pass=$(grep -Eo '^[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1)
  if [ -z "$pass" ]; then
    total_fail=$((total_fail + 1))
    continue
  fi
  n_fail=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+)/\1/' <<<"$pass")
  n_all=$(sed -E 's/.* out of ([0-9]+)/\1/' <<<"$pass")
  # a test that exited with its SKIP_RETURN_CODE (e.g. test_api_go without go) did not pass
  n_skip=$(grep -Ec '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$log" || true)
  # CTest does not show a skipped test's output: its reasons (lines starting "SKIP ") are shown here
  grep -h '^SKIP ' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null | sed 's/^/skipped: /' || true
  total_pass=$((total_pass + n_all - n_fail - n_skip))
  total_skip=$((total_skip + n_skip))
  total_fail=$((total_fail + n_fail))
done
echo
if ((total_skip)); then
  echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
  echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
