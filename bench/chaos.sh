#!/usr/bin/env bash
# chaos.sh: the long form of tests/e2e/test_chaos.py (docs/chaos.md): a workload of JOBS jobs
# (10,000 by default; array children counted) on services started by the test, with every
# service AND the Kafka broker killed with SIGKILL by a seeded random schedule until the workload
# is done; then `barge check` over the whole log must be clean. Prints the figures (kills per
# service, jobs, attempts, violations). Runs its own broker under DIR (default /tmp/barge-chaos).
#   bench/chaos.sh [--jobs N] [--seed S] [--dir DIR] [--no-broker-kills] [--chaos-seconds S] [--build DIR]
# --chaos-seconds S: kill for S seconds only, then let the workload finish (default: kill until done)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=10000 seed='' dir=/tmp/barge-chaos broker=1 build=$top/build chaos_s=0
while (($#)); do
  case "$1" in
    --jobs) jobs=$2; shift ;;
    --seed) seed=$2; shift ;;
    --dir) dir=$2; shift ;;
    --build) build=$2; shift ;;
    --no-broker-kills) broker=0 ;;
    --chaos-seconds) chaos_s=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "chaos.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$dir"
"$top/scripts/kafka.sh" start --dir "$dir/kafka"
trap '"$top/scripts/kafka.sh" stop --dir "$dir/kafka" >/dev/null 2>&1 || true' EXIT
BARGE_KAFKA_DIR=$dir/kafka BARGE_BIN=$build/barge BARGE_BUILD_DIR=$build BARGE_SOURCE_DIR=$top \
  BARGE_CHAOS_JOBS=$jobs BARGE_CHAOS_SECONDS=$chaos_s BARGE_CHAOS_BROKER=$broker BARGE_CHAOS_SEED=$seed \
  python3 "$top/tests/e2e/test_chaos.py"
