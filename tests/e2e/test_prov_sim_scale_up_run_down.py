#!/usr/bin/env python3
"""test_prov_sim_scale_up_run_down.py: the provisioner (sim driver) scales up for a burst of jobs,
they run, and the capacity goes back to zero.

A MANAGED EC2 compute environment of 0-256 vCPUs, instanceTypes `optimal`, BEST_FIT_PROGRESSIVE;
an array of 8 jobs of 1 vCPU and 1024 MiB. The provisioner (sim driver, real broker, real
`barge scheduler`) must scale up with one RUNNABLE_DEMAND decision of exactly 0 -> 8 vCPUs: one
c6i.2xlarge (8 vCPUs) holds the 8 jobs at the lowest price per job, as tests/unit/
test_prov_strategy.c works out for the same demand. The 8 jobs must all succeed, and after the
(short, test-configured) idle delay the capacity must return to 0 (an IDLE_SCALE_DOWN decision,
every instance terminated), with describe-compute-environments showing desiredvCpus and
`barge instances` listing the instances while they run."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def body(s):
    s.register("jd-a", ["true"], vcpus=1, memory=1024, env={"BARGE_SIM_DURATION_MS": "3000"}, settle=True)
    parent = s.submit("eight", "q-ce-a", "jd-a", size=8)

    up = s.wait("a scale-up decision", lambda: [d for d in s.decisions("ce-a") if d["reason"] == "RUNNABLE_DEMAND"])
    ok(bool(up), "scale-up decision RUNNABLE_DEMAND")
    if up:
        d = up[0]
        log(f"  {d['detail']}")
        ok(d["fromDesiredvCpus"] == 0 and d["toDesiredvCpus"] == 8, f"desired 0 -> {d['toDesiredvCpus']}, expected 8")
        ok([(x["instanceType"], x["count"]) for x in d["launches"]] == [("c6i.2xlarge", 1)],
           "one c6i.2xlarge for the 8 jobs", d["launches"])
        ok(all(x["lifecycle"] == "ON_DEMAND" for x in d["launches"]), "on-demand launches")

    running = s.wait("instances with running jobs", lambda: [i for i in s.instances("ce-a") if i["runningJobs"]],
                     timeout=120, every=0.5)
    ok(bool(running), "barge instances shows the jobs on their instances")
    if running:
        i = running[0]
        log(f"  {i['instanceId']} {i['instanceType']} {i['state']} {i['vcpus']} vCPU {i['memoryMib']} MiB: "
            f"{len(i['runningJobs'])} jobs")
        ok(i["vcpus"] > 0 and i["memoryMib"] > 0 and i["driver"] == "sim", "capacity and driver listed")
    ce = s.describe_ce("ce-a")
    ok(ce["computeResources"]["desiredvCpus"] == 8,
       f"describe-compute-environments: desiredvCpus {ce['computeResources'].get('desiredvCpus')}, expected 8")

    st = s.wait_array_done(parent)
    ok(st == "SUCCEEDED", f"array of 8 SUCCEEDED (got {st})")
    kids = s.children(parent, "SUCCEEDED")
    ok(len(kids) == 8, f"8 children SUCCEEDED ({len(kids)})")

    res = common.wait_scaled_in(s, "ce-a", reason="IDLE_SCALE_DOWN")
    ok(res is not None, "scaled back to 0 after the idle delay")
    if res:
        _, peak, n = res
        downs = [d for d in s.decisions("ce-a") if d["reason"] == "IDLE_SCALE_DOWN"]
        log(f"  {downs[-1]['detail']}")
        ok(downs[-1]["toDesiredvCpus"] == 0, "IDLE_SCALE_DOWN to 0")
        ok(peak <= 8 + 32, f"peak capacity {peak} vCPUs for 8 vCPUs of jobs")
        ok(n >= 1, f"{n} instance(s) launched")
    ok(s.instances("ce-a") == [], "no instance left (barge instances)")
    ok(s.describe_ce("ce-a")["computeResources"]["desiredvCpus"] == 0, "desiredvCpus back to 0")

    # UpdateComputeEnvironment desiredvCpus is judged against the current desired, as
    # describe-compute-environments shows it (0 now), not the value an earlier update stored, and
    # launches up to it at once (docs/job-model.md, 4.7)
    def asked(to):
        return lambda: [d for d in s.decisions("ce-a") if d["reason"] == "MIN_VCPUS" and d["toDesiredvCpus"] == to]
    s.json("update-compute-environment", "--compute-environment", "ce-a", "--compute-resources", '{"desiredvCpus": 8}')
    ok(bool(s.wait("a MIN_VCPUS decision to 8", asked(8), timeout=60, every=0.5)), "desiredvCpus 8 launched")
    s.wait("the instance of desiredvCpus 8", lambda: s.instances("ce-a"), timeout=60, every=0.5)
    ok(common.wait_scaled_in(s, "ce-a") is not None, "idle again: scaled back to 0")
    ok(s.describe_ce("ce-a")["computeResources"]["desiredvCpus"] == 0, "desiredvCpus back to 0 (8 stored)")
    p = s.run("update-compute-environment", "--compute-environment", "ce-a", "--compute-resources",
              '{"desiredvCpus": 4}', check=False)
    ok(p.returncode == 0, f"desiredvCpus 4 (above the current 0, below the stored 8) accepted: exit {p.returncode}",
       p.stderr.strip())
    ok(bool(s.wait("a MIN_VCPUS decision to 4", asked(4), timeout=60, every=0.5)), "desiredvCpus 4 launched")


if __name__ == "__main__":
    common.run_prov_test("prov-sim", body, "ce-a", {"type": "EC2", "minvCpus": 0, "maxvCpus": 256,
                                                    "instanceTypes": ["optimal"],
                                                    "allocationStrategy": "BEST_FIT_PROGRESSIVE"},
                         "--driver", "sim", "--idle-delay-ms", "4000", "--sim-boot-ms", "1000",
                         "--sim-heartbeat-ms", "2000")
