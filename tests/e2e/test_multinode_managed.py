#!/usr/bin/env python3
"""test_multinode_managed.py: a multi-node job on a MANAGED compute environment: the provisioner
(local driver) launches one instance per node, the gang runs whole across them.

A MANAGED EC2 CE of c5.large (2 vCPUs) from 0 vCPUs; a gang of 3 nodes of 1 vCPU each. Packed by
vCPUs the demand would fit 2 instances and the gang (one node per instance) would wait forever;
the scheduler marks the nodes' shape perInstance, so the provisioner launches 3 agents, the gang
is placed on 3 distinct instances, its workers reach the main node over TCP, and it SUCCEEDS.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402
from test_multinode import node_props  # noqa: E402


def body(s):
    common.prov_setup(s, "ce-mn", {"type": "EC2", "minvCpus": 0, "maxvCpus": 16, "instanceTypes": ["c5.large"],
                                   "allocationStrategy": "BEST_FIT_PROGRESSIVE"},
                      "--driver", "local", "--idle-delay-ms", "60000", "--agent-heartbeat-ms", "1000",
                      "--log-dir", os.path.join(s.home, "logs"), "--local-max-instances", "4")
    s.run("register-job-definition", "--job-definition-name", "mpi", "--type", "multinode",
          "--parameters", json.dumps({"code": "0"}), "--node-properties", json.dumps(node_props()))
    gang = s.submit("gang", "q-ce-mn", "mpi")
    done = s.wait_terminal([gang], 120)[gang]
    ok(done["status"] == "SUCCEEDED", "the gang SUCCEEDED on a managed CE", done.get("statusReason"))
    nodes = s.wait_terminal([f"{gang}#{i}" for i in range(3)], 30)
    where = {n["container"].get("containerInstanceArn", "").rsplit("/", 1)[-1] for n in nodes.values()}
    ok(len(where) == 3, "its 3 nodes ran on 3 distinct instances", where)
    ups = [d for d in s.decisions("ce-mn") if d["reason"] == "RUNNABLE_DEMAND"]
    launched = sum(sum(x.get("count", 0) for x in d.get("launches", [])) for d in ups)
    ok(launched == 3, "the provisioner launched one instance per node (3 c5.large, not 2)",
       [d.get("launches") for d in ups])


if __name__ == "__main__":
    common.run_test("multinode-managed", body)
