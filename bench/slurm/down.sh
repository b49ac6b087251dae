#!/usr/bin/env bash
# bench/slurm/down.sh: stops exactly the daemons bench/slurm/up.sh started (by the pids it
# recorded; munged only if up.sh started it). Exit 0 also when nothing runs.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
stop_recorded
say "stopped"
