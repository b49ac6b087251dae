#!/usr/bin/env python3
"""test_instances_agent_restart.py: the readers of barge.instances other than the scheduler and the
provisioner (`barge instances`, `barge usage` and `barge accounting`, `barge check`) ignore an older
agent incarnation's late TERMINATED (docs/architecture.md "Agent incarnations", docs/accounting.md
"Agent restarts").

An agent of a MANAGED compute environment registers and the provisioner adopts its instance. The
agent is SIGKILLed and started again with the same instance id (a new, larger incarnation); once its
READY is on barge.instances, the TERMINATED its earlier process writes when it stops late is put on
the same partition of the real broker after it. The agent beats every 20 s, so nothing of the new
incarnation follows the stale TERMINATED for a while. Before, every one of these readers took it:
`barge instances` left the running instance out (terminated), and accounting ended its life at the
TERMINATED (`barge usage` and barge.usage short by the time since). Now the instance is shown ready,
its life runs on, and `barge check` (which computes the instances' life itself) agrees with
barge.usage."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402

CE = "ce-vinc"
INST = "i-0a6e0000000000c02"
BEAT_MS = 20000  # no beat of the new incarnation follows the stale TERMINATED for this long


def ce_usage(st):
    """barge.usage's latest COMPUTE_ENVIRONMENT record of CE, or None."""
    avro, last = common.Avro(), None
    for m in common.read_topic(st, "usage"):
        if m["key"] == f"ce:{CE}".encode() and m["value"] is not None:
            last = avro.decode(m["value"])[1]
    return last


def body(st):
    avro = common.Avro()
    kafka = ["--brokers", st.brokers, "--topic-prefix", st.prefix]
    st.start("accounting", "accounting", *kafka, "--group", f"acct-{st.prefix}", "--settle-lag-ms", "500",
             "--publish-ms", "300")
    st.agent(INST, ce=CE, name="agent", vcpus=2, memory=2048, heartbeat_ms=BEAT_MS)
    part, _, first = common.wait_for(lambda: common.ready_of(st, avro, INST), 60, "the agent's READY")
    inc1, born = first["incarnation"], first["at"]
    ok(inc1 > 0, f"the agent registered with incarnation {inc1}")
    st.kill("agent", signal.SIGKILL)
    st.agent(INST, ce=CE, name="agent", vcpus=2, memory=2048, heartbeat_ms=BEAT_MS)
    _, ready2_off, second = common.wait_for(lambda: common.ready_of(st, avro, INST, inc1), 60,
                                            "the restarted agent's READY")
    ok(second["incarnation"] > inc1, f"the restarted agent registered with a larger incarnation {second['incarnation']}")

    # the earlier process's stop, read late: its TERMINATED as an agent writes it, after the READY
    stale = dict(first)
    stale_at = int(time.time() * 1000)
    stale.update(kind="TERMINATED", reason="agent stopped", header=common.header("agent"), at=stale_at)
    p, stale_off = common.produce_raw(st, "instances", INST.encode(), avro.encode("InstanceEvent", stale),
                                      partition=part)
    ok(p == part and stale_off > ready2_off, "the earlier incarnation's TERMINATED follows the new READY",
       (p, stale_off, ready2_off))

    # barge instances: still there, ready (before: left out as terminated until the next beat)
    rows = {r["instanceId"]: r for r in st.instances(CE, all_=True)}
    ok(rows.get(INST, {}).get("state") == "ready", "barge instances shows the instance ready", rows.get(INST))
    ok(INST in {r["instanceId"] for r in st.instances(CE)}, "... and lists it among the live instances")

    # barge usage: its life runs on past the stale TERMINATED, from its first READY to --until
    until = stale_at + 3000
    time.sleep(max(0.0, (until - time.time() * 1000) / 1000) + 0.5)
    beats = [ev for _, off, ev in common.instance_records(st, avro, INST) if off > stale_off and ev["at"] < until]
    ok(not beats, "no event of the instance lies between the stale TERMINATED and --until", beats)
    out = json.loads(st.run("usage", "--by", "ce", "--format", "json", "--until", str(until)).stdout)
    row = {r["computeEnvironment"]: r for r in out["rows"]}.get(CE, {})
    want = (until - born) / 1000
    ok(abs(row.get("instanceSeconds", 0) - want) < 0.002,
       f"barge usage: the instance was up {want:.3f} s, from its first READY to --until (before: "
       f"{(stale_at - born) / 1000:.3f} s, ended at the stale TERMINATED)", row)

    # barge accounting: barge.usage's running total past the stale TERMINATED counts the same life
    def published():
        u = ce_usage(st)
        return u if u and u["until"] > stale_at + 2000 else None
    u = st.wait("accounting to publish past the stale TERMINATED", published, timeout=30, every=0.5)
    ok(u is not None and abs(u["instanceSeconds"] - (u["until"] - born) / 1000) < 0.002,
       "barge.usage: the instance up from its first READY to the record's until", u)

    # barge check: its own computation of the instances' life agrees with barge.usage
    r = st.run("check", "--json", "--no-audit", check=False, timeout=300)
    try:
        rep = json.loads(r.stdout)
    except json.JSONDecodeError:
        rep = {}
    ok(r.returncode == 0 and rep.get("ok") is True and not rep.get("violations"), "barge check finds no violation",
       (r.returncode, rep.get("violations"), r.stderr[-500:]))
    st.kill("accounting", signal.SIGTERM)
    st.kill("agent", signal.SIGTERM)


if __name__ == "__main__":
    common.run_prov_test("instances-agent-restart", body, CE,
                         {"type": "EC2", "minvCpus": 0, "maxvCpus": 8, "instanceTypes": ["m5.large"]},
                         "--driver", "local", "--idle-delay-ms", "600000",
                         sched_args=("--lost-after-ms", "120000"))
