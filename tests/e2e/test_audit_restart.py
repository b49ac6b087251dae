#!/usr/bin/st python3
"""test_audit_restart.py: `barge audit` against the real broker, stopped and killed mid-stream.

A producer thread writes events to barge.job-events (Kafka transactions, some aborted: their
records must never be audited, and their markers leave gaps in the offsets), barge.instances
(valid events and tombstones) and barge.scaling (bytes that are not Avro: recorded raw, with the
error) while `barge audit` runs over those topics:
  run 1 (group g1) is stopped with SIGTERM, run 2 (group g1) is killed with SIGKILL, run 3 uses
  a NEW group g2 (no committed offsets: the file alone says where to resume) and is stopped
  once everything is written.
Then: `barge audit verify` exits 0; the file's sequence numbers are 1..N; its (topic, partition,
offset) set is exactly the set of committed records of those topics (read independently), each
once; undecodable records and tombstones are recorded as such; and a copy of the real file with
one line removed fails verification at that line with exit status 1. Last, the topics are deleted
and made again (another, empty log behind the same file, as a new cluster would be): run 4 must
refuse to start (exit 1, naming the file and what to do) and leave the file as it was; with the
file moved aside, run 5 starts a new chain. Then the same file against a second Kafka cluster
whose logs are longer than the file's positions: the seal's cluster id differs, and run 6
refuses to start, naming both clusters."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

TOPICS = ("job-events", "instances", "scaling")


def lines_of(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


class Feeder(threading.Thread):
    """Writes `rounds` rounds of events, a little at a time."""

    def __init__(self, st, rounds):
        super().__init__(daemon=True)
        import confluent_kafka as ck
        self.env, self.rounds = st, rounds
        self.avro = common.Avro()
        self.plain = ck.Producer({"bootstrap.servers": st.brokers, "enable.idempotence": True, "acks": "all"})
        self.txn = ck.Producer({"bootstrap.servers": st.brokers, "transactional.id": f"feeder-{st.prefix}"})
        self.txn.init_transactions(30)
        self.error = None
        self.done = threading.Event()
        self.aborted = 0

    def job_event(self, i):
        return self.avro.encode("JobStateChange", {
            "header": common.header("e2e"), "jobId": f"job-{i}", "jobQueue": "q", "attempt": 1,
            "oldStatus": "RUNNABLE", "newStatus": "STARTING", "instanceId": f"i-{i % 3}",
            "computeEnvironment": "ce", "vcpus": 1, "memoryMib": 64, "at": int(time.time() * 1000)})

    def instance_event(self, i):
        return self.avro.encode("InstanceEvent", {
            "header": common.header("e2e"), "instanceId": f"i-{i % 3}", "computeEnvironment": "ce",
            "kind": "HEARTBEAT", "at": int(time.time() * 1000)})

    def run(self):
        try:
            for r in range(self.rounds):
                self.txn.begin_transaction()
                for k in range(4):
                    i = r * 4 + k
                    self.txn.produce(self.env.topic("job-events"), key=f"job-{i}".encode(), value=self.job_event(i))
                if r % 9 == 4:
                    self.txn.abort_transaction(30)
                    self.aborted += 4
                else:
                    self.txn.commit_transaction(30)
                self.plain.produce(self.env.topic("instances"), key=f"i-{r % 3}".encode(), value=self.instance_event(r))
                if r % 7 == 0:
                    self.plain.produce(self.env.topic("instances"), key=f"gone-{r}".encode(), value=None)
                if r % 5 == 0:
                    self.plain.produce(self.env.topic("scaling"), key=b"ce", value=b"\x00not avro " + bytes([r % 256]))
                self.plain.poll(0)
                time.sleep(0.05)
            if self.plain.flush(30):
                raise RuntimeError("undelivered messages")
        except Exception as e:  # noqa: BLE001
            self.error = e
        finally:
            self.done.set()


def hold_group(st, group):
    """An open transaction that commits offsets for group on every partition of TOPICS: until it
    ends, the coordinator answers the group's committed offsets with UNSTABLE_OFFSET_COMMIT."""
    import confluent_kafka as ck
    p = ck.Producer({"bootstrap.servers": st.brokers, "transactional.id": f"hold-{st.prefix}",
                     "transaction.timeout.ms": 600000})
    p.init_transactions(30)
    p.begin_transaction()
    meta = ck.Consumer({"bootstrap.servers": st.brokers, "group.id": group})
    tps = []
    for t in TOPICS:
        name = st.topic(t)
        tps += [ck.TopicPartition(name, n, 0) for n in meta.list_topics(name, timeout=30).topics[name].partitions]
    p.send_offsets_to_transaction(tps, meta.consumer_group_metadata(), 30)
    meta.close()
    return p


def replaced_log(st, out, audit, verify, nlines):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": st.brokers})
    names = [st.topic(t) for t in TOPICS]
    for f in admin.delete_topics(names, operation_timeout=30).values():
        f.result()
    common.wait_for(lambda: not set(names) & set(admin.list_topics(timeout=10).topics), 60, "the topics to be deleted")

    def made_again():
        return st.run("init", "--brokers", st.brokers, "--topic-prefix", st.prefix, check=False).returncode == 0 and \
            all(admin.list_topics(n, timeout=10).topics[n].error is None for n in names)
    common.wait_for(made_again, 90, "the topics to be made again", interval=1)
    common.produce_raw(st, "scaling", b"ce", b"\x00after the new log")
    # the group's coordinator keeps its committed offsets from it meanwhile (an open transaction
    # that commits offsets for the group: UNSTABLE_OFFSET_COMMIT until it ends), as a slow one
    # would: the file's positions need none of them, and the refusal must not wait for them
    group = f"audit3-{st.prefix}"
    held = hold_group(st, group)
    t0 = time.time()
    audit("run4", group)
    try:
        common.wait_for(lambda: st.procs["run4"].poll() is not None, 60, "run 4 to refuse to start")
    except TimeoutError:
        st.kill("run4", signal.SIGTERM)
        held.abort_transaction(30)
        ok(False, "against a replaced log the audit service refuses to start at once (it ran on, auditing nothing, "
           "or waited for its group's coordinator)", st.log_tail("run4", 5))
        return
    held.abort_transaction(30)
    text = st.log_tail("run4", 20)
    ok(st.procs["run4"].returncode == 1 and "not the one the file was written from" in text and out in text
       and "aside" in text,
       f"against a replaced log it exits 1 within {time.time() - t0:.0f} s, naming the file and what to do", text)
    v = verify(out)
    ok(lines_of(out) == nlines and v.returncode == 0, "the file is left as it was and still verifies",
       (lines_of(out), nlines, v.stdout))
    moved = out + ".old"
    os.rename(out, moved)
    os.rename(out + ".seal", moved + ".seal")
    audit("run5", f"audit3-{st.prefix}")
    try:
        common.wait_for(lambda: lines_of(out) >= 1, 60, "run 5 to audit the new log into a new file")
    except TimeoutError as e:
        ok(False, str(e), st.log_tail("run5"))
    st.kill("run5", signal.SIGTERM)
    ok(lines_of(out) >= 1 and verify(out).returncode == 0 and verify(moved).returncode == 0,
       "with the old file moved aside a new chain starts, and both files verify")


def other_cluster(st, out, key, verify):
    """The same file against another Kafka cluster whose logs are longer than the file's positions
    (the shorter-log check cannot tell): the seal's cluster id does; the audit refuses to start."""
    import own_kafka
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient
    with open(out + ".seal") as f:
        sealed = json.load(f).get("cluster")
    ok(sealed, "the seal records the Kafka cluster's id", sealed)
    kdir = os.path.join(st.home, "kafka-other")
    try:
        r = own_kafka.kafka_sh("start", "--dir", kdir)
        if not ok(r.returncode == 0, "a second Kafka cluster starts", r.stderr[-1000:]):
            return
        with open(os.path.join(kdir, "bootstrap")) as f:
            other = f.read().strip()
        st.run("init", "--brokers", other, "--topic-prefix", st.prefix)
        admin = AdminClient({"bootstrap.servers": other})
        p = Producer({"bootstrap.servers": other})
        for t in TOPICS:
            name = st.topic(t)
            for part in admin.list_topics(name, timeout=30).topics[name].partitions:
                for i in range(20):  # longer than anything the file holds
                    p.produce(name, key=b"x", value=b"\x00longer", partition=part)
        p.flush(30)
        n = lines_of(out)
        st.start("run6", "audit", "--out", out, "--hmac-key-file", key, "--topics", ",".join(TOPICS), "--group",
                 f"audit6-{st.prefix}", "--flush-ms", "100", "--brokers", other, "--topic-prefix", st.prefix)
        try:
            common.wait_for(lambda: st.procs["run6"].poll() is not None, 60, "run 6 to refuse to start")
        except TimeoutError:
            st.kill("run6", signal.SIGTERM)
        text = st.log_tail("run6", 20)
        ok(st.procs["run6"].returncode == 1 and "Kafka cluster" in text and sealed in text and "aside" in text,
           "against another cluster with longer logs it exits 1, naming both clusters and what to do", text)
        ok(lines_of(out) == n and verify(out).returncode == 0, "the file is left as it was and still verifies")
    finally:
        own_kafka.kafka_sh("stop", "--dir", kdir, timeout=120)


def main():
    st = common.Stack("audit")
    try:
        st.init()
        key = os.path.join(st.home, "audit.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32).hex().encode() + b"\n")
        out = os.path.join(st.home, "audit.jsonl")
        log(f"prefix {st.prefix}, file {out}")

        def audit(name, group):
            return st.start(name, "audit", "--out", out, "--hmac-key-file", key, "--topics", ",".join(TOPICS),
                             "--group", group, "--flush-ms", "100", "--brokers", st.brokers,
                             "--topic-prefix", st.prefix)

        def verify(path):
            return subprocess.run([common.BARGE, "audit", "verify", path, "--hmac-key-file", key],
                                  capture_output=True, text=True, timeout=120)

        feeder = Feeder(st, rounds=240)
        feeder.start()
        g1, g2 = f"audit1-{st.prefix}", f"audit2-{st.prefix}"

        audit("run1", g1)
        common.wait_for(lambda: lines_of(out) >= 100, 120, "run 1 to write 100 lines")
        st.kill("run1", signal.SIGTERM)
        ok(st.procs["run1"].returncode == 0, "run 1 stops on SIGTERM with exit 0", st.log_tail("run1"))
        n1 = lines_of(out)
        v = verify(out)
        ok(v.returncode == 0, f"after SIGTERM the file ({n1} lines) verifies", v.stdout + v.stderr)

        audit("run2", g1)
        common.wait_for(lambda: lines_of(out) >= n1 + 150, 120, "run 2 to write 150 more lines")
        st.kill("run2", signal.SIGKILL)
        n2 = lines_of(out)
        log(f"run 2 killed at {n2} lines")

        common.wait_for(lambda: feeder.done.is_set(), 180, "the feeder to finish")
        ok(feeder.error is None, "the feeder wrote everything", feeder.error)
        expected = {}
        for t in TOPICS:
            for r in common.read_topic(st, t, timeout=60):
                expected[(st.topic(t), r["partition"], r["offset"])] = r
        log(f"{len(expected)} committed records in {TOPICS} ({feeder.aborted} aborted job events)")

        audit("run3", g2)  # a new group: the file alone says where each partition resumes
        try:
            common.wait_for(lambda: lines_of(out) >= len(expected), 180, "run 3 to catch up")
        except TimeoutError as e:
            ok(False, str(e), st.log_tail("run3"))
        time.sleep(1)  # anything beyond would be a duplicate: give it the chance to appear
        st.kill("run3", signal.SIGTERM)
        ok(st.procs["run3"].returncode == 0, "run 3 stops on SIGTERM with exit 0", st.log_tail("run3"))
        ok("resumed from the file" in st.log_tail("run3", 50), "run 3 resumed from the file", st.log_tail("run3", 5))

        v = verify(out)
        ok(v.returncode == 0 and "intact" in v.stdout, "barge audit verify: the whole file is intact", v.stdout + v.stderr)
        with open(out) as f:
            recs = [json.loads(line) for line in f]
        ok([r["seq"] for r in recs] == list(range(1, len(recs) + 1)), "sequence numbers run 1..N without a gap")
        seen = [(r["topic"], r["partition"], r["offset"]) for r in recs]
        dups = len(seen) - len(set(seen))
        ok(dups == 0, "no record is written twice", dups)
        missing = set(expected) - set(seen)
        extra = set(seen) - set(expected)
        ok(not missing, "no committed record is missing", sorted(missing)[:5])
        ok(not extra, "nothing else (no aborted record) is in the file", sorted(extra)[:5])
        by = {(r["topic"], r["partition"], r["offset"]): r for r in recs}
        undecodable = [r for r in recs if r["type"] == "undecodable"]
        ok(undecodable and all(r.get("raw") and r.get("error") and r["event"] is None for r in undecodable),
           f"{len(undecodable)} undecodable records kept raw, with the error", undecodable[:1])
        tomb = [r for r in recs if r["type"] == "tombstone"]
        ok(tomb and all(r["event"] is None for r in tomb), f"{len(tomb)} tombstones recorded")
        sample = next((k for k in expected if k[0] == st.topic("job-events")), None)
        ok(sample and by[sample]["type"] == "barge.JobStateChange" and by[sample]["event"]["jobId"].startswith("job-"),
           "job events are decoded", by.get(sample))
        ok(all(r["prev"] == "0" * 64 for r in recs[:1]), "the chain starts at the zero hash")

        # -- tampering with the real file: one line removed in the middle
        cut = os.path.join(st.home, "cut.jsonl")
        k = len(recs) // 2
        with open(out) as f, open(cut, "w") as g:
            for i, line in enumerate(f, 1):
                if i != k:
                    g.write(line)
        shutil.copy(out + ".seal", cut + ".seal")
        v = verify(cut)
        ok(v.returncode == 1 and f"line {k}:" in v.stdout, f"a line removed at {k}: verify exits 1 and names line {k}",
           (v.returncode, v.stdout))

        # -- another Kafka log behind the same file: the topics deleted and made again (as a new,
        # empty cluster would be). Resuming would wait for offsets the new log has not reached and
        # audit nothing while looking healthy; the service must refuse, naming the file.
        replaced_log(st, out, audit, verify, len(recs))
        other_cluster(st, out, key, verify)
    finally:
        st.close()
    common.finish()


if __name__ == "__main__":
    random.seed()
    main()
