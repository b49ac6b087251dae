#!/usr/bin/env bash
# Barge: fetch, start, stop and inspect a local single-node Apache Kafka
# broker (KRaft mode) for tests and development.  Run with --help for usage.
#
# Kafka comes from Maven Central (org.apache.kafka:kafka_2.13 plus a log4j2
# backend) via scripts/kafka/pom.xml; no other download source is needed.
set -euo pipefail

# ---------------------------------------------------------------- pins --
KAFKA_VERSION=4.1.1          # org.apache.kafka:kafka_2.13
LOG4J_VERSION=2.24.3         # log4j-slf4j-impl, log4j-api, log4j-core
SLF4J_VERSION=1.7.36         # Kafka 4.x still uses SLF4J 1.7
DEP_PLUGIN_VERSION=3.8.1     # maven-dependency-plugin

PROG=kafka.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUPPORT_DIR=$SCRIPT_DIR/kafka
POM=$SUPPORT_DIR/pom.xml
LOG4J_CONF=$SUPPORT_DIR/log4j2.properties
PROPS_TEMPLATE=$SUPPORT_DIR/server.properties.in

CACHE_ROOT=${BARGE_CACHE:-$HOME/.cache/barge}
KAFKA_HOME=$CACHE_ROOT/kafka-$KAFKA_VERSION
LIBS=$KAFKA_HOME/libs
MARKER=$KAFKA_HOME/.complete
MARKER_TEXT="kafka_2.13=$KAFKA_VERSION log4j=$LOG4J_VERSION slf4j=$SLF4J_VERSION"

START_TIMEOUT=${BARGE_KAFKA_START_TIMEOUT:-120}   # seconds
STOP_TIMEOUT=${BARGE_KAFKA_STOP_TIMEOUT:-30}      # seconds before SIGKILL
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
# -XX:TieredStopAtLevel=1: the JIT stops at C1. A dev/test broker lives for minutes: on 2 cores,
# C2's compiler threads took about half the broker's CPU during a benchmark's run (perf), and C1
# code is good enough here (bench/throughput.sh: broker CPU for 10,000 tasks 23 s -> 13 s).
JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}

usage() {
    cat <<EOF
Usage: scripts/$PROG COMMAND [OPTIONS]

Local single-node Apache Kafka $KAFKA_VERSION broker (KRaft, broker+controller)
for Barge tests.  Listens on 127.0.0.1 only.

Commands:
  fetch                 Download Kafka $KAFKA_VERSION and its runtime jars (plus the
                        log4j2 backend) from Maven Central into
                        $LIBS
                        Does nothing when the cache is already complete.
  start --dir DIR       Fetch if needed, write DIR/server.properties, format
                        DIR/data, start the broker in the background and wait
                        until it accepts connections.  Writes DIR/pid,
                        DIR/bootstrap ("127.0.0.1:PORT") and DIR/kafka.log.
                        If DIR/pid is a live broker already, says so, exit 0.
        --port N            broker port (default: a free port)
        --controller-port N KRaft controller port (default: a free port)
        --keep              keep DIR/data (and, if still free, the old ports)
                            instead of wiping it for a fresh cluster
        --set KEY=VALUE     extra broker setting, repeatable (appended to
                            server.properties, so it overrides the defaults)
  stop --dir DIR        SIGTERM the broker, SIGKILL after ${STOP_TIMEOUT}s; removes
                        DIR/pid.  Exit 0 also when nothing was running.
  status --dir DIR      Print the bootstrap address and whether the broker
                        runs.  Exit 0 if running, 3 if not.
  libs                  Print the jar directory (after fetch).

Environment:
  BARGE_CACHE                 cache root (default \$HOME/.cache/barge)
  BARGE_KAFKA_START_TIMEOUT   seconds to wait for readiness (default 120)
  BARGE_KAFKA_STOP_TIMEOUT    seconds before SIGKILL on stop (default 30)
  KAFKA_HEAP_OPTS             default: -Xms256m -Xmx1g
  KAFKA_JVM_OPTS              default: G1 GC options, the JIT stopped at C1

Needs java (17+) and mvn on PATH; as root, a missing mvn is installed with
apt-get.  Example:
  scripts/$PROG start --dir build/kafka && export BOOTSTRAP=\$(cat build/kafka/bootstrap)
  scripts/$PROG stop --dir build/kafka
EOF
}

PEER=kafka
LOCK_NAMED=1
# shellcheck source=lib/peer.sh
source "$SCRIPT_DIR/lib/peer.sh"

# ---------------------------------------------------------- prerequisites --
need_java() {
    command -v java >/dev/null 2>&1 \
        || die "java not found on PATH; Kafka $KAFKA_VERSION needs Java 17+ (apt-get install -y openjdk-17-jre-headless)"
    local v
    v=$(java -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')
    local major=${v%%.*}
    [[ $major == 1 ]] && major=$(echo "$v" | cut -d. -f2)
    if [[ $major =~ ^[0-9]+$ ]] && (( major < 17 )); then
        die "java on PATH is version $v; Kafka $KAFKA_VERSION needs Java 17+"
    fi
}

need_mvn() {
    command -v mvn >/dev/null 2>&1 && return 0
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        say "mvn not found; installing Debian package maven (apt-get install -y maven)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q maven >/dev/null \
            || { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
                 DEBIAN_FRONTEND=noninteractive apt-get install -y -q maven >/dev/null; } \
            || die "apt-get install maven failed"
        command -v mvn >/dev/null 2>&1 || die "maven installed but mvn still not on PATH"
    else
        die "mvn (Apache Maven) not found; install it (apt-get install -y maven, or scripts/setup.sh) and retry"
    fi
}

# ------------------------------------------------------------------ fetch --
cache_complete() {
    [[ -f $MARKER && "$(cat "$MARKER" 2>/dev/null)" == "$MARKER_TEXT" && -d $LIBS ]]
}

cmd_fetch() {
    if cache_complete; then
        say "Kafka $KAFKA_VERSION already fetched ($LIBS)"
        return 0
    fi
    need_java
    need_mvn
    [[ -f $POM ]] || die "missing $POM"
    mkdir -p "$KAFKA_HOME"

    peer_fetch_lock "$KAFKA_HOME" 1800 "Kafka $KAFKA_VERSION already fetched ($LIBS)" || return 0

    local t0 tmp mvnlog
    t0=$(now)
    tmp=$KAFKA_HOME/libs.tmp.$$
    mvnlog=$KAFKA_HOME/fetch.log
    rm -rf "$tmp"
    say "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION + log4j $LOG4J_VERSION from Maven Central (maven-dependency-plugin $DEP_PLUGIN_VERSION)"
    say "  into $LIBS (log: $mvnlog)"
    if ! mvn -B -q {FETCH_LOCK}>&- -Dstyle.color=never -f "$POM" \
            "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_VERSION:copy-dependencies" \
            -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
            -Dslf4j.version="$SLF4J_VERSION" -Ddependency.plugin.version="$DEP_PLUGIN_VERSION" \
            -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
        tail -n 30 "$mvnlog" >&2
        rm -rf "$tmp"
        die "maven could not fetch Kafka $KAFKA_VERSION (see $mvnlog)"
    fi

    # Sanity: the jars we rely on by name.
    local j
    for j in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-server-$KAFKA_VERSION.jar" \
             "kafka-clients-$KAFKA_VERSION.jar" "log4j-core-$LOG4J_VERSION.jar" \
             "log4j-api-$LOG4J_VERSION.jar" "log4j-slf4j-impl-$LOG4J_VERSION.jar" \
             "slf4j-api-$SLF4J_VERSION.jar"; do
        [[ -f $tmp/$j ]] || { rm -rf "$tmp"; die "fetched jar set lacks $j"; }
    done
    for j in "$tmp"/slf4j-api-*.jar; do
        [[ $j == "$tmp/slf4j-api-$SLF4J_VERSION.jar" ]] \
            || { rm -rf "$tmp"; die "unexpected $(basename "$j") next to slf4j-api-$SLF4J_VERSION"; }
    done

    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    printf '%s\n' "$MARKER_TEXT" >"$MARKER"
    local jars=("$LIBS"/*.jar)
    say "fetched ${#jars[@]} jars ($(du -sh "$LIBS" | cut -f1)) in $(elapsed "$t0")s"
    exec {FETCH_LOCK}>&-
}

cmd_libs() {
    cache_complete || die "Kafka $KAFKA_VERSION not fetched yet; run: scripts/$PROG fetch"
    printf '%s\n' "$LIBS"
}

# ---------------------------------------------------------------- helpers --
# Is PID alive (not a zombie) and the broker started for DIR?
is_our_broker() {
    local pid=$1 dir=$2
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || { kill -0 "$pid" 2>/dev/null || return 1; return 0; }
    local state
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
    [[ $state == Z || -z $state ]] && return 1
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    [[ $cmd == *kafka.Kafka* && $cmd == *"$dir/server.properties"* ]]
}

port_in_use() {   # does something accept connections on 127.0.0.1:$1?
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# peer_wait's checks: the launched broker is alive and ours; it has started and listens on $1.
broker_alive() { kill -0 "$1" 2>/dev/null && is_our_broker "$1" "$2"; }
broker_ready() { grep -q 'Kafka Server started' "$DIR/kafka.log" 2>/dev/null && port_in_use "$1"; }

port_bindable() {  # can we bind 127.0.0.1:$1 right now?
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
    else
        if port_in_use "$1"; then return 1; fi
    fi
}

# Print N distinct free loopback ports, one per line.
free_ports() {
    local n=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$n" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
PY
    else
        local got=() p
        while (( ${#got[@]} < n )); do
            p=$(( 20000 + RANDOM % 30000 ))
            [[ " ${got[*]-} " == *" $p "* ]] && continue
            port_in_use "$p" || got+=("$p")
        done
        printf '%s\n' "${got[@]}"
    fi
}

# 22-character base64url cluster id (16 random bytes), never starting with
# '-' (Kafka's own Uuid.randomUuid avoids that too: it looks like an option).
new_cluster_id() {
    local id
    while :; do
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
        [[ ${#id} == 22 && $id != -* && $id != AAAAAAAAAAAAAAAAAAAAAA && $id != AAAAAAAAAAAAAAAAAAAAAQ ]] && break
    done
    printf '%s\n' "$id"
}

prop_value() {     # prop_value FILE KEY -> last value of KEY
    [[ -f $1 ]] || return 1
    awk -F= -v k="$2" '$1 == k { v = substr($0, length(k) + 2) } END { if (v != "") print v; else exit 1 }' "$1"
}

# ------------------------------------------------------------------ start --
cmd_start() {
    DIR=''; local port='' cport='' keep=0 extra=()
    while (( $# )); do
        case $1 in
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#--dir=}; shift ;;
            --port) [[ $# -ge 2 ]] || die "--port needs a value"; port=$2; shift 2 ;;
            --port=*) port=${1#--port=}; shift ;;
            --controller-port) [[ $# -ge 2 ]] || die "--controller-port needs a value"; cport=$2; shift 2 ;;
            --controller-port=*) cport=${1#--controller-port=}; shift ;;
            --keep) keep=1; shift ;;
            --set) [[ $# -ge 2 ]] || die "--set needs KEY=VALUE"; extra+=("$2"); shift 2 ;;
            --set=*) extra+=("${1#--set=}"); shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
    done
    [[ -n $DIR ]] || die "start: --dir DIR is required (see --help)"
    local p
    for p in "$port" "$cport"; do
        [[ -z $p || ( $p =~ ^[0-9]+$ && $p -ge 1 && $p -le 65535 ) ]] || die "invalid port '$p'"
    done
    [[ -z $port || $port != "$cport" ]] || die "--port and --controller-port must differ"
    local kv
    for kv in ${extra[@]+"${extra[@]}"}; do
        [[ $kv == ?*=* ]] || die "--set expects KEY=VALUE, got '$kv'"
    done

    mkdir -p "$DIR" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd -P)
    lock_dir

    local pid
    if pid=$(read_pid "$DIR") && is_our_broker "$pid" "$DIR"; then
        say "already running at $(cat "$DIR/bootstrap" 2>/dev/null || echo '?') (pid $pid, data $DIR/data)"
        return 0
    fi
    rm -f "$DIR/pid"

    local t0
    t0=$(now)
    cache_complete || cmd_fetch
    cache_complete || die "Kafka jars missing after fetch"
    need_java
    [[ -f $PROPS_TEMPLATE ]] || die "missing $PROPS_TEMPLATE"
    [[ -f $LOG4J_CONF ]] || die "missing $LOG4J_CONF"

    local data=$DIR/data props=$DIR/server.properties
    local want_port=$port want_cport=$cport
    if (( keep )) && [[ -f $props ]]; then
        # Reuse the previous ports when not told otherwise and still free,
        # so clients holding the old bootstrap keep working.
        local old
        if [[ -z $want_port ]] && old=$(prop_value "$props" advertised.listeners); then
            old=${old##*:}; [[ $old =~ ^[0-9]+$ ]] && port_bindable "$old" && want_port=$old
        fi
        if [[ -z $want_cport ]] && old=$(prop_value "$props" controller.quorum.voters); then
            old=${old##*:}; [[ $old =~ ^[0-9]+$ && $old != "$want_port" ]] && port_bindable "$old" && want_cport=$old
        fi
    fi

    if (( ! keep )); then
        rm -rf "$data"
    fi
    mkdir -p "$data"
    rm -f "$DIR/bootstrap"
    [[ -f $DIR/kafka.log ]] && mv -f "$DIR/kafka.log" "$DIR/kafka.log.prev"

    local attempt=0 max_attempts=3
    while :; do
        attempt=$((attempt + 1))
        # ---- ports
        port=$want_port cport=$want_cport
        if [[ -z $port || -z $cport ]]; then
            local ports=() fp
            while read -r fp; do
                [[ $fp == "$port" || $fp == "$cport" || $fp == 9092 || $fp == 9093 ]] && continue
                ports+=("$fp")
            done < <(free_ports 4)
            [[ -n $port ]] || { port=${ports[0]}; ports=("${ports[@]:1}"); }
            [[ -n $cport ]] || cport=${ports[0]}
        fi
        [[ -n $port && -n $cport ]] || die "could not find free ports"
        port_bindable "$port" || die "port $port on 127.0.0.1 is in use"
        port_bindable "$cport" || die "controller port $cport on 127.0.0.1 is in use"

        # ---- server.properties
        local tpl
        tpl=$(<"$PROPS_TEMPLATE")
        tpl=${tpl//@PORT@/$port}
        tpl=${tpl//@CONTROLLER_PORT@/$cport}
        tpl=${tpl//@DATA_DIR@/$data}
        {
            printf '%s\n' "$tpl"
            if (( ${#extra[@]} )); then
                printf '\n# --- from kafka.sh --set ---\n'
                printf '%s\n' "${extra[@]}"
            fi
        } >"$props.tmp"
        mv -f "$props.tmp" "$props"

        # ---- format storage
        local cid
        if [[ -f $data/meta.properties ]] && cid=$(prop_value "$data/meta.properties" cluster.id); then
            :   # --keep: reuse the existing cluster
        else
            cid=$(new_cluster_id)
        fi
        if ! java -Xmx256m -Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$LIBS/*" \
                kafka.tools.StorageTool format -t "$cid" -c "$props" --ignore-formatted \
                >"$DIR/format.log" 2>&1 {DIRLOCK}>&-; then
            cat "$DIR/format.log" >&2
            die "formatting $data failed (cluster id $cid; see $DIR/format.log)"
        fi

        # ---- launch: setsid + nohup so it outlives the calling shell;
        #      both exec, so $! is the java process itself.
        # shellcheck disable=SC2086
        nohup setsid java $HEAP_OPTS $JVM_OPTS \
            -Dlog4j2.configurationFile="$LOG4J_CONF" \
            -Dkafka.logs.dir="$DIR" \
            -cp "$LIBS/*" kafka.Kafka "$props" \
            >>"$DIR/kafka.log" 2>&1 </dev/null {DIRLOCK}>&- &
        pid=$!
        printf '%s\n' "$pid" >"$DIR/pid"

        # ---- wait for readiness
        local why=
        if peer_wait "$pid" broker 0.2 broker_alive broker_ready "$port"; then break; fi
        rm -f "$DIR/pid"

        # A free port can be taken between our check and the bind: retry
        # with fresh ports when they were chosen automatically.
        if [[ $why == *exited* ]] && grep -q 'Address already in use' "$DIR/kafka.log" 2>/dev/null \
                && (( attempt < max_attempts )) && [[ -z $want_port || -z $want_cport ]]; then
            say "port clash, retrying with other ports"
            mv -f "$DIR/kafka.log" "$DIR/kafka.log.prev"
            continue
        fi
        peer_start_failed "$DIR/kafka.log"
    done

    printf '127.0.0.1:%s\n' "$port" >"$DIR/bootstrap.tmp"
    mv -f "$DIR/bootstrap.tmp" "$DIR/bootstrap"
    say "ready at 127.0.0.1:$port (pid $pid, data $data) in $(elapsed "$t0")s"
}

# ------------------------------------------------------------------- stop --
cmd_stop() {
    parse_dir_opts "$@"
    peer_stop is_our_broker 1
}

# ----------------------------------------------------------------- status --
cmd_status() {
    parse_dir_opts "$@"
    local bs='?' pid
    [[ -f $DIR/bootstrap ]] && bs=$(head -n1 "$DIR/bootstrap")
    if pid=$(read_pid "$DIR" 2>/dev/null) && is_our_broker "$pid" "$DIR"; then
        local note=
        [[ $bs != '?' ]] && ! port_in_use "${bs##*:}" && note=", not accepting connections"
        echo "bootstrap: $bs"
        say "running at $bs (pid $pid, data $DIR/data$note)"
        return 0
    fi
    echo "bootstrap: $bs"
    say "not running (dir $DIR)"
    return 3
}

# ------------------------------------------------------------------- main --
main() {
    (( $# )) || { usage >&2; exit 2; }
    local cmd=$1; shift
    case $cmd in
        fetch)  (( $# == 0 )) || { [[ $1 == -h || $1 == --help ]] && { usage; exit 0; }; die "fetch takes no options"; }
                cmd_fetch ;;
        start)  cmd_start "$@" ;;
        stop)   cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        libs)   cmd_libs ;;
        -h|--help|help) usage ;;
        *) printf 'kafka: error: unknown command %s\n\n' "$cmd" >&2; usage >&2; exit 2 ;;
    esac
}

main "$@"
