#!/usr/bin/env python3
"""test_prov_up_local.py: `barge up --driver local`: the local stack with a provisioner instead of
fixed agents. `barge up --detach --driver local` creates a MANAGED compute environment
(local-managed) and runs the scheduler and `barge provisioner --driver local`; a submitted job
makes the provisioner start an agent process, the job really runs and succeeds, `barge instances`
lists the agent, and `barge down` stops everything."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prov_helpers import Stack, check, summary  # noqa: E402


def main():
    s = Stack("prov-up")
    ok = False
    up = False
    try:
        out = s.run("up", "--brokers", s.brokers, "--driver", "local", "--max-vcpus", "4", "--detach", timeout=180)
        up = True
        print("  " + out.strip().replace("\n", "\n  "))
        check("launched on demand by the provisioner" in out, "barge up runs a provisioner")
        ce = s.describe_ce("local-managed")
        check(ce["type"] == "MANAGED" and ce["computeResources"]["maxvCpus"] == 4, "a MANAGED compute environment of 0-4 vCPUs")
        s.create_queue("q-up", ["local-managed"])
        s.register_jd("jd-up", 1, 512, ["sh", "-c", "echo up-local-ran; sleep 1"])
        job = s.submit("one", "q-up", "jd-up")
        st = s.wait_for("the job", lambda: (lambda d: d[0]["status"] if d and d[0]["status"] in ("SUCCEEDED", "FAILED") else None)(s.describe([job])),
                        timeout=180, every=1.0)
        check(st == "SUCCEEDED", "the job SUCCEEDED on an agent the provisioner started (%s)" % st)
        inst = s.instances("local-managed")
        check(len(inst) == 1 and inst[0]["driver"] == "local" and inst[0]["state"] == "ready",
              "barge instances lists the agent: %s" % [(i["instanceId"], i["state"], i["driver"]) for i in inst])
        check(any(d["reason"] == "RUNNABLE_DEMAND" for d in s.decisions("local-managed")), "a scale-up decision")
        s.run("down", timeout=120)
        up = False
        check("no stack" in s.run("down"), "barge down stopped it")
        ok = summary() == 0
    finally:
        if up:
            s.run("down", check_rc=False, timeout=120)
        s.cleanup(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
