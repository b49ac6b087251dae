#!/usr/bin/env python3
"""test_cli_options.py: options of the AWS Batch commands that `barge --help` and the
operations' help promise. --topic-prefix P (a common option in `barge --help`) is taken by the
AWS-style commands, before or after their own flags, and wins over BARGE_TOPIC_PREFIX: with
the environment naming other topics, describe-job-queues --topic-prefix P sees the queue, and
submit-job --topic-prefix P submits into P's topics. submit-job --help shows the bulk form's
options (--from-jsonl, --batch-size, --quiet); a request flag beside --from-jsonl is refused
(252) by saying that the file gives every job's fields, not as an unknown option, and submits
nothing. `barge logs` of an array parent says it is an array job and names its children
(ID:N), whose logs it prints; --attempt 0 and -1 exit 2 ("counts from 1") instead of printing
the latest attempt, --attempt 1 and no --attempt print the log. --attempt 2 of a job that ran
once exits 1, as for a job that does not exist (it exited 2, a usage error, while --attempt 1 of
a job that never ran exited 1); a job that never ran and never will (its dependency failed)
says so with its reason, exit 1, instead of "no log yet"; a log written to a full disk is said
(exit 1; it was exit 1 without a word). Options before the operation
(`barge --output text --query Q describe-job-queues`) apply as the aws CLI's global ones do;
`barge logs help` prints the usage."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402


def body(s):
    s.init_queue("q", "local")
    s.register("hello", ["true"])
    other = dict(s.env, BARGE_TOPIC_PREFIX="tnowhere" + s.prefix)
    p = s.run("describe-job-queues", env=other, check=False)
    ok(p.returncode != 0 or "jobQueueName" not in p.stdout,  # (those topics do not exist: exit 255)
       "with BARGE_TOPIC_PREFIX naming other topics, describe-job-queues does not see the queue", (p.returncode, p.stdout))
    for argv in (["describe-job-queues", "--topic-prefix", s.prefix], ["describe-job-queues", f"--topic-prefix={s.prefix}",
                                                                        "--query", "jobQueues[].jobQueueName"]):
        p = s.run(*argv, env=other, check=False)
        out = json.loads(p.stdout) if p.returncode == 0 else None
        names = out if isinstance(out, list) else [q["jobQueueName"] for q in (out or {}).get("jobQueues", [])]
        ok(p.returncode == 0 and names == ["q"], f"{' '.join(argv[1:])}: the queue of that prefix",
           (p.returncode, p.stderr, p.stdout))
    p = s.run("submit-job", "--job-name", "j", "--job-queue", "q", "--job-definition", "hello",
              "--topic-prefix", s.prefix, env=other, check=False)
    ok(p.returncode == 0 and len(json.loads(p.stdout or "{}").get("jobId", "")) == 36,
       "submit-job --topic-prefix P submits into P's topics", (p.returncode, p.stderr))
    p = s.run("describe-job-queues", "--topic-prefix", check=False)
    ok(p.returncode == 252 and "--topic-prefix" in p.stderr, "--topic-prefix without a value exits 252", p.stderr)
    p = s.run("describe-job-queues", "help")
    ok("--topic-prefix" in p.stdout, "an operation's help lists --topic-prefix among the global options")
    # global options before the operation, as `aws --output text batch describe-job-queues` takes them
    after = s.run("describe-job-queues", "--output", "text", "--query", "jobQueues[].jobQueueName", check=False)
    before = s.run("--output", "text", "--query", "jobQueues[].jobQueueName", "describe-job-queues", check=False)
    ok(before.returncode == 0 and before.stdout == after.stdout == "q\n",
       "barge --output text --query Q describe-job-queues: the options before the operation apply",
       (before.returncode, before.stderr, before.stdout, after.stdout))
    p = s.run("--output", "json", "json", "describe-job-queues", check=False)
    ok(p.returncode == 2 and "no command after '--output'" in p.stderr,
       "two words before the operation: exit 2, saying what is wrong", (p.returncode, p.stderr))
    p = s.run("logs", "help", check=False)
    ok(p.returncode == 0 and p.stdout.startswith("usage: barge logs"), "barge logs help: the usage, exit 0",
       (p.returncode, p.stdout[:80], p.stderr))

    p = s.run("submit-job", "--help")
    ok(all(f in p.stdout for f in ("--from-jsonl", "--batch-size", "--quiet")),
       "submit-job --help lists --from-jsonl, --batch-size and --quiet", p.stdout[-600:])
    jsonl = os.path.join(s.home, "jobs.jsonl")
    with open(jsonl, "w") as f:
        f.write(json.dumps({"jobName": "b1", "jobQueue": "q", "jobDefinition": "hello"}) + "\n")
    requests = lambda: sum(common.end_offsets(s, "requests").values())  # noqa: E731
    before = requests()
    for argv in (["--from-jsonl", jsonl, "--job-name", "x"], [f"--job-queue=q", f"--from-jsonl={jsonl}"]):
        p = s.run("submit-job", *argv, check=False)
        flag = "--job-name" if "--job-name" in argv else "--job-queue"
        ok(p.returncode == 252 and "takes every job's fields from the file" in p.stderr and flag in p.stderr
           and "unknown option" not in p.stderr, f"submit-job {' '.join(argv)}: exit 252, the file gives the fields",
           (p.returncode, p.stderr))
    ok(requests() == before, "and nothing was submitted", (before, requests()))
    p = s.run("submit-job", "--from-jsonl", jsonl, "--quiet", "--batch-size", "10")
    ok(requests() == before + 1, "submit-job --from-jsonl FILE --quiet --batch-size 10 submits the file's job",
       (p.stdout, p.stderr))

    s.register("say", ["sh", "-c", "echo said-$AWS_BATCH_JOB_ARRAY_INDEX"], settle=True)
    s.scheduler()
    s.agent("i-logs")
    one = s.submit("one", "q", "say")
    arr = s.submit("arr", "q", "say", size=2)
    s.wait_terminal([one], 120)
    s.wait_array_done(arr, 120)
    p = s.run("logs", arr, check=False)
    ok(p.returncode == 1 and "array job" in p.stderr and f"{arr}:N" in p.stderr and "no log yet" not in p.stderr,
       "barge logs of an array parent: an array job, see ID:N", p.stderr)
    p = s.run("logs", f"{arr}:1", check=False)
    ok(p.returncode == 0 and "said-1" in p.stdout, "barge logs ID:1 prints the child's log", (p.stdout, p.stderr))
    for n in ("0", "-1"):
        p = s.run("logs", one, "--attempt", n, check=False)
        ok(p.returncode == 2 and "--attempt counts from 1" in p.stderr and p.stdout == "",
           f"barge logs --attempt {n}: exit 2, counts from 1", (p.returncode, p.stdout, p.stderr))
    p = s.run("logs", one, "--attempt", "2", check=False)
    ok(p.returncode == 1 and f"has no attempt 2 (it has 1)" in p.stderr and p.stdout == "",
       "barge logs --attempt 2 of a job that ran once: exit 1, no such attempt", (p.returncode, p.stdout, p.stderr))
    s.register("fail", ["false"], settle=True)
    bad = s.submit("bad", "q", "fail")
    never = s.submit("never", "q", "say", "--depends-on", json.dumps([{"jobId": bad}]))
    s.wait_terminal([bad, never], 120)
    p = s.run("logs", never, check=False)
    ok(p.returncode == 1 and "never ran" in p.stderr and f"Dependent job {bad} failed" in p.stderr
       and "yet" not in p.stderr, "barge logs of a job whose dependency failed: it never ran, and why", p.stderr)
    for extra in ([], ["--attempt", "1"]):
        p = s.run("logs", one, *extra, check=False)
        ok(p.returncode == 0 and "said-" in p.stdout, f"barge logs {' '.join(extra) or '(latest)'} prints the log",
           (p.stdout, p.stderr))
    # a log that cannot be written (a full disk) is said: it exited 1 without a word
    with open("/dev/full", "w") as full:
        p = subprocess.run([common.BARGE, "logs", one], env=s.env, stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=60)
    ok(p.returncode == 1 and "barge logs: cannot write the output: No space left on device" in p.stderr,
       "barge logs ID > /dev/full: exit 1, saying the output could not be written", (p.returncode, p.stderr))


if __name__ == "__main__":
    common.run_test("clioptions", body)
