#!/usr/bin/env python3
"""test_status_lag.py: `barge status` counts an agent's lag from where the agent started reading
(docs/operations.md, "barge status"). An agent starts a new consumer group (its instance id is new
at every `barge up`, and at every launch of the local driver) at the end of barge.placements;
until it was placed something, its group had no committed offset, and the LAG column counted the
whole history of barge.placements as still to read: thousands on an idle agent of a stack that
had run jobs, for good if nothing was placed on it. A stack runs 5 jobs on one agent, is stopped
and started again (the same topics, a new agent): its agent's LAG must be 0 or 1 (a transaction
marker), and its group must have committed the end it started at. Then a MANAGED compute
environment is listed with its provisioner's heartbeat until it is deleted, and `barge status`
with no Kafka broker answering still lists the services (each lag unknown) and exits 1."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

UP = ("--agents", "1", "--no-provisioner", "--no-accounting", "--no-audit", "--no-api", "--no-metrics", "--tick-ms", "200")


def agent_lags(st):
    out = st.run("status", check=False).stdout
    return {x.split()[1]: x.split()[5] for x in out.splitlines() if x.startswith("agent i-")}, out


def body(st):
    st.init()
    st.up(*[a for a in UP if a != "--no-provisioner"])  # a provisioner too, for the heartbeats below
    st.create_queue("q", "local")
    st.register("t", ["true"], settle=True)
    jobs = [st.submit(f"j{i}", "q", "t") for i in range(5)]
    done = st.wait_terminal(jobs, 90)
    ok(all(j["status"] == "SUCCEEDED" for j in done.values()), "5 jobs SUCCEEDED on the first stack's agent")
    first, _ = agent_lags(st)

    # a MANAGED compute environment is listed with its provisioner's heartbeat; once deleted it is
    # not (barge.scaling keeps its last heartbeat: it was listed INVALID for good)
    st.managed_ce("m", 1)

    def served():
        out = st.run("status", check=False).stdout
        return [x for x in out.splitlines() if x.startswith("  m ")] or None
    line = st.wait("barge status to list m served", served, timeout=30)
    ok(line and line[0].split()[1] == "VALID", "barge status lists the MANAGED m, VALID", line)
    st.run("update-compute-environment", "--compute-environment", "m", "--state", "DISABLED")
    st.wait("m DISABLED", lambda: st.describe_ce("m")["state"] == "DISABLED", timeout=30)
    st.run("delete-compute-environment", "--compute-environment", "m")
    st.wait("m deleted", lambda: not st.json("describe-compute-environments", "--compute-environments", "m")
            ["computeEnvironments"], timeout=30)
    out = st.run("status", check=False).stdout
    ok(not [x for x in out.splitlines() if x.startswith("  m ")], "once deleted, barge status lists m no more", out)
    st.down()
    end = sum(common.end_offsets(st, "placements").values())
    ok(end >= 5, f"barge.placements holds the 5 placements and their markers ({end} offsets)")

    st.up(*UP)
    lags, out = {}, ""

    def settled():
        nonlocal lags, out
        lags, out = agent_lags(st)
        new = {i: v for i, v in lags.items() if i not in first}
        # the agent commits its start right after it is listed: a status read in between still
        # counts the history, for that moment only
        return new if new and all(v.isdigit() and int(v) <= 1 for v in new.values()) else None
    new = st.wait("barge status to list the new stack's agent with a lag of 0 or 1", settled, timeout=30, every=1)
    log("  " + out.strip().replace("\n", "\n  "))
    ok(new, f"a new agent that was placed nothing has a lag of 0 or 1, not the {end} offsets before it",
       {i: v for i, v in lags.items() if i not in first})
    if new:
        from confluent_kafka import TopicPartition
        agent = next(iter(new))
        g = common._kafka().Consumer({"bootstrap.servers": st.brokers, "group.id": f"barge-agent-{agent}",
                                      "enable.auto.commit": False})
        got = g.committed([TopicPartition(st.topic("placements"), 0)], timeout=10)
        g.close()
        ok(got and got[0].offset == end, f"the new agent's group committed the end it started at ({end})",
           got and got[0].offset)

    # Kafka not answering (a port nobody listens on): the services are still listed, each lag
    # unknown, and the exit status says something is wrong (it used to print only "no Kafka broker
    # answers ... start one with `barge up`", of a stack that runs)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    p = st.run("status", "--brokers", dead, check=False, timeout=30)
    log("  " + p.stdout.strip().replace("\n", "\n  "))
    rows = [x.split() for x in p.stdout.splitlines() if x.startswith(("scheduler", "agent i-"))]
    ok(p.returncode == 1 and "no Kafka broker answers" in p.stderr and "(not answering)" in p.stdout,
       "barge status with Kafka not answering: exit 1, says so", (p.returncode, p.stderr))
    # (running, not up: this stack has no metrics endpoints, so readiness cannot be told)
    ok(len(rows) == 2 and all("running" in r and "unknown" in r for r in rows),
       "... and lists the scheduler and the agent running, their lag unknown", p.stdout)
    st.down()


if __name__ == "__main__":
    common.run_test("statuslag", body)
