#!/usr/bin/env python3
"""test_ce_health.py: a compute environment's status is true (docs/provisioner.md "Compute
environment status"). A MANAGED CE no provisioner ever served is VALID for 15 s after its
creation (a provisioner's first heartbeat is on its way), then INVALID with a statusReason saying
so; once `barge provisioner` runs, its heartbeat (a HEARTBEAT on barge.scaling) makes it
VALID, and the heartbeats are not listed as scaling decisions; when the provisioner stops, the CE
turns INVALID after --stale-heartbeats heartbeats, its statusReason naming the last one, in the
shape AWS uses (status, statusReason). An UNMANAGED CE is never judged by a provisioner."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def body(s):
    s.init()
    s.managed_ce("m1", 4)
    s.create_ce("u1")
    t0 = time.monotonic()
    ce = s.describe_ce("m1")
    # a provisioner's first heartbeat for a CE created a moment ago is on its way: VALID meanwhile
    # (`barge up --detach` returned while its own CE was still INVALID, "No provisioner serves")
    ok(ce["status"] == "VALID", "just created: VALID for the grace of a first heartbeat", (ce["status"], ce.get("statusReason")))
    ce = s.wait("m1, never served, to be INVALID", lambda: (lambda c: c if c["status"] == "INVALID" else None)(s.describe_ce("m1")),
                timeout=40, every=0.5)
    took = time.monotonic() - t0
    ok(ce is not None and ce["statusReason"].startswith("No provisioner serves this compute environment") and 10 < took < 30,
       f"never served: INVALID once the grace (15 s) is over ({took:.1f} s), the reason says no provisioner serves it",
       ce and (ce["status"], ce["statusReason"]))
    ok(s.describe_ce("u1")["status"] == "VALID", "an UNMANAGED CE stays VALID")

    s.provisioner("--driver", "sim", "--heartbeat-ms", "500", "--stale-heartbeats", "3")
    ce = s.wait("m1 to be VALID", lambda: (lambda c: c if c["status"] == "VALID" else None)(s.describe_ce("m1")), timeout=60)
    ok(ce is not None and ce["statusReason"] == "ComputeEnvironment Healthy", "served: VALID, ComputeEnvironment Healthy")
    time.sleep(2)  # a few heartbeats
    ok(s.describe_ce("m1")["status"] == "VALID", "still VALID while the heartbeats come")
    ok(not any(d["reason"] == "HEARTBEAT" for d in s.decisions()), "heartbeats are not listed as scaling decisions")

    s.kill("provisioner")
    t0 = time.monotonic()
    ce = s.wait("m1 to be INVALID", lambda: (lambda c: c if c["status"] == "INVALID" else None)(s.describe_ce("m1")),
                timeout=30, every=0.25)
    took = time.monotonic() - t0
    log(f"  INVALID {took:.1f} s after the provisioner stopped (3 heartbeats of 0.5 s)")
    ok(ce is not None and "No provisioner has served this compute environment since" in ce["statusReason"],
       "stopped: INVALID, the reason names the last heartbeat", ce and ce["statusReason"])
    ok(took < 10, f"INVALID within a few heartbeats ({took:.1f} s)")


if __name__ == "__main__":
    common.run_test("cehealth", body)
