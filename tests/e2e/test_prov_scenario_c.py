#!/usr/bin/env python3
"""test_prov_scenario_c.py: 1,000 jobs on a large SPOT compute environment, capacity kept tight.

Two arrays of 500 jobs of 2 vCPUs and 3192 MiB on a SPOT compute environment of 0-100,000
vCPUs (optimal, SPOT_CAPACITY_OPTIMIZED), sim driver without interruptions. Every job must
succeed; the capacity alive at any moment (read back from barge.instances) must never exceed
what the jobs need (1,000 x 2 vCPUs) by more than one instance; and at the end the capacity
must return to minvCpus (0), as the last ScalingDecision says too."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prov_helpers import Stack, check, live_capacity, summary  # noqa: E402

JOBS, VCPUS, MIB = 1000, 2, 3192


def main():
    s = Stack("prov-c")
    ok = False
    try:
        s.start_scheduler()
        s.start_provisioner("--driver", "sim", "--idle-delay-ms", "5000", "--sim-boot-ms", "2000",
                            "--sim-heartbeat-ms", "3000", "--sim-interrupt-rate", "0")
        s.create_ce("ce-c", {"type": "SPOT", "minvCpus": 0, "maxvCpus": 100000, "instanceTypes": ["optimal"],
                             "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED"})
        s.create_queue("q-c", ["ce-c"])
        s.register_jd("jd-c", VCPUS, MIB, ["true"], env={"BARGE_SIM_DURATION_MS": "5000"})
        t0 = time.time()
        a = s.submit("half-a", "q-c", "jd-c", size=500)
        b = s.submit("half-b", "q-c", "jd-c", size=500)
        sa = s.wait_array_done(a, 500, timeout=500)
        sb = s.wait_array_done(b, 500, timeout=300)
        print("  both arrays terminal after %.0f s" % (time.time() - t0))
        check(sa == "SUCCEEDED" and sb == "SUCCEEDED", "both arrays SUCCEEDED (%s, %s)" % (sa, sb))
        done = len(s.children(a, "SUCCEEDED")) + len(s.children(b, "SUCCEEDED"))
        check(done == JOBS, "%d of %d jobs SUCCEEDED" % (done, JOBS))

        def drained():
            events = s.instance_events("ce-c")
            peak, live, n = live_capacity(events)
            return (events, peak, n) if live == 0 else None
        res = s.wait_for("scale-down to minvCpus", drained, timeout=240, every=3.0)
        check(res is not None, "capacity back to minvCpus 0")
        if res:
            events, peak, n = res
            biggest = max(e.get("vcpus", 0) for e in events if e["kind"] == "LAUNCHING")
            need = JOBS * VCPUS
            print("  %d instances launched, peak %d vCPUs alive for %d vCPUs of jobs (largest instance %d)"
                  % (n, peak, need, biggest))
            check(peak <= need + biggest, "peak %d <= need %d + one instance (%d)" % (peak, need, biggest))
            check(peak >= need / 2, "the fleet was really scaled out (%d vCPUs)" % peak)
            check(all(e["lifecycle"] == "SPOT" for e in events if e["kind"] == "LAUNCHING"), "all SPOT")
        decisions = s.decisions("ce-c")
        check(decisions and decisions[-1]["toDesiredvCpus"] == 0, "last decision: desired %s"
              % (decisions[-1]["toDesiredvCpus"] if decisions else None))
        check(any(d["reason"] == "IDLE_SCALE_DOWN" for d in decisions), "IDLE_SCALE_DOWN decisions")
        check(s.describe_ce("ce-c")["computeResources"]["desiredvCpus"] == 0, "describe: desiredvCpus 0")
        check(s.instances("ce-c") == [], "no instance left")
        check(s.alive("scheduler") and s.alive("provisioner"), "services still running")
        ok = summary() == 0
    finally:
        s.cleanup(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
