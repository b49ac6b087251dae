#!/usr/bin/env bash
# bench/slurm/run.sh N [sbatch args...]: times one array of N tasks running `true` on the Slurm of
# bench/slurm/up.sh, from just before sbatch to the moment squeue no longer lists the array.
# Polls squeue for that one job every $SLURM_POLL_S seconds (default 0.2): the resolution of the
# measurement, at the cost of one small RPC to slurmctld each time.
# Prints: tasks=N job_id=ID submit_ms=... total_ms=...
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
N=${1:?usage: run.sh N [sbatch args...]}
shift
POLL=${SLURM_POLL_S:-0.2}
TIMEOUT=${SLURM_TIMEOUT_S:-3600}
ms() { date +%s%3N; }
t0=$(ms)
jid=$(sbatch --parsable --array="1-$N" --wrap=true -o /dev/null -e /dev/null "$@")
t1=$(ms)
# done when squeue answers with no line for the array (or no longer knows the job at all)
while :; do
    if out=$(squeue -h -j "$jid" -o %i 2>&1); then [[ -z $out ]] && break
    elif [[ $out == *"Invalid job id"* ]]; then break; fi
    (( $(ms) - t0 < TIMEOUT * 1000 )) || die "array $jid not finished after ${TIMEOUT}s"
    sleep "$POLL"
done
t2=$(ms)
echo "tasks=$N job_id=$jid submit_ms=$((t1 - t0)) total_ms=$((t2 - t0))"
