#!/usr/bin/env python3
"""test_prov_local_jobs_really_run.py: the provisioner with the `local` driver starts real agents,
the jobs run as real processes, and the agents are stopped once idle.

A MANAGED EC2 compute environment of 0-256 vCPUs, `optimal`, BEST_FIT_PROGRESSIVE; an array of
8 jobs of 1 vCPU and 1024 MiB whose command writes a line. The provisioner launches `barge agent`
child processes as instances; the jobs run as real processes (their output is in the job logs);
after the idle delay the agents are drained and stopped, back to 0."""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402


def body(s):
    logs = os.path.join(s.home, "joblogs")
    common.prov_setup(s, "ce-al", {"type": "EC2", "minvCpus": 0, "maxvCpus": 256, "instanceTypes": ["optimal"],
                                   "allocationStrategy": "BEST_FIT_PROGRESSIVE"},
                      "--driver", "local", "--idle-delay-ms", "4000", "--agent-heartbeat-ms", "1000",
                      "--log-dir", logs, "--local-max-instances", "4")
    s.register("jd-al", ["sh", "-c", "echo ran-on-local-agent index=$AWS_BATCH_JOB_ARRAY_INDEX; sleep 1"],
               vcpus=1, memory=1024, settle=True)
    parent = s.submit("eight-local", "q-ce-al", "jd-al", size=8)
    st = s.wait_array_done(parent, timeout=300)
    ok(st == "SUCCEEDED", f"array of 8 SUCCEEDED on local agents (got {st})")
    outputs = []
    for f in glob.glob(os.path.join(logs, "**", "*.log"), recursive=True):
        with open(f, errors="replace") as fh:
            outputs += [x for x in fh if "ran-on-local-agent" in x]
    ok(len(outputs) >= 8, f"the 8 processes really ran ({len(outputs)} log lines)")
    agents = glob.glob(os.path.join(s.home, "agent-i-*.log"))
    ok(len(agents) >= 1, f"{len(agents)} local agent(s) started by the provisioner")
    ups = [d for d in s.decisions("ce-al") if d["reason"] == "RUNNABLE_DEMAND"]
    ok(bool(ups), "RUNNABLE_DEMAND decision")
    ok(common.wait_scaled_in(s, "ce-al", reason="IDLE_SCALE_DOWN") is not None, "back to 0 after the idle delay")
    ok(s.instances("ce-al") == [], "no agent left")
    ok(s.alive("scheduler") and s.alive("provisioner"), "services still running")


if __name__ == "__main__":
    common.run_test("prov-local", body)
