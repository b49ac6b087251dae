#!/usr/bin/env python3
"""test_prov_agent_restart.py: an agent restarted under the same instance id, whose earlier
process's TERMINATED is read after the new process's READY, is not forgotten by the provisioner
(docs/provisioner.md "Agent restarts", docs/architecture.md "Agent incarnations").

An agent of a MANAGED compute environment (minvCpus 0) registers and the provisioner adopts its
instance. The agent is SIGKILLed and started again with the same instance id (a new, larger
incarnation); once its READY is on barge.instances, the TERMINATED its earlier process writes when
it stops late ("agent stopped", the earlier incarnation) is put on the same partition of the real
broker after it. Before, the provisioner took that TERMINATED from any incarnation and dropped the
instance while its new agent ran on: it never drained it when idle (an instance left running and
billed for good). Now the instance stays in the provisioner's view: idle past the delay, it is
drained (DRAIN_REQUESTED after the stale TERMINATED), the scheduler confirms DRAINED and the
provisioner terminates it; nothing is launched beside it."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

CE = "ce-inc"
INST = "i-0a6e0000000000c01"
IDLE_MS = 20000  # room for the restart and the stale TERMINATED before the drain is due


def body(st):
    avro = common.Avro()
    st.agent(INST, ce=CE, name="agent", vcpus=2, memory=2048)
    part, _, first = common.wait_for(lambda: common.ready_of(st, avro, INST), 60, "the agent's READY")
    inc1 = first["incarnation"]
    ok(inc1 > 0, f"the agent registered with incarnation {inc1}")
    st.kill("agent", signal.SIGKILL)
    st.agent(INST, ce=CE, name="agent", vcpus=2, memory=2048)
    _, ready2_off, second = common.wait_for(lambda: common.ready_of(st, avro, INST, inc1), 60,
                                            "the restarted agent's READY")
    ok(second["incarnation"] > inc1, f"the restarted agent registered with a larger incarnation {second['incarnation']}")

    # the earlier process's stop, read late: its TERMINATED as an agent writes it, after the READY
    stale = dict(first)
    stale.update(kind="TERMINATED", reason="agent stopped", header=common.header("agent"),
                 at=int(time.time() * 1000))
    p, stale_off = common.produce_raw(st, "instances", INST.encode(), avro.encode("InstanceEvent", stale),
                                      partition=part)
    ok(p == part and stale_off > ready2_off, "the earlier incarnation's TERMINATED follows the new READY",
       (p, stale_off, ready2_off))

    def drained():
        for _, off, ev in common.instance_records(st, avro, INST):
            if ev["kind"] == "DRAIN_REQUESTED" and off > stale_off:
                return off
        return None
    got = st.wait("the provisioner to drain the idle instance", drained, timeout=IDLE_MS / 1000 + 40, every=1.0)
    ok(got, "the instance, idle past the delay, is drained after the stale TERMINATED (before: forgotten, never drained)")
    done = st.wait("the provisioner to terminate it once DRAINED",
                   lambda: f"terminated {INST}" in st.log_text("provisioner"), timeout=30, every=0.5)
    kinds = [ev["kind"] for _, off, ev in common.instance_records(st, avro, INST)
             if off > stale_off and ev["kind"] != "HEARTBEAT"]
    log(f"  {INST} after the stale TERMINATED (beats left out): {kinds}")
    ok("DRAINED" in kinds, "the scheduler confirmed the drain", kinds)
    ok(done, "the provisioner terminated it through the driver")
    launched = [e for e in st.instance_events(CE) if e["kind"] == "LAUNCHING"]
    ok(not launched, "nothing was launched beside it", launched)
    st.kill("agent", signal.SIGTERM)


if __name__ == "__main__":
    common.run_prov_test("prov-agent-restart", body, CE,
                         {"type": "EC2", "minvCpus": 0, "maxvCpus": 8, "instanceTypes": ["m5.large"]},
                         "--driver", "local", "--idle-delay-ms", str(IDLE_MS))
