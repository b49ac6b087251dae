#!/usr/bin/env python3
"""test_prov_1000_jobs_peak_bounded.py: 1,000 jobs of 2 vCPUs on a large SPOT compute environment;
the capacity alive at any moment never exceeds what they need by more than one instance.

Two arrays of 500 jobs of 2 vCPUs and 3192 MiB on a SPOT compute environment of 0-100,000
vCPUs (optimal, SPOT_CAPACITY_OPTIMIZED), sim driver without interruptions. Every job must
succeed; the capacity alive at any moment (read back from barge.instances) must never exceed
what the jobs need (1,000 x 2 vCPUs) by more than one instance; and at the end the capacity
must return to minvCpus (0), as the last ScalingDecision says too."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

JOBS, VCPUS, MIB = 1000, 2, 3192


def body(s):
    s.register("jd-c", ["true"], vcpus=VCPUS, memory=MIB, env={"BARGE_SIM_DURATION_MS": "5000"}, settle=True)
    t0 = time.time()
    a = s.submit("half-a", "q-ce-c", "jd-c", size=500)
    b = s.submit("half-b", "q-ce-c", "jd-c", size=500)
    sa = s.wait_array_done(a, timeout=500)
    sb = s.wait_array_done(b, timeout=300)
    log(f"  both arrays terminal after {time.time() - t0:.0f} s")
    ok(sa == "SUCCEEDED" and sb == "SUCCEEDED", f"both arrays SUCCEEDED ({sa}, {sb})")
    done = len(s.children(a, "SUCCEEDED")) + len(s.children(b, "SUCCEEDED"))
    ok(done == JOBS, f"{done} of {JOBS} jobs SUCCEEDED")

    res = common.wait_scaled_in(s, "ce-c", timeout=240, every=3.0)
    ok(res is not None, "capacity back to minvCpus 0")
    if res:
        events, peak, n = res
        biggest = max(e.get("vcpus", 0) for e in events if e["kind"] == "LAUNCHING")
        need = JOBS * VCPUS
        log(f"  {n} instances launched, peak {peak} vCPUs alive for {need} vCPUs of jobs (largest instance {biggest})")
        ok(peak <= need + biggest, f"peak {peak} <= need {need} + one instance ({biggest})")
        ok(peak >= need / 2, f"the fleet was really scaled out ({peak} vCPUs)")
        ok(all(e["lifecycle"] == "SPOT" for e in events if e["kind"] == "LAUNCHING"), "all SPOT")
    decisions = s.decisions("ce-c")
    ok(decisions and decisions[-1]["toDesiredvCpus"] == 0,
       f"last decision: desired {decisions[-1]['toDesiredvCpus'] if decisions else None}")
    ok(any(d["reason"] == "IDLE_SCALE_DOWN" for d in decisions), "IDLE_SCALE_DOWN decisions")
    ok(s.describe_ce("ce-c")["computeResources"]["desiredvCpus"] == 0, "describe: desiredvCpus 0")
    ok(s.instances("ce-c") == [], "no instance left")


if __name__ == "__main__":
    common.run_prov_test("prov-1000", body, "ce-c", {"type": "SPOT", "minvCpus": 0, "maxvCpus": 100000,
                                                     "instanceTypes": ["optimal"],
                                                     "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED"},
                         "--driver", "sim", "--idle-delay-ms", "5000", "--sim-boot-ms", "2000",
                         "--sim-heartbeat-ms", "3000", "--sim-interrupt-rate", "0")
