#!/usr/bin/env python3
"""test_explain.py: "why is my job RUNNABLE?" answered by describe-jobs' statusReason and by
`barge explain` (docs/job-model.md §3.5, §3.7; docs/operations.md).

A real scheduler and provisioner (sim driver) on the fixture broker, three MANAGED compute
environments:
- `small` (maxvCpus 2, m5.large): a job of 4 vCPUs can never fit, so it must carry
  `MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - ...` from the very event that made it
  RUNNABLE (one JobWait on barge.job-waits at the same instant as the RUNNABLE transition);
- `small` again: one 2-vCPU job runs (a long simulated job), the next waits behind the full CE
  with `WAITING:CAPACITY - ... at its maxvCpus: small (maxvCpus 2)` within a tick or two;
- `nocap` (c5.large, which the sim driver is told it cannot obtain): the job carries
  `CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - ... instance type c5.large`.
`barge explain` on each names the cause in its text and in --json (the reason entry with its
code, compute environment and instance; the provisioner's scaling or refused launch); a SPOT CE
whose bidPercentage is below every allowed pool's price (`lowbid`) is named as the cause; an
unknown job exits 1, and so does an unreachable broker (a tool's runtime error), within a few
seconds; a job submitted while the scheduler is stopped is said to be SUBMITTED and not handled
yet by `barge explain` and `barge logs` (exit 1), not "no job". A reason that does not change writes nothing more (no JobWait per tick)."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

MAXRES = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) associated with the job queue cannot meet the CPU requirement of the job."


def reason_of(s, job):
    return s.describe(job).get(job, {}).get("statusReason") or ""


def waits(s, job):
    """The JobWait events of a job on barge.job-waits, decoded."""
    avro = common.Avro()
    out = []
    for m in common.read_topic(s, "job-waits", timeout=15):
        name, ev = avro.decode(m["value"])
        if name == "JobWait" and ev["jobId"] == job:
            out.append(ev)
    return out


def explain(s, job, *args):
    return s.run("explain", job, *args, check=False, timeout=60)


def body(s):
    s.create_ce("nocap", {"type": "EC2", "minvCpus": 0, "maxvCpus": 8, "instanceTypes": ["c5.large"],
                          "subnets": ["subnet-1"], "instanceRole": "ecsInstanceRole"})
    s.create_queue("q-nocap", ["nocap"])
    s.register("two", ["true"], vcpus=2, memory=1024, env={"BARGE_SIM_DURATION_MS": "600000"})
    s.register("four", ["true"], vcpus=4, memory=1024, settle=True)

    # 1. more vCPUs than the CE's maxvCpus: the code and AWS's words at once
    big = s.submit("big", "q-small", "four")
    r = s.wait("the MISCONFIGURATION reason", lambda: reason_of(s, big), timeout=30, every=0.2)
    ok(r == MAXRES, "describe-jobs: the job asking for 4 vCPUs of a 2-vCPU CE carries AWS's code and words", r)
    ok(s.describe(big)[big]["status"] == "RUNNABLE", "it stays RUNNABLE")
    events = [e for e in common.job_events(s, common.Avro()) if e["jobId"] == big]
    to_runnable = [e["at"] for e in events if e["newStatus"] == "RUNNABLE"]
    w = waits(s, big)
    ok(len(w) == 1 and w[0]["code"] == "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
       "one JobWait with the bare code", [x["code"] for x in w])
    ok(w and to_runnable and w[0]["at"] == to_runnable[0],
       "set by the event that made it RUNNABLE (within the tick)", (w[0]["at"] if w else None, to_runnable))

    # 2. a job behind a full CE
    first = s.submit("first", "q-small", "two")
    second = s.submit("second", "q-small", "two")
    s.wait("the first job to start", lambda: s.describe(first)[first]["status"] in ("STARTING", "RUNNING"), timeout=90)
    r = s.wait("the capacity reason", lambda: reason_of(s, second).startswith("WAITING:CAPACITY") and reason_of(s, second),
               timeout=30, every=0.2)
    ok(r and "compute environment small" in r and "at its maxvCpus: small (maxvCpus 2)" in r,
       "describe-jobs: the job behind the full CE says so", r)

    # 3. the provider refuses the launch
    starved = s.submit("starved", "q-nocap", "two")
    r = s.wait("the insufficient-capacity reason", lambda: reason_of(s, starved).startswith("CAPACITY:") and reason_of(s, starved),
               timeout=60, every=0.5)
    ok(r == "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - Service cannot fulfill the capacity requested for instance type c5.large",
       "describe-jobs: the refused launch gives AWS's capacity code and words", r)

    # only on change: a few ticks later, no more JobWaits for the waiting job
    n = len(waits(s, second))
    time.sleep(2)  # ten ticks
    ok(len(waits(s, second)) == n == 1, f"the reason unchanged: one JobWait, none per tick ({n})")

    # 4. barge explain names the cause, in text and JSON
    p = explain(s, big)
    log(p.stdout)
    ok(p.returncode == 0 and "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE" in p.stdout and
       "needs 4 vCPUs" in p.stdout and "maxvCpus" in p.stdout, "explain (text): the big job's cause", p.stderr)
    t = json.loads(explain(s, big, "--json").stdout)
    codes = [e["event"]["code"] for e in t["timeline"] if e["kind"] == "reason"]
    ok(t["status"] == "RUNNABLE" and codes == ["MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"],
       "explain --json: one reason entry with the code", codes)
    ok(t["computeEnvironments"] == ["small"], "explain --json: the queue's compute environments", t["computeEnvironments"])
    ok(not any(e["kind"] == "scaling" for e in t["timeline"]),
       "explain --json: no scaling decision is said to be for a job that asks for no capacity")

    p = explain(s, second)
    log(p.stdout)
    ok(p.returncode == 0 and "WAITING:CAPACITY" in p.stdout and "no instance had room" in p.stdout,
       "explain (text): the waiting job's cause", p.stderr)
    t = json.loads(explain(s, second, "--json").stdout)
    rs = [e["event"] for e in t["timeline"] if e["kind"] == "reason"]
    ok(rs and rs[-1]["computeEnvironment"] == "small" and rs[-1].get("instanceId"),
       "explain --json: which CE and which instance lacked room", rs[-1] if rs else None)
    ok(rs and "has 0 of 2 vCPUs" in rs[-1]["detail"], "explain --json: what the instance lacked", rs[-1]["detail"] if rs else None)
    ok(any(e["kind"] == "scaling" for e in t["timeline"]), "explain --json: the provisioner's decision for it",
       [e["text"] for e in t["timeline"]])

    t = json.loads(explain(s, starved, "--json").stdout)
    kinds = [e["kind"] for e in t["timeline"]]
    ok("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY" in t["now"] and "launch-failed" in kinds,
       "explain --json: the refused launch and the capacity code", kinds)
    p = explain(s, starved)
    ok("refused a launch in compute environment nocap" in p.stdout, "explain (text): the refused launch", p.stdout)

    # exit statuses
    ok(explain(s, "no-such-job").returncode == 1, "explain of an unknown job exits 1")
    t0 = time.monotonic()
    p = subprocess.run([common.BARGE, "explain", big, "--brokers", "127.0.0.1:1"], env=s.env, capture_output=True,
                       text=True, timeout=30)
    ok(p.returncode == 1 and time.monotonic() - t0 < 10, "an unreachable broker: exit 1, at once", (p.returncode, p.stderr))
    p = s.run("explain", "--help", check=False)
    ok(p.returncode == 0 and "--json" in p.stdout, "explain --help", p.stdout)

    # a Spot bid below every allowed pool's price: nothing is ever requested, and explain says why
    # (the job waited in silence), while the CE stays VALID (the bid is not EC2's refusal)
    s.create_ce("lowbid", {"type": "SPOT", "minvCpus": 0, "maxvCpus": 8, "instanceTypes": ["c5", "m5"],
                           "bidPercentage": 1, "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED",
                           "subnets": ["subnet-1"], "instanceRole": "ecsInstanceRole"})
    s.create_queue("q-lowbid", ["lowbid"])
    lowbid = s.submit("lowbid", "q-lowbid", "two")
    said = s.wait("explain to name the bid", lambda: "SpotMaxPriceTooLow" in explain(s, lowbid).stdout, timeout=60,
                  every=1)
    p = explain(s, lowbid)
    log(p.stdout)
    ok(said and "the provisioner requested no instance in compute environment lowbid" in p.stdout and
       "bidPercentage 1 is below" in p.stdout, "explain: a bid below every pool is named", p.stdout)
    ces = s.json("describe-compute-environments", "--compute-environments", "lowbid")["computeEnvironments"]
    ok(ces and ces[0]["status"] == "VALID", "the low-bid CE stays VALID", ces)
    d = s.describe(lowbid)[lowbid]
    ok(d["status"] == "RUNNABLE" and d.get("statusReason", "").startswith("CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"),
       "the job waits, RUNNABLE, with the capacity code a queue's time-limit action can act on (it had WAITING:CAPACITY, which none can)", d)

    # a job submitted that the scheduler has not handled yet (here: it is stopped) is not "no job"
    s.kill("scheduler")
    late = s.submit("late", "q-small", "two")
    p = explain(s, late)
    ok(p.returncode == 1 and f"job {late} is SUBMITTED: the scheduler has not handled it yet" in p.stderr,
       "explain of a job the scheduler has not handled yet says so, exit 1 (it said 'no job')", p.stderr)
    p = s.run("logs", late, check=False)
    ok(p.returncode == 1 and "status SUBMITTED: the scheduler has not handled it yet" in p.stderr,
       "barge logs says the same (it said 'no job')", p.stderr)
    s.scheduler()
    s.wait("the restarted scheduler to handle it", lambda: s.describe(late).get(late), timeout=60)
    ok(explain(s, late).returncode == 0, "once handled, explain answers (exit 0)")


if __name__ == "__main__":
    common.run_prov_test("explain", body, "small",
                         {"type": "EC2", "minvCpus": 0, "maxvCpus": 2, "instanceTypes": ["m5.large"],
                          "subnets": ["subnet-1"], "instanceRole": "ecsInstanceRole"},
                         "--driver", "sim", "--sim-boot-ms", "300", "--sim-unobtainable", "c5.large")
