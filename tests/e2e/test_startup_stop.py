#!/usr/bin/env python3
"""test_startup_stop.py: services stopped by SIGTERM while their start-up waits on a broker that answers.

A transaction that commits offsets for a consumer group (sendOffsetsToTransaction) and stays open
makes the group coordinator answer that group's committed offsets with UNSTABLE_OFFSET_COMMIT
until the transaction ends: a service whose input group it is waits in its start-up (reading the
group's committed offsets, retried up to a minute). Here the transaction holds the groups of the
audit, accounting, scheduler, provisioner and an agent on barge.instances, barge.capacity and
barge.placements, and each of them is started. Once they have waited a few seconds, SIGTERM must stop each within 5 s with exit
status 0 (a stop, as at any other time) and a line saying it stopped while starting. They used to
run the minute out, ignoring the signal, and exit 1 ("reading committed offsets: Local: Timed out")."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def main():
    import confluent_kafka as ck
    st = common.Stack("startstop")
    held = None
    try:
        st.init()
        key = os.path.join(st.home, "audit.key")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        audit_group, acct_group = f"audit-{st.prefix}", f"acct-{st.prefix}"
        groups = {audit_group: "instances", acct_group: "instances", "barge-scheduler": "instances",
                  "barge-provisioner": "capacity", "barge-agent-i-held": "placements"}
        held = ck.Producer({"bootstrap.servers": st.brokers, "transactional.id": f"hold-{st.prefix}",
                            "transaction.timeout.ms": 600000})
        held.init_transactions(30)
        held.begin_transaction()
        for group, base in groups.items():
            meta = ck.Consumer({"bootstrap.servers": st.brokers, "group.id": group})
            parts = meta.list_topics(st.topic(base), timeout=30).topics[st.topic(base)].partitions
            held.send_offsets_to_transaction([ck.TopicPartition(st.topic(base), p, 0) for p in parts],
                                             meta.consumer_group_metadata(), 30)
            meta.close()
        log(f"a transaction holds the committed offsets of {sorted(groups)}")

        common_args = ["--brokers", st.brokers, "--topic-prefix", st.prefix]
        st.start("audit", "audit", "--out", os.path.join(st.home, "audit.jsonl"), "--hmac-key-file", key,
                 "--topics", "instances", "--group", audit_group, *common_args)
        st.start("accounting", "accounting", "--group", acct_group, *common_args)
        st.scheduler()
        st.provisioner()
        st.agent("i-held", name="agent")
        names = ["audit", "accounting", "scheduler", "provisioner", "agent"]
        time.sleep(8)
        for n in names:
            ok(st.alive(n) and not any(w in st.log_text(n) for w in (" running ", "auditing", "ready:")),
               f"{n} is still in its start-up after 8 s (the held group)", st.log_tail(n, 5))
        for n in names:
            st.procs[n].send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        for n in names:
            p = st.procs[n]
            try:
                p.wait(max(0.1, t0 + 5 - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            took = time.monotonic() - t0
            rc = p.poll()
            if rc is None:
                p.kill()
                p.wait()
            st.stopped.add(n)
            ok(rc == 0 and "stopped while starting" in st.log_text(n),
               f"{n}: SIGTERM during the start-up stops it with exit 0 within 5 s ({took:.1f} s, status {rc})",
               st.log_tail(n, 5))
    finally:
        if held is not None:
            try:
                held.abort_transaction(30)
            except Exception as e:  # noqa: BLE001
                log(f"aborting the held transaction: {e}")
        st.close()
    common.finish()


if __name__ == "__main__":
    main()
