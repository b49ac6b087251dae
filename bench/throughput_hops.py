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

With --logs DIR (a stack run with BARGE_LOG=debug: bench/throughput.sh --trace), the hop
"placement produced -> started" is split with the scheduler's and the agents' debug lines:

  placement produced -> committed         the rest of the scheduler's transaction: its produce
                                          and EndTxn (the placement is produced once the
                                          transaction's input offsets are sent, lib/bus_txn.c)
  committed -> read by the agent          the broker's commit markers, the agent's fetch of the
                                          committed placements, its loop getting to the record
                                          (behind the placements before it in the same fetch)
  read by the agent -> started            the start itself (log, vfork, exec), as reported
and each start's two parts in the agent: its pipes (older agents: also the log folder and file); vfork until the exec.

usage: bench/throughput_hops.py [--audit FILE] [--logs DIR] PARENT_JOB_ID
  --audit FILE   the audit file (default $BARGE_HOME/audit/events.jsonl, else ~/.barge/audit/events.jsonl)
  --logs DIR     the stack's service logs (scheduler.log, agent-*.log; BARGE_LOG=debug)
Exit status: 0, 1 when no child of PARENT_JOB_ID is complete in the file, 2 on bad usage."""
import argparse
import bisect
import collections
import glob
import json
import os
import re
import sys

COMMITTED = re.compile(r"transaction committed at (\d+):")
READ = re.compile(r"placement of (\S+) attempt (\d+) produced at (\d+), read at (\d+)")
STARTED = re.compile(r"runner: job (\S+) attempt \d+ started, pid \d+ \((?:log and )?pipes (\d+) us, vfork to exec (\d+) us\)")


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


def read_logs(d, jobs):
    """Adds "committed" (the end of the scheduler's transaction that wrote the placement) and "read"
    (when its agent took the record) to each child in jobs, from the debug lines in d. Returns the
    number of commits found."""
    commits = []
    with open(os.path.join(d, "scheduler.log"), errors="replace") as f:
        for line in f:
            m = COMMITTED.search(line)
            if m:
                commits.append(int(m.group(1)))
    commits.sort()
    for path in glob.glob(os.path.join(d, "agent-*.log")):
        with open(path, errors="replace") as f:
            for line in f:
                m = READ.search(line)
                if m and m.group(1) in jobs:
                    jobs[m.group(1)]["read"] = int(m.group(4))
                m = STARTED.search(line)
                if m and m.group(1) in jobs:
                    jobs[m.group(1)]["prepare_us"] = int(m.group(2))
                    jobs[m.group(1)]["execute_us"] = int(m.group(3))
    for j in jobs.values():
        if j.get("placed") is not None:
            # the transaction that released the placement is the first to end at or after it
            i = bisect.bisect_left(commits, j["placed"])
            if i < len(commits):
                j["committed"] = commits[i]
    return len(commits)


def main():
    ap = argparse.ArgumentParser(description="Where an array's tasks spend their round trip, from the audit file.")
    ap.add_argument("--audit", help="the audit file (default $BARGE_HOME/audit/events.jsonl)")
    ap.add_argument("--logs", help="the stack's service logs, written with BARGE_LOG=debug")
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
    if a.logs:
        try:
            ncommits = read_logs(a.logs, jobs)
        except OSError as e:
            print(f"throughput_hops: {e.filename}: {e.strerror}", file=sys.stderr)
            return 1
        split = [j for j in done if j.get("committed") is not None and j.get("read") is not None]
        print(f"  placement produced -> started, split with the debug lines of {a.logs} "
              f"({ncommits} commits; {len(split)} tasks):")
        for name, fn in [("placement produced -> committed", lambda j: j["committed"] - j["placed"]),
                         ("committed -> read by the agent", lambda j: j["read"] - j["committed"]),
                         ("read by the agent -> started", lambda j: j["started"] - j["read"])]:
            print(f"    {name:<36} {quantiles([fn(j) for j in split])}")
        if not split:
            print("    (no debug lines: was the stack started with BARGE_LOG=debug?)")
        starts = [j for j in done if j.get("execute_us") is not None]
        if starts:
            print(f"  each start in its agent's loop ({len(starts)} tasks; the loop starts a fetch's placements one after the other):")
            for name, k in [("pipes (and the log before lazy logs)", "prepare_us"), ("vfork until the child's exec", "execute_us")]:
                v = sorted(j[k] for j in starts)
                n = len(v)
                print(f"    {name:<36} p10 {v[n // 10]:6d} us  p50 {v[n // 2]:6d} us  p90 {v[9 * n // 10]:6d} us  "
                      f"mean {sum(v) // n:6d} us")
    span = max(j["ended"] for j in done) - min(j["decided"] for j in done)
    per_inst = collections.Counter(j["instance"] for j in done)
    if parent.get("submitted") is not None:
        first = min(j["placed"] for j in done)
        print(f"  parent's submission -> first child's placement produced: {first - parent['submitted']} ms")
    print(f"  first decision -> last end: {span} ms over {len(per_inst)} instance(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
