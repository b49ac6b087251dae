#!/usr/bin/env python3
"""test_prov_spot_interruptions_retried.py: spot instances are interrupted while their jobs run;
the interrupted jobs are retried on new capacity and all succeed.

A SPOT compute environment of 0-256 vCPUs over c5, m5, r5 and `optimal` with
SPOT_CAPACITY_OPTIMIZED; jobs whose retry rules are onStatusReason "Host EC2*" -> RETRY and
onReason "*" -> EXIT (3 attempts). The sim driver interrupts the first spot instances shortly
after they register (INTERRUPTION_NOTICE, then TERMINATED after a short notice period) while
their jobs run. Every interrupted attempt must end with the lost-host reason, be retried on new
capacity, and every job must succeed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402


def body(s):
    s.register("jd-b", ["true"], vcpus=1, memory=1024, env={"BARGE_SIM_DURATION_MS": "9000"},
               retry_strategy=common.RETRY_ON_LOST_HOST, settle=True)
    parent = s.submit("spotty", "q-ce-b", "jd-b", size=8)

    st = s.wait_array_done(parent, timeout=400)
    ok(st == "SUCCEEDED", f"array of 8 SUCCEEDED despite interruptions (got {st})")
    details = list(s.describe(*[f"{parent}:{i}" for i in range(8)]).values())
    ok(len(details) == 8 and all(d["status"] == "SUCCEEDED" for d in details), "every child SUCCEEDED")
    retried = [d for d in details if len(d.get("attempts", [])) >= 2]
    ok(len(retried) >= 1, f"{len(retried)} job(s) ran more than once")
    for d in retried:
        reason = d["attempts"][0].get("statusReason", "")
        ok(reason.startswith("Host EC2 (instance i-") and reason.endswith(") terminated."),
           f"{d['jobId'][-10:]} attempt 1: {reason}")
    ok(all(len(d.get("attempts", [])) <= 3 for d in details), "within 3 attempts")

    events = s.instance_events("ce-b")
    notices = [e for e in events if e["kind"] == "INTERRUPTION_NOTICE"]
    reclaimed = [e for e in events if e["kind"] == "TERMINATED" and "Spot interruption" in (e.get("reason") or "")]
    ok(len(notices) == 2, f"2 interruption notices ({len(notices)})")
    ok(len(reclaimed) == 2, f"2 instances reclaimed ({len(reclaimed)})")
    drains = [e for e in events if e["kind"] == "DRAIN_REQUESTED" and e.get("reason") == "spot interruption notice"]
    ok(len(drains) >= 1, f"the provisioner drains an instance on its notice ({len(drains)})")
    launching = [e for e in events if e["kind"] == "LAUNCHING"]
    ok(all(e["lifecycle"] == "SPOT" for e in launching) and launching, f"every launch is SPOT ({len(launching)})")
    fams = {e["instanceType"].split(".")[0] for e in launching}
    ok(fams <= {"c5", "m5", "r5", "m6i", "c6i", "r6i", "c7i"}, f"types from the allowed list: {sorted(fams)}")
    ups = [d for d in s.decisions("ce-b") if d["reason"] == "RUNNABLE_DEMAND"]
    ok(len(ups) >= 2, f"scaled up again for the retried jobs ({len(ups)} decisions)")
    ok(common.wait_scaled_in(s, "ce-b") is not None, "back to 0 vCPUs at the end")


if __name__ == "__main__":
    common.run_prov_test("prov-spot", body, "ce-b", {"type": "SPOT", "minvCpus": 0, "maxvCpus": 256,
                                                     "instanceTypes": ["c5", "m5", "r5", "optimal"],
                                                     "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED"},
                         "--driver", "sim", "--idle-delay-ms", "4000", "--sim-boot-ms", "1000",
                         "--sim-heartbeat-ms", "2000", "--sim-interrupt-after-ms", "4000",
                         "--sim-notice-ms", "1500", "--sim-interrupt-count", "2")
