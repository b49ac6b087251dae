#!/usr/bin/env bash
# Barge: fetch, start and stop a local Confluent-compatible Schema Registry (Apicurio Registry,
# in-memory storage, or its schemas kept in Kafka with --kafka) for tests and development.  Run
# with --help for usage.
#
# Apicurio comes from Maven Central as one all-in-one archive
# (io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all, ~160 MB), fetched once with the
# maven-dependency-plugin and cached under ~/.cache/barge; no other download source is needed.
set -euo pipefail

# ---------------------------------------------------------------- pins --
APICURIO_VERSION=3.3.3
DEP_PLUGIN_VERSION=3.8.1     # maven-dependency-plugin

PROG=registry.sh
CACHE_ROOT=${BARGE_CACHE:-$HOME/.cache/barge}
HOME_DIR=$CACHE_ROOT/apicurio-registry-$APICURIO_VERSION
APP_DIR=$HOME_DIR/app
MARKER=$HOME_DIR/.complete
MARKER_TEXT="apicurio-registry-app=$APICURIO_VERSION"
CCOMPAT=/apis/ccompat/v7

START_TIMEOUT=${BARGE_REGISTRY_START_TIMEOUT:-180}  # seconds (a slow 2-core machine)
STOP_TIMEOUT=${BARGE_REGISTRY_STOP_TIMEOUT:-20}     # seconds before SIGKILL
HEAP_OPTS=${REGISTRY_HEAP_OPTS:--Xms64m -Xmx384m}

usage() {
    cat <<EOF
Usage: scripts/$PROG COMMAND [OPTIONS]

A local Apicurio Registry $APICURIO_VERSION whose Confluent-compatible API is at
http://127.0.0.1:PORT$CCOMPAT.  Listens on 127.0.0.1 only.  Its schemas are kept in memory,
or with --kafka in a Kafka topic, so that a restarted registry still knows every id.

Commands:
  fetch                 Download io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all
                        from Maven Central and unpack it into
                        $APP_DIR
                        Does nothing when the cache is already complete.
  start --dir DIR       Fetch if needed, start the registry in the background on a free
                        port and wait until the ccompat API answers.  Writes DIR/pid,
                        DIR/url ("http://127.0.0.1:PORT$CCOMPAT") and DIR/registry.log.
                        If DIR/pid is a live registry already, says so, exit 0.
        --port N            HTTP port (default: a free port)
        --kafka HOST:PORT   keep the schemas in Kafka at HOST:PORT (Apicurio's kafkasql
                            storage: its topics kafkasql-journal, kafkasql-snapshots and
                            registry-events, created by the registry) instead of in memory:
                            a registry started again answers the ids it gave before
  stop --dir DIR        SIGTERM the registry, SIGKILL after ${STOP_TIMEOUT}s; removes DIR/pid.
                        Exit 0 also when nothing was running.
  status --dir DIR      Print the URL; exit 0 if running, 3 if not.
  home                  Print the unpacked application directory (after fetch).

Environment:
  BARGE_CACHE                     cache root (default \$HOME/.cache/barge)
  BARGE_REGISTRY_START_TIMEOUT    seconds to wait for readiness (default 180)
  BARGE_REGISTRY_JAVA             the java binary to run it with (21 or newer)
  REGISTRY_HEAP_OPTS              default: -Xms64m -Xmx384m

Needs Java 21+ (\$BARGE_REGISTRY_JAVA, \$JAVA_HOME or a JDK under /usr/lib/jvm; the registry is
built for 21), mvn and curl.  Example:
  scripts/$PROG start --dir build/registry && export BARGE_SCHEMA_REGISTRY_URL=\$(cat build/registry/url)
  scripts/$PROG stop --dir build/registry
EOF
}

PEER=registry
# shellcheck source=lib/peer.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/peer.sh"

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH ($2)"; }

java_major() {     # java_major JAVA -> its major version
    local v
    v=$("$1" -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')
    v=${v%%.*}
    [[ $v =~ ^[0-9]+$ ]] && printf '%s\n' "$v"
}

# Apicurio Registry 3.x is compiled for Java 21. Debian 12 ships Java 17 only, so look for a
# newer JDK beside it: $BARGE_REGISTRY_JAVA, $JAVA_HOME, /usr/lib/jvm/*, then java on PATH.
find_java() {
    local c m
    for c in ${BARGE_REGISTRY_JAVA:-} ${JAVA_HOME:+$JAVA_HOME/bin/java} /usr/lib/jvm/*/bin/java \
             "$(command -v java 2>/dev/null || true)"; do
        [[ -n $c && -x $c ]] || continue
        m=$(java_major "$c" || true)
        if [[ -n $m ]] && (( m >= 21 )); then JAVA=$c; return 0; fi
    done
    die "Apicurio Registry $APICURIO_VERSION needs Java 21 or newer and none was found (set BARGE_REGISTRY_JAVA or JAVA_HOME; Debian 12 has only 17: install a Temurin JDK 21+ under /usr/lib/jvm)"
}

# ------------------------------------------------------------------ fetch --
cache_complete() {
    [[ -f $MARKER && "$(cat "$MARKER" 2>/dev/null)" == "$MARKER_TEXT" && -f $APP_DIR/quarkus-run.jar ]]
}

cmd_fetch() {
    if cache_complete; then
        say "Apicurio Registry $APICURIO_VERSION already fetched ($APP_DIR)"
        return 0
    fi
    need java "apt-get install -y openjdk-17-jre-headless"
    need mvn "apt-get install -y maven"
    mkdir -p "$HOME_DIR"
    peer_fetch_lock "$HOME_DIR" 3600 "Apicurio Registry $APICURIO_VERSION already fetched ($APP_DIR)" || return 0
    local tmp=$HOME_DIR/fetch.tmp.$$ log=$HOME_DIR/fetch.log t0
    t0=$(date +%s)
    rm -rf "$tmp"
    mkdir -p "$tmp"
    say "fetching io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all (~160 MB) from Maven Central"
    say "  into $HOME_DIR (log: $log)"
    if ! mvn -B -q {FETCH_LOCK}>&- -Dstyle.color=never \
            "org.apache.maven.plugins:maven-dependency-plugin:$DEP_PLUGIN_VERSION:copy" \
            -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
            -DoutputDirectory="$tmp" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -rf "$tmp"
        die "maven could not fetch Apicurio Registry $APICURIO_VERSION (see $log)"
    fi
    local archive
    archive=$(ls "$tmp"/*.tar.gz 2>/dev/null | head -n1)
    [[ -n $archive ]] || { rm -rf "$tmp"; die "no archive after the fetch (see $log)"; }
    mkdir -p "$tmp/x"
    tar -xzf "$archive" -C "$tmp/x" || { rm -rf "$tmp"; die "cannot unpack $archive"; }
    # the archive holds quarkus-run.jar somewhere below its top folder
    local run
    run=$(find "$tmp/x" -name quarkus-run.jar -print -quit)
    [[ -n $run ]] || { rm -rf "$tmp"; die "quarkus-run.jar not found in $archive"; }
    rm -rf "$APP_DIR"
    mv "$(dirname "$run")" "$APP_DIR"
    rm -rf "$tmp"
    printf '%s\n' "$MARKER_TEXT" >"$MARKER"
    say "fetched in $(( $(date +%s) - t0 ))s ($(du -sh "$APP_DIR" | cut -f1))"
    exec {FETCH_LOCK}>&-
}

cmd_home() {
    cache_complete || die "Apicurio Registry $APICURIO_VERSION not fetched yet; run: scripts/$PROG fetch"
    printf '%s\n' "$APP_DIR"
}

# ---------------------------------------------------------------- helpers --
is_our_registry() {
    local pid=$1 dir=$2
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    local state
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
    [[ $state == Z || -z $state ]] && return 1
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
    [[ $cmd == *quarkus-run.jar* && $cmd == *"-Dbarge.registry.dir=$dir"* ]]
}

# peer_wait's checks: the launched process is alive (not a zombie); the registry answers.
process_alive() { kill -0 "$1" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
registry_ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1$CCOMPAT/subjects" 2>/dev/null; }

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# ------------------------------------------------------------------ start --
cmd_start() {
    DIR='' ; local port='' kafka=''
    while (( $# )); do
        case $1 in
            --kafka) [[ $# -ge 2 ]] || die "--kafka needs a value (HOST:PORT of a Kafka broker)"; kafka=$2; shift 2 ;;
            --kafka=*) kafka=${1#--kafka=}; shift ;;
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#--dir=}; shift ;;
            --port) [[ $# -ge 2 ]] || die "--port needs a value"; port=$2; shift 2 ;;
            --port=*) port=${1#--port=}; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
    done
    [[ -n $DIR ]] || die "start: --dir DIR is required (see --help)"
    [[ -z $port || $port =~ ^[0-9]+$ ]] || die "invalid port '$port'"
    [[ -z $kafka || $kafka =~ ^[^[:space:]]+:[0-9]+(,[^[:space:]]+:[0-9]+)*$ ]] ||
        die "invalid --kafka '$kafka' (HOST:PORT, or a comma-separated list of them)"
    local storage=()
    [[ -z $kafka ]] || storage=(-Dapicurio.storage.kind=kafkasql -Dapicurio.kafkasql.bootstrap.servers="$kafka")
    mkdir -p "$DIR" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd -P)
    lock_dir
    local pid
    if pid=$(read_pid "$DIR") && is_our_registry "$pid" "$DIR"; then
        say "already running at $(cat "$DIR/url" 2>/dev/null || echo '?') (pid $pid)"
        return 0
    fi
    rm -f "$DIR/pid" "$DIR/url"
    cache_complete || cmd_fetch
    find_java
    need curl "apt-get install -y curl"
    local t0 attempt=0
    t0=$(date +%s)
    [[ -f $DIR/registry.log ]] && mv -f "$DIR/registry.log" "$DIR/registry.log.prev"
    while :; do
        attempt=$((attempt + 1))
        local p=${port:-$(free_port)} mp
        mp=$(free_port)  # Quarkus' management interface (health, metrics): its own free port
        # Quarkus: the HTTP port; in-memory storage (the default) or kafkasql (--kafka).
        # -Dbarge.registry.dir marks the process as ours. nohup and setsid exec, so $! is the
        # java process itself.
        # shellcheck disable=SC2086
        (cd "$DIR" && exec nohup setsid "$JAVA" $HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -Dbarge.registry.dir="$DIR" \
            -Dquarkus.http.port="$p" -Dquarkus.http.host=127.0.0.1 \
            -Dquarkus.management.port="$mp" -Dquarkus.management.host=127.0.0.1 "${storage[@]}" \
            -jar "$APP_DIR/quarkus-run.jar" >>"$DIR/registry.log" 2>&1 </dev/null {DIRLOCK}>&-) &
        pid=$!
        printf '%s\n' "$pid" >"$DIR/pid"
        local why=
        if peer_wait "$pid" registry 0.5 process_alive registry_ready "$p"; then break; fi
        rm -f "$DIR/pid"
        if [[ $why == *exited* ]] && grep -qi 'address already in use' "$DIR/registry.log" 2>/dev/null \
                && (( attempt < 3 )) && [[ -z $port ]]; then
            say "port clash, retrying with another port"
            continue
        fi
        peer_start_failed "$DIR/registry.log"
    done
    printf 'http://127.0.0.1:%s%s\n' "$p" "$CCOMPAT" >"$DIR/url.tmp"
    mv -f "$DIR/url.tmp" "$DIR/url"
    say "ready at $(cat "$DIR/url") (pid $pid) in $(( $(date +%s) - t0 ))s"
}

# ------------------------------------------------------------------- stop --
cmd_stop() {
    parse_dir_opts "$@"
    peer_stop is_our_registry 0
}

cmd_status() {
    parse_dir_opts "$@"
    local url='?' pid
    [[ -f $DIR/url ]] && url=$(head -n1 "$DIR/url")
    echo "url: $url"
    if pid=$(read_pid "$DIR" 2>/dev/null) && is_our_registry "$pid" "$DIR"; then
        say "running at $url (pid $pid)"
        return 0
    fi
    say "not running (dir $DIR)"
    return 3
}

main() {
    (( $# )) || { usage >&2; exit 2; }
    local cmd=$1; shift
    case $cmd in
        fetch)  cmd_fetch ;;
        start)  cmd_start "$@" ;;
        stop)   cmd_stop "$@" ;;
        status) cmd_status "$@" ;;
        home)   cmd_home ;;
        -h|--help|help) usage ;;
        *) printf 'registry: error: unknown command %s\n\n' "$cmd" >&2; usage >&2; exit 2 ;;
    esac
}

main "$@"
