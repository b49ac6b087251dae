# scripts/lib/peer.sh: what scripts/kafka.sh and scripts/registry.sh share to run a local peer
# process (a Kafka broker, a schema registry) in a directory: messages, the DIR option, the pid
# file, a lock per directory, and the stop sequence. Sourced, not run. The sourcing script sets
# PEER (the message prefix: "kafka"), PROG (its file name) and START_TIMEOUT / STOP_TIMEOUT.

say()  { printf '%s: %s\n' "$PEER" "$*"; }
die()  { printf '%s: error: %s\n' "$PEER" "$*" >&2; exit 1; }
now()  { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

read_pid() {       # read_pid DIR -> the pid in DIR/pid
    local f=$1/pid
    [[ -f $f ]] || return 1
    local pid
    pid=$(head -n1 "$f" 2>/dev/null | tr -dc '0-9')
    [[ -n $pid ]] || return 1
    printf '%s\n' "$pid"
}

parse_dir_opts() {  # shared by stop/status: sets DIR
    DIR=
    while (( $# )); do
        case $1 in
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#--dir=}; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
    done
    [[ -n $DIR ]] || die "--dir DIR is required (see --help)"
    if [[ -d $DIR ]]; then DIR=$(cd "$DIR" && pwd -P); fi
}

lock_dir() {       # serialise start/stop on one DIR (the fd must not leak
                   # into the peer, or the lock would live as long as it).
                   # LOCK_NAMED=1: the error names the lock file.
    exec {DIRLOCK}>"$DIR/.$PROG.lock"
    if command -v flock >/dev/null 2>&1; then
        flock -w $(( START_TIMEOUT + STOP_TIMEOUT + 60 )) "$DIRLOCK" \
            || die "another $PROG is still working on $DIR${LOCK_NAMED:+ (lock $DIR/.$PROG.lock)}"
    fi
}

# peer_stop IS_OURS TIMED: stops the peer of DIR (parse_dir_opts first). IS_OURS PID DIR says
# whether PID is that peer, alive. SIGTERM, SIGKILL after STOP_TIMEOUT seconds; removes DIR/pid.
# Exit status 0 also when nothing was running. TIMED=1: the last line says how long it took.
peer_stop() {
    local is_ours=$1 timed=$2
    if [[ ! -d $DIR ]]; then
        say "not running (no directory $DIR)"
        return 0
    fi
    lock_dir
    local pid
    if ! pid=$(read_pid "$DIR"); then
        say "not running (no pid file in $DIR)"
        return 0
    fi
    if ! "$is_ours" "$pid" "$DIR"; then
        rm -f "$DIR/pid"
        say "not running (stale pid $pid removed)"
        return 0
    fi
    local t0 deadline
    t0=$(now)
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(( $(date +%s) + STOP_TIMEOUT ))
    while "$is_ours" "$pid" "$DIR"; do
        if (( $(date +%s) >= deadline )); then
            say "pid $pid still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            local _
            for _ in $(seq 50); do
                "$is_ours" "$pid" "$DIR" || break
                sleep 0.1
            done
            "$is_ours" "$pid" "$DIR" && die "pid $pid survived SIGKILL"
            break
        fi
        sleep 0.1
    done
    rm -f "$DIR/pid"
    if (( timed )); then say "stopped (pid $pid) in $(elapsed "$t0")s"; else say "stopped (pid $pid)"; fi
}

# peer_wait PID NAME INTERVAL ALIVE READY...: waits for the peer just started as PID. ALIVE PID
# DIR says the process is still there; READY... (a command and its arguments) says it serves.
# 0 when ready; 1 with `why` set when it died or START_TIMEOUT passed (then it is killed).
child_running() {
    kill -0 "$1" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

peer_wait() {
    local pid=$1 name=$2 interval=$3 alive=$4; shift 4
    local deadline=$(( $(date +%s) + START_TIMEOUT ))
    why=
    while :; do
        # $pid is our own child, so no other process can hold it: not recognised yet but alive
        # and not a zombie, it was forked and has not exec'd (its command line is still this
        # shell's); waiting for it then would block for as long as it runs.
        if ! "$alive" "$pid" "$DIR" && ! child_running "$pid"; then
            wait "$pid" 2>/dev/null || true
            why="$name process $pid exited"
            return 1
        fi
        "$@" && return 0
        if (( $(date +%s) >= deadline )); then
            why="not ready after ${START_TIMEOUT}s"
            kill -KILL "$pid" 2>/dev/null || true
            return 1
        fi
        sleep "$interval"
    done
}

# peer_start_failed LOG: says why the peer did not come up, with the last lines of LOG; exits 1.
peer_start_failed() {
    {
        printf '%s: error: %s; last lines of %s:\n' "$PEER" "$why" "$1"
        tail -n 40 "$1" 2>/dev/null | sed 's/^/  | /'
    } >&2
    exit 1
}

# peer_fetch_lock HOME SECONDS ALREADY: serialises concurrent fetches (parallel test runs) on
# HOME/.fetch.lock, its fd in FETCH_LOCK (close it with `exec {FETCH_LOCK}>&-`, and keep it out
# of child processes). Returns 1, the lock released and ALREADY said, when another fetch
# completed the cache (cache_complete) while this one waited.
peer_fetch_lock() {
    exec {FETCH_LOCK}>"$1/.fetch.lock"
    if command -v flock >/dev/null 2>&1; then
        flock -w "$2" "$FETCH_LOCK" || die "another fetch holds $1/.fetch.lock"
    fi
    if cache_complete; then
        say "$3"
        exec {FETCH_LOCK}>&-
        return 1
    fi
}
