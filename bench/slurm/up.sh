#!/usr/bin/env bash
# bench/slurm/up.sh: starts the benchmark's single-host Slurm (docs/benchmarks.md, "Slurm"):
# munged (unless one already answers), slurmctld and four slurmd, without systemd, all from
# $SLURM_BENCH_DIR/slurm.conf. Installs the Debian packages it needs when missing (as root).
# Safe to run twice: daemons a previous run left behind (recorded in $SLURM_BENCH_DIR/pids) are
# stopped first. Ready when all four nodes are idle. Stop with bench/slurm/down.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

[[ $(id -u) == 0 ]] || die "must run as root (slurmd runs jobs as any user; munged needs its key)"

install_packages() {
    local missing=() p
    for p in slurmctld slurmd slurm-client munge bc; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    (( ${#missing[@]} )) || return 0
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } \
        || die "apt-get install ${missing[*]} failed"
}

start_munge() {
    if [[ -S /run/munge/munge.socket.2 ]] && munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "munged already running: using it"
        return 0
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then   # Debian's postinst normally makes one
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 2>/dev/null
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    rm -f /run/munge/munge.socket.2   # a stale socket of a dead munged
    runuser -u munge -- /usr/sbin/munged
    local _
    for _ in $(seq 1 50); do
        [[ -s /run/munge/munged.pid ]] && munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    [[ -s /run/munge/munged.pid ]] || die "munged did not start"
    echo "munged $(cat /run/munge/munged.pid)" >>"$PIDFILE"
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

install_packages
mkdir -p "$SLURM_BENCH_DIR"
stop_recorded   # a previous run's daemons, if any are left
for port in 6817 6818 17001 17002 17003 17004; do
    port_busy "$port" && die "port $port is in use (another Slurm?); stop it first"
done
rm -rf "$SLURM_BENCH_DIR/state" "$SLURM_BENCH_DIR/spool" "$SLURM_BENCH_DIR"/*.log
mkdir -p "$SLURM_BENCH_DIR/state" "$SLURM_BENCH_DIR"/spool/n{1,2,3,4}
sed -e "s/@HOST@/$(hostname -s)/g" -e "s|@DIR@|$SLURM_BENCH_DIR|g" "$HERE/slurm.conf.in" >"$SLURM_CONF"
: >"$PIDFILE"
start_munge
# -i: ignore any saved state (a clean controller); -D: stay in the foreground (we keep the pid)
slurmctld -D -i -f "$SLURM_CONF" >"$SLURM_BENCH_DIR/slurmctld.stdout" 2>&1 &
echo "slurmctld $!" >>"$PIDFILE"
for n in n1 n2 n3 n4; do
    slurmd -D -N "$n" -f "$SLURM_CONF" >"$SLURM_BENCH_DIR/slurmd-$n.stdout" 2>&1 &
    echo "slurmd-$n $!" >>"$PIDFILE"
done
for _ in $(seq 1 300); do
    if [[ $(sinfo -h -o '%T' 2>/dev/null | sort -u) == idle ]]; then
        say "4 nodes x 16 CPUs idle ($(sinfo -V 2>/dev/null))"
        exit 0
    fi
    sleep 0.2
done
say "the nodes did not become idle within 60 s:"
sinfo >&2 || true
tail -n 20 "$SLURM_BENCH_DIR/slurmctld.log" >&2 || true
stop_recorded
exit 1
