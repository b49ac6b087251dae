#!/usr/bin/env python3
"""test_prov_restart.py: the provisioner killed (SIGKILL) while its instances run jobs, then
restarted.

The sim driver's instances live inside the provisioner process, so they die with it: their
heartbeats stop, the scheduler declares them LOST and fails their attempts with the lost-host
reason, and the jobs' retry rules (onStatusReason "Host EC2*" -> RETRY) send them back to
RUNNABLE. The restarted provisioner must rebuild its state from barge.instances and
barge.capacity, terminate the lost instances, launch new capacity for the returning jobs, and
scale back to 0 at the end: every job succeeds and no instance is left."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prov_helpers import Stack, check, live_capacity, summary  # noqa: E402

PROV_ARGS = ("--driver", "sim", "--idle-delay-ms", "4000", "--sim-boot-ms", "1000", "--sim-heartbeat-ms", "1000")


def main():
    s = Stack("prov-restart")
    ok = False
    try:
        s.start_scheduler("--lost-after-ms", "6000")
        first = s.start_provisioner(*PROV_ARGS)
        s.create_ce("ce-r", {"type": "EC2", "minvCpus": 0, "maxvCpus": 64, "instanceTypes": ["optimal"],
                             "allocationStrategy": "BEST_FIT_PROGRESSIVE"})
        s.create_queue("q-r", ["ce-r"])
        retry = {"attempts": 3, "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "RETRY"},
                                                   {"onReason": "*", "action": "EXIT"}]}
        s.register_jd("jd-r", 1, 1024, ["true"], env={"BARGE_SIM_DURATION_MS": "8000"}, retry=retry)
        parent = s.submit("survivors", "q-r", "jd-r", size=4)
        running = s.wait_for("jobs running", lambda: [i for i in s.instances("ce-r") if i["runningJobs"]],
                             timeout=120, every=0.5)
        check(bool(running), "jobs running on a simulated instance")
        first.send_signal(signal.SIGKILL)
        first.wait()
        s.procs = [x for x in s.procs if x[1] is not first]
        print("  provisioner killed; restarting", flush=True)
        s.start_provisioner(*PROV_ARGS)

        st = s.wait_array_done(parent, 4, timeout=300)
        check(st == "SUCCEEDED", "all jobs SUCCEEDED after the restart (got %s)" % st)
        details = s.describe(["%s:%d" % (parent, i) for i in range(4)])
        lost = [d for d in details if any((a.get("statusReason") or "").startswith("Host EC2") for a in d.get("attempts", []))]
        check(len(lost) >= 1, "%d job(s) lost their first host and were retried" % len(lost))
        events = s.instance_events("ce-r")
        check(any(e["kind"] == "LOST" for e in events), "the scheduler declared the dead instance LOST")
        ups = [d for d in s.decisions("ce-r") if d["reason"] == "RUNNABLE_DEMAND"]
        check(len(ups) >= 2, "the restarted provisioner scaled up again (%d decisions)" % len(ups))

        def drained():
            peak, live, n = live_capacity(s.instance_events("ce-r"))
            return (peak, n) if live == 0 else None
        res = s.wait_for("scale-down to 0", drained, timeout=180, every=2.0)
        check(res is not None, "back to 0 vCPUs, the dead instance included")
        check(s.instances("ce-r") == [], "no instance left")
        check(s.alive("scheduler") and s.alive("provisioner"), "services still running")
        ok = summary() == 0
    finally:
        s.cleanup(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
