#!/usr/bin/env bash
# bench/throughput.sh: Barge and a local Slurm side by side on this machine (docs/benchmarks.md).
# For each size, one after the other and never at the same time:
#   - Barge: a fresh Kafka broker (scripts/kafka.sh), `barge up --agents 4 --agent-vcpus 16
#     --agent-memory 65536` with its own BARGE_HOME, one job queue on the `local` compute
#     environment, a job definition of 1 vCPU / 64 MiB running `true`; one array of N tasks, timed
#     from the submission until the parent is SUCCEEDED (bench/throughput_driver); then the
#     records and bytes each task cost on every topic (bench/throughput_topics.py);
#   - Slurm 22.05: 4 nodes x 16 CPUs on this host, tuned for throughput (bench/slurm/), an array
#     of N tasks running `true`, timed until squeue no longer lists it.
# Prints the machine, each run, a Markdown table of both times and their ratio, and for Barge the
# records and bytes per task per topic and the CPU seconds of each of its processes
# (bench/proc_cpu.py).
# With --latency N: instead, single jobs submitted one by one on idle capacity, submit -> RUNNING
# p50/p99 (bench/throughput_driver latency). Run as root (Slurm's daemons); see --help.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)

TASKS="1000 10000"
WARMUP=1000
LATENCY=0
RUN_BARGE=1
RUN_SLURM=1
BUILD=${BARGE_BUILD_DIR:-$SRC/build}
WORK=${BENCH_DIR:-/tmp/barge-bench}
OUT=""
TRACE=0
REPEAT=1

usage() {
    cat <<EOF
usage: bench/throughput.sh [--tasks "1000 10000"] [--warmup N] [--no-slurm | --no-barge] [--latency N]
                           [--repeat N] [--trace] [--build DIR] [--work DIR] [--out FILE]
  --tasks "N ..."   array sizes, each run on both systems (default "$TASKS")
  --warmup N        before each timed array, untimed ones of N tasks in all on the same system
                    (Barge's in arrays of at most 10,000, AWS Batch's limit; default $WARMUP: every
                    service has run jobs and the broker's JIT has compiled its request path, as in
                    a long-lived broker; 4: a cold broker)
  --no-slurm        Barge only;  --no-barge: Slurm only
  --repeat N        Barge's side N times per size, each on a fresh broker and stack (default 1): the
                    table shows the median with the range, the details the median run; Slurm's
                    side runs once (a 10,000-task run of it takes minutes)
  --latency N       the latency benchmark instead: N single jobs one by one (Barge only)
  --trace           Barge's services log at debug level (BARGE_LOG=debug), and the round-trip
                    report splits "placement produced -> started" into the scheduler's commit, the
                    delivery to the agent and the start (bench/throughput_hops.py --logs); the
                    logging costs CPU of its own: use such a run to see where time goes, not to time
  --build DIR       Barge's build directory (default \$BARGE_BUILD_DIR or $SRC/build)
  --work DIR        scratch: brokers, BARGE_HOMEs, Slurm's state (default \$BENCH_DIR or $WORK);
                    wiped at the start of each run
  --out FILE        also write the report (machine, table, per-topic figures) to FILE
Needs root for Slurm (bench/slurm/up.sh installs slurmctld slurmd slurm-client munge with apt).
Everything started is stopped at the end, also on failure or Ctrl-C.
EOF
}

while (($#)); do
    case $1 in
        --tasks) TASKS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --no-slurm) RUN_SLURM=0; shift ;;
        --no-barge) RUN_BARGE=0; shift ;;
        --latency) LATENCY=$2; RUN_SLURM=0; shift 2 ;;
        --trace) TRACE=1; shift ;;
        --repeat) REPEAT=$2; shift 2 ;;
        --build) BUILD=$(cd "$2" && pwd); shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

[[ $WARMUP =~ ^[0-9]+$ ]] && ((WARMUP >= 2)) || { echo "bench/throughput.sh: --warmup wants a number of tasks, 2 or more (an array has at least 2; got '$WARMUP')" >&2; exit 2; }
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || { echo "bench/throughput.sh: --repeat wants a whole number of runs, 1 or more (got '$REPEAT')" >&2; exit 2; }
BARGE=$BUILD/barge
DRIVER=$BUILD/bench/throughput_driver
KAFKA=$SRC/scripts/kafka.sh
export SLURM_BENCH_DIR=$WORK/slurm
REPORT=$WORK/report.md

note() { echo "bench: $*" >&2; }
die() { note "$*"; exit 1; }

# ------------------------------------------------------------------------------ cleanup --
CUR_HOME=""   # the BARGE_HOME of a stack that may be up
CUR_KAFKA=""  # the directory of a broker that may be up
SLURM_UP=0
stop_barge() {
    if [[ -n $CUR_HOME && -f $CUR_HOME/stack ]]; then
        BARGE_HOME=$CUR_HOME "$BARGE" down >/dev/null 2>&1 || note "barge down failed (see $CUR_HOME)"
    fi
    CUR_HOME=""
    if [[ -n $CUR_KAFKA ]]; then "$KAFKA" stop --dir "$CUR_KAFKA" >/dev/null 2>&1 || true; fi
    CUR_KAFKA=""
}
stop_slurm() {
    if ((SLURM_UP)); then "$HERE/slurm/down.sh" >/dev/null 2>&1 || true; fi
    SLURM_UP=0
}
cleanup() { stop_barge; stop_slurm; }
# What an earlier run in the same --work directory left running (killed before its own cleanup):
# its stacks, brokers and Slurm daemons, found through the pid files they wrote there.
stop_leftovers() {
    local d
    for d in "$WORK"/barge-*; do
        [[ -f $d/home/stack ]] && { BARGE_HOME=$d/home "$BARGE" down >/dev/null 2>&1 || true; }
        [[ -f $d/kafka/pid ]] && { "$KAFKA" stop --dir "$d/kafka" >/dev/null 2>&1 || true; }
    done
    [[ -f $SLURM_BENCH_DIR/pids ]] && { "$HERE/slurm/down.sh" >/dev/null 2>&1 || true; }
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------ machine --
machine() {
    local model mem
    model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "Machine: $(nproc) vCPUs ($model), $mem RAM, $(uname -sr); load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "Barge: $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?') ($(git -C "$SRC" rev-parse --abbrev-ref HEAD 2>/dev/null || echo '?'))"
    echo "Warm-up: untimed arrays of $WARMUP task(s) in all on the same stack (Barge) or cluster (Slurm) before each timed one"
    if ((TRACE)); then echo "Traced (--trace): Barge's services logged at debug level; its times include that logging's cost"; fi
}

# -------------------------------------------------------------------------------- Barge --
# Starts a broker and a stack in $WORK/barge-$1 (a name: the size, and .K for the Kth run of
# --repeat); sets B (bootstrap) and BARGE_HOME.
barge_stack() {
    local dir=$WORK/barge-$1
    rm -rf "$dir"
    mkdir -p "$dir"
    CUR_KAFKA=$dir/kafka
    "$KAFKA" start --dir "$CUR_KAFKA" >"$dir/kafka-start.log" 2>&1 || { cat "$dir/kafka-start.log" >&2; die "Kafka did not start"; }
    B=$(cat "$CUR_KAFKA/bootstrap")
    export BARGE_HOME=$dir/home
    CUR_HOME=$BARGE_HOME
    ((TRACE)) && export BARGE_LOG=debug
    "$BARGE" up --brokers "$B" --agents 4 --agent-vcpus 16 --agent-memory 65536 --no-api --detach \
        >"$dir/up.out" 2>&1 || { cat "$dir/up.out" >&2; die "barge up failed"; }
    "$BARGE" create-job-queue --job-queue-name bench --priority 1 \
        --compute-environment-order order=1,computeEnvironment=local >/dev/null
    "$BARGE" register-job-definition --job-definition-name true --type container \
        --container-properties '{"image":"none","command":["true"],"resourceRequirements":[{"type":"VCPU","value":"1"},{"type":"MEMORY","value":"64"}]}' >/dev/null
    local i
    for i in $(seq 1 120); do   # the four agents registered with the scheduler
        [[ $("$BARGE" instances 2>/dev/null | grep -cw ready) -ge 4 ]] && break
        ((i < 120)) || die "the four agents did not become READY"
        sleep 0.5
    done
    # one array end to end first (--warmup): every service has its assignment and has run a job
    # (arrays of at most 10,000 tasks, AWS Batch's limit, one after another)
    local left=$WARMUP size
    while ((left > 0)); do
        size=$((left > 10000 ? 10000 : left))
        ((left - size == 1)) && size=$((size - 1)) # leave no array of one
        left=$((left - size))
        "$DRIVER" --brokers "$B" --job-queue bench --job-definition true array "$size" --timeout-s 300 >/dev/null \
            || die "the warm-up array did not succeed (logs in $BARGE_HOME)"
    done
}

# The folder name of run $2 of size $1 below $WORK: barge-N for the first, barge-N.K after it.
run_name() { if (($2 == 1)); then echo "$1"; else echo "$1.$2"; fi; }

# Run $2 of Barge with $1 tasks; appends "N observed_ms events_ms submit_ack_ms K" to $WORK/barge.txt.
barge_run() {
    local n=$1 k=$2 name
    name=$(run_name "$n" "$k")
    local dir=$WORK/barge-$name
    if ((REPEAT > 1)); then note "Barge: $n tasks, run $k of $REPEAT"; else note "Barge: $n tasks"; fi
    barge_stack "$name"
    local topics=$HERE/throughput_topics.py data=$CUR_KAFKA/data
    local cpu=$HERE/proc_cpu.py
    python3 "$topics" snapshot --brokers "$B" --out "$dir/before.json"
    python3 "$cpu" snapshot --match "$B" --match "$CUR_KAFKA" --out "$dir/cpu-before.json"
    local line
    line=$("$DRIVER" --brokers "$B" --job-queue bench --job-definition true array "$n") \
        || die "the array of $n did not succeed (logs in $BARGE_HOME)"
    python3 "$cpu" snapshot --match "$B" --match "$CUR_KAFKA" --out "$dir/cpu-after.json"
    python3 "$topics" snapshot --brokers "$B" --out "$dir/after.json"
    python3 "$cpu" report --before "$dir/cpu-before.json" --after "$dir/cpu-after.json" --jobs "$n" >"$dir/cpu.md"
    note "  $line"
    # where each slot's round trip went, from the audit file (its consumer writes every 200 ms)
    sleep 2
    local logs=()
    ((TRACE)) && logs=(--logs "$BARGE_HOME")
    python3 "$HERE/throughput_hops.py" --audit "$BARGE_HOME/audit/events.jsonl" "${logs[@]}" "$(kv job_id "$line")" \
        >"$dir/hops.txt" 2>&1 || note "throughput_hops.py found no complete task (see $dir/hops.txt)"
    BARGE_HOME=$CUR_HOME "$BARGE" down >/dev/null 2>&1 || note "barge down failed"
    CUR_HOME=""
    python3 "$topics" report --brokers "$B" --data "$data" --before "$dir/before.json" \
        --after "$dir/after.json" --jobs "$n" >"$dir/topics.md"
    stop_barge
    echo "$n $(kv observed_ms "$line") $(kv events_ms "$line") $(kv submit_ack_ms "$line") $k" >>"$WORK/barge.txt"
}

commas() { sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta' <<<"$1"; }   # 10000 -> 10,000
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

# -------------------------------------------------------------------------------- Slurm --
slurm_run() {
    local n=$1 line
    note "Slurm: $n tasks"
    SLURM_UP=1
    "$HERE/slurm/up.sh" 2>"$WORK/slurm-up.log" || { cat "$WORK/slurm-up.log" >&2; die "Slurm did not start"; }
    "$HERE/slurm/run.sh" "$WARMUP" >/dev/null || die "Slurm's warm-up array of $WARMUP did not finish"
    line=$("$HERE/slurm/run.sh" "$n") || die "the Slurm array of $n did not finish"
    note "  $line"
    stop_slurm
    echo "$n $(kv total_ms "$line")" >>"$WORK/slurm.txt"
}

# ------------------------------------------------------------------------------- report --
secs() { [[ -n ${1:-} ]] && awk -v m="$1" 'BEGIN { printf "%.1f s", m / 1000 }' || echo "—"; }

# The median run of size $1 from $WORK/barge.txt: its line (the lower middle of an even count).
median_run() {
    awk -v n="$1" '$1 == n' "$WORK/barge.txt" 2>/dev/null | sort -n -k2,2 | awk '{ l[NR] = $0 } END { if (NR) print l[int((NR + 1) / 2)] }'
}

table() {
    local head="Barge"
    ((REPEAT > 1)) && head="Barge, median of $REPEAT runs (range)"
    echo "| tasks | $head | Slurm 22.05 (4 nodes × 16 CPUs, tuned for throughput), same run | Slurm / Barge |"
    echo "|---|---|---|---|"
    local n b s ratio cell lo hi
    for n in $TASKS; do
        b=$(median_run "$n" | awk '{ print $2 }')
        s=$(awk -v n="$n" '$1 == n { print $2 }' "$WORK/slurm.txt" 2>/dev/null || true)
        ratio="—"
        [[ -n $b && -n $s ]] && ratio=$(awk -v b="$b" -v s="$s" 'BEGIN { printf "%.2f", s / b }')
        cell=$(secs "$b")
        if ((REPEAT > 1)) && [[ -n $b ]]; then
            lo=$(awk -v n="$n" '$1 == n { print $2 }' "$WORK/barge.txt" | sort -n | head -1)
            hi=$(awk -v n="$n" '$1 == n { print $2 }' "$WORK/barge.txt" | sort -n | tail -1)
            cell="$cell ($(secs "$lo" | cut -d' ' -f1)–$(secs "$hi"))"
        fi
        echo "| $(commas "$n") | $cell | $(secs "$s") | $ratio |"
    done
}

details() {
    local n b name all
    for n in $TASKS; do
        b=$(median_run "$n")
        [[ -n $b ]] || continue
        read -r _ obs ev ack k <<<"$b"
        name=$(run_name "$n" "$k")
        echo
        echo "### Barge, $(commas "$n") tasks"
        echo
        if ((REPEAT > 1)); then
            all=$(awk -v n="$n" '$1 == n { printf "%s%.1f s", (c++ ? ", " : ""), $2 / 1000 }' "$WORK/barge.txt")
            echo "Runs in the order made: $all. The figures below are the median run's (run $k, $WORK/barge-$name)."
            echo
        fi
        echo "Submission acknowledged after $ack ms; parent SUCCEEDED seen by the client after $(secs "$obs")" \
             "($(awk -v n="$n" -v m="$obs" 'BEGIN { printf "%.0f", n * 1000 / m }') tasks/s);" \
             "the parent's own stoppedAt - createdAt: $(secs "$ev")."
        echo
        cat "$WORK/barge-$name/topics.md"
        echo
        echo "CPU time of the stack's processes during the run (user + system, from /proc):"
        echo
        cat "$WORK/barge-$name/cpu.md"
        echo
        echo "Where each task's round trip went (bench/throughput_hops.py, from the audit file's Kafka timestamps):"
        echo
        sed 's/^/    /' "$WORK/barge-$name/hops.txt"
    done
}

latency_run() {
    note "Barge: latency, $LATENCY single jobs"
    barge_stack latency
    {
        machine
        echo
        echo "Submit -> RUNNING, $LATENCY single jobs one by one on idle capacity (4 agents x 16 vCPUs):"
        echo
        "$DRIVER" --brokers "$B" --job-queue bench --job-definition true latency "$LATENCY"
    } >"$REPORT" || die "the latency run failed (logs in $BARGE_HOME)"
    stop_barge
}

# --------------------------------------------------------------------------------- main --
[[ -x $BARGE && -x $DRIVER ]] || die "build Barge first ($BARGE, $DRIVER): cmake --build $BUILD"
if ((RUN_SLURM)) && [[ $(id -u) != 0 ]]; then die "Slurm's side needs root (or pass --no-slurm)"; fi
stop_leftovers
rm -rf "$WORK"
mkdir -p "$WORK"
MACHINE=$(machine)
if ((LATENCY > 0)); then
    latency_run
else
    for n in $TASKS; do
        if ((RUN_BARGE)); then for k in $(seq 1 "$REPEAT"); do barge_run "$n" "$k"; done; fi
        if ((RUN_SLURM)); then slurm_run "$n"; fi
    done
    { echo "$MACHINE"; echo; table; details; } >"$REPORT"
fi
[[ -n $OUT ]] && cp "$REPORT" "$OUT"
echo
cat "$REPORT"
