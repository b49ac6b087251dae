#!/usr/bin/env python3
"""test_idle_commits.py: a transactional service whose batches write nothing (the agents'
heartbeats on barge.instances, say) commits their input positions at most every few seconds,
not a transaction per batch (lib/service.h, SERVICE_OFFSETS_EVERY_MS; docs/architecture.md,
"Throughput").

Scheduler and provisioner (each with --metrics-port) and two agents heartbeating every 200 ms,
so that both services take about ten input records a second while no job runs. Checks:
- over an idle window of IDLE seconds, the provisioner's barge_transactions_total grows by at most
  IDLE / 5 + 2 and the scheduler's by at most that plus its ticks (it writes one to barge.requests
  each --tick-ms, 2 s here, when idle: a transaction each), while barge.instances grew by far more records than that (one transaction per
  batch would make dozens);
- the positions are still committed: the scheduler's group's committed offset on barge.instances
  moves on during the window and ends at most about 5 s of heartbeats behind the topic's end;
- a job submitted after the idle window runs (its outputs commit with the carried positions), and
  after a SIGKILL of the scheduler in the middle of such an idle spell, the restarted scheduler
  runs the next job: re-reading the uncommitted heartbeats changes nothing."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

IDLE = 11  # seconds
HEARTBEAT_MS = 200
TICK_MS = 2000  # the scheduler writes a tick to barge.requests each --tick-ms when idle: a transaction


def txns(url):
    """barge_transactions_total at url."""
    return common.metrics_scrape(url)[("barge_transactions_total", ())]


def positions(st):
    """(committed offset of the scheduler's group on barge.instances, the topic's end)."""
    ck = common._kafka()
    c = ck.Consumer({"bootstrap.servers": st.brokers, "group.id": "barge-scheduler", "enable.auto.commit": False})
    try:
        tp = ck.TopicPartition(st.topic("instances"), 0)
        committed = c.committed([tp], timeout=15)[0].offset
        _, hi = c.get_watermark_offsets(tp, timeout=15)
        return committed, hi
    finally:
        c.close()


def run_one(st, name):
    jid = st.submit(name, "q1", "t")
    done = st.wait_terminal([jid], 120)
    return done[jid]["status"]


def body(st):
    st.init_queue("q1", "local")
    st.register("t", ["true"], vcpus=1, memory=64)
    st.scheduler("--metrics-port", "0", tick_ms=TICK_MS)
    st.provisioner("--metrics-port", "0")
    for i in (1, 2):
        st.agent(f"i-0000000000000e00{i}", heartbeat_ms=HEARTBEAT_MS)
    urls = {n: common.metrics_endpoint(st, n) for n in ("scheduler", "provisioner")}
    ok(run_one(st, "warm") == "SUCCEEDED", "a first job ran")

    time.sleep(2)
    before = {n: txns(u) for n, u in urls.items()}
    pos0 = positions(st)
    time.sleep(IDLE)
    after = {n: txns(u) for n, u in urls.items()}
    pos1 = positions(st)
    inputs = pos1[1] - pos0[1]
    log(f"over {IDLE} s idle: transactions {before} -> {after}; barge.instances grew by {inputs} offsets; "
        f"the scheduler's committed position {pos0[0]} -> {pos1[0]} (end {pos1[1]})")
    ok(inputs >= 40, f"the agents wrote heartbeats during the window ({inputs} offsets on barge.instances)")
    ticks = IDLE * 1000 // TICK_MS
    for n, most in (("scheduler", ticks + IDLE // 5 + 2), ("provisioner", IDLE // 5 + 2)):
        ok(after[n] - before[n] <= most,
           f"{n}: at most {most} transactions over {IDLE} s idle, not one per heartbeat batch",
           after[n] - before[n])
    ok(pos1[0] > pos0[0], "the scheduler's input positions are still committed while idle", (pos0, pos1))
    per_s = inputs / IDLE
    ok(pos1[1] - pos1[0] <= per_s * 6 + 5, "and at most about 5 s of heartbeats behind the end",
       (pos1, round(per_s, 1)))

    ok(run_one(st, "after-idle") == "SUCCEEDED", "a job submitted after the idle window ran")
    time.sleep(2)  # an idle spell: the scheduler holds heartbeats' positions not yet committed
    st.kill("scheduler")
    st.scheduler("--metrics-port", "0", tick_ms=TICK_MS)
    ok(run_one(st, "after-restart") == "SUCCEEDED", "after a SIGKILL while idle, the restarted scheduler runs a job")
    ok(st.alive("scheduler") and st.alive("provisioner"), "the scheduler and the provisioner are running")


if __name__ == "__main__":
    common.run_test("idlecommits", body, clean_stop=True)
