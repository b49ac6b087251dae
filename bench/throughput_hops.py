#!/usr/bin/env python3
"""throughput_hops.py: where one array's tasks spend their round trip, from a stack's audit file
(docs/benchmarks.md, "Where a slot's round trip goes").

Every event Barge writes is in the audit file (`$BARGE_HOME/audit/events.jsonl`) with its Kafka
timestamp (the producer's clock when the record was produced). For each child of the array this
pairs the scheduler's STARTING transition, the placement record, the agent's execution report and
the scheduler's terminal transition, and prints p10/p50/p90/max of each hop:

  report produced -> placement produced   the scheduler: reading the agent's report, deciding,
                                          producing (the STARTING transition's `at` is the time of
                                          the input that freed the slot, so this is the whole hop)
  placement produced -> started           the scheduler's commit, the agent reading committed
                                          placements, the start itself
  started -> exited, exited -> report     the job itself, the agent's report
  report produced -> terminal produced    the scheduler again, for the job's own end
and the time from the parent's submission (its first event) to the first child's placement
(the array's expansion and the first decisions).

usage: bench/throughput_hops.py [--audit FILE] PARENT_JOB_ID
  --audit FILE   the audit file (default $BARGE_HOME/audit/events.jsonl, else ~/.barge/audit/events.jsonl)
Exit status: 0, 1 when no child of PARENT_JOB_ID is complete in the file, 2 on bad usage."""
import argparse
import collections
import json
import os
import sys


def quantiles(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        return "n=0"
    return f"n={n:<6} p10 {xs[n // 10]:5d} ms  p50 {xs[n // 2]:5d} ms  p90 {xs[9 * n // 10]:5d} ms  max {xs[-1]:6d} ms"


def read(path, prefix):
    """{child job id: {what: time}} from the audit file."""
    jobs = collections.defaultdict(dict)
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            topic = rec.get("topic", "").rsplit(".", 1)[-1]
            ev = rec.get("event")
            if not isinstance(ev, dict):
                continue
            jid = ev.get("jobId") or ((ev.get("body") or {}).get("Placement") or {}).get("jobId") or ""
            if topic == "job-events" and jid == prefix[:-1]:  # the parent itself
                jobs[""].setdefault("submitted", ev.get("at"))
                continue
            if not jid.startswith(prefix):
                continue
            j = jobs[jid]
            ts = rec.get("timestamp")
            if topic == "placements":
                j["placed"], j["instance"] = ts, ev.get("instanceId")
            elif topic == "executions":
                if ev.get("kind") == "STARTED":
                    j["started"] = ev.get("at")
                else:
                    j["exited"], j["reported"] = ev.get("at"), ts
                    if ev.get("startedAt"):  # a start folded into the end report
                        j["started"] = ev["startedAt"]
            elif topic == "job-events":
                if ev.get("newStatus") == "STARTING":
                    j["decided"] = ev.get("at")
                elif ev.get("newStatus") in ("SUCCEEDED", "FAILED"):
                    j["ended"] = ts
    return jobs


def main():
    ap = argparse.ArgumentParser(description="Where an array's tasks spend their round trip, from the audit file.")
    ap.add_argument("--audit", help="the audit file (default $BARGE_HOME/audit/events.jsonl)")
    ap.add_argument("parent", help="the array's parent job id")
    a = ap.parse_args()
    home = os.environ.get("BARGE_HOME") or os.path.join(os.path.expanduser("~"), ".barge")
    path = a.audit or os.path.join(home, "audit", "events.jsonl")
    try:
        jobs = read(path, a.parent + ":")
    except OSError as e:
        print(f"throughput_hops: {path}: {e.strerror}", file=sys.stderr)
        return 1
    need = ("decided", "placed", "started", "exited", "reported", "ended")
    parent = jobs.pop("", {})
    done = [j for j in jobs.values() if all(j.get(k) is not None for k in need)]
    print(f"{len(jobs)} children of {a.parent} in {path}, {len(done)} with every hop")
    if not done:
        return 1
    rows = [("report produced -> placement produced", lambda j: j["placed"] - j["decided"]),
            ("placement produced -> started", lambda j: j["started"] - j["placed"]),
            ("started -> exited", lambda j: j["exited"] - j["started"]),
            ("exited -> report produced", lambda j: j["reported"] - j["exited"]),
            ("report produced -> terminal produced", lambda j: j["ended"] - j["reported"])]
    for name, fn in rows:
        print(f"  {name:<38} {quantiles([fn(j) for j in done])}")
    span = max(j["ended"] for j in done) - min(j["decided"] for j in done)
    per_inst = collections.Counter(j["instance"] for j in done)
    if parent.get("submitted") is not None:
        first = min(j["placed"] for j in done)
        print(f"  parent's submission -> first child's placement produced: {first - parent['submitted']} ms")
    print(f"  first decision -> last end: {span} ms over {len(per_inst)} instance(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
