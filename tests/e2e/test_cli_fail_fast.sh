#!/usr/bin/env bash
# test_cli_fail_fast.sh: with no broker reachable, a client command gives up within 5 s with one
# line naming the broker it tried and how to start one, exit 255 (AWS commands) or 1 (tools); the
# same with no stack at all.
set -u
BARGE=${BARGE_BIN:-build/barge}
export BARGE_HOME=$(mktemp -d /tmp/barge-failfast-XXXXXX)
trap 'rm -rf "$BARGE_HOME"' EXIT
unset BARGE_BROKERS
fails=0 passes=0
check() { if eval "$2"; then echo "ok   $1"; passes=$((passes + 1)); else echo "FAIL $1"; fails=$((fails + 1)); fi; }
timed() { # ARGS...: runs barge ARGS (no stdin, at most 20 s), output to $BARGE_HOME/out and err;
  # sets rc, its exit status, and ms, the milliseconds it took (the caller's locals)
  local t0 t1
  t0=$(date +%s%N)
  timeout 20 "$BARGE" "$@" </dev/null >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
  rc=$?
  t1=$(date +%s%N)
  ms=$(((t1 - t0) / 1000000))
}

run() { # NAME EXPECTED-RC ARGS...: runs barge ARGS, checks time, exit status and the one line
  local name=$1 want=$2
  shift 2
  local rc ms
  timed "$@"
  echo "  $name: exit $rc after $ms ms: $(cat "$BARGE_HOME/err")"
  check "$name gives up within 5 s ($ms ms)" "[ $ms -le 5000 ]"
  check "$name exits $want" "[ $rc -eq $want ]"
  check "$name says it in one line" "[ \$(wc -l <'$BARGE_HOME/err') -eq 1 ] && [ ! -s '$BARGE_HOME/out' ]"
  check "$name names the broker and how to start one" \
    "grep -q 'no Kafka broker answers at 127.0.0.1:1' '$BARGE_HOME/err' && grep -q 'barge up' '$BARGE_HOME/err'"
}

run submit-job 255 submit-job --brokers 127.0.0.1:1 --job-name a --job-queue q --job-definition d
run describe-jobs 255 describe-jobs --brokers 127.0.0.1:1 --jobs 1234
run instances 1 instances --brokers 127.0.0.1:1
# replay reads Kafka as a client: it used to wait 10 s and print librdkafka's own warning
run explain 1 explain 1234 --brokers 127.0.0.1:1
run "replay print" 1 replay print --topic job-events --brokers 127.0.0.1:1
run "replay rebuild" 1 replay rebuild --brokers 127.0.0.1:1
run "replay simulate" 1 replay simulate --brokers 127.0.0.1:1
# no stack at all (no stack file, no --brokers, no BARGE_BROKERS): a runtime condition, not bad
# usage: tools exit 1 (they used to exit 2, explain 255), the AWS Batch commands 255; one line
# saying there is no stack in $BARGE_HOME and how to get one
nostack() { # NAME EXPECTED-RC ARGS...
  local name=$1 want=$2
  shift 2
  "$BARGE" "$@" </dev/null >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
  local rc=$?
  echo "  no stack, $name: exit $rc: $(cat "$BARGE_HOME/err")"
  check "no stack, $name exits $want" "[ $rc -eq $want ]"
  check "no stack, $name says so in one line" \
    "[ \$(wc -l <'$BARGE_HOME/err') -eq 1 ] && [ ! -s '$BARGE_HOME/out' ] && grep -q 'no stack in $BARGE_HOME' '$BARGE_HOME/err' && grep -q 'barge up' '$BARGE_HOME/err' && grep -q -- '--brokers' '$BARGE_HOME/err'"
}
nostack logs 1 logs 1234
# a file named on barge logs' command line that cannot be read is bad usage, said at once before
# any broker is asked (as check's --audit-key): it was found only when a log had to come from an
# agent's log server, after the broker's 3 s, exit 1, and never when the log was on this host
badfile() { # NAME WHAT ARGS...
  local name=$1 what=$2
  shift 2
  local rc ms
  timed "$@"
  echo "  $name: exit $rc after $ms ms: $(cat "$BARGE_HOME/err")"
  check "$name exits 2 at once ($ms ms), before any broker" "[ $rc -eq 2 ] && [ $ms -le 1000 ]"
  check "$name names the option and the file in one line" \
    "[ \$(wc -l <'$BARGE_HOME/err') -eq 1 ] && [ ! -s '$BARGE_HOME/out' ] && grep -q -- '$what' '$BARGE_HOME/err' && ! grep -q 'no Kafka broker' '$BARGE_HOME/err'"
}
# output that cannot be written (a full disk: /dev/full) is a runtime error, said on stderr: every
# command but `barge logs` exited 0 with its output lost (`barge usage > report.csv`)
full() { # NAME EXPECTED-RC ARGS...
  local name=$1 want=$2
  shift 2
  "$BARGE" "$@" </dev/null >/dev/full 2>"$BARGE_HOME/err"
  local rc=$?
  echo "  $name > /dev/full: exit $rc: $(cat "$BARGE_HOME/err")"
  check "$name > /dev/full exits $want, saying the output could not be written" \
    "[ $rc -eq $want ] && grep -q 'cannot write the output: No space left on device' '$BARGE_HOME/err'"
}
full "completion bash" 1 completion bash
full "usage --help" 1 usage --help
full "replay simulate --help" 1 replay simulate --help
full "describe-jobs --help" 255 describe-jobs --help
full "--output json describe-jobs --help" 255 --output json describe-jobs --help
"$BARGE" completion bash >/dev/null 2>"$BARGE_HOME/err"
check "completion bash to a writable stdout still exits 0, silent" "[ $? -eq 0 ] && [ ! -s '$BARGE_HOME/err' ]"
badfile "logs --log-token-file missing" "--log-token-file /nonexistent/token" logs 1234 --brokers 127.0.0.1:1 --log-token-file /nonexistent/token
printf short >"$BARGE_HOME/short.token"
badfile "logs --log-token-file too short" "--log-token-file $BARGE_HOME/short.token" logs 1234 --brokers 127.0.0.1:1 --log-token-file "$BARGE_HOME/short.token"
badfile "logs --log-ca-bundle missing" "--log-ca-bundle /nonexistent/ca.pem" logs 1234 --brokers 127.0.0.1:1 --log-ca-bundle /nonexistent/ca.pem
badfile "logs --log-ca-bundle a directory" "--log-ca-bundle $BARGE_HOME" logs 1234 --brokers 127.0.0.1:1 --log-ca-bundle "$BARGE_HOME"
nostack watch 1 watch
nostack instances 1 instances
nostack usage 1 usage
nostack check 1 check
nostack "replay print" 1 replay print --topic job-events
nostack "replay rebuild" 1 replay rebuild
nostack "replay simulate" 1 replay simulate
nostack init 1 init
nostack explain 1 explain 1234
# barge status says it on stderr too (it printed it on stdout)
"$BARGE" status </dev/null >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
echo "  no stack, status: exit $rc: $(cat "$BARGE_HOME/err")"
check "no stack, status exits 1 with one line on stderr, nothing on stdout" \
  "[ $rc -eq 1 ] && [ \$(wc -l <'$BARGE_HOME/err') -eq 1 ] && [ ! -s '$BARGE_HOME/out' ] && grep -q 'barge up' '$BARGE_HOME/err'"
nostack list-jobs 255 list-jobs --job-queue q
nostack describe-jobs 255 describe-jobs --jobs 1234
# --help (and -h) prints help on stdout and exits 0 for every command barge --help lists, and for
# the subcommands (completion --help used to exit 2), before anything looks for a stack
cmds=$("$BARGE" --help | awk '/^  [a-z]/ { print $1 }')
check "barge --help lists the commands" "[ \$(wc -w <<<\"\$cmds\") -ge 40 ]"
bad_help=""
for c in $cmds help-config "replay print" "replay rebuild" "replay simulate" "audit verify" "completion bash"; do
  for h in --help -h; do
    # shellcheck disable=SC2086 # "replay print" is two words
    timeout 10 "$BARGE" $c $h </dev/null >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
    rc=$?
    if [ $rc -ne 0 ] || [ ! -s "$BARGE_HOME/out" ]; then bad_help="$bad_help [$c $h: exit $rc: $(head -c 200 "$BARGE_HOME/err")]"; fi
  done
done
check "every command's --help and -h print help and exit 0${bad_help:+:$bad_help}" "[ -z \"\$bad_help\" ]"
# version's help is a help, not the version it prints (it printed "barge 0.1.0")
"$BARGE" version --help >"$BARGE_HOME/out" 2>&1
rc=$?
check "barge version --help: its usage, exit 0 (exit $rc: $(head -1 "$BARGE_HOME/out"))" \
  "[ $rc -eq 0 ] && head -1 '$BARGE_HOME/out' | grep -q '^usage: barge version'"
# `barge help COMMAND` is `barge COMMAND --help`; one that does not exist is an error (it printed
# the command list and exited 0 for any word)
"$BARGE" help watch >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "barge help watch: watch's help, exit 0" "[ $rc -eq 0 ] && grep -q '^usage: barge watch' '$BARGE_HOME/out'"
"$BARGE" help submit-job >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "barge help submit-job: its options, exit 0" "[ $rc -eq 0 ] && grep -q -- '--job-queue' '$BARGE_HOME/out'"
"$BARGE" help nosuch >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "barge help nosuch: exit 2, one line saying it is not a command ($(cat "$BARGE_HOME/err"))" \
  "[ $rc -eq 2 ] && [ ! -s '$BARGE_HOME/out' ] && grep -q \"'nosuch' is not a barge command\" '$BARGE_HOME/err'"
# submit-job --from-jsonl opens its file first: a missing one says why (it gave no reason), 252
"$BARGE" submit-job --from-jsonl /nonexistent/jobs.jsonl >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "submit-job --from-jsonl of a missing file: exit 252 with the reason ($(cat "$BARGE_HOME/err"))" \
  "[ $rc -eq 252 ] && grep -q 'cannot open /nonexistent/jobs.jsonl: No such file or directory' '$BARGE_HOME/err'"
# usage checks its window before it looks for a stack: --since in the future alone used to say
# "--until must be after --since", naming a flag not given
usage_err() { "$BARGE" usage "$@" >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"; echo "rc=$? $(cat "$BARGE_HOME/err")"; }
got=$(usage_err --since 2999-01-01T00:00:00Z)
check "usage --since in the future: exit 2, says so ($got)" \
  "grep -q '^rc=2 barge usage: --since 2999-01-01T00:00:00Z is in the future: nothing to report' <<<\"\$got\" && ! grep -q -- '--until' <<<\"\$got\""
got=$(usage_err --since 2024-02-01T00:00:00Z --until 2024-01-01T00:00:00Z)
check "usage --until before --since: exit 2, names both ($got)" \
  "grep -q '^rc=2 barge usage: --until 2024-01-01T00:00:00Z is not after --since 2024-02-01T00:00:00Z' <<<\"\$got\""
# --source usage holds running totals since accounting began: a window cannot select part of the
# queue, share or CE totals (the report used to print them all under "from --since"), only JOB records
got=$(usage_err --source usage --since 2024-01-01T00:00:00Z)
check "usage --source usage --since (by queue): exit 2, says the window does not apply ($got)" \
  "grep -q '^rc=2 barge usage: --since does not apply to --source usage --by queue' <<<\"\$got\""
got=$(usage_err --source usage --by ce --until 2024-01-01T00:00:00Z)
check "usage --source usage --by ce --until: exit 2 ($got)" "grep -q '^rc=2 barge usage: --until does not apply' <<<\"\$got\""
got=$(usage_err --source usage --by job --since 2024-01-01T00:00:00Z)
check "usage --source usage --by job --since: accepted (goes on to look for a stack: rc=1) ($got)" "grep -q '^rc=1 ' <<<\"\$got\""
# barge instances --events --decisions printed the decisions alone, the events dropped without a word
got=$("$BARGE" instances --events --decisions 2>&1 >/dev/null; echo "rc=$?")
check "instances --events --decisions: exit 2, says to give one ($got)" \
  "grep -q 'give one' <<<\"\$got\" && grep -q '^rc=2' <<<\"\$got\""
# barge audit checks its key and --topics before it waits for a broker: with none answering it
# used to wait its minute, say no broker answers, and name the missing key only at the next try;
# --topics naming no topic exited 2 without a word
audit_err() { # NAME WHAT-ERR-SAYS ARGS...
  local name=$1 says=$2 rc ms
  shift 2
  timed audit --brokers 127.0.0.1:1 --out "$BARGE_HOME/a.jsonl" "$@"
  check "audit, $name: exit 2 within 2 s ($ms ms), one line saying so ($(cat "$BARGE_HOME/err"))" \
    "[ $rc -eq 2 ] && [ $ms -le 2000 ] && [ \$(wc -l <'$BARGE_HOME/err') -eq 1 ] && grep -qF -- '$says' '$BARGE_HOME/err'"
}
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$BARGE_HOME/audit.key"
audit_err "a missing key file" "cannot read the HMAC key file $BARGE_HOME/nokey" --hmac-key-file "$BARGE_HOME/nokey"
audit_err "an unknown topic" "unknown topic" --hmac-key-file "$BARGE_HOME/audit.key" --topics requests,nosuch
audit_err "--topics naming none" "names no topic" --hmac-key-file "$BARGE_HOME/audit.key" --topics ,
# an --out that can never be an audit file, said at once too: /dev/full was read for ever once a
# broker answered (16 GB of zeros in 12 s), a folder or a missing one said only after the wait
audit_err "--out a device" "--out /dev/full is a device, pipe or socket, not a regular file" \
  --hmac-key-file "$BARGE_HOME/audit.key" --out /dev/full
audit_err "--out a folder" "--out $BARGE_HOME is a directory" --hmac-key-file "$BARGE_HOME/audit.key" --out "$BARGE_HOME"
audit_err "--out in a missing folder" "cannot create it in $BARGE_HOME/nodir: No such file or directory" \
  --hmac-key-file "$BARGE_HOME/audit.key" --out "$BARGE_HOME/nodir/a.jsonl"
audit_err "--out empty" "--out is empty" --hmac-key-file "$BARGE_HOME/audit.key" --out ""
# audit verify reads a stream (zcat FILE.gz | barge audit verify /dev/stdin), but no longer than
# the longest line Barge writes: an endless one without a newline (/dev/zero) was read until
# memory ran out, and then said to be intact
got=$(head -c $((70 << 20)) /dev/zero | timeout 20 "$BARGE" audit verify /dev/stdin --hmac-key-file "$BARGE_HOME/audit.key" \
  --no-seal 2>&1; echo "rc=$?")
check "audit verify of 70 MiB without a newline: exit 1, not an audit line ($got)" \
  "grep -q '^rc=1' <<<\"\$got\" && grep -q 'line 1.*64 MiB without a newline' <<<\"\$got\""
# --kafka-props that no client can be made with are bad usage, said at once as such, before any
# broker or stack is looked for: they used to be "no Kafka broker answers at ...; start one with
# `barge up`" (exit 1, 255 for the AWS commands), a service said it had waited 60 s for a broker
# when it had not waited at all, and an item without "=" was dropped without a word
badprops() { # NAME EXPECTED-RC WHAT-ERR-SAYS ARGS...
  local name=$1 want=$2 says=$3
  shift 3
  local rc ms
  timed "$@"
  echo "  bad --kafka-props, $name: exit $rc after $ms ms: $(cat "$BARGE_HOME/err")"
  check "bad --kafka-props, $name: exit $want within 2 s ($ms ms)" "[ $rc -eq $want ] && [ $ms -le 2000 ]"
  check "bad --kafka-props, $name: one line naming --kafka-props and what is wrong, no broker blamed" \
    "[ \$(wc -l <'$BARGE_HOME/err') -eq 1 ] && grep -qF -- '--kafka-props: ' '$BARGE_HOME/err' && grep -qF -- '$says' '$BARGE_HOME/err' && ! grep -q 'broker' '$BARGE_HOME/err'"
}
NOPROP='kafka property foo: No such configuration property'
badprops usage 2 "$NOPROP" usage --brokers 127.0.0.1:1 --kafka-props foo=bar
badprops check 2 "$NOPROP" check --brokers 127.0.0.1:1 --kafka-props security.protocol=SSL,foo=bar
badprops "replay rebuild" 2 "$NOPROP" replay rebuild --brokers 127.0.0.1:1 --kafka-props foo=bar
badprops explain 2 "$NOPROP" explain 1234 --brokers 127.0.0.1:1 --kafka-props foo=bar
badprops describe-jobs 252 "$NOPROP" describe-jobs --brokers 127.0.0.1:1 --jobs 1234 --kafka-props foo=bar
badprops "submit-job --from-jsonl" 252 "$NOPROP" submit-job --from-jsonl /dev/null --brokers 127.0.0.1:1 --kafka-props foo=bar
badprops "an item without =" 2 "not NAME=VALUE" \
  instances --brokers 127.0.0.1:1 --kafka-props client.id=x,security.protocol:SSL
badprops "a CA file that is not there" 2 "ssl.ca.location failed" \
  instances --brokers 127.0.0.1:1 --kafka-props security.protocol=SSL,ssl.ca.location=/nonexistent/ca.pem
badprops "a service" 2 "$NOPROP" scheduler --brokers 127.0.0.1:1 --kafka-props foo=bar
badprops "barge up, before starting anything" 2 "$NOPROP" up --brokers 127.0.0.1:1 --kafka-props foo=bar
check "barge up with bad --kafka-props left no stack behind" "[ ! -e '$BARGE_HOME/stack' ] && [ ! -e '$BARGE_HOME/services' ]"
# a blank item is nothing: it reaches the broker question as before
run "blank --kafka-props items" 1 instances --brokers 127.0.0.1:1 --kafka-props "client.id=x, ,"
# a topic prefix Kafka cannot name a topic with is bad usage, said before any broker is asked: it
# used to be a ServerException (255) telling to create the topics with `barge init`, and barge
# init, watch or a service failed on the broker's "invalid topic" (exit 1); a prefix over 127
# characters was cut without a word
oneline() { # WHAT NAME EXPECTED-RC WHAT-ERR-SAYS NOT-SAID ARGS...: bad usage said at once, in one line
  local what=$1 name=$2 want=$3 says=$4 not=$5
  shift 5
  timeout 20 "$BARGE" "$@" </dev/null >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
  local rc=$?
  echo "  $what, $name: exit $rc: $(cat "$BARGE_HOME/err")"
  check "$what, $name: exit $want, one line saying what is wrong" \
    "[ $rc -eq $want ] && [ \$(wc -l <'$BARGE_HOME/err') -eq 1 ] && grep -qF -- \"$says\" '$BARGE_HOME/err' && ! grep -q '$not' '$BARGE_HOME/err'"
}
badprefix() { oneline "bad topic prefix" "$1" "$2" "$3" broker "${@:4}"; } # the prefix in ARGS or BARGE_TOPIC_PREFIX
ILLEGAL="--topic-prefix 'a b': a Kafka topic name may hold only ASCII letters, digits, '.', '_' and '-', not ' '"
badprefix describe-job-queues 252 "$ILLEGAL" describe-job-queues --brokers 127.0.0.1:1 --topic-prefix 'a b'
badprefix init 2 "$ILLEGAL" init --brokers 127.0.0.1:1 --topic-prefix 'a b'
badprefix watch 2 "$ILLEGAL" watch --brokers 127.0.0.1:1 --topic-prefix 'a b'
badprefix "a service" 2 "$ILLEGAL" scheduler --brokers 127.0.0.1:1 --topic-prefix 'a b'
BARGE_TOPIC_PREFIX=a/b badprefix "from the environment" 2 "BARGE_TOPIC_PREFIX 'a/b'" instances --brokers 127.0.0.1:1
BARGE_TOPIC_PREFIX=a/b badprefix "barge up" 2 "BARGE_TOPIC_PREFIX 'a/b'" up --brokers 127.0.0.1:1
badprefix "too long" 252 "--topic-prefix: 128 characters, too long" describe-jobs --jobs 1 --brokers 127.0.0.1:1 \
  --topic-prefix "$(printf 'a%.0s' {1..128})"
# a broker list no broker could answer at is bad usage too, said at once (it was exit 1 or 255,
# "no Kafka broker answers", after trying port 0)
badbrokers() { oneline "bad broker list" "$1" "$2" "$3" answers "${@:4}"; }
badbrokers describe-job-queues 252 "--brokers 'localhost:notaport': 'localhost:notaport' has a port that is not a number" \
  describe-job-queues --brokers localhost:notaport
badbrokers instances 2 "'b:' has an empty port" instances --brokers a:1,b:
badbrokers "barge up" 2 "--brokers 'h:70000': 'h:70000' has a port outside 1-65535" up --brokers h:70000
BARGE_BROKERS=:9092 badbrokers "from the environment" 2 "BARGE_BROKERS ':9092': ':9092' has no host" watch
# bad usage of the tools, said at once in one line (exit 2) before any stack or broker is looked
# for: each used to be taken silently, or said only once a broker answered (with none "no stack"
# or "no Kafka broker answers", exit 1)
usage_case() { oneline "bad usage" "$1" 2 "$2" broker "${@:3}"; } # NAME WHAT-ERR-SAYS ARGS...
NB=(--brokers 127.0.0.1:1)
# a flag given a value: `--json=no` turned JSON on
usage_case "check --json=no" "--json takes no value, got '--json=no'" check --json=no "${NB[@]}"
usage_case "watch --from-beginning=yes" "--from-beginning takes no value" watch --from-beginning=yes "${NB[@]}"
usage_case "replay rebuild --strict=1" "--strict takes no value" replay rebuild --strict=1 "${NB[@]}"
# check: a key that cannot be read waited for the broker first (--no-audit, which wins over
# --audit-key, leaves it unread: on to the broker)
run "check --no-audit --audit-key missing" 1 check --no-audit --audit-key "$BARGE_HOME/nokey" "${NB[@]}"
usage_case "check --audit-key missing" "--audit-key: cannot read the HMAC key file $BARGE_HOME/nokey" \
  check --audit-key "$BARGE_HOME/nokey" "${NB[@]}"
# replay: --topic missing or unknown (said only with a stack), --from beside --from-offset (the
# offset taken without a word), a capacity model or an ALT file simulate cannot use
usage_case "replay print without --topic" "--topic is required" replay print
usage_case "replay print --topic nosuch" "unknown topic 'nosuch'" replay print --topic nosuch
usage_case "replay print --from and --from-offset" "--from 2024-01-01 and --from-offset 3 both say where to start: give one" \
  replay print --topic job-events --from 2024-01-01 --from-offset 3 "${NB[@]}"
usage_case "replay print --until and --until-offset" "--until 2024-01-01 and --until-offset 3 both say where to end" \
  replay print --topic job-events --until 2024-01-01 --until-offset 3 "${NB[@]}"
usage_case "replay simulate --capacity-model nope" "--capacity-model is provisioner or replay, not 'nope'" \
  replay simulate --capacity-model nope "${NB[@]}"
usage_case "replay simulate --config missing" "--config: unable to open $BARGE_HOME/no.json" \
  replay simulate --config "$BARGE_HOME/no.json" "${NB[@]}"
printf '{"jobQueues":' >"$BARGE_HOME/cut.json"
usage_case "replay simulate --config not JSON" "--config $BARGE_HOME/cut.json: " replay simulate --config "$BARGE_HOME/cut.json" "${NB[@]}"
# a file where barge up puts a folder: refused at once with the reason, before any broker is asked;
# a file named logs used to pass (mkdir -p took it for the folder), barge up said the stack ran
# and its agents restarted for ever, unable to write their logs
for d in logs audit; do
  touch "$BARGE_HOME/$d"
  timeout 20 "$BARGE" up --brokers 127.0.0.1:1 </dev/null >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
  rc=$?
  echo "  a file $d in BARGE_HOME: barge up exit $rc: $(cat "$BARGE_HOME/err")"
  check "a file $d in BARGE_HOME: barge up exits 1 saying it cannot create the folder, and why" \
    "[ $rc -eq 1 ] && grep -qF 'cannot create $BARGE_HOME/$d: Not a directory' '$BARGE_HOME/err' && [ ! -e '$BARGE_HOME/stack' ]"
  rm -f "$BARGE_HOME/$d"
done
# a stack file naming a broker that is gone: the line says where the address came from
printf 'brokers=127.0.0.1:1\nprefix=barge.\n' >"$BARGE_HOME/stack"
"$BARGE" list-jobs --job-queue q 2>"$BARGE_HOME/err" >/dev/null
check "a broker from the stack file: the line says so" "grep -q 'recorded in $BARGE_HOME/stack' '$BARGE_HOME/err'"
# barge version with an option it does not take: bad usage (it printed the version, exit 0)
"$BARGE" version --bogus >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "barge version --bogus: exit 2 naming it ($(cat "$BARGE_HOME/err"))" \
  "[ $rc -eq 2 ] && [ ! -s '$BARGE_HOME/out' ] && grep -q -- \"'--bogus'\" '$BARGE_HOME/err'"
# a stack file left by a supervisor that ended without removing it (killed, or the machine
# rebooted), whose pid another process has since got: no supervisor holds up.lock, so that
# process is not the stack's. barge status said the stack ran, barge up that it was already
# running, and barge down sent that process SIGTERM.
sleep 300 &
other=$!
printf 'brokers=127.0.0.1:1\nprefix=barge.\nsupervisor=%d\n' "$other" >"$BARGE_HOME/stack"
: >"$BARGE_HOME/up.lock"
"$BARGE" status >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "a stale stack file naming a live pid: barge status says the supervisor is gone (exit $rc: $(cat "$BARGE_HOME/err"))" \
  "[ $rc -eq 1 ] && grep -q 'is gone' '$BARGE_HOME/err'"
timeout 3 "$BARGE" up --brokers 127.0.0.1:1 </dev/null >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "a stale stack file naming a live pid: barge up does not take it for a running stack (exit $rc)" \
  "! grep -q 'already running' '$BARGE_HOME/out' '$BARGE_HOME/err'"
printf 'brokers=127.0.0.1:1\nprefix=barge.\nsupervisor=%d\n' "$other" >"$BARGE_HOME/stack"
"$BARGE" down >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "a stale stack file naming a live pid: barge down leaves that process alone and clears the record (exit $rc: $(cat "$BARGE_HOME/out" "$BARGE_HOME/err"))" \
  "[ $rc -eq 0 ] && kill -0 $other && [ ! -e '$BARGE_HOME/stack' ]"
kill "$other" 2>/dev/null
wait "$other" 2>/dev/null
rm -f "$BARGE_HOME/stack"
# a supervisor that runs (it holds up.lock) with a service whose recorded pid another process has
# got since the service ended: barge status said that service was up
(exec 9>"$BARGE_HOME/up.lock" && flock 9 && exec sleep 300) &
sup=$!
sleep 300 &
other=$!
printf 'brokers=127.0.0.1:1\nprefix=barge.\nsupervisor=%d\n' "$sup" >"$BARGE_HOME/stack"
printf 'scheduler\t%d\t0\t%s/scheduler.log\t-\n' "$other" "$BARGE_HOME" >"$BARGE_HOME/services"
for _ in $(seq 50); do flock -n "$BARGE_HOME/up.lock" true || break; sleep 0.1; done
"$BARGE" status >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "a service's pid that another process has got: barge status says down, not up (exit $rc: $(grep '^scheduler' "$BARGE_HOME/out"))" \
  "[ $rc -eq 1 ] && grep -Eq '^scheduler +$other +down ' '$BARGE_HOME/out'"
kill "$sup" "$other" 2>/dev/null
wait "$sup" "$other" 2>/dev/null
rm -f "$BARGE_HOME/stack" "$BARGE_HOME/services"
# a killed supervisor's services file naming a pid that another barge command has got since:
# barge down stopped any `barge ...` process with a listed pid; it leaves one that is not that service
printf 'k\n' >"$BARGE_HOME/k.key"
(exec -a barge "$BARGE" audit --out "$BARGE_HOME/a.jsonl" --hmac-key-file "$BARGE_HOME/k.key" --brokers 127.0.0.1:1 \
  >/dev/null 2>&1) &
other=$!
printf 'brokers=127.0.0.1:1\nprefix=barge.\nsupervisor=%d\n' 999999 >"$BARGE_HOME/stack"
printf 'scheduler\t%d\t0\t%s/scheduler.log\t-\n' "$other" "$BARGE_HOME" >"$BARGE_HOME/services"
sleep 0.5
"$BARGE" down >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
rc=$?
check "barge down after a killed supervisor leaves a barge process that is not the listed service (exit $rc: $(cat "$BARGE_HOME/out"))" \
  "[ $rc -eq 0 ] && kill -0 $other && grep -q 'stopped 0 service' '$BARGE_HOME/out'"
kill "$other" 2>/dev/null
wait "$other" 2>/dev/null
rm -f "$BARGE_HOME/stack" "$BARGE_HOME/services"
# bash completion: options before the command (as barge takes them) still complete the command
# and its flags (it completed nothing: it took the first word for the command); the paging flags
# of listings; the values of barge's own enumerated options; subcommands
"$BARGE" completion bash >"$BARGE_HOME/completion.bash"
complete_words() { # WORDS...: what completing the last word offers
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _barge; echo "${COMPREPLY[*]}"' \
    _ "$BARGE_HOME/completion.bash" "$@"
}
got=$(complete_words barge --output text desc)
check "completion after a leading option: the commands ($got)" "grep -qw describe-jobs <<<'$got'"
got=$(complete_words barge --output text describe-jobs --j)
check "completion after a leading option: the command's flags ($got)" "[ '$got' = --jobs ]"
got=$(complete_words barge --output '')
check "completion of a leading --output: its values ($got)" "[ '$got' = 'json text table yaml yaml-stream' ]"
got=$(complete_words barge list-jobs --max)
check "completion of a listing's paging flags ($got)" "[ '$got' = '--max-results --max-items' ]"
got=$(complete_words barge usage --by '')
check "completion of usage --by: its values ($got)" "[ '$got' = 'queue share ce job' ]"
got=$(complete_words barge instances --output '')
check "completion of instances --output: its own values ($got)" "[ '$got' = 'table json' ]"
got=$(complete_words barge replay pr)
check "completion of replay's subcommands ($got)" "[ '$got' = print ]"
# a subcommand's flags come after it, and only its own: replay offered every subcommand and all
# their flags together (print --s offered rebuild's --strict), audit verify offered --out
got=$(complete_words barge replay '')
check "completion after replay: its subcommands only ($got)" "[ '$got' = 'print rebuild simulate --help' ]"
got=$(complete_words barge replay print --s)
check "completion of replay print's flags: not rebuild's ($got)" "[ '$got' = --schema-registry-url ]"
got=$(complete_words barge audit verify --)
check "completion of audit verify's flags: not audit's ($got)" "[ '$got' = '--hmac-key-file --seal --no-seal --expect-lines --help' ]"
got=$(complete_words barge audit --out x --t)
check "completion of audit's own flags after them ($got)" "[ '$got' = '--topics --topic-prefix' ]"
got=$(complete_words barge help sub)
check "completion of barge help: the commands ($got)" "[ '$got' = submit-job ]"
# a bad BARGE_* value is bad usage, named, before the command does anything (BARGE_LOG=verbose was
# taken as info; a ':' in BARGE_REGION went into every ARN written); --help still prints help
envcase() { # NAME EXPECTED-RC VAR=VALUE ARGS...
  local name=$1 want=$2 var=${3%%=*}
  env "$3" "$BARGE" "${@:4}" >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
  local rc=$?
  check "$name: exit $want, one line naming $var ($(head -c 300 "$BARGE_HOME/err"))" \
    "[ $rc -eq $want ] && [ \$(wc -l <'$BARGE_HOME/err') -eq 1 ] && grep -q '\\\$$var is' '$BARGE_HOME/err'"
}
envcase "BARGE_LOG=verbose barge status" 2 BARGE_LOG=verbose status --brokers 127.0.0.1:1
envcase "BARGE_REGION=us:east barge describe-jobs" 252 BARGE_REGION=us:east describe-jobs --jobs 1234 --brokers 127.0.0.1:1
envcase "BARGE_ACCOUNT='1 2' barge scheduler" 2 "BARGE_ACCOUNT=1 2" scheduler --brokers 127.0.0.1:1
BARGE_LOG=verbose "$BARGE" scheduler --help >"$BARGE_HOME/out" 2>"$BARGE_HOME/err"
check "BARGE_LOG=verbose barge scheduler --help: the help, exit 0" "[ $? -eq 0 ] && grep -q '^usage: barge scheduler' '$BARGE_HOME/out'"
# a period or a batch size a service cannot run with is bad usage, said at once before any broker is
# asked: `barge scheduler --tick-ms 0` ran, writing a Tick to barge.requests after every batch (each
# Tick a batch of its own: a quarter of a core and a flood of records, for ever), --batch 0 took no
# input at all, and `barge up --tick-ms 0` (or --heartbeat-ms 0) started a stack that did so
badperiod() { oneline "bad period or batch" "$1" 2 "$2" broker "${@:3}"; }
badperiod "scheduler --tick-ms 0" "--tick-ms expects a whole number of at least 1, got '0'" \
  scheduler --brokers 127.0.0.1:1 --tick-ms 0
badperiod "scheduler --batch 0" "--batch expects a whole number of at least 1, got '0'" \
  scheduler --brokers 127.0.0.1:1 --batch 0
badperiod "scheduler --lost-after-ms -1" "--lost-after-ms expects a whole number of at least 1, got '-1'" \
  scheduler --brokers 127.0.0.1:1 --lost-after-ms -1
badperiod "provisioner --tick-ms 0" "--tick-ms expects a whole number of at least 1, got '0'" \
  provisioner --brokers 127.0.0.1:1 --tick-ms 0
badperiod "provisioner --heartbeat-ms 0" "--heartbeat-ms expects a whole number of at least 1, got '0'" \
  provisioner --brokers 127.0.0.1:1 --heartbeat-ms 0
badperiod "accounting --publish-ms 0" "--publish-ms expects a whole number of at least 1, got '0'" \
  accounting --brokers 127.0.0.1:1 --publish-ms 0
badperiod "audit --batch 0" "--batch expects a whole number of at least 1, got '0'" \
  audit --brokers 127.0.0.1:1 --out "$BARGE_HOME/a.jsonl" --hmac-key-file "$BARGE_HOME/k" --batch 0
for opt in tick-ms heartbeat-ms lost-after-ms; do
  badperiod "up --$opt 0" "--$opt expects a whole number of at least 1, got '0'" up --brokers 127.0.0.1:1 --$opt 0
done
badperiod "up --local-max-vcpus -1" "--local-max-vcpus expects a whole number of at least 0, got '-1'" \
  up --brokers 127.0.0.1:1 --local-max-vcpus -1
# an unknown topic of replay print named none of those it knows: the operator had to look them up
oneline "bad topic" "replay print --topic job_events" 2 "unknown topic 'job_events': give one of requests, config, job-events," \
  broker replay print --brokers 127.0.0.1:1 --topic job_events
# the same for every other period, count or limit where 0 or a negative number makes no sense: each
# was taken silently (--sim-heartbeat-ms 0 or --ec2-poll-ms 0 ran a loop that never slept,
# --max-launch 0 or --launch-timeout-ms 0 let a MANAGED compute environment never get an instance,
# a negative --window-ms or --sim-interrupt-count was the default, `barge up --driver sim
# --max-vcpus 0` created a compute environment that can hold nothing); the options where 0 means
# something (--window-ms 0: no batching, --txn-max-mib 0: no bound, ...) take 0, not less
while read -r cmd opt val min; do
  badperiod "$cmd --$opt $val" "--$opt expects a whole number of at least $min, got '$val'" \
    "$cmd" --brokers 127.0.0.1:1 --"$opt" "$val"
done <<'CASES'
provisioner window-ms -1 0
provisioner idle-delay-ms -1 0
provisioner launch-timeout-ms 0 1
provisioner unobtainable-ms -1 0
provisioner max-launch 0 1
provisioner local-max-instances -1 0
provisioner local-max-vcpus -1 0
provisioner local-max-memory -1 0
provisioner stale-heartbeats 0 1
provisioner agent-heartbeat-ms 0 1
provisioner agent-fence-after-ms 0 1
provisioner sim-boot-ms -1 0
provisioner sim-heartbeat-ms 0 1
provisioner sim-job-ms -1 0
provisioner sim-notice-ms -1 0
provisioner sim-interrupt-after-ms -1 0
provisioner sim-interrupt-count -1 0
provisioner ec2-max-retries -1 0
provisioner ec2-backoff-ms 0 1
provisioner ec2-poll-ms 0 1
scheduler kill-grace-ms -1 0
scheduler gather-ms -1 0
scheduler gather-busy 0 1
scheduler txn-max-mib -1 0
up max-vcpus 0 1
CASES
badperiod "provisioner --sim-time-scale 0" "--sim-time-scale must be a number more than 0 (1: real time), not 0" \
  provisioner --brokers 127.0.0.1:1 --sim-time-scale 0
check "barge up with a bad period left no stack behind" "[ ! -e '$BARGE_HOME/stack' ] && [ ! -e '$BARGE_HOME/services' ]"
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
