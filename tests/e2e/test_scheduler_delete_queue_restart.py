#!/usr/bin/env python3
"""test_scheduler_delete_queue_restart.py: a queue deleted while the scheduler is down still ends
its jobs (docs/job-model.md §7.4).

Queue qz on one agent holds a 300 s sleeper (RUNNING), a job too big to ever run (RUNNABLE) and a
job that depends on the sleeper (PENDING); queue q2 a job that depends on the sleeper too. qz is
DISABLED, the scheduler SIGKILLed, and `delete-job-queue qz` written while it is down (the control
plane writes barge.config itself): the scheduler never handled the deletion live, as after a
crash between reading it and committing its terminations. Once it is started again:
- the sleeper is stopped on the agent and ends FAILED, the others of qz FAILED, each with
  'Terminated: job queue qz was deleted' and isTerminated, still naming qz;
- the dependent in q2 fails with 'Dependent job <sleeper> failed';
- `barge replay rebuild` finds no difference."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402


def body(st):
    st.init_queue("qz", "ce")
    st.create_queue("q2", "ce")
    st.register("sleep", ["sleep", "300"], memory=64)
    st.register("huge", ["true"], vcpus=64, memory=64)
    st.register("ok", ["true"], memory=64)
    st.scheduler(tick_ms=500)
    st.agent("i-0000000000000dd02", "ce", vcpus=2, memory=2048, kill_grace_ms=1000)
    run = st.submit("run", "qz", "sleep")
    big = st.submit("big", "qz", "huge")
    pend = st.submit("pend", "qz", "ok", "--depends-on", f"jobId={run}")
    other = st.submit("other", "q2", "ok", "--depends-on", f"jobId={run}")
    common.wait_for(lambda: st.describe(run).get(run, {}).get("status") == "RUNNING", 30, "the sleeper RUNNING")
    common.wait_for(lambda: st.describe(big, pend).get(pend, {}).get("status") == "PENDING", 30, "pend PENDING")
    st.run("update-job-queue", "--job-queue", "qz", "--state", "DISABLED")
    st.kill("scheduler", signal.SIGKILL)
    st.run("delete-job-queue", "--job-queue", "qz")
    jobs = st.describe(run, big, pend)
    ok(jobs[run]["status"] == "RUNNING" and jobs[big]["status"] == "RUNNABLE" and jobs[pend]["status"] == "PENDING",
       "while the scheduler is down the deletion ends nothing", {j: jobs[j]["status"] for j in jobs})
    st.scheduler(tick_ms=500)
    jobs = st.wait_terminal([run, big, pend, other], 60)
    why = "Terminated: job queue qz was deleted"
    for name, jid in (("run", run), ("big", big), ("pend", pend)):
        j = jobs[jid]
        ok(j["status"] == "FAILED" and j.get("statusReason") == why and j.get("isTerminated") is True
           and j.get("jobQueue", "").endswith(":job-queue/qz"),
           f"{name}: FAILED, '{why}', isTerminated, still of qz after the restart",
           (j["status"], j.get("statusReason"), j.get("isTerminated"), j.get("jobQueue")))
    ok(jobs[run].get("container", {}).get("exitCode") == 143, "the sleeper was stopped by SIGTERM (exit 143)",
       jobs[run].get("container"))
    ok(jobs[other].get("statusReason") == f"Dependent job {run} failed", "the dependent in q2 failed",
       jobs[other].get("statusReason"))
    r = st.run("replay", "rebuild", check=False)
    last = (r.stdout.strip().splitlines() or [""])[-1]
    ok(r.returncode == 0 and " 0 differences" in last, "replay rebuild finds no difference", (r.returncode, r.stdout[-600:]))


if __name__ == "__main__":
    common.run_test("delqr", body, clean_stop=True)
