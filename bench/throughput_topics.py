#!/usr/bin/env python3
"""throughput_topics.py: records and bytes per job on each Kafka topic, for bench/throughput.sh.

    throughput_topics.py snapshot --brokers B --out FILE
        the end offset of every topic's partitions (Barge's, and the broker's own
        __consumer_offsets and __transaction_state).
    throughput_topics.py report --brokers B --data DIR --before F1 --after F2 --jobs N
        a Markdown table of what was written between the two snapshots, divided by N, from the
        broker's segment files under DIR (log.dirs of the broker bench/throughput.sh started)
        and from reading the records back:
        - offsets: the end offsets' growth: data records plus transaction markers;
        - markers: the control records in that range (every transaction writes one commit or
          abort marker to each partition it touched); data records = offsets - markers;
        - payload B: key + value bytes of those records;
        - log B: their record batches on disk (headers included, after compression).
        Below the table: the transactions completed in the range, counted from the broker's
        transaction log (one CompleteCommit or CompleteAbort record per transaction).
        A topic marked * was compacted by the broker's log cleaner during the run: its counts
        stay exact, the bytes of the records the cleaner removed are estimated from those kept.

Reading back happens after the timed run (the stack stopped, the broker still up), so it does
not disturb the measurement. See docs/benchmarks.md.
"""
import argparse
import glob
import json
import os
import struct
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient


def snapshot(brokers):
    admin = AdminClient({"bootstrap.servers": brokers})
    md = admin.list_topics(timeout=30)
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-{uuid.uuid4()}",
                  "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    out = {}
    try:
        for name, t in sorted(md.topics.items()):
            for p in sorted(t.partitions):
                _, hi = c.get_watermark_offsets(TopicPartition(name, p), timeout=30, cached=False)
                out[f"{name}/{p}"] = hi
    finally:
        c.close()
    return out


# Kafka's record batch header (the on-disk and wire format, magic 2): baseOffset int64,
# batchLength int32 (the bytes after this field), partitionLeaderEpoch int32, magic int8, crc
# uint32, attributes int16 (bit 5: a control batch, i.e. a transaction marker), lastOffsetDelta
# int32, timestamps, producer id/epoch, baseSequence, then the record count int32 at byte 57.
BATCH_HEADER = 61
CONTROL_BIT = 0x20


def scan_segments(data, topic, part, lo, hi):
    """What the partition's segment files hold of offsets [lo, hi): (data records, control
    records, data batch bytes). Control batches survive compaction until delete.retention.ms
    (a day by default) has passed, so the control count is exact right after a run."""
    nd = nc = size = 0
    for path in sorted(glob.glob(os.path.join(data, f"{topic}-{part}", "*.log"))):
        with open(path, "rb") as f:
            buf = f.read()
        pos = 0
        while pos + BATCH_HEADER <= len(buf):
            base, length = struct.unpack_from(">qi", buf, pos)
            if length <= 0 or pos + 12 + length > len(buf):
                break  # the end of what is written so far
            (attrs,) = struct.unpack_from(">h", buf, pos + 21)
            (count,) = struct.unpack_from(">i", buf, pos + 57)
            if lo <= base < hi:
                if attrs & CONTROL_BIT:
                    nc += count
                else:
                    nd += count
                    size += 12 + length
            pos += 12 + length
    return nd, nc, size


# Kafka's transaction log (__transaction_state) values: a 2-byte version, then ProducerId (8),
# ProducerEpoch (2), TransactionTimeoutMs (4) and TransactionStatus (1 byte) at offset 16, in every
# version; status 4 is CompleteCommit, 5 CompleteAbort: one such record per finished transaction.
TXN_STATUS_AT, TXN_COMPLETE_COMMIT, TXN_COMPLETE_ABORT = 16, 4, 5


def key_name(key):
    """The string a __consumer_offsets or __transaction_state key names (every key version starts
    with an int16 version, then the group or transactional id as an int16-length string)."""
    if not key or len(key) < 4:
        return "?"
    n = int.from_bytes(key[2:4], "big")
    return key[4:4 + n].decode(errors="replace")


def group_of(key):
    """The consumer group of a __consumer_offsets key; agents' groups are counted together."""
    g = key_name(key)
    return "barge-agent-*" if g.startswith("barge-agent-") else g


def txn_owner(key):
    """The owner of a __transaction_state key (its transactional id), the agents' and the topic
    prefixes' counted together."""
    t = key_name(key)
    for base in ("barge-scheduler", "barge-provisioner", "barge-accounting", "barge-agent"):
        if t.startswith(base):
            return base + ("-*" if base == "barge-agent" else "")
    return t


def tally(m, r, txns, groups):
    """Adds record m to r ([records, key+value bytes]); with txns (a dict), counts a completed
    transaction of __transaction_state into txns["commit"/"abort"] and txns["by"]; with groups
    (a dict), a record of __consumer_offsets by consumer group."""
    v = m.value() or b""
    r[0] += 1
    r[1] += len(m.key() or b"") + len(v)
    if groups is not None:
        g = group_of(m.key())
        groups[g] = groups.get(g, 0) + 1
    if txns is not None and len(v) > TXN_STATUS_AT:
        st = v[TXN_STATUS_AT]
        if st in (TXN_COMPLETE_COMMIT, TXN_COMPLETE_ABORT):
            txns["commit" if st == TXN_COMPLETE_COMMIT else "abort"] += 1
            if st == TXN_COMPLETE_COMMIT:
                owner = txns.setdefault("by", {})
                o = txn_owner(m.key())
                owner[o] = owner.get(o, 0) + 1


def read_ranges(c, ranges, txns, groups):
    """{(topic, part): [records, key+value bytes]} of each partition's offsets [lo, hi) in ranges
    ({(topic, part): (lo, hi)}), all partitions assigned at once: librdkafka starts fetching
    about a second after each new assignment, so reading them one by one cost a second each.
    The completed transactions of __transaction_state are counted into txns, the records of
    __consumer_offsets by consumer group into groups."""
    out = {k: [0, 0] for k in ranges}
    left = {k for k, (lo, hi) in ranges.items() if hi > lo}
    if not left:
        return out
    c.assign([TopicPartition(t, p, ranges[(t, p)][0]) for t, p in sorted(left)])
    progress = time.monotonic()
    while left and time.monotonic() - progress < 10:  # 10 s without a record of theirs: give up on them
        for m in c.consume(num_messages=10000, timeout=0.1):
            k = (m.topic(), m.partition())
            if k not in left:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:  # nothing more up to hi
                    left.discard(k)
                continue
            progress = time.monotonic()
            if m.offset() >= ranges[k][1]:
                left.discard(k)
                continue
            tally(m, out[k], txns if k[0] == "__transaction_state" else None,
                  groups if k[0] == "__consumer_offsets" else None)
            if m.offset() >= ranges[k][1] - 1:
                left.discard(k)
    return out


def count(brokers, data, before, after):
    """Per topic: offsets, markers, data records, and the data still on disk and read back."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-{uuid.uuid4()}",
                  "enable.auto.commit": False, "isolation.level": "read_uncommitted",
                  "enable.partition.eof": True})
    rows = {}
    txns = {"commit": 0, "abort": 0}
    groups = {}
    try:
        ranges = {}
        for key, hi in after.items():
            topic, part = key.rsplit("/", 1)
            ranges[(topic, int(part))] = (before.get(key, 0), hi)
        read = read_ranges(c, ranges, txns, groups)
        for (topic, part), (lo, hi) in sorted(ranges.items()):
            kept, markers, log = scan_segments(data, topic, part, lo, hi)
            n, size = read[(topic, part)]
            r = rows.setdefault(topic, {"offsets": 0, "markers": 0, "kept": 0, "log": 0, "read": 0,
                                        "payload": 0})
            for k, v in (("offsets", hi - lo), ("markers", markers), ("kept", kept), ("log", log),
                         ("read", n), ("payload", size)):
                r[k] += v
    finally:
        c.close()
    return rows, txns, groups


def report(brokers, data, before, after, jobs):
    rows, txns, groups = count(brokers, data, before, after)
    print(f"Records and bytes written per job ({jobs} jobs), by topic:\n")
    print("| topic | offsets/job | data records/job | markers/job | payload B/job | log B/job |")
    print("|---|---:|---:|---:|---:|---:|")
    tot = {"offsets": 0, "data": 0, "markers": 0, "payload": 0.0, "log": 0.0}
    estimated = False
    for topic, r in sorted(rows.items()):
        if not r["offsets"]:
            continue
        d = r["offsets"] - r["markers"]  # exact: offsets are data records or markers
        # records the log cleaner already removed: their bytes are estimated from the kept ones
        est = r["kept"] < d
        payload = r["payload"] * d / r["read"] if est and r["read"] else r["payload"]
        log = r["log"] * d / r["kept"] if est and r["kept"] else r["log"]
        estimated |= est
        for k, v in (("offsets", r["offsets"]), ("data", d), ("markers", r["markers"]),
                     ("payload", payload), ("log", log)):
            tot[k] += v
        mark = " *" if est else ""
        print(f"| {topic}{mark} | {r['offsets'] / jobs:.2f} | {d / jobs:.2f} | {r['markers'] / jobs:.2f} | "
              f"{payload / jobs:.0f} | {log / jobs:.0f} |")
    print(f"| **all topics** | {tot['offsets'] / jobs:.2f} | {tot['data'] / jobs:.2f} | "
          f"{tot['markers'] / jobs:.2f} | {tot['payload'] / jobs:.0f} | {tot['log'] / jobs:.0f} |")
    print(f"\nTransactions completed (from __transaction_state): {txns['commit']} committed "
          f"({txns['commit'] / jobs:.2f} per job), {txns['abort']} aborted" +
          ("; committed by " + ", ".join(f"{o} {n}" for o, n in sorted(txns["by"].items(), key=lambda x: -x[1]))
           if txns.get("by") else "") + ".")
    if groups:
        print("\n__consumer_offsets records per job, by consumer group: " +
              ", ".join(f"{g} {n / jobs:.2f}" for g, n in sorted(groups.items(), key=lambda x: -x[1])) + ".")
    if estimated:
        print("\n\\* compacted by the log cleaner during the run: the record counts are exact, the "
              "bytes of the records it removed are estimated from those it kept")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("--brokers", required=True)
    s.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--brokers", required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--before", required=True)
    r.add_argument("--after", required=True)
    r.add_argument("--jobs", type=int, required=True)
    a = ap.parse_args()
    if a.cmd == "snapshot":
        snap = snapshot(a.brokers)
        with open(a.out, "w") as f:
            json.dump(snap, f)
    else:
        with open(a.before) as f:
            before = json.load(f)
        with open(a.after) as f:
            after = json.load(f)
        report(a.brokers, a.data, before, after, max(1, a.jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
