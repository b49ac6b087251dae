#!/usr/bin/env python3
"""test_prov_scenario_b.py: spot interruptions while jobs run; the interrupted jobs are retried.

A SPOT compute environment of 0-256 vCPUs over c5, m5, r5 and `optimal` with
SPOT_CAPACITY_OPTIMIZED; jobs whose retry rules are onStatusReason "Host EC2*" -> RETRY and
onReason "*" -> EXIT (3 attempts). The sim driver interrupts the first spot instances shortly
after they register (INTERRUPTION_NOTICE, then TERMINATED after a short notice period) while
their jobs run. Every interrupted attempt must end with the lost-host reason, be retried on new
capacity, and every job must succeed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prov_helpers import Stack, check, live_capacity, summary  # noqa: E402


def main():
    s = Stack("prov-b")
    ok = False
    try:
        s.start_scheduler()
        s.start_provisioner("--driver", "sim", "--idle-delay-ms", "4000", "--sim-boot-ms", "1000",
                            "--sim-heartbeat-ms", "2000", "--sim-interrupt-after-ms", "4000",
                            "--sim-notice-ms", "1500", "--sim-interrupt-count", "2")
        s.create_ce("ce-b", {"type": "SPOT", "minvCpus": 0, "maxvCpus": 256,
                             "instanceTypes": ["c5", "m5", "r5", "optimal"],
                             "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED"})
        s.create_queue("q-b", ["ce-b"])
        retry = {"attempts": 3, "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "RETRY"},
                                                   {"onReason": "*", "action": "EXIT"}]}
        s.register_jd("jd-b", 1, 1024, ["true"], env={"BARGE_SIM_DURATION_MS": "9000"}, retry=retry)
        parent = s.submit("spotty", "q-b", "jd-b", size=8)

        st = s.wait_array_done(parent, 8, timeout=400)
        check(st == "SUCCEEDED", "array of 8 SUCCEEDED despite interruptions (got %s)" % st)
        details = s.describe(["%s:%d" % (parent, i) for i in range(8)])
        check(len(details) == 8 and all(d["status"] == "SUCCEEDED" for d in details), "every child SUCCEEDED")
        retried = [d for d in details if len(d.get("attempts", [])) >= 2]
        check(len(retried) >= 1, "%d job(s) ran more than once" % len(retried))
        for d in retried:
            first = d["attempts"][0]
            reason = first.get("statusReason", "")
            check(reason.startswith("Host EC2 (instance i-") and reason.endswith(") terminated."),
                  "%s attempt 1: %s" % (d["jobId"][-10:], reason))
        check(all(len(d.get("attempts", [])) <= 3 for d in details), "within 3 attempts")

        events = s.instance_events("ce-b")
        notices = [e for e in events if e["kind"] == "INTERRUPTION_NOTICE"]
        reclaimed = [e for e in events if e["kind"] == "TERMINATED" and "Spot interruption" in (e.get("reason") or "")]
        check(len(notices) == 2, "2 interruption notices (%d)" % len(notices))
        check(len(reclaimed) == 2, "2 instances reclaimed (%d)" % len(reclaimed))
        drains = [e for e in events if e["kind"] == "DRAIN_REQUESTED" and e.get("reason") == "spot interruption notice"]
        check(len(drains) >= 1, "the provisioner drains an instance on its notice (%d)" % len(drains))
        launching = [e for e in events if e["kind"] == "LAUNCHING"]
        check(all(e["lifecycle"] == "SPOT" for e in launching) and launching, "every launch is SPOT (%d)" % len(launching))
        fams = {e["instanceType"].split(".")[0] for e in launching}
        check(fams <= {"c5", "m5", "r5", "m6i", "c6i", "r6i", "c7i"}, "types from the allowed list: %s" % sorted(fams))
        ups = [d for d in s.decisions("ce-b") if d["reason"] == "RUNNABLE_DEMAND"]
        check(len(ups) >= 2, "scaled up again for the retried jobs (%d decisions)" % len(ups))

        def drained():
            peak, live, n = live_capacity(s.instance_events("ce-b"))
            return (peak, n) if live == 0 else None
        res = s.wait_for("scale-down to 0", drained, timeout=180, every=2.0)
        check(res is not None, "back to 0 vCPUs at the end")
        check(s.alive("scheduler") and s.alive("provisioner"), "services still running")
        ok = summary() == 0
    finally:
        s.cleanup(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
