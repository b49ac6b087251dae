#!/usr/bin/env python3
"""test_scheduler_delete_queue.py: DeleteJobQueue through the real binary (docs/job-model.md §7.4),
live and while the scheduler is down.

In each scenario queue qz on one agent holds a 300 s sleeper (RUNNING), a job too big to ever run
(RUNNABLE) and a job that depends on the sleeper (PENDING); queue q2 a job that depends on the
sleeper too. qz is DISABLED and deleted:

- live: the scheduler handles the deletion as it comes;
- while down: the scheduler is SIGKILLed before `delete-job-queue qz` is written (the control plane
  writes barge.config itself), as after a crash between reading the deletion and committing its
  terminations; the deletion ends nothing until the scheduler is started again.

Then, in both: the sleeper is stopped on the agent and ends FAILED (exit 143), the others of qz
FAILED, each with 'Terminated: job queue qz was deleted' and isTerminated, still naming qz; the
dependent in q2 fails with 'Dependent job <sleeper> failed'; `barge replay rebuild` finds no
difference. Live, qz re-created under the same name runs a new job and brings none of the old ones
back."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402

WHY = "Terminated: job queue qz was deleted"


def setup(st, instance):
    """The two queues, the four jobs, the sleeper RUNNING and pend PENDING: (run, big, pend, other)."""
    st.init_queue("qz", "ce")
    st.create_queue("q2", "ce")
    st.register("sleep", ["sleep", "300"], memory=64)
    st.register("huge", ["true"], vcpus=64, memory=64)
    st.register("ok", ["true"], memory=64)
    st.scheduler(tick_ms=500)
    st.agent(instance, "ce", vcpus=2, memory=2048, kill_grace_ms=1000)
    run = st.submit("run", "qz", "sleep")
    big = st.submit("big", "qz", "huge")
    pend = st.submit("pend", "qz", "ok", "--depends-on", f"jobId={run}")
    other = st.submit("other", "q2", "ok", "--depends-on", f"jobId={run}")
    common.wait_for(lambda: st.describe(run).get(run, {}).get("status") == "RUNNING", 30, "the sleeper RUNNING")
    common.wait_for(lambda: st.describe(big, pend).get(pend, {}).get("status") == "PENDING", 30, "pend PENDING")
    st.run("update-job-queue", "--job-queue", "qz", "--state", "DISABLED")
    return run, big, pend, other


def check_ended(st, run, big, pend, other, when):
    jobs = st.wait_terminal([run, big, pend, other], 60)
    for name, jid in (("run", run), ("big", big), ("pend", pend)):
        j = jobs[jid]
        ok(j["status"] == "FAILED" and j.get("statusReason") == WHY and j.get("isTerminated") is True
           and j.get("jobQueue", "").endswith(":job-queue/qz"),
           f"{when}: {name} FAILED, '{WHY}', isTerminated, still of qz",
           (j["status"], j.get("statusReason"), j.get("isTerminated"), j.get("jobQueue")))
    ok(jobs[run].get("container", {}).get("exitCode") == 143, f"{when}: the sleeper was stopped by SIGTERM (exit 143)",
       jobs[run].get("container"))
    ok(jobs[other].get("statusReason") == f"Dependent job {run} failed", f"{when}: the dependent in q2 failed",
       jobs[other].get("statusReason"))


def check_rebuild(st, when):
    r = st.run("replay", "rebuild", check=False)
    last = (r.stdout.strip().splitlines() or [""])[-1]
    ok(r.returncode == 0 and " 0 differences" in last, f"{when}: replay rebuild finds no difference",
       (r.returncode, r.stdout[-600:]))


def live(st):
    run, big, pend, other = setup(st, "i-0000000000000dd01")
    st.run("delete-job-queue", "--job-queue", "qz")
    check_ended(st, run, big, pend, other, "live")
    st.create_queue("qz", "ce")
    new = st.submit("new", "qz", "ok")
    st.wait_terminal([new], 30)
    again = st.describe(run, big, pend)
    ok(all(again[j]["status"] == "FAILED" for j in (run, big, pend)),
       "after qz is re-created (and runs a new job) the old jobs stay FAILED",
       {j: again[j]["status"] for j in again})
    check_rebuild(st, "live")


def while_down(st):
    run, big, pend, other = setup(st, "i-0000000000000dd02")
    st.kill("scheduler", signal.SIGKILL)
    st.run("delete-job-queue", "--job-queue", "qz")
    jobs = st.describe(run, big, pend)
    ok(jobs[run]["status"] == "RUNNING" and jobs[big]["status"] == "RUNNABLE" and jobs[pend]["status"] == "PENDING",
       "while the scheduler is down the deletion ends nothing", {j: jobs[j]["status"] for j in jobs})
    st.scheduler(tick_ms=500)
    check_ended(st, run, big, pend, other, "after the restart")
    check_rebuild(st, "after the restart")


if __name__ == "__main__":
    common.scenario("delq", live, "the live deletion", clean_stop=True)
    common.scenario("delqr", while_down, "the deletion while the scheduler was down", clean_stop=True)
    common.finish()
