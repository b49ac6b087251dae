#!/usr/bin/env python3
"""test_prov_up_local.py: `barge up --driver local`: the local stack with a provisioner instead of
fixed agents. `barge up --detach --driver local` creates a MANAGED compute environment
(local-managed) and runs the scheduler and `barge provisioner --driver local`; a submitted job
makes the provisioner start an agent process, the job really runs and succeeds, `barge instances`
lists the agent, and `barge down` stops everything. `--agent-log-retention-hours` reaches the agents
the provisioner starts: the job's log folder goes a few seconds after its end; so does the fence
time (`--fence-after-ms`: barge up's lost-after less a heartbeat)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log, wait_for  # noqa: E402


def body(s):
    s.init()
    out = s.up("--driver", "local", "--max-vcpus", "4", "--agent-log-retention-hours", "0.001")
    log("  " + out.strip().replace("\n", "\n  "))
    ok("launched on demand by the provisioner" in out, "barge up runs a provisioner")
    ce = s.describe_ce("local-managed")
    ok(ce["type"] == "MANAGED" and ce["computeResources"]["maxvCpus"] == 4, "a MANAGED compute environment of 0-4 vCPUs")
    s.create_queue("q-up", ["local-managed"])
    s.register("jd-up", ["sh", "-c", "echo up-local-ran; sleep 1"], vcpus=1, memory=512, settle=True)
    job = s.submit("one", "q-up", "jd-up")
    st = s.wait_terminal([job], 180)[job]["status"]
    ok(st == "SUCCEEDED", f"the job SUCCEEDED on an agent the provisioner started ({st})")
    folder = os.path.join(s.home, "logs", job)
    log(f"  its log folder at the end: {'there' if os.path.isdir(folder) else 'gone already'}")
    try:
        gone = wait_for(lambda: not os.path.exists(folder), 60, "the log folder's removal")
    except TimeoutError:
        gone = False
    ok(gone, "--agent-log-retention-hours 0.001: the ended job's log folder was removed by its agent")
    inst = s.instances("local-managed")
    ok(len(inst) == 1 and inst[0]["driver"] == "local" and inst[0]["state"] == "ready",
       "barge instances lists the agent", [(i["instanceId"], i["state"], i["driver"]) for i in inst])
    ok(any(d["reason"] == "RUNNABLE_DEMAND" for d in s.decisions("local-managed")), "a scale-up decision")
    # its agents fence themselves a heartbeat before the scheduler's lost-after, as the fixed ones do
    # (barge up: 60000 - 2000), not after their own default of 10 s, which a Kafka restart outlasts
    lines = [common.cmdline(int(p)) for p in os.listdir("/proc") if p.isdigit()]
    agents = [c for c in lines if inst and f"--instance-id {inst[0]['instanceId']}" in c and " agent " in c]
    ok(len(agents) == 1 and "--fence-after-ms 58000" in agents[0],
       "the provisioner's agent fences itself after barge up's lost-after less a heartbeat", agents)
    s.down()
    ok("no stack" in s.run("down").stdout, "barge down stopped it")


if __name__ == "__main__":
    common.run_test("prov-up", body)
