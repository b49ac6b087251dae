#!/usr/bin/env python3
"""throughput_topics.py: records and bytes per job on each Kafka topic, for bench/throughput.sh.

    throughput_topics.py snapshot --brokers B --data DIR --out FILE
        every topic's partitions (Barge's and the broker's own __consumer_offsets and
        __transaction_state): the end offset, and the bytes of its log segments under the broker's
        data directory DIR (log.dirs of the broker bench/throughput.sh started).
    throughput_topics.py report --brokers B --data DIR --before F1 --after F2 --jobs N
        a Markdown table of what was written between the two snapshots, divided by N:
        - offsets: the end offsets' growth: data records plus transaction markers (every
          transaction writes one commit or abort marker to each partition it touched);
        - data: the records read back in that offset range (read_uncommitted, so aborted ones
          count too); markers = offsets - data;
        - payload B: key + value bytes of those records;
        - log B: the growth of the partition's segment files on disk (record batches with their
          headers, after compression).
        A topic marked * was compacted by the broker's log cleaner during the run: records it
        removed are missing from data and payload (and counted as markers), and its log bytes
        shrank; its offsets column is still exact.

Reading back happens after the timed run (the stack stopped, the broker still up), so it does
not disturb the measurement. See docs/benchmarks.md.
"""
import argparse
import glob
import json
import os
import sys
import uuid

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient


def log_bytes(data, topic, part):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(data, f"{topic}-{part}", "*.log")))


def snapshot(brokers, data):
    admin = AdminClient({"bootstrap.servers": brokers})
    md = admin.list_topics(timeout=30)
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-{uuid.uuid4()}",
                  "enable.auto.commit": False, "isolation.level": "read_uncommitted"})
    out = {}
    try:
        for name, t in sorted(md.topics.items()):
            for p in sorted(t.partitions):
                _, hi = c.get_watermark_offsets(TopicPartition(name, p), timeout=30, cached=False)
                out[f"{name}/{p}"] = {"end": hi, "log_bytes": log_bytes(data, name, p)}
    finally:
        c.close()
    return out


def cleaned_since(data, topic, part, offset):
    """True when the log cleaner's checkpoint says it cleaned this partition past offset."""
    try:
        with open(os.path.join(data, "cleaner-offset-checkpoint")) as f:
            for line in f.read().splitlines()[2:]:
                w = line.split()
                if len(w) == 3 and w[0] == topic and int(w[1]) == part and int(w[2]) > offset:
                    return True
    except OSError:
        pass
    return False


def read_range(c, topic, part, lo, hi):
    """(records, key+value bytes) of topic/part in offsets [lo, hi)."""
    if hi <= lo:
        return 0, 0
    c.assign([TopicPartition(topic, part, lo)])
    n = size = 0
    idle = 0
    while idle < 100:  # 10 s without a record: give up on this partition
        msgs = c.consume(num_messages=10000, timeout=0.1)
        if not msgs:
            idle += 1
            continue
        idle = 0
        last = -1
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:  # nothing more up to hi
                    return n, size
                continue
            last = m.offset()
            if last >= hi:
                break
            n += 1
            size += len(m.key() or b"") + len(m.value() or b"")
        if last >= hi - 1:
            break
    return n, size


def report(brokers, data, before, after, jobs):
    c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-{uuid.uuid4()}",
                  "enable.auto.commit": False, "isolation.level": "read_uncommitted",
                  "enable.partition.eof": True})
    rows = {}
    try:
        for key, a in sorted(after.items()):
            topic, part = key.rsplit("/", 1)
            b = before.get(key, {"end": 0, "log_bytes": 0})
            lo, hi = b["end"], a["end"]
            n, size = read_range(c, topic, int(part), lo, hi)
            r = rows.setdefault(topic, {"offsets": 0, "data": 0, "payload": 0, "log": 0, "cleaned": False})
            r["offsets"] += hi - lo
            r["data"] += n
            r["payload"] += size
            r["log"] += a["log_bytes"] - b["log_bytes"]
            r["cleaned"] |= cleaned_since(data, topic, int(part), lo)
    finally:
        c.close()
    print(f"Records and bytes written per job ({jobs} jobs), by topic:\n")
    print("| topic | offsets/job | data records/job | markers/job | payload B/job | log B/job |")
    print("|---|---:|---:|---:|---:|---:|")
    tot = {"offsets": 0, "data": 0, "payload": 0, "log": 0}
    for topic, r in sorted(rows.items()):
        if not r["offsets"]:
            continue
        for k in tot:
            tot[k] += r[k]
        mark = " *" if r["cleaned"] else ""
        print(f"| {topic}{mark} | {r['offsets'] / jobs:.2f} | {r['data'] / jobs:.2f} | "
              f"{(r['offsets'] - r['data']) / jobs:.2f} | {r['payload'] / jobs:.0f} | {r['log'] / jobs:.0f} |")
    print(f"| **all topics** | {tot['offsets'] / jobs:.2f} | {tot['data'] / jobs:.2f} | "
          f"{(tot['offsets'] - tot['data']) / jobs:.2f} | {tot['payload'] / jobs:.0f} | {tot['log'] / jobs:.0f} |")
    if any(r["cleaned"] for r in rows.values()):
        print("\n\\* compacted by the log cleaner during the run: data, payload and log bytes undercount")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("--brokers", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--brokers", required=True)
    r.add_argument("--data", required=True)
    r.add_argument("--before", required=True)
    r.add_argument("--after", required=True)
    r.add_argument("--jobs", type=int, required=True)
    a = ap.parse_args()
    if a.cmd == "snapshot":
        snap = snapshot(a.brokers, a.data)
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
