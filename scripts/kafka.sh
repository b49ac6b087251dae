#!/usr/bin/env bash
# Barge: fetch, start, stop and inspect a local Apache Kafka broker (KRaft
# mode), or a cluster of them on one machine, for tests and development.
# Run with --help for usage.
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
LOG4J_CONF=${BARGE_KAFKA_LOG4J:-$SUPPORT_DIR/log4j2.properties}
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
# -XX:+UseSerialGC: the broker's live data is small and its garbage short-lived; the serial
# collector spends the least CPU on it (no concurrent refinement or marking threads): a fixed
# transactional load cost the broker 15-20% less CPU per transaction than with G1 (docs/benchmarks.md,
# "Broker settings"). Its young collections stop the broker for 15-20 ms each on 2 cores; a young
# generation three times larger (-Xmn256m) made them a third as frequent but did not move
# submit -> RUNNING's p99 over 1,000 jobs (docs/benchmarks.md, "Submit -> RUNNING latency").
JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}

usage() {
    cat <<EOF
Usage: scripts/$PROG COMMAND [OPTIONS]

Local Apache Kafka $KAFKA_VERSION brokers (KRaft, each a broker+controller) for
Barge tests: one by default, or a cluster on one machine.  Listens on 127.0.0.1
only.

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
        --brokers N         a cluster of N brokers (1-9; default 1), each in
                            DIR/nodeK with its own pid, data and kafka.log;
                            DIR/bootstrap lists them all.  Internal topics and
                            default.replication.factor get min(N, 3) replicas,
                            min.insync.replicas 2 from 3 brokers on.
        --security S        plaintext (default) or sasl_ssl: TLS with a CA and
                            certificate made here with OpenSSL (DIR/tls),
                            SCRAM-SHA-512 and PLAIN logins (DIR/users), ACLs
                            enforced; the client settings of the super user
                            "barge" for --kafka-props are written to
                            DIR/kafka-props (PLAIN) and DIR/kafka-props.scram
                            (SCRAM-SHA-512: needs librdkafka 2.6.1 or later).
        --node K            start broker K of DIR's cluster again, on its data
                            and ports (after it died or was stopped)
  stop --dir DIR        SIGTERM the broker(s), SIGKILL after ${STOP_TIMEOUT}s; removes
                        the pid file(s).  Exit 0 also when nothing was running.
        --node K            stop broker K of a cluster only
  status --dir DIR      Print the bootstrap address and whether the broker(s)
                        run.  Exit 0 if all run, 3 if not.
  acl --dir DIR --service NAME|all [--prefix P]
                        On a --security sasl_ssl broker: the SCRAM user NAME
                        with the ACLs of that Barge service on the topics
                        under P (default barge.), and nothing more; its
                        client settings in DIR/kafka-props.NAME.  Services:
                        scheduler, provisioner, agent, accounting, audit,
                        api, cli (the command line, barge init/up); all:
                        every one (scripts/kafka/acls.py).  Then:
                        barge up --kafka-props "\$(cat DIR/kafka-props.cli)"
                        --kafka-props-dir DIR
  libs                  Print the jar directory (after fetch).

Environment:
  BARGE_CACHE                 cache root (default \$HOME/.cache/barge)
  BARGE_KAFKA_START_TIMEOUT   seconds to wait for readiness (default 120)
  BARGE_KAFKA_STOP_TIMEOUT    seconds before SIGKILL on stop (default 30)
  KAFKA_HEAP_OPTS             default: -Xms256m -Xmx1g
  KAFKA_JVM_OPTS              default: the serial GC, the JIT stopped at C1
  BARGE_KAFKA_LOG4J           another log4j2 configuration for the broker (e.g. one that
                              logs every request: bench/kafka_requests.py)

Needs java (17+) and mvn on PATH; as root, a missing mvn is installed with
apt-get.  Example:
  scripts/$PROG start --dir build/kafka && export BOOTSTRAP=\$(cat build/kafka/bootstrap)
  scripts/$PROG stop --dir build/kafka
  scripts/$PROG start --dir /tmp/k3 --brokers 3     # then kill broker 2 and:
  scripts/$PROG start --dir /tmp/k3 --node 2
  scripts/$PROG start --dir /tmp/ks --security sasl_ssl
  barge init --brokers \$(cat /tmp/ks/bootstrap) --kafka-props \$(cat /tmp/ks/kafka-props)
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

port_bindable() {  # can we bind 127.0.0.1:$1 right now (as the broker would)?
    if command -v python3 >/dev/null 2>&1; then
        # SO_REUSEADDR as the broker's own listener: a port left in TIME_WAIT by a broker killed a
        # moment ago (kill -9, then start --keep) is free to it; one someone listens on is not
        python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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

# ---------------------------------------------------------------- cluster --
# A start records DIR/cluster ("brokers=N", "security=S"). One broker lives in DIR itself
# (DIR/pid, DIR/server.properties, DIR/data, DIR/kafka.log); N > 1 brokers, each a combined
# broker+controller (node ids 1..N, all voters), in DIR/node1 .. DIR/nodeN, each laid out the
# same way. DIR/bootstrap lists every broker.
NODES=1
SECURITY=plaintext

read_cluster() {   # NODES and SECURITY of what DIR/cluster records (defaults without one)
    NODES=1 SECURITY=plaintext
    local v
    if v=$(prop_value "$DIR/cluster" brokers 2>/dev/null) && [[ $v =~ ^[1-9]$ ]]; then NODES=$v; fi
    if v=$(prop_value "$DIR/cluster" security 2>/dev/null); then SECURITY=$v; fi
    return 0
}

node_dir() { if (( NODES == 1 )); then printf '%s\n' "$DIR"; else printf '%s/node%s\n' "$DIR" "$1"; fi; }

node_pid() {       # node_pid K -> the pid of broker K, when it runs
    local d pid
    d=$(node_dir "$1")
    pid=$(read_pid "$d") && is_our_broker "$pid" "$d" && printf '%s\n' "$pid"
}

node_port() {      # node_port K -> broker K's client port, from its server.properties
    local v
    v=$(prop_value "$(node_dir "$1")/server.properties" advertised.listeners) || return 1
    v=${v##*:}
    [[ $v =~ ^[0-9]+$ ]] && printf '%s\n' "$v"
}

# -------------------------------------------------------------- security --
# --security sasl_ssl: the client listener speaks SASL_SSL with a certificate signed by a CA made
# here with OpenSSL (DIR/tls), logins by SCRAM-SHA-512 or PLAIN; the controller listener speaks
# TLS with client certificates, as KRaft controllers cannot use SCRAM. The users (DIR/users,
# "name password" lines, SCRAM credentials made at format time, PLAIN ones in the listener's
# JAAS settings): admin (the brokers between themselves) and barge, both super users of the
# ACL authorizer, which refuses anyone else what no ACL allows, and one per Barge service
# (SERVICE_USERS; cli: the command line), with no rights until `acl` grants them theirs.
# Client settings: DIR/kafka-props (barge, PLAIN over TLS), DIR/kafka-props.scram (barge, SCRAM-SHA-512). PLAIN for Barge because
# librdkafka before 2.6.1 (Debian bookworm has 2.0.2) computes a SCRAM proof Kafka 4 rejects
# (confluentinc/librdkafka#4895).
SERVICE_USERS="scheduler agent provisioner accounting audit api cli"
secret() { head -c 18 /dev/urandom | base64 | tr '+/' 'xy' | tr -d '=\n'; }

make_tls() {
    local t=$DIR/tls pw
    command -v openssl >/dev/null 2>&1 || die "openssl not found; --security sasl_ssl needs it (apt-get install -y openssl)"
    command -v keytool >/dev/null 2>&1 || die "keytool (Java) not found; --security sasl_ssl needs it"
    rm -rf "$t"
    mkdir -p "$t"
    chmod 700 "$t"
    pw=$(secret)
    # (each step chained: `set -e` does not apply inside an `if` condition)
    if ! (
        cd "$t" &&
        openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=Barge local Kafka CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
            -keyout ca.key -out ca.pem &&
        openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=barge-kafka" -keyout broker.key -out broker.csr &&
        printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'extendedKeyUsage=serverAuth,clientAuth' \
            'basicConstraints=CA:FALSE' >broker.ext &&
        openssl x509 -req -sha256 -days 3650 -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -extfile broker.ext -out broker.pem &&
        openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
            -out broker.p12 -passout "pass:$pw" &&
        keytool -importcert -noprompt -alias barge-ca -file ca.pem -keystore truststore.p12 \
            -storetype PKCS12 -storepass "$pw" &&
        printf '%s\n' "$pw" >store.pass &&
        rm -f broker.csr broker.ext ca.srl
    ) >"$DIR/tls.log" 2>&1 {DIRLOCK}>&-; then
        cat "$DIR/tls.log" >&2
        die "making the certificates failed (see $DIR/tls.log)"
    fi
    chmod 600 "$t"/*
    local u
    for u in admin barge $SERVICE_USERS; do printf '%s %s\n' "$u" "$(secret)"; done >"$DIR/users"
    chmod 600 "$DIR/users"
    client_props barge PLAIN >"$DIR/kafka-props"
    client_props barge SCRAM-SHA-512 >"$DIR/kafka-props.scram"
    chmod 600 "$DIR/kafka-props" "$DIR/kafka-props.scram"
}

user_password() { awk -v u="$1" '$1 == u { print $2 }' "$DIR/users"; }

client_props() {   # client_props USER MECHANISM: the one-line --kafka-props of USER
    printf 'security.protocol=SASL_SSL,sasl.mechanisms=%s,sasl.username=%s,sasl.password=%s,ssl.ca.location=%s\n' \
        "$2" "$1" "$(user_password "$1")" "$DIR/tls/ca.pem"
}

plain_users() {    # the PLAIN login module's user_NAME="password" options, one per user
    local u p
    while read -r u p; do printf ' user_%s="%s"' "$u" "$p"; done <"$DIR/users"
}

security_props() { # the broker settings of SECURITY (nothing for plaintext)
    [[ $SECURITY == sasl_ssl ]] || return 0
    local pw
    pw=$(<"$DIR/tls/store.pass")
    cat <<EOP

# --- from kafka.sh --security sasl_ssl ---
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(user_password admin)";
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$(user_password admin)"$(plain_users);
ssl.keystore.type=PKCS12
ssl.keystore.location=$DIR/tls/broker.p12
ssl.keystore.password=$pw
ssl.key.password=$pw
ssl.truststore.type=PKCS12
ssl.truststore.location=$DIR/tls/truststore.p12
ssl.truststore.password=$pw
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:barge;User:CN=barge-kafka
allow.everyone.if.no.acl.found=false
EOP
}

scram_args() {     # StorageTool options that create DIR/users' SCRAM credentials
    [[ $SECURITY == sasl_ssl ]] || return 0
    local u p
    while read -r u p; do
        printf '%s\n' --add-scram "SCRAM-SHA-512=[name=$u,password=$p]"
    done <"$DIR/users"
}

# ------------------------------------------------------------------ start --
# Writes broker K's server.properties (PORTS, CPORTS, VOTERS set; EXTRA: --set lines).
write_props() {
    local k=$1 d tpl listener=PLAINTEXT cproto=PLAINTEXT rf min_isr
    d=$(node_dir "$k")
    rf=$(( NODES < 3 ? NODES : 3 ))
    min_isr=$(( rf >= 3 ? 2 : 1 ))
    if [[ $SECURITY == sasl_ssl ]]; then listener=SASL_SSL cproto=SSL; fi
    tpl=$(<"$PROPS_TEMPLATE")
    tpl=${tpl//@PORT@/${PORTS[k]}}
    tpl=${tpl//@CONTROLLER_PORT@/${CPORTS[k]}}
    tpl=${tpl//@DATA_DIR@/$d/data}
    tpl=${tpl//@NODE_ID@/$k}
    tpl=${tpl//@VOTERS@/$VOTERS}
    tpl=${tpl//@LISTENER@/$listener}
    tpl=${tpl//@CONTROLLER_PROTOCOL@/$cproto}
    tpl=${tpl//@RF@/$rf}
    tpl=${tpl//@MIN_ISR@/$min_isr}
    {
        printf '%s\n' "$tpl"
        if (( NODES > 1 )); then
            printf '\n# --- from kafka.sh --brokers %s: a lost broker is noticed within seconds ---\n' "$NODES"
            printf '%s\n' broker.heartbeat.interval.ms=500 broker.session.timeout.ms=3000
        fi
        security_props
        if (( ${#EXTRA[@]} )); then
            printf '\n# --- from kafka.sh --set ---\n'
            printf '%s\n' "${EXTRA[@]}"
        fi
    } >"$d/server.properties.tmp"
    mv -f "$d/server.properties.tmp" "$d/server.properties"
}

# Chooses PORTS[k] and CPORTS[k] for every broker: --port/--controller-port (one broker), with
# --keep the previous ones while still free, else free ones. AUTO_PORTS=1 when any was free-picked.
pick_ports() {
    local want_port=$1 want_cport=$2 keep=$3 k old used=() fp
    PORTS=() CPORTS=() AUTO_PORTS=0
    for (( k = 1; k <= NODES; k++ )); do
        PORTS[k]='' CPORTS[k]=''
        (( NODES == 1 )) && PORTS[k]=$want_port CPORTS[k]=$want_cport
        local props
        props=$(node_dir "$k")/server.properties
        if (( keep )) && [[ -f $props ]]; then
            # Reuse the previous ports when not told otherwise and still free,
            # so clients holding the old bootstrap keep working.
            if [[ -z ${PORTS[k]} ]] && old=$(prop_value "$props" advertised.listeners); then
                old=${old##*:}; [[ $old =~ ^[0-9]+$ ]] && port_bindable "$old" && PORTS[k]=$old
            fi
            if [[ -z ${CPORTS[k]} ]] && old=$(prop_value "$props" listeners); then
                old=${old##*CONTROLLER://127.0.0.1:}; old=${old%%,*}
                [[ $old =~ ^[0-9]+$ && $old != "${PORTS[k]}" ]] && port_bindable "$old" && CPORTS[k]=$old
            fi
        fi
        used+=("${PORTS[k]}" "${CPORTS[k]}")
    done
    local free=()
    while read -r fp; do
        [[ " ${used[*]} " == *" $fp "* || $fp == 9092 || $fp == 9093 ]] && continue
        free+=("$fp")
    done < <(free_ports $(( 2 * NODES + 2 )))
    for (( k = 1; k <= NODES; k++ )); do
        [[ -n ${PORTS[k]} ]] || { PORTS[k]=${free[0]}; free=("${free[@]:1}"); AUTO_PORTS=1; }
        [[ -n ${CPORTS[k]} ]] || { CPORTS[k]=${free[0]}; free=("${free[@]:1}"); AUTO_PORTS=1; }
        [[ -n ${PORTS[k]} && -n ${CPORTS[k]} ]] || die "could not find free ports"
        port_bindable "${PORTS[k]}" || die "port ${PORTS[k]} on 127.0.0.1 is in use"
        port_bindable "${CPORTS[k]}" || die "controller port ${CPORTS[k]} on 127.0.0.1 is in use"
    done
    VOTERS=
    for (( k = 1; k <= NODES; k++ )); do VOTERS+="${VOTERS:+,}$k@127.0.0.1:${CPORTS[k]}"; done
}

# Formats broker K's storage for cluster id $2 (in the background: its pid in FORMAT_PID).
format_node() {
    local d
    d=$(node_dir "$1")
    local scram=()
    mapfile -t scram < <(scram_args)
    java -Xmx256m -Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$LIBS/*" \
        kafka.tools.StorageTool format -t "$2" -c "$d/server.properties" --ignore-formatted \
        ${scram[@]+"${scram[@]}"} >"$d/format.log" 2>&1 {DIRLOCK}>&- &
    FORMAT_PID=$!
}

# Launches broker K in the background; its pid into its pid file and LAUNCHED_PID. setsid +
# nohup so it outlives the calling shell; both exec, so $! is the java process itself.
launch_node() {
    local d
    d=$(node_dir "$1")
    # shellcheck disable=SC2086
    nohup setsid java $HEAP_OPTS $JVM_OPTS \
        -Dlog4j2.configurationFile="$LOG4J_CONF" \
        -Dkafka.logs.dir="$d" \
        -cp "$LIBS/*" kafka.Kafka "$d/server.properties" \
        >>"$d/kafka.log" 2>&1 </dev/null {DIRLOCK}>&- &
    LAUNCHED_PID=$!
    printf '%s\n' "$LAUNCHED_PID" >"$d/pid"
}

# Waits for broker K (pid $2) to serve on port $3; 1 with `why` set when it did not.
wait_node() {
    local top=$DIR rc=0
    DIR=$(node_dir "$1")
    peer_wait "$2" broker 0.2 broker_alive broker_ready "$3" || rc=1
    DIR=$top
    return $rc
}

# 0 when no broker of DIR runs; says so and returns 1 when all do; dies when only some do.
check_not_running() {
    local k pid up=() down=()
    for (( k = 1; k <= NODES; k++ )); do
        if pid=$(node_pid "$k"); then up+=("$k:$pid"); else down+=("$k"); fi
    done
    (( ${#up[@]} )) || return 0
    if (( ${#down[@]} )); then
        die "brokers ${down[*]} of $DIR do not run (the others do): start them with --node K, or stop the cluster first"
    fi
    if (( NODES == 1 )); then
        say "already running at $(cat "$DIR/bootstrap" 2>/dev/null || echo '?') (pid ${up[0]#*:}, data $DIR/data)"
    else
        say "already running: $NODES brokers at $(cat "$DIR/bootstrap" 2>/dev/null || echo '?') (node:pid ${up[*]})"
    fi
    return 1
}

cmd_start() {
    DIR=''; EXTRA=()
    local port='' cport='' keep=0 nodes=1 node='' security=plaintext
    while (( $# )); do
        case $1 in
            --dir) [[ $# -ge 2 ]] || die "--dir needs a value"; DIR=$2; shift 2 ;;
            --dir=*) DIR=${1#--dir=}; shift ;;
            --port) [[ $# -ge 2 ]] || die "--port needs a value"; port=$2; shift 2 ;;
            --port=*) port=${1#--port=}; shift ;;
            --controller-port) [[ $# -ge 2 ]] || die "--controller-port needs a value"; cport=$2; shift 2 ;;
            --controller-port=*) cport=${1#--controller-port=}; shift ;;
            --brokers) [[ $# -ge 2 ]] || die "--brokers needs a value"; nodes=$2; shift 2 ;;
            --brokers=*) nodes=${1#--brokers=}; shift ;;
            --node) [[ $# -ge 2 ]] || die "--node needs a value"; node=$2; shift 2 ;;
            --node=*) node=${1#--node=}; shift ;;
            --security) [[ $# -ge 2 ]] || die "--security needs a value"; security=$2; shift 2 ;;
            --security=*) security=${1#--security=}; shift ;;
            --keep) keep=1; shift ;;
            --set) [[ $# -ge 2 ]] || die "--set needs KEY=VALUE"; EXTRA+=("$2"); shift 2 ;;
            --set=*) EXTRA+=("${1#--set=}"); shift ;;
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
    [[ $nodes =~ ^[1-9]$ ]] || die "--brokers takes 1 to 9, got '$nodes'"
    (( nodes == 1 )) || [[ -z $port && -z $cport ]] || die "--port and --controller-port are for one broker only"
    [[ $security == plaintext || $security == sasl_ssl ]] || die "--security takes plaintext or sasl_ssl, got '$security'"
    [[ -z $node || $node =~ ^[1-9]$ ]] || die "--node takes a broker number, got '$node'"
    local kv
    for kv in ${EXTRA[@]+"${EXTRA[@]}"}; do
        [[ $kv == ?*=* ]] || die "--set expects KEY=VALUE, got '$kv'"
    done

    mkdir -p "$DIR" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd -P)
    lock_dir
    read_cluster   # what ran here before
    if [[ -n $node ]]; then start_again "$node"; return; fi
    check_not_running || return 0
    if (( keep )) && [[ -f $DIR/cluster ]] && [[ $NODES != "$nodes" || $SECURITY != "$security" ]]; then
        die "$DIR held $NODES broker(s) with security $SECURITY: --keep needs the same --brokers and --security"
    fi
    rm -f "$DIR/pid" "$DIR"/node[0-9]*/pid

    local t0
    t0=$(now)
    cache_complete || cmd_fetch
    cache_complete || die "Kafka jars missing after fetch"
    need_java
    [[ -f $PROPS_TEMPLATE ]] || die "missing $PROPS_TEMPLATE"
    [[ -f $LOG4J_CONF ]] || die "missing $LOG4J_CONF"

    if (( ! keep )); then
        rm -rf "$DIR/data" "$DIR"/node[0-9]* "$DIR/tls" "$DIR/users" "$DIR"/kafka-props*
    fi
    NODES=$nodes SECURITY=$security
    printf 'brokers=%s\nsecurity=%s\n' "$NODES" "$SECURITY" >"$DIR/cluster"
    rm -f "$DIR/bootstrap"
    if [[ $SECURITY == sasl_ssl && ! ( -f $DIR/tls/store.pass && -f $DIR/users ) ]]; then make_tls; fi
    local k d
    for (( k = 1; k <= NODES; k++ )); do
        d=$(node_dir "$k")
        mkdir -p "$d/data"
        [[ -f $d/kafka.log ]] && mv -f "$d/kafka.log" "$d/kafka.log.prev"
    done

    local attempt=0 max_attempts=3 pids=()
    while :; do
        attempt=$((attempt + 1))
        pick_ports "$port" "$cport" "$keep"
        # ---- server.properties and storage, one cluster id for all
        local cid
        if [[ -f $(node_dir 1)/data/meta.properties ]] && cid=$(prop_value "$(node_dir 1)/data/meta.properties" cluster.id); then
            :   # --keep: reuse the existing cluster
        else
            cid=$(new_cluster_id)
        fi
        local fpids=()
        for (( k = 1; k <= NODES; k++ )); do
            write_props "$k"
            format_node "$k" "$cid"
            fpids[k]=$FORMAT_PID
        done
        for (( k = 1; k <= NODES; k++ )); do
            if ! wait "${fpids[k]}"; then
                d=$(node_dir "$k")
                cat "$d/format.log" >&2
                die "formatting $d/data failed (cluster id $cid; see $d/format.log)"
            fi
        done
        # ---- launch them all (a quorum needs a majority up), then wait for each
        for (( k = 1; k <= NODES; k++ )); do
            launch_node "$k"
            pids[k]=$LAUNCHED_PID
        done
        local failed=0
        for (( k = 1; k <= NODES; k++ )); do
            wait_node "$k" "${pids[k]}" "${PORTS[k]}" || { failed=$k; break; }
        done
        (( failed )) || break
        for (( k = 1; k <= NODES; k++ )); do
            kill -KILL "${pids[k]}" 2>/dev/null || true
            rm -f "$(node_dir "$k")/pid"
        done
        d=$(node_dir "$failed")
        # A free port can be taken between our check and the bind: retry
        # with fresh ports when they were chosen automatically.
        if [[ $why == *exited* ]] && grep -q 'Address already in use' "$d/kafka.log" 2>/dev/null \
                && (( attempt < max_attempts && AUTO_PORTS )); then
            say "port clash, retrying with other ports"
            for (( k = 1; k <= NODES; k++ )); do
                [[ -f $(node_dir "$k")/kafka.log ]] && mv -f "$(node_dir "$k")/kafka.log" "$(node_dir "$k")/kafka.log.prev"
            done
            continue
        fi
        (( NODES == 1 )) || why="broker $failed: $why"
        peer_start_failed "$d/kafka.log"
    done

    local bs=
    for (( k = 1; k <= NODES; k++ )); do bs+="${bs:+,}127.0.0.1:${PORTS[k]}"; done
    printf '%s\n' "$bs" >"$DIR/bootstrap.tmp"
    mv -f "$DIR/bootstrap.tmp" "$DIR/bootstrap"
    if (( NODES == 1 )); then
        say "ready at $bs (pid ${pids[1]}, data $DIR/data) in $(elapsed "$t0")s"
    else
        say "ready: $NODES brokers at $bs (pids ${pids[*]}, data $DIR/node*/data) in $(elapsed "$t0")s"
    fi
    [[ $SECURITY == plaintext ]] || say "security $SECURITY: clients connect with --kafka-props \"\$(cat $DIR/kafka-props)\""
}

# start --node K: starts broker K of DIR again, on its data and ports (after it died or was
# stopped with stop --node K).
start_again() {
    local k=$1 d pid port t0
    (( k <= NODES )) || die "--node $k: $DIR has brokers 1 to $NODES"
    d=$(node_dir "$k")
    [[ -f $d/server.properties && -f $d/data/meta.properties ]] || die "broker $k of $DIR was never started"
    if pid=$(node_pid "$k"); then
        say "broker $k already running (pid $pid)"
        return 0
    fi
    t0=$(now)
    cache_complete || die "Kafka jars missing (run: scripts/$PROG fetch)"
    need_java
    port=$(node_port "$k") || die "no port in $d/server.properties"
    # (not port_bindable: the port of a broker killed a moment ago has connections in TIME_WAIT,
    # which the broker's own listener, bound with SO_REUSEADDR, does not mind)
    ! port_in_use "$port" || die "port $port of broker $k is in use"
    [[ -f $d/kafka.log ]] && mv -f "$d/kafka.log" "$d/kafka.log.prev"
    launch_node "$k"
    pid=$LAUNCHED_PID
    if ! wait_node "$k" "$pid" "$port"; then
        rm -f "$d/pid"
        peer_start_failed "$d/kafka.log"
    fi
    say "broker $k ready at 127.0.0.1:$port (pid $pid) in $(elapsed "$t0")s"
}

# ------------------------------------------------------------------- stop --
cmd_stop() {
    local node='' args=()
    while (( $# )); do
        case $1 in
            --node) [[ $# -ge 2 ]] || die "--node needs a value"; node=$2; shift 2 ;;
            --node=*) node=${1#--node=}; shift ;;
            *) args+=("$1"); shift ;;
        esac
    done
    parse_dir_opts ${args[@]+"${args[@]}"}
    read_cluster
    [[ -z $node || ( $node =~ ^[1-9]$ && $node -le $NODES ) ]] || die "--node $node: $DIR has brokers 1 to $NODES"
    if (( NODES == 1 )); then peer_stop is_our_broker 1; return; fi
    if [[ -n $node ]]; then DIR=$(node_dir "$node"); peer_stop is_our_broker 1; return; fi
    stop_cluster
}

# Stops every broker of a cluster at once (one by one, the last ones would wait for a quorum
# that is gone): SIGTERM to all, SIGKILL to those alive after STOP_TIMEOUT.
stop_cluster() {
    lock_dir
    local k pid t0 live=() deadline
    t0=$(now)
    for (( k = 1; k <= NODES; k++ )); do
        if pid=$(node_pid "$k"); then live[k]=$pid; kill -TERM "$pid" 2>/dev/null || true; fi
    done
    deadline=$(( $(date +%s) + STOP_TIMEOUT ))
    for k in "${!live[@]}"; do
        while is_our_broker "${live[k]}" "$(node_dir "$k")"; do
            if (( $(date +%s) >= deadline )); then
                say "broker $k (pid ${live[k]}) still alive after ${STOP_TIMEOUT}s; sending SIGKILL"
                kill -KILL "${live[k]}" 2>/dev/null || true
                sleep 0.5
                break
            fi
            sleep 0.1
        done
        is_our_broker "${live[k]}" "$(node_dir "$k")" && die "pid ${live[k]} survived SIGKILL"
    done
    for (( k = 1; k <= NODES; k++ )); do rm -f "$(node_dir "$k")/pid"; done
    if (( ${#live[@]} )); then
        say "stopped $NODES-broker cluster (pids ${live[*]}) in $(elapsed "$t0")s"
    else
        say "not running (dir $DIR)"
    fi
}

# ----------------------------------------------------------------- status --
cmd_status() {
    parse_dir_opts "$@"
    read_cluster
    local bs='?' pid k up=0
    [[ -f $DIR/bootstrap ]] && bs=$(head -n1 "$DIR/bootstrap")
    echo "bootstrap: $bs"
    if (( NODES == 1 )); then
        if pid=$(node_pid 1); then
            local note=
            [[ $bs != '?' ]] && ! port_in_use "${bs##*:}" && note=", not accepting connections"
            say "running at $bs (pid $pid, data $DIR/data$note)"
            return 0
        fi
        say "not running (dir $DIR)"
        return 3
    fi
    for (( k = 1; k <= NODES; k++ )); do
        if pid=$(node_pid "$k"); then
            up=$((up + 1))
            say "broker $k running at 127.0.0.1:$(node_port "$k") (pid $pid)"
        else
            say "broker $k not running (dir $(node_dir "$k"))"
        fi
    done
    (( up == NODES )) && return 0
    return 3
}

# -------------------------------------------------------------------- acl --
cmd_acl() {
    local service='' prefix=barge. args=()
    while (( $# )); do
        case $1 in
            --service) [[ $# -ge 2 ]] || die "--service needs a value"; service=$2; shift 2 ;;
            --service=*) service=${1#--service=}; shift ;;
            --prefix) [[ $# -ge 2 ]] || die "--prefix needs a value"; prefix=$2; shift 2 ;;
            --prefix=*) prefix=${1#--prefix=}; shift ;;
            *) args+=("$1"); shift ;;
        esac
    done
    parse_dir_opts ${args[@]+"${args[@]}"}
    [[ -n $service ]] || die "acl: --service NAME is required (see --help)"
    read_cluster
    [[ $SECURITY == sasl_ssl ]] || die "acl: $DIR was not started with --security sasl_ssl"
    python3 "$SUPPORT_DIR/acls.py" "$DIR" "$service" "$prefix"
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
        acl)    cmd_acl "$@" ;;
        libs)   cmd_libs ;;
        -h|--help|help) usage ;;
        *) printf 'kafka: error: unknown command %s\n\n' "$cmd" >&2; usage >&2; exit 2 ;;
    esac
}

main "$@"
