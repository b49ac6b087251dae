#!/usr/bin/env python3
"""test_started_folded.py: an end report that carries startedAt (the agent's form when it sees
an attempt start and end in one turn) stands for STARTED and the end.

A scheduler and a stand-in agent (its InstanceEvent and ExecutionReport written to the real
topics by the test). A job is placed on the instance (STARTING); then one EXITED report with
startedAt goes out, and no STARTED report. The job's transitions are all on barge.job-events
(STARTING -> RUNNING -> SUCCEEDED), barge.jobs holds no RUNNING record (one event, one record:
the end state's), barge.executions one record, which says STARTED; DescribeJobs shows the run
(startedAt, stoppedAt, one attempt with exit code 0), and the replay rebuild finds no
difference, and `barge check` is clean. (Before, such a report took the job from STARTING straight to SUCCEEDED.)
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

INST = "i-0bec0de0000000001"
INC = 1700000000001


def produce(st, items):
    """(topic base, key, value) records in one producer flush."""
    ck = common._kafka()
    p = ck.Producer({"bootstrap.servers": st.brokers, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 50})
    errs = []
    for base, key, value in items:
        p.produce(st.topic(base), key=key, value=value, on_delivery=lambda e, m: errs.append(e))
    p.flush(30)
    if len(errs) != len(items) or any(errs):
        raise RuntimeError(f"producing: {errs}")


def report(avro, job, kind, **more):
    now = int(time.time() * 1000)
    r = {"header": common.header("agent/test"), "jobId": job, "attempt": 1, "instanceId": INST,
         "kind": kind, "exitCode": None, "reason": None, "logPath": None, "incarnation": INC, "at": now,
         "startedAt": None}
    r.update(more)
    return ("executions", job, avro.encode("ExecutionReport", r))


def run_one(st, avro, name, reports):
    """Submits a job, waits until it is STARTING on INST, writes reports(job) in one flush; returns
    (DescribeJobs detail, statuses of its barge.jobs records, its transitions, its executions)."""
    job = st.submit(name, "q", "t")
    common.wait_for(lambda: st.describe(job).get(job, {}).get("status") == "STARTING", 60,
                    f"{name} STARTING on the stand-in instance")
    produce(st, reports(job))
    detail = st.wait_terminal([job], 60)[job]
    time.sleep(1)
    recs = [avro.decode(r["value"])[1]["detail"]["status"] for r in common.read_topic(st, "jobs")
            if r["key"] in (job, job.encode())]
    trans = [(e["oldStatus"], e["newStatus"]) for e in common.job_events(st, avro) if e["jobId"] == job]
    execs = [avro.decode(r["value"])[1] for r in common.read_topic(st, "executions")
             if r["key"] in (job, job.encode())]
    return detail, recs, trans, execs


def body(st):
    avro = common.Avro()
    st.init_queue("q", "local", priority=10)
    st.register("t", ["true"], settle=True)
    st.scheduler()
    now = int(time.time() * 1000)
    produce(st, [("instances", INST, avro.encode("InstanceEvent", {
        "header": common.header("agent/test"), "instanceId": INST, "computeEnvironment": "local", "kind": "READY",
        "instanceType": "local", "vcpus": 2, "memoryMib": 2048, "gpus": 0, "lifecycle": "ON_DEMAND",
        "pricePerHour": 0.0, "driver": "local", "reason": None, "incarnation": INC, "at": now, "logUrl": None,
        "privateIpv4Address": None}))])

    want = [("RUNNABLE", "STARTING"), ("STARTING", "RUNNING"), ("RUNNING", "SUCCEEDED")]
    log("-- one EXITED report carrying startedAt (the agent's folded form)")
    d, recs, trans, execs = run_one(st, avro, "folded", lambda j: [
        report(avro, j, "EXITED", exitCode=0, startedAt=int(time.time() * 1000))])
    ok(trans[-3:] == want, "barge.job-events: STARTING -> RUNNING -> SUCCEEDED from one report", trans)
    ok(recs and recs[-1] == "SUCCEEDED" and "RUNNING" not in recs, "barge.jobs: no RUNNING record", recs)
    ok([x["kind"] for x in execs] == ["EXITED"] and all(common.says_started(x) for x in execs),
       "barge.executions: one record, which says STARTED", execs)
    ok(d["status"] == "SUCCEEDED" and d.get("startedAt") and d["startedAt"] <= d.get("stoppedAt", 0)
       and len(d["attempts"]) == 1 and d["attempts"][0]["container"].get("exitCode") == 0,
       "DescribeJobs: the run, its times and its attempt", d)

    r = st.run("check", "--json", check=False, timeout=120)
    ok(r.returncode == 0 and '"ok": true' in r.stdout.replace('"ok":true', '"ok": true'),
       "barge check: the folded report is the attempt's one start and end", r.stdout[-800:] + r.stderr[-300:])
    r = st.run("replay", "rebuild", check=False, timeout=120)
    last = (r.stdout.strip().splitlines() or [""])[-1]
    ok(r.returncode == 0 and " 0 differences" in last, "replay rebuild finds no difference", r.stdout[-600:])


if __name__ == "__main__":
    common.run_test("folded", body, clean_stop=True)
