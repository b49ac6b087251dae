# bench/slurm/common.sh: shared by up.sh, run.sh and down.sh (sourced, not run).
# SLURM_BENCH_DIR: the state directory of the benchmark's Slurm (config, pids, logs, spool).
SLURM_BENCH_DIR=${SLURM_BENCH_DIR:-/tmp/barge-bench-slurm}
PIDFILE=$SLURM_BENCH_DIR/pids          # "name pid" per daemon this harness started
export SLURM_CONF=$SLURM_BENCH_DIR/slurm.conf

say() { echo "slurm: $*" >&2; }
die() { say "$*"; exit 1; }

# The command line of a live pid (empty when gone or a zombie).
pid_cmd() {
    [[ -r /proc/$1/cmdline ]] || return 0
    [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]] && return 0
    tr '\0' ' ' <"/proc/$1/cmdline"
}

# Stops the daemons listed in $PIDFILE: the Slurm ones first, munged (if we started it) last.
# A pid is signalled only while its command line still names the daemon recorded for it.
stop_recorded() {
    [[ -f $PIDFILE ]] || return 0
    local pass name pid
    for pass in slurm munged; do
        local pids=()
        while read -r name pid; do
            [[ $pass == munged ]] && [[ $name != munged ]] && continue
            [[ $pass == slurm ]] && [[ $name == munged ]] && continue
            [[ $(pid_cmd "$pid") == *"${name%%-*}"* ]] || continue
            kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        done <"$PIDFILE"
        local _
        for _ in $(seq 1 100); do
            local alive=0
            for pid in "${pids[@]}"; do [[ -n $(pid_cmd "$pid") ]] && alive=1; done
            (( alive )) || break
            sleep 0.1
        done
        for pid in "${pids[@]}"; do
            [[ -n $(pid_cmd "$pid") ]] && { say "pid $pid ignored SIGTERM for 10 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
        done
    done
    rm -f "$PIDFILE"
}
