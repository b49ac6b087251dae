#!/usr/bin/env python3
"""test_scheduler_txn_bound.py: large arrays submitted while the scheduler is down are taken in
several transactions, not one (scheduler --txn-max-mib; docs/architecture.md, "Throughput").

Each array's children make a few MiB of output (a JobRecord and state changes per child). With
the arrays piled up in barge.requests, the scheduler's first batch would hold every one of them,
and so would its transaction: at a million jobs that is hundreds of MiB in one transaction, which
on a loaded machine can outlive the broker's transaction timeout (60 s) and make the scheduler
exit, its restart meeting the same batch again.

Checks, from barge.jobs read as read_committed (a transaction's commit marker takes one offset,
so the gaps between the offsets of the records read split them into their transactions):
- with --txn-max-mib 1, the children of ARRAYS arrays piled up are first written by at least
  ARRAYS transactions, none with children of two arrays, and every child's JobRecord is there;
- the same pile, taken by a scheduler with --txn-max-mib 0 (no bound), fits in fewer transactions
  than arrays: the bound, not something else, is what splits them."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

ARRAYS = 4
SIZE = 1500


def transactions_of(st, parents):
    """[{parent: set of child indexes}] for the transactions of barge.jobs that wrote children of
    parents, in order. (A child may be written again later, e.g. the head of the queue when its
    statusReason changes: a transaction of its own, one child.)"""
    recs = sorted(common.read_topic(st, "jobs", timeout=120), key=lambda r: r["offset"])
    groups, cur, last = [], collections.defaultdict(set), None
    for r in recs:
        if last is not None and r["offset"] != last + 1 and cur:  # a marker between them
            groups.append(cur)
            cur = collections.defaultdict(set)
        last = r["offset"]
        key = r["key"].decode() if isinstance(r["key"], bytes) else (r["key"] or "")
        parent, _, index = key.partition(":")
        if index and parent in parents:
            cur[parent].add(int(index))
    if cur:
        groups.append(cur)
    return groups


def brief(groups):
    return [{p[:8]: len(ix) for p, ix in g.items()} for g in groups]


def pile(st, tag):
    """ARRAYS arrays of SIZE submitted with no scheduler running: their parent ids."""
    parents = [st.submit(f"{tag}{i}", "q1", "t", size=SIZE) for i in range(ARRAYS)]
    log(f"{ARRAYS} arrays of {SIZE} submitted with the scheduler down: {parents}")
    return set(parents)


def children(groups):
    out = collections.defaultdict(set)
    for g in groups:
        for p, ix in g.items():
            out[p] |= ix
    return out


def taken_in(st, parents, what):
    """The transactions that wrote the first JobRecord of each child of parents."""
    common.wait_for(lambda: all(len(children(transactions_of(st, parents))[p]) >= SIZE for p in parents), 180,
                    f"every child's JobRecord in barge.jobs ({what})", interval=1)
    groups = transactions_of(st, parents)
    ok(all(children(groups)[p] == set(range(SIZE)) for p in parents),
       f"{what}: every child of the {ARRAYS} arrays has its JobRecord", {p: len(ix) for p, ix in children(groups).items()})
    first, seen = [], set()  # each child counted in the transaction that wrote it first
    for g in groups:
        new = {p: {i for i in ix if (p, i) not in seen} for p, ix in g.items()}
        new = {p: ix for p, ix in new.items() if ix}
        seen |= {(p, i) for p, ix in g.items() for i in ix}
        if new:
            first.append(new)
    return first


def body(st):
    st.init_queue("q1", "local", priority=10)
    st.register("t", ["true"], vcpus=1, memory=64)

    bounded = pile(st, "b")
    st.scheduler("--txn-max-mib", "1")
    groups = taken_in(st, bounded, "--txn-max-mib 1")
    log(f"--txn-max-mib 1: {len(groups)} transactions wrote children: {brief(groups)}")
    ok(len(groups) >= ARRAYS, f"--txn-max-mib 1: the {ARRAYS} arrays took at least {ARRAYS} transactions",
       len(groups))
    ok(all(len(g) == 1 for g in groups), "--txn-max-mib 1: no transaction holds children of two arrays",
       brief([g for g in groups if len(g) > 1]))

    st.kill("scheduler")
    unbounded = pile(st, "u")
    st.scheduler("--txn-max-mib", "0")
    groups = taken_in(st, unbounded, "--txn-max-mib 0")
    log(f"--txn-max-mib 0: {len(groups)} transactions wrote children: {brief(groups)}")
    ok(len(groups) < ARRAYS, f"--txn-max-mib 0: the same pile took fewer than {ARRAYS} transactions",
       len(groups))
    ok(st.alive("scheduler"), "the scheduler is running")


if __name__ == "__main__":
    common.run_test("txnbound", body, clean_stop=True)
