#!/usr/bin/env python3
"""test_prov_scenario_a.py: scale up, run, scale back to zero, with the `sim` driver.

A MANAGED EC2 compute environment of 0-256 vCPUs, instanceTypes `optimal`, BEST_FIT_PROGRESSIVE;
an array of 8 jobs of 1 vCPU and 1024 MiB. The provisioner (sim driver, real broker, real
`barge scheduler`) must scale up (a RUNNABLE_DEMAND decision), the 8 jobs must all succeed, and
after the (short, test-configured) idle delay the capacity must return to 0 (an IDLE_SCALE_DOWN
decision, every instance terminated), with describe-compute-environments showing desiredvCpus
and `barge instances` listing the instances while they run."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prov_helpers import Stack, check, live_capacity, summary  # noqa: E402


def main():
    s = Stack("prov-a")
    ok = False
    try:
        s.start_scheduler()
        s.start_provisioner("--driver", "sim", "--idle-delay-ms", "4000", "--sim-boot-ms", "1000",
                            "--sim-heartbeat-ms", "2000")
        s.create_ce("ce-a", {"type": "EC2", "minvCpus": 0, "maxvCpus": 256, "instanceTypes": ["optimal"],
                             "allocationStrategy": "BEST_FIT_PROGRESSIVE"})
        s.create_queue("q-a", ["ce-a"])
        s.register_jd("jd-a", 1, 1024, ["true"], env={"BARGE_SIM_DURATION_MS": "3000"})
        parent = s.submit("eight", "q-a", "jd-a", size=8)

        up = s.wait_for("a scale-up decision", lambda: [d for d in s.decisions("ce-a") if d["reason"] == "RUNNABLE_DEMAND"])
        check(bool(up), "scale-up decision RUNNABLE_DEMAND")
        if up:
            d = up[0]
            print("  %s" % d["detail"])
            check(d["fromDesiredvCpus"] == 0 and d["toDesiredvCpus"] >= 8, "desired 0 -> %d" % d["toDesiredvCpus"])
            check(all(l["lifecycle"] == "ON_DEMAND" for l in d["launches"]), "on-demand launches")
            check(all(l["instanceType"].split(".")[0] in ("m6i", "c6i", "r6i", "c7i") for l in d["launches"]),
                  "optimal types: %s" % d["launches"])

        running = s.wait_for("instances with running jobs", lambda: [i for i in s.instances("ce-a") if i["runningJobs"]],
                             timeout=120, every=0.5)
        check(bool(running), "barge instances shows the jobs on their instances")
        if running:
            i = running[0]
            print("  %s %s %s %d vCPU %d MiB: %d jobs" % (i["instanceId"], i["instanceType"], i["state"], i["vcpus"],
                                                        i["memoryMib"], len(i["runningJobs"])))
            check(i["vcpus"] > 0 and i["memoryMib"] > 0 and i["driver"] == "sim", "capacity and driver listed")
        ce = s.describe_ce("ce-a")
        check(ce["computeResources"]["desiredvCpus"] >= 8,
              "describe-compute-environments: desiredvCpus %s" % ce["computeResources"].get("desiredvCpus"))

        st = s.wait_array_done(parent, 8)
        check(st == "SUCCEEDED", "array of 8 SUCCEEDED (got %s)" % st)
        kids = s.children(parent, "SUCCEEDED")
        check(len(kids) == 8, "8 children SUCCEEDED (%d)" % len(kids))

        def scaled_to_zero():
            downs = [d for d in s.decisions("ce-a") if d["reason"] == "IDLE_SCALE_DOWN"]
            peak, live, n = live_capacity(s.instance_events("ce-a"))
            return (downs, peak, live, n) if downs and live == 0 else None
        res = s.wait_for("scale-down to 0", scaled_to_zero, timeout=180, every=2.0)
        check(res is not None, "scaled back to 0 after the idle delay")
        if res:
            downs, peak, live, n = res
            print("  %s" % downs[-1]["detail"])
            check(downs[-1]["toDesiredvCpus"] == 0, "IDLE_SCALE_DOWN to 0")
            check(peak <= 8 + 32, "peak capacity %d vCPUs for 8 vCPUs of jobs" % peak)
            check(n >= 1, "%d instance(s) launched" % n)
        check(s.instances("ce-a") == [], "no instance left (barge instances)")
        check(s.describe_ce("ce-a")["computeResources"]["desiredvCpus"] == 0, "desiredvCpus back to 0")
        check(s.alive("scheduler") and s.alive("provisioner"), "services still running")
        ok = summary() == 0
    finally:
        s.cleanup(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
