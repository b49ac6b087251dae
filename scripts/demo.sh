#!/usr/bin/env bash
# demo.sh: the README's main job. Installs what is missing (scripts/setup.sh), builds Barge in
# build/, starts a local stack with `barge up --detach` (its own single-node Kafka, a scheduler
# and two local agents), and runs a small sample workload through the AWS Batch commands:
#   prepare    one job the others wait for
#   work       an array job of 6 children (each echoes its AWS_BATCH_JOB_ARRAY_INDEX, sleeps 1 s),
#              dependsOn prepare
#   report     dependsOn the whole work array
#   flaky      exits 1 with retryStrategy attempts=2: FAILED after two attempts
#   cancelled  dependsOn work, cancelled while it waits: FAILED, "Cancelled: ..."
# It waits (at most 120 s, with a progress line) until every job is SUCCEEDED or FAILED, prints a
# table of each job's final state, the report job's log, and stops the stack.
# Exit status 0 only when every job reached the final state expected of it.
#
#   scripts/demo.sh [--keep]     --keep leaves the stack running (stop it with `barge down`)
# BARGE_HOME (default: .barge-demo in the repository) is where the stack lives; a stack already
# running there is stopped first, so the demo can be run again and again. BARGE_DEMO_BUILD_DIR
# (default: build) is the build tree.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
keep=0
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done
cd "$top"

say() { printf '\n== %s\n' "$*"; }

say "setup"
scripts/setup.sh
build=${BARGE_DEMO_BUILD_DIR:-build}
say "build ($build/)"
mkdir -p "$build"
if ! { cmake -S . -B "$build" && cmake --build "$build" -j"$(nproc)"; } >"$build/demo-build.log" 2>&1; then
  tail -n 30 "$build/demo-build.log"
  echo "demo: the build failed (whole log: $build/demo-build.log)" >&2
  exit 1
fi
echo "built $build/barge"

barge=$(cd "$build" && pwd)/barge
export BARGE_HOME=${BARGE_HOME:-$top/.barge-demo}
unset BARGE_BROKERS   # every command finds the demo's broker through $BARGE_HOME/stack
export BARGE_TOPIC_PREFIX=${BARGE_TOPIC_PREFIX:-barge.}
mkdir -p "$BARGE_HOME"

say "local stack in $BARGE_HOME"
if [ -f "$BARGE_HOME/stack" ]; then
  echo "a stack was recorded there: stopping it first"
  "$barge" down || true
fi
started=0
stop_stack() {
  if ((started)) && ((keep == 0)); then
    say "stopping the stack"
    "$barge" down || true
  fi
}
trap stop_stack EXIT
"$barge" up --detach --fresh --agents 2 --agent-vcpus 2 --agent-memory 2048 --heartbeat-ms 1000 --tick-ms 250
started=1

say "a job queue and two job definitions"
"$barge" create-job-queue --job-queue-name demo --priority 10 \
  --compute-environment-order order=1,computeEnvironment=local \
  --query jobQueueArn --output text
"$barge" register-job-definition --job-definition-name demo-step --type container \
  --container-properties '{"image": "busybox",
    "command": ["sh", "-c", "echo \"$STEP: job $AWS_BATCH_JOB_ID attempt $AWS_BATCH_JOB_ATTEMPT index ${AWS_BATCH_JOB_ARRAY_INDEX:--} on $AWS_BATCH_CE_NAME\"; sleep ${SLEEP:-1}; exit ${CODE:-0}"],
    "environment": [{"name": "STEP", "value": "step"}],
    "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}]}' \
  --query jobDefinitionArn --output text
"$barge" register-job-definition --job-definition-name demo-report --type container \
  --container-properties '{"image": "busybox",
    "command": ["sh", "-c", "echo \"report $AWS_BATCH_JOB_ID from queue $AWS_BATCH_JQ_NAME\"; echo \"prepare and all 6 work items succeeded before this ran\"; date -u +\"finished at %Y-%m-%dT%H:%M:%SZ\"; echo \"(a line on stderr)\" >&2"],
    "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}' \
  --query jobDefinitionArn --output text

say "submitting the workload"
submit() { "$barge" submit-job --job-queue demo --query jobId --output text "$@"; }
env_of() { # env_of STEP SLEEP CODE -> containerOverrides JSON
  printf '{"environment": [{"name": "STEP", "value": "%s"}, {"name": "SLEEP", "value": "%s"}, {"name": "CODE", "value": "%s"}]}' "$1" "$2" "$3"
}
prepare=$(submit --job-name prepare --job-definition demo-step --container-overrides "$(env_of prepare 2 0)")
work=$(submit --job-name work --job-definition demo-step --array-properties size=6 \
  --depends-on "jobId=$prepare" --container-overrides "$(env_of work 1 0)")
report=$(submit --job-name report --job-definition demo-report --depends-on "jobId=$work")
flaky=$(submit --job-name flaky --job-definition demo-step --retry-strategy attempts=2 \
  --container-overrides "$(env_of flaky 1 1)")
cancelled=$(submit --job-name cancelled --job-definition demo-step --depends-on "jobId=$work" \
  --container-overrides "$(env_of cancelled 1 0)")
"$barge" cancel-job --job-id "$cancelled" --reason "demo: not needed after all" >/dev/null
printf '  %-10s %s\n' prepare "$prepare" work "$work (array of 6)" report "$report" flaky "$flaky" \
  cancelled "$cancelled (cancel requested while it waits on work)"
ids=("$prepare" "$work" "$report" "$flaky" "$cancelled")

say "waiting for every job to finish (at most 120 s)"
deadline=$((SECONDS + 120))
while :; do
  # a job the scheduler has not recorded yet is not described: count it as SUBMITTED
  statuses=$("$barge" describe-jobs --jobs "${ids[@]}" --query 'jobs[].status' --output text | tr '\t' '\n' | grep . || true)
  known=$(grep -c . <<<"$statuses" || true)
  for ((k = known; k < ${#ids[@]}; k++)); do statuses+=$'\n'SUBMITTED; done
  n_done=$(grep -cE '^(SUCCEEDED|FAILED)$' <<<"$statuses" || true)
  summary=$(grep . <<<"$statuses" | sort | uniq -c | awk '{printf "%s %s  ", $2, $1}')
  line=$(printf '  [%3ds] %d/%d finished   %s' $((SECONDS - deadline + 120)) "$n_done" "${#ids[@]}" "$summary")
  if [ -t 1 ]; then
    printf '\r%-100s' "$line"        # one progress line, rewritten
  elif [ "$summary" != "${last:-}" ]; then
    echo "$line"                      # not a terminal: a line per change
  fi
  last=$summary
  [ "$n_done" -eq "${#ids[@]}" ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo; echo "demo: timed out after 120 s; service logs are in $BARGE_HOME"; exit 1
  fi
  sleep 1
done
[ -t 1 ] && echo

say "final states"
children=()
for i in 0 1 2 3 4 5; do children+=("$work:$i"); done
"$barge" describe-jobs --jobs "${ids[@]}" "${children[@]}" > "$BARGE_HOME/demo-result.json"
ok=0
python3 - "$BARGE_HOME/demo-result.json" "$prepare" "$work" "$report" "$flaky" "$cancelled" <<'EOF' || ok=1
import json, sys
jobs = {j["jobId"]: j for j in json.load(open(sys.argv[1]))["jobs"]}
prepare, work, report, flaky, cancelled = sys.argv[2:7]
rows = [(j.get("jobName", "") if ":" not in i else "  work[%s]" % i.split(":")[1], i, j) for i, j in jobs.items()]
print("%-10s %-38s %-9s %-4s %-8s %s" % ("JOB", "ID", "STATUS", "EXIT", "ATTEMPTS", "STATUS REASON"))
for name, i, j in rows:
    code = j.get("container", {}).get("exitCode", "")
    print("%-10s %-38s %-9s %-4s %-8s %s" % (name, i, j["status"], code, len(j.get("attempts", [])), j.get("statusReason", "")))
expected = {prepare: "SUCCEEDED", work: "SUCCEEDED", report: "SUCCEEDED", flaky: "FAILED", cancelled: "FAILED"}
for k in range(6):
    expected[f"{work}:{k}"] = "SUCCEEDED"
bad = [f"{jobs.get(i, {}).get('jobName', i)} ({i}) is {jobs.get(i, {}).get('status')}, expected {st}"
       for i, st in expected.items() if jobs.get(i, {}).get("status") != st]
f = jobs.get(flaky, {})
if [a["container"].get("exitCode") for a in f.get("attempts", [])] != [1, 1]:
    bad.append(f"flaky should have failed twice with exit 1: {f.get('attempts')}")
if not jobs.get(cancelled, {}).get("statusReason", "").startswith("Cancelled: "):
    bad.append(f"cancelled: statusReason {jobs.get(cancelled, {}).get('statusReason')!r}")
if jobs.get(cancelled, {}).get("attempts"):
    bad.append("cancelled should never have run")
w = jobs.get(work, {}).get("arrayProperties", {}).get("statusSummary", {})
print("\nwork array: %s" % ", ".join(f"{k} {v}" for k, v in w.items() if v))
if bad:
    print("\nUNEXPECTED:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("every job reached its expected final state")
EOF

say "log of the report job (barge logs $report)"
"$barge" logs "$report" || true
say "log of work child 3 (barge logs $work:3)"
"$barge" logs "$work:3" || true
if ((keep)); then
  say "the stack is still running (--keep): BARGE_HOME=$BARGE_HOME $build/barge down stops it"
fi
exit $ok
