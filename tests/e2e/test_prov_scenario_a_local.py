#!/usr/bin/env python3
"""test_prov_scenario_a_local.py: scenario (a) with the `local` driver: jobs really run.

A MANAGED EC2 compute environment of 0-256 vCPUs, `optimal`, BEST_FIT_PROGRESSIVE; an array of
8 jobs of 1 vCPU and 1024 MiB whose command writes a line. The provisioner launches `barge agent`
child processes as instances; the jobs run as real processes (their output is in the job logs);
after the idle delay the agents are drained and stopped, back to 0."""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prov_helpers import Stack, check, live_capacity, summary  # noqa: E402


def main():
    s = Stack("prov-a-local")
    ok = False
    try:
        s.start_scheduler()
        logs = os.path.join(s.home, "joblogs")
        s.start_provisioner("--driver", "local", "--idle-delay-ms", "4000", "--agent-heartbeat-ms", "1000",
                            "--log-dir", logs, "--local-max-instances", "4")
        s.create_ce("ce-al", {"type": "EC2", "minvCpus": 0, "maxvCpus": 256, "instanceTypes": ["optimal"],
                              "allocationStrategy": "BEST_FIT_PROGRESSIVE"})
        s.create_queue("q-al", ["ce-al"])
        s.register_jd("jd-al", 1, 1024, ["sh", "-c", "echo ran-on-local-agent index=$AWS_BATCH_JOB_ARRAY_INDEX; sleep 1"])
        parent = s.submit("eight-local", "q-al", "jd-al", size=8)
        st = s.wait_array_done(parent, 8, timeout=300)
        check(st == "SUCCEEDED", "array of 8 SUCCEEDED on local agents (got %s)" % st)
        outputs = []
        for f in glob.glob(os.path.join(logs, "**", "*.log"), recursive=True):
            with open(f, errors="replace") as fh:
                outputs += [l for l in fh if "ran-on-local-agent" in l]
        check(len(outputs) >= 8, "the 8 processes really ran (%d log lines)" % len(outputs))
        agents = glob.glob(os.path.join(s.home, "agent-i-*.log"))
        check(len(agents) >= 1, "%d local agent(s) started by the provisioner" % len(agents))
        ups = [d for d in s.decisions("ce-al") if d["reason"] == "RUNNABLE_DEMAND"]
        check(bool(ups), "RUNNABLE_DEMAND decision")

        def drained():
            downs = [d for d in s.decisions("ce-al") if d["reason"] == "IDLE_SCALE_DOWN"]
            peak, live, n = live_capacity(s.instance_events("ce-al"))
            return (peak, n) if downs and live == 0 else None
        res = s.wait_for("scale-down to 0", drained, timeout=180, every=2.0)
        check(res is not None, "back to 0 after the idle delay")
        check(s.instances("ce-al") == [], "no agent left")
        check(s.alive("scheduler") and s.alive("provisioner"), "services still running")
        ok = summary() == 0
    finally:
        s.cleanup(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
