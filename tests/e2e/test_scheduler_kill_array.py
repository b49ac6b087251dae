#!/usr/bin/env python3
"""test_scheduler_kill_array.py: the scheduler is SIGKILLed twice in the middle of a large array
(3,000 tasks of `true` on 4 agents of 16 vCPUs in the suite), restarted each time, and every task ends
SUCCEEDED exactly once (issue 11: the batched pipeline keeps its guarantees).

Checks, from barge.job-events and barge.executions read as read_committed:
- the parent is SUCCEEDED with statusSummary SUCCEEDED = N;
- every child has exactly one terminal transition, SUCCEEDED, and nothing after it; no transition
  appears twice (job, attempt, old, new) and each child's transitions chain;
- no (job, attempt) STARTED twice, and exactly N attempts ran;
- `barge replay rebuild` finds no difference between the events and barge.jobs.

N is 3,000 in the plain build and 1,000 in the sanitizer build (slower processes), so that the
suite stays within its time on a 2-core CI machine; BARGE_KILL_ARRAY_TASKS=10000 is the long
form, run on demand."""
import collections
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def sanitizer_build():
    try:
        with open(os.path.join(common.BUILD, "CMakeCache.txt")) as f:
            return any(line.startswith("BARGE_SANITIZE:BOOL=ON") for line in f)
    except OSError:
        return False


TASKS = int(os.environ.get("BARGE_KILL_ARRAY_TASKS", "1000" if sanitizer_build() else "3000"))


def body(st):
    st.init_queue("q1", "local", priority=10)
    st.register("t", ["true"], vcpus=1, memory=64)
    st.scheduler()
    for i in range(4):
        st.agent(f"i-0c0ffee00000000{i:02d}", name=f"agent{i}", vcpus=16, memory=65536)
    time.sleep(1)
    t0 = time.monotonic()
    parent = st.submit("big", "q1", "t", "--array-properties", f"size={TASKS}")
    log(f"array of {TASKS} submitted: {parent}")

    def ran():  # about the attempts reported (one or two records each: STARTED may be folded
        # into the end report), cheap to read
        return sum(common.end_offsets(st, "executions").values()) * 2 // 3

    for frac in (0.2, 0.5):
        common.wait_for(lambda: ran() >= TASKS * frac, 240, f"{int(frac * 100)}% of the tasks run",
                        interval=0.1)
        st.kill("scheduler", signal.SIGKILL)
        log(f"scheduler SIGKILLed after about {ran()} attempts ({time.monotonic() - t0:.1f} s)")
        time.sleep(1)  # the agents go on and report while it is down
        st.scheduler()

    jobs = st.wait_terminal([parent], 240)
    took = time.monotonic() - t0
    p = jobs[parent]
    summary = p.get("arrayProperties", {}).get("statusSummary", {})
    ok(p["status"] == "SUCCEEDED", f"the array SUCCEEDED ({took:.1f} s)", p["status"])
    ok(summary.get("SUCCEEDED") == TASKS, f"statusSummary: {TASKS} SUCCEEDED", summary)

    avro = common.Avro()
    events = common.job_events(st, avro, timeout=120)
    per_job = collections.defaultdict(list)
    for e in events:
        per_job[e["jobId"]].append(e)
    tuples = collections.Counter((e["jobId"], e["attempt"], e["oldStatus"], e["newStatus"]) for e in events)
    dups = {k: n for k, n in tuples.items() if n > 1}
    ok(not dups, "no transition appears twice in barge.job-events", list(dups.items())[:5])
    bad_term, bad_chain = {}, {}
    for i in range(TASKS):
        cid = f"{parent}:{i}"
        evs = per_job.get(cid, [])
        terms = [e["newStatus"] for e in evs if e["newStatus"] in common.TERMINAL]
        if terms != ["SUCCEEDED"] or evs[-1]["newStatus"] != "SUCCEEDED":
            bad_term[cid] = [(e["oldStatus"], e["newStatus"]) for e in evs]
        if not all(evs[k]["oldStatus"] == evs[k - 1]["newStatus"] for k in range(1, len(evs))):
            bad_chain[cid] = [(e["oldStatus"], e["newStatus"]) for e in evs]
    ok(not bad_term, f"each of the {TASKS} tasks ends SUCCEEDED exactly once, last",
       list(bad_term.items())[:5])
    ok(not bad_chain, "each task's transitions chain", list(bad_chain.items())[:5])
    parent_terms = [e["newStatus"] for e in per_job[parent] if e["newStatus"] in common.TERMINAL]
    ok(parent_terms == ["SUCCEEDED"], "the parent has one terminal transition", parent_terms)

    started = collections.Counter()
    for rec in common.read_topic(st, "executions", timeout=120):
        _, ex = avro.decode(rec["value"])
        if common.says_started(ex):
            started[(ex["jobId"], ex["attempt"])] += 1
    ok(all(n == 1 for n in started.values()), "no (job, attempt) STARTED twice",
       [k for k, n in started.items() if n > 1][:5])
    ok(sum(started.values()) == TASKS, f"{TASKS} attempts ran", sum(started.values()))

    # the parent's record is rewritten once per scheduler transaction, not at every child's start
    # and end (about 2 x TASKS records before): its statusSummary moves with the children
    parent_recs = [rec for rec in common.read_topic(st, "jobs", timeout=120)
                   if rec["key"] in (parent, parent.encode())]
    ok(0 < len(parent_recs) < TASKS // 2,
       f"the parent's JobRecord written once per transaction at most ({len(parent_recs)} records for {TASKS} tasks)",
       len(parent_recs))
    last_summary = avro.decode(parent_recs[-1]["value"])[1]["detail"]["arrayProperties"]["statusSummary"]
    ok(last_summary.get("SUCCEEDED") == TASKS, "the parent's last record counts every task", last_summary)

    r = st.run("replay", "rebuild", check=False, timeout=300)
    last = (r.stdout.strip().splitlines() or [""])[-1]
    ok(r.returncode == 0 and " 0 differences" in last, "replay rebuild finds no difference",
       (r.returncode, r.stdout[-600:], r.stderr[-300:]))
    ok(st.alive("scheduler") and all(st.alive(f"agent{i}") for i in range(4)), "the services are running")


if __name__ == "__main__":
    common.run_test("killarr", body, clean_stop=True)
