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
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

PROV_ARGS = ("--driver", "sim", "--idle-delay-ms", "4000", "--sim-boot-ms", "1000", "--sim-heartbeat-ms", "1000")


def body(s):
    s.register("jd-r", ["true"], vcpus=1, memory=1024, env={"BARGE_SIM_DURATION_MS": "8000"},
               retry_strategy=common.RETRY_ON_LOST_HOST, settle=True)
    parent = s.submit("survivors", "q-ce-r", "jd-r", size=4)
    running = s.wait("jobs running", lambda: [i for i in s.instances("ce-r") if i["runningJobs"]],
                     timeout=120, every=0.5)
    ok(bool(running), "jobs running on a simulated instance")
    s.kill("provisioner")
    log("  provisioner killed; restarting")
    s.provisioner(*PROV_ARGS)

    st = s.wait_array_done(parent, timeout=300)
    ok(st == "SUCCEEDED", f"all jobs SUCCEEDED after the restart (got {st})")
    details = s.describe(*[f"{parent}:{i}" for i in range(4)]).values()
    lost = [d for d in details
            if any((a.get("statusReason") or "").startswith("Host EC2") for a in d.get("attempts", []))]
    ok(len(lost) >= 1, f"{len(lost)} job(s) lost their first host and were retried")
    events = s.instance_events("ce-r")
    ok(any(e["kind"] == "LOST" for e in events), "the scheduler declared the dead instance LOST")
    ups = [d for d in s.decisions("ce-r") if d["reason"] == "RUNNABLE_DEMAND"]
    ok(len(ups) >= 2, f"the restarted provisioner scaled up again ({len(ups)} decisions)")
    ok(common.wait_scaled_in(s, "ce-r") is not None, "back to 0 vCPUs, the dead instance included")
    ok(s.instances("ce-r") == [], "no instance left")


if __name__ == "__main__":
    common.run_prov_test("prov-restart", body, "ce-r", {"type": "EC2", "minvCpus": 0, "maxvCpus": 64,
                                                        "instanceTypes": ["optimal"],
                                                        "allocationStrategy": "BEST_FIT_PROGRESSIVE"},
                         *PROV_ARGS, sched_args=("--lost-after-ms", "6000"))
