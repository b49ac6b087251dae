#!/usr/bin/env python3
"""test_client_example.py: the C client library (include/barge/client.h) through its example
program barge-example-submit, against the real broker with a real scheduler and agent.

Checked: a job submitted through the library runs to SUCCEEDED and the program prints its final
state and JobDetail (exit 0); a failing job ends FAILED with its exit code (exit 1); a request the
configuration refuses is reported as refused and nothing is written (exit 1); a job that does not
finish in time gives a timeout (exit 3) with the state reached; an array job (parameters and
containerOverrides included) is followed to SUCCEEDED; a --timeout-ms that is not a whole number
of milliseconds (10s, abc, 0, -5) is bad usage (exit 2) and submits nothing; a request (from
stdin, -) more than Kafka takes is refused as such, not "Kafka unreachable, retry"; valid JSON
that is not an object is refused saying so; a Kafka property librdkafka refuses is refused by
barge_client_set (--kafka), a valid one is taken; no broker known, or an unknown option, is bad
usage that says so.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def body(st):
    example = os.path.join(common.BUILD, "barge-example-submit")

    def run(req, *extra, timeout_ms=240000):
        wait_s = timeout_ms / 1000 + 120 if isinstance(timeout_ms, int) else 120
        r = subprocess.run([example, "--timeout-ms", str(timeout_ms), *extra, json.dumps(req)], env=st.env,
                           capture_output=True, text=True, timeout=wait_s)
        log(f"$ barge-example-submit {json.dumps(req)} -> {r.returncode}\n{r.stdout[:400]}{r.stderr[-400:]}")
        return r

    st.init_queue("q", "ce", maxv=4)
    st.register("echo", ["sh", "-c", "echo Ref::word"], memory=256, parameters=json.dumps({"word": "x"}))
    st.register("fail", ["sh", "-c", "exit 7"], memory=256)
    st.register("slow", ["sleep", "30"], memory=256)
    st.scheduler(tick_ms=500)
    st.agent("i-0000000000000dd01", "ce", memory=4096, instance_type="m5.large", kill_grace_ms=2000)

    r = run({"jobName": "lib-ok", "jobQueue": "q", "jobDefinition": "echo", "parameters": {"word": "hello"}})
    first = r.stdout.splitlines()[0] if r.stdout else ""
    ok(r.returncode == 0 and first.startswith("submitted "), "the library returns the job id after the write")
    job_id = first.split()[-1] if first else ""
    ok(f"{job_id} SUCCEEDED attempts=1 exitCode=0" in r.stdout, "and follows the job to SUCCEEDED")
    detail = json.loads(r.stdout.split("\n", 2)[2]) if r.returncode == 0 else {}
    ok(detail.get("jobId") == job_id and detail.get("status") == "SUCCEEDED", "the JobDetail is printed")
    ok(st.describe(job_id)[job_id]["status"] == "SUCCEEDED", "describe-jobs agrees")

    r = run({"jobName": "lib-fail", "jobQueue": "q", "jobDefinition": "fail"})
    ok(r.returncode == 1 and " FAILED attempts=1 exitCode=7" in r.stdout, "a failing job: FAILED with its exit code, exit 1")

    r = run({"jobName": "lib-bad", "jobQueue": "no-such-queue", "jobDefinition": "echo"})
    ok(r.returncode == 1 and "the request was refused" in r.stderr and "no-such-queue" in r.stderr,
       "a refused request names the reason")
    reqs = st.run("replay", "print", "--topic", "requests").stdout
    ok("lib-bad" not in reqs, "and nothing was written")

    r = run({"jobName": "lib-slow", "jobQueue": "q", "jobDefinition": "slow"}, timeout_ms=3000)
    ok(r.returncode == 3 and "timed out" in r.stderr, "a job not done in time: a timeout, exit 3")

    r = run({"jobName": "lib-array", "jobQueue": "q", "jobDefinition": "echo", "arrayProperties": {"size": 3},
             "containerOverrides": {"environment": [{"name": "K", "value": "v"}]}})
    ok(r.returncode == 0 and " SUCCEEDED " in r.stdout and '"size": 3' in r.stdout,
       "an array job is followed to SUCCEEDED")
    r = subprocess.run([example], env=st.env, capture_output=True, text=True)
    ok(r.returncode == 2 and "usage" in r.stderr, "no request: usage, exit 2")
    # no broker (no --brokers, no BARGE_BROKERS, as after a plain `barge up`) and an unknown option
    # are said as such, not with the usage line alone
    no_env = {k: v for k, v in st.env.items() if k != "BARGE_BROKERS"}
    r = subprocess.run([example, json.dumps({"jobName": "j", "jobQueue": "q", "jobDefinition": "echo"})], env=no_env,
                       capture_output=True, text=True, timeout=60)
    ok(r.returncode == 2 and "no Kafka broker" in r.stderr and "--brokers" in r.stderr and "BARGE_BROKERS" in r.stderr
       and "stack" in r.stderr and not r.stdout, "no broker known: says to give --brokers or BARGE_BROKERS, exit 2", r.stderr)
    r = subprocess.run([example, "--broker", "x:1", "{}"], env=st.env, capture_output=True, text=True, timeout=60)
    ok(r.returncode == 2 and "'--broker'" in r.stderr and not r.stdout, "an unknown option is named, exit 2", r.stderr)
    # a request more than Kafka takes (read from stdin: an argument holds at most 128 KiB) is
    # refused, nothing written; it was BARGE_ERR_KAFKA, "retry later", which never helps
    huge = json.dumps({"jobName": "lib-huge", "jobQueue": "q", "jobDefinition": "echo",
                       "parameters": {"word": "x" * 1040000}})
    r = subprocess.run([example, "--timeout-ms", "3000", "-"], env=st.env, input=huge, capture_output=True,
                       text=True, timeout=120)
    ok(r.returncode == 1 and "the request was refused" in r.stderr and "more than Kafka takes" in r.stderr
       and not r.stdout, "a request too large for Kafka: refused, saying so", r.stderr[-300:])
    # a librdkafka property it refuses: barge_client_set says so (BARGE_ERR_ARGUMENT); it was found
    # at the submission only, as BARGE_ERR_KAFKA "Kafka is unreachable ... retry later"
    r = subprocess.run([example, "--kafka", "no.such.prop=1",
                        json.dumps({"jobName": "lib-badprop", "jobQueue": "q", "jobDefinition": "echo"})],
                       env=st.env, capture_output=True, text=True, timeout=120)
    ok(r.returncode == 2 and "no.such.prop" in r.stderr and "unreachable" not in r.stderr and not r.stdout,
       "an unknown Kafka property: refused when set, naming it", r.stderr)
    r = run({"jobName": "lib-prop", "jobQueue": "q", "jobDefinition": "echo"}, "--kafka", "client.rack=r1")
    ok(r.returncode == 0 and " SUCCEEDED " in r.stdout, "a valid Kafka property is taken")
    # valid JSON that is not an object: said so (the reason was empty)
    r = subprocess.run([example, "-"], env=st.env, input="[1]", capture_output=True, text=True, timeout=120)
    ok(r.returncode == 1 and "valid JSON, but not an object" in r.stderr, "an array: not an object, saying so",
       r.stderr)
    # a timeout that is not a whole number of ms is bad usage, before anything is submitted (it was
    # read as 10 or 0: the job was submitted and reported timed out at once, exit 3)
    for bad in ("10s", "abc", "0", "-5"):
        r = run({"jobName": "lib-badtimeout", "jobQueue": "q", "jobDefinition": "echo"}, timeout_ms=bad)
        ok(r.returncode == 2 and "--timeout-ms" in r.stderr and not r.stdout,
           f"--timeout-ms {bad}: bad usage naming it, exit 2", (r.returncode, r.stderr))
    reqs = st.run("replay", "print", "--topic", "requests").stdout
    ok("lib-badtimeout" not in reqs, "and nothing was submitted")


if __name__ == "__main__":
    common.run_test("client", body)
