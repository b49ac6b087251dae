#!/usr/bin/st python3
"""test_bad_input.py: bad input to the `barge` CLI is refused at once, with a one-line error
naming the field or resource and the AWS CLI's exit status (252 usage/input, 254 ClientException),
and nothing is written to Kafka: the end offsets of barge.requests and barge.config are the same
before and after (no scheduler runs here, so nothing else writes to them). A valid submission
afterwards does move barge.requests by one, which shows that the offset check can fail."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

JD_PROPS = json.dumps({"image": "busybox", "command": ["true"],
                       "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                                {"type": "MEMORY", "value": "64"}]})


def offsets(st):
    return {t: sum(common.end_offsets(st, t).values()) for t in ("requests", "config")}


def body(st):
    st.init_queue("q1", "local", priority=10)
    st.run("register-job-definition", "--job-definition-name", "hello", "--type", "container",
           "--container-properties", JD_PROPS)
    bad_file = os.path.join(st.home, "bad.json")
    with open(bad_file, "w") as f:
        f.write('{"jobName": "x", "jobQueue": "q1",')  # truncated JSON
    good = ["--job-name", "a", "--job-queue", "q1", "--job-definition", "hello"]
    # (what, argv, expected exit status, words the one-line error must contain)
    cases = [
        ("malformed --cli-input-json (inline)", ["submit-job", "--cli-input-json", '{"jobName": "x",'],
         252, ["--cli-input-json", "JSON"]),
        ("malformed --cli-input-json (file://)", ["submit-job", "--cli-input-json", "file://" + bad_file],
         252, ["--cli-input-json"]),
        ("--cli-input-json file:// that does not exist",
         ["submit-job", "--cli-input-json", "file://" + bad_file + ".missing"], 252, ["--cli-input-json", "missing"]),
        ("--cli-input-json with a wrongly typed member",
         ["submit-job", "--cli-input-json", '{"jobName": 5, "jobQueue": "q1", "jobDefinition": "hello"}'],
         252, ["jobName"]),
        ("--cli-input-json with an unknown member",
         ["submit-job", "--cli-input-json", '{"jobName": "a", "jobQueue": "q1", "jobDefinition": "hello", "bogus": 1}'],
         252, ["bogus"]),
        ("unknown job queue", ["submit-job", "--job-name", "a", "--job-queue", "nosuchqueue", "--job-definition", "hello"],
         254, ["ClientException", "nosuchqueue"]),
        ("unknown job definition", ["submit-job", "--job-name", "a", "--job-queue", "q1", "--job-definition", "nosuchjd"],
         254, ["ClientException", "nosuchjd"]),
        ("missing --job-name", ["submit-job", "--job-queue", "q1", "--job-definition", "hello"],
         252, ["jobName"]),
        ("missing --job-queue", ["submit-job", "--job-name", "a", "--job-definition", "hello"],
         252, ["jobQueue"]),
        ("missing required member in --cli-input-json",
         ["submit-job", "--cli-input-json", '{"jobQueue": "q1", "jobDefinition": "hello"}'], 252, ["jobName"]),
        ("invalid job name", ["submit-job", "--job-name", "no spaces", "--job-queue", "q1", "--job-definition", "hello"],
         254, ["jobName"]),
        ("unknown option", ["submit-job", *good, "--bogus-flag", "1"], 252, ["--bogus-flag"]),
        ("array size 1", ["submit-job", *good, "--array-properties", "size=1"], 254, ["arrayProperties.size"]),
        ("bad array shorthand", ["submit-job", *good, "--array-properties", "size=abc"], 252, ["arrayProperties.size"]),
        ("bad dependency type", ["submit-job", *good, "--depends-on", "jobId=x,type=BOGUS"], 254, ["dependsOn[0].type"]),
        ("a dependency that does not exist",
         ["submit-job", *good, "--depends-on", "jobId=00000000-0000-4000-8000-00000000dead"], 254,
         ["dependsOn", "00000000-0000-4000-8000-00000000dead", "does not exist"]),
        ("reserved AWS_BATCH override",
         ["submit-job", *good, "--container-overrides", '{"environment": [{"name": "AWS_BATCH_X", "value": "1"}]}'],
         254, ["AWS_BATCH"]),
        # an empty id was looked up and left out: an empty list, exit 0, as for a job that does not exist
        ("describe-jobs of an empty job id", ["describe-jobs", "--jobs", ""], 254, ["ClientException", "jobs[0] is empty"]),
        ("cancel-job without --reason", ["cancel-job", "--job-id", "x"], 252, ["reason"]),
        ("terminate-job without --job-id", ["terminate-job", "--reason", "r"], 252, ["jobId"]),
        ("queue on an unknown compute environment",
         ["create-job-queue", "--job-queue-name", "q2", "--priority", "1",
          "--compute-environment-order", "order=1,computeEnvironment=nosuchce"], 254, ["nosuchce"]),
        # every Barge queue is an ECS queue (docs/api.md, "Job queue types")
        ("a Fargate queue", ["create-job-queue", "--job-queue-name", "q2", "--priority", "1", "--job-queue-type",
                             "ECS_FARGATE", "--compute-environment-order", "order=1,computeEnvironment=local"],
         254, ["ClientException", "jobQueueType ECS_FARGATE is not supported by Barge", "give ECS"]),
        ("malformed --container-properties",
         ["register-job-definition", "--job-definition-name", "x", "--type", "container",
          "--container-properties", "{bad"], 252, ["--container-properties"]),
    ]
    before = offsets(st)
    log(f"end offsets before: {before}")
    for what, argv, code, words in cases:
        p = st.run(*argv, check=False)
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        ok(p.returncode == code, f"{what}: exit {code}", f"exit {p.returncode}, stderr {p.stderr!r}")
        ok(len(lines) == 1, f"{what}: a one-line error", p.stderr)
        ok(lines and all(w in lines[0] for w in words), f"{what}: the error names {words}", p.stderr)
        ok(p.stdout.strip() == "", f"{what}: nothing on stdout", p.stdout)
    after = offsets(st)
    ok(after == before, "nothing was written to barge.requests or barge.config", (before, after))
    # --job-queue-type ECS, what AWS reports for such a queue, was refused as out of scope
    p = st.run("create-job-queue", "--job-queue-name", "q-ecs", "--priority", "1", "--job-queue-type", "ECS",
               "--compute-environment-order", "order=1,computeEnvironment=local", check=False)
    ok(p.returncode == 0 and json.loads(p.stdout or "{}").get("jobQueueName") == "q-ecs",
       "create-job-queue --job-queue-type ECS is accepted", (p.returncode, p.stdout, p.stderr))
    got = {q["jobQueueName"]: q.get("jobQueueType") for q in json.loads(st.run("describe-job-queues").stdout)["jobQueues"]}
    ok(got == {"q1": "ECS", "q-ecs": "ECS"}, "describe-job-queues: jobQueueType ECS on each queue, given or not", got)
    jid = st.submit("good", "q1", "hello")
    ok(len(jid) == 36, "a valid submission is accepted", jid)
    ok(offsets(st)["requests"] == before["requests"] + 1, "and moves barge.requests by exactly one")
    # no scheduler runs here: the job exists only in barge.requests, which counts
    dep = st.submit("dependent", "q1", "hello", "--depends-on", f"jobId={jid}")
    ok(len(dep) == 36, "a dependency on a job submitted a moment ago is accepted", dep)
    arr = st.submit("arr", "q1", "hello", "--array-properties", "size=3")
    ok(len(st.submit("child-dep", "q1", "hello", "--depends-on", f"jobId={arr}:2")) == 36,
       "a dependency on an array child is accepted")
    p = st.run("submit-job", *good, "--depends-on", f"jobId={arr}:3", check=False)
    ok(p.returncode == 254 and "does not exist" in p.stderr, "an index beyond the array size is refused", p.stderr)
    # the index was read with atoi: "x" and "-1" passed as 0 and -1, and the job failed later in the
    # scheduler ("dependsOn: job <arr>:x does not exist") instead of being refused
    for bad in ("x", "-1", "01", "1x"):
        p = st.run("submit-job", *good, "--depends-on", f"jobId={arr}:{bad}", check=False)
        ok(p.returncode == 254 and "does not exist" in p.stderr, f"a child id {arr}:{bad} is refused",
           (p.returncode, p.stdout, p.stderr))
    # an N_TO_N dependency of an array on an array of another size was accepted, and the job then
    # failed in the scheduler; it is refused now, as AWS does (docs/job-model.md §6.2)
    n = offsets(st)["requests"]
    for size in ("2", "4"):
        p = st.run("submit-job", *good, "--array-properties", f"size={size}", "--depends-on",
                   f"jobId={arr},type=N_TO_N", check=False)
        lines = [x for x in p.stderr.splitlines() if x.strip()]
        ok(p.returncode == 254 and len(lines) == 1 and all(w in lines[0] for w in (
            "ClientException", "dependsOn", "N_TO_N", arr, "size 3", f"has {size}")) and not p.stdout,
           f"an array of {size} N_TO_N on an array of 3: ClientException naming both sizes, exit 254",
           (p.returncode, p.stdout, p.stderr))
    ok(offsets(st)["requests"] == n, "the refused N_TO_N submissions wrote nothing")
    # what the rule allows (docs/job-model.md §6.2): the same size; a target that is not an array (a
    # single job, an array child); N_TO_N from a single job (a plain dependency)
    for what, extra, target in (("an array of 3 N_TO_N on the array of 3", ["--array-properties", "size=3"], arr),
                                ("an array of 4 N_TO_N on a single job", ["--array-properties", "size=4"], jid),
                                ("an array of 4 N_TO_N on an array child", ["--array-properties", "size=4"], f"{arr}:1"),
                                ("a single job N_TO_N on the array of 3", [], arr)):
        p = st.run("submit-job", *good, *extra, "--depends-on", f"jobId={target},type=N_TO_N", "--output", "json",
                   check=False)
        ok(p.returncode == 0 and len(json.loads(p.stdout or "{}").get("jobId", "")) == 36,
           f"{what} is accepted", (p.returncode, p.stdout, p.stderr))
    # `barge instances` of a compute environment that does not exist printed an empty table, exit 0:
    # read as "no instances" (a typo in the name went unnoticed)
    for args in (["--compute-environment", "nosuch"], ["--compute-environment", "nosuch", "--events"],
                 ["--compute-environment", "nosuch", "--decisions"]):
        p = st.run("instances", *args, check=False)
        ok(p.returncode == 1 and "compute environment nosuch does not exist" in p.stderr and not p.stdout,
           f"instances {' '.join(args)}: an error naming the compute environment, exit 1",
           (p.returncode, p.stdout, p.stderr))
    # an empty job id (or one with an empty family part, ':3') crashed `barge explain` and `barge logs`
    # (SIGSEGV: an empty Kafka key), and `barge watch --job ''` waited forever for a job no id names
    for argv in (["explain", ""], ["logs", ""], ["logs", ":3", "--follow"], ["watch", "--job", ""],
                 ["explain", "x" * 100]):
        try:
            p = st.run(*argv, check=False, timeout=20)
            res = (p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired:
            res = ("no answer in 20 s", "", "")
        ok(res[0] == 2 and "is not a job id" in res[2] and len(res[2].splitlines()) == 1 and not res[1],
           f"barge {' '.join(repr(a) if not a else a[:20] for a in argv)}: not a job id, bad usage (exit 2)", res)
    # an empty name was looked up ("compute environment  does not exist", exit 1); a long one echoed whole
    for argv in (["instances", "--compute-environment", ""], ["watch", "--job-queue", ""]):
        p = st.run(*argv, check=False, timeout=20)
        ok(p.returncode == 2 and "needs a name" in p.stderr and len(p.stderr.splitlines()) == 1,
           f"barge {argv[0]} {argv[1]} '': bad usage (exit 2)", (p.returncode, p.stderr))
    for argv in (["instances", "--compute-environment", "c" * 5000], ["watch", "--job-queue", "q" * 5000]):
        p = st.run(*argv, check=False, timeout=20)
        ok(p.returncode == 1 and "does not exist" in p.stderr and len(p.stderr) < 400,
           f"barge {argv[0]} {argv[1]} of 5000 characters: does not exist, the name cut", (p.returncode, len(p.stderr)))
    arn = st.describe_ce("local")["computeEnvironmentArn"]
    for ce in ("local", arn):
        p = st.run("instances", "--compute-environment", ce, "--output", "json", check=False)
        ok(p.returncode == 0 and json.loads(p.stdout or "{}").get("instances") == [],
           f"instances --compute-environment {ce}: an existing one (no instance yet) lists none, exit 0",
           (p.returncode, p.stdout, p.stderr))


if __name__ == "__main__":
    common.run_test("bad", body)
