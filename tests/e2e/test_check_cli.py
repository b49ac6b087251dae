#!/usr/bin/env python3
"""test_check_cli.py: `barge check` over a real log on the broker, clean and then doctored.

A small workload (a job, its dependant, an array of 3, a job that fails) runs on a scheduler,
one agent, accounting and audit. `barge check --require-terminal` with the audit file reports 0
violations (exit 0, text and --json, progress on stderr). Then, with the services stopped, the
topics are doctored one invariant at a time by writing forged events to the real topics, and
each `barge check --json` must name the new violation (exit 1): a second terminal state, an
event of a job never submitted, an attempt-number gap, a second process for one attempt, an
instance over its capacity, a dependant started although its dependency failed, an array's
statusSummary off, barge.usage's instance time off, and a changed byte in the audit file.

The audit file is current in the clean run (the audit service stopped after the workload). The
forged events are written with the audit service stopped, so the file falls behind: `barge check`
must say it is intact but exactly that many records behind, by topic (exit 1, an `audit`
violation), even with --audit-grace-ms letting it wait; restarted, the audit catches up and the
same check finds the file current again.
"""
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

INST = "i-0c4ec000000000001"


def check(st, *args):
    r = st.run("check", *args, check=False, timeout=300)
    try:
        rep = json.loads(r.stdout) if "--json" in args else None
    except json.JSONDecodeError:
        rep = None
    return r, rep


def body(st):
    produced = collections.Counter()  # forged records, by topic: what the stopped audit misses
    real_produce = common.produce_raw

    def counting_produce(st_, base, *a, **kw):
        produced[st_.topic(base)] += 1
        return real_produce(st_, base, *a, **kw)

    common.produce_raw = counting_produce
    avro = common.Avro()
    st.init_queue("q", "local", priority=10)
    st.register("ok", ["true"])
    st.register("bad", ["false"], settle=True)
    key = os.path.join(st.home, "audit.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex())
    audit = os.path.join(st.home, "audit.jsonl")
    st.scheduler()
    st.agent(INST, vcpus=2, memory=2048)
    kafka = ["--brokers", st.brokers, "--topic-prefix", st.prefix]
    st.start("accounting", "accounting", *kafka, "--group", f"acct-{st.prefix}", "--settle-lag-ms", "500",
             "--publish-ms", "300")
    audit_args = ("audit", *kafka, "--out", audit, "--hmac-key-file", key, "--group", f"audit-{st.prefix}")
    st.start("audit", *audit_args)
    a = st.submit("a", "q", "ok")
    b = st.submit("b", "q", "ok", "--depends-on", f"jobId={a}")
    p = st.submit("p", "q", "ok", size=3)
    f = st.submit("f", "q", "bad")
    st.wait_terminal([a, b, p, f], 120)
    time.sleep(3)  # accounting settles and publishes, audit flushes
    # the writers first: their last events (accounting's final publish, the agent's TERMINATED) go
    # to the audit file too only if the audit outlives them
    writers = {n: w for n, w in st.procs.items() if n != "audit" and w.poll() is None}
    for w in writers.values():
        w.terminate()
    for w in writers.values():
        w.wait(30)
    time.sleep(2)  # the audit records them (--flush-ms 200 + a lazy fetch's 500 ms)
    st.stop_services()

    r, rep = check(st, "--require-terminal", "--json", "--audit", audit, "--audit-key", key)
    ok(r.returncode == 0 and rep and rep["ok"] and not rep["violations"], "the real log is clean (exit 0)",
       r.stdout[-1500:] + r.stderr[-500:])
    s = (rep or {}).get("stats", {})
    ok(s.get("jobs") == 7 and s.get("arrays") == 1 and s.get("arrayChildren") == 3 and s.get("live") == 0,
       "it saw the 7 jobs (an array of 3), none live", s)
    ok("records" in r.stderr and "intact" in r.stderr, "progress and the audit verdict on stderr", r.stderr[-500:])
    au = (rep or {}).get("audit", {})
    ok(au.get("current") is True and au.get("behind") == 0 and "current" in r.stderr,
       "the audit file is current: it holds every record check read", (au, r.stderr[-300:]))
    r, _ = check(st, "--audit", audit, "--audit-key", key)
    ok(r.returncode == 0 and "violations: 0" in r.stdout, "the text report says violations: 0", r.stdout[-500:])

    now = int(time.time() * 1000)

    def state_change(job, old, new, attempt, at, inst=None, vcpus=1, mem=64, parent=None):
        ev = {"header": common.header("doctor"), "jobId": job, "attempt": attempt, "oldStatus": old,
              "newStatus": new, "at": at, "instanceId": inst, "computeEnvironment": "local" if inst else None,
              "vcpus": vcpus, "memoryMib": mem, "parentJobId": parent}
        common.produce_raw(st, "job-events", (parent or job).encode(), avro.encode("JobStateChange", ev))

    def submit(job, deps=()):
        body = {"jobId": job, "jobName": job, "jobQueue": "q", "jobDefinition": "ok",
                "dependsOn": [{"jobId": d, "type": None} for d in deps]}
        common.produce_raw(st, "requests", job.encode(),
                           avro.encode("JobRequest", {"header": common.header("doctor"), "body": ("barge.SubmitJob", body)}))

    def placement(job, attempt):
        cmd = {"header": common.header("doctor"), "instanceId": INST,
               "body": ("barge.Placement", {"jobId": job, "attempt": attempt, "command": ["true"]})}
        common.produce_raw(st, "placements", INST.encode(), avro.encode("AgentCommand", cmd))

    def expect(kind, what):
        r, rep = check(st, "--json", "--quiet")
        n = (rep or {}).get("counts", {}).get(kind, 0)
        named = [v for v in (rep or {}).get("violations", []) if v["kind"] == kind]
        ok(r.returncode == 1 and n >= 1, f"{what}: caught as {kind} (exit {r.returncode})",
           r.stdout[-800:] + r.stderr[-300:])
        if named:
            log(f"    {kind} {named[0]['subject']}: {named[0]['detail']}")

    # terminal: a finished job fails again
    state_change(a, "SUCCEEDED", "FAILED", 1, now)
    expect("terminal", "a second terminal state")
    # unknown-job: an event for a job nobody submitted
    state_change("00000000-0000-4000-8000-00000000dead", "SUBMITTED", "RUNNABLE", 0, now)
    expect("unknown-job", "a job never submitted")
    # attempts: attempt 3 of b, with no attempt 2
    state_change(b, "RUNNABLE", "STARTING", 3, now, INST)
    expect("attempts", "an attempt-number gap")
    # overlap: a second agent process (another incarnation) reports starting a's attempt 1
    common.produce_raw(st, "executions", a.encode(), avro.encode("ExecutionReport", {
        "header": common.header("doctor"), "jobId": a, "attempt": 1, "instanceId": INST, "kind": "STARTED",
        "incarnation": 99, "at": now}))
    expect("overlap", "one attempt started by two agent processes")
    # capacity: a submitted job placed with 64 vCPUs on the 2-vCPU instance
    x = "00000000-0000-4000-8000-0000000000c1"
    submit(x)
    placement(x, 1)
    state_change(x, "RUNNABLE", "STARTING", 1, now, INST, vcpus=64)
    expect("capacity", "64 vCPUs placed on a 2-vCPU instance")
    # dependency: a job waiting for f (which FAILED) starts anyway
    d = "00000000-0000-4000-8000-0000000000d1"
    submit(d, [f])
    placement(d, 1)
    state_change(d, "PENDING", "STARTING", 1, now + 1, INST, vcpus=0, mem=0)
    expect("dependency", "a dependant started although its dependency failed")
    # array-summary: p's latest JobRecord says one child RUNNING
    recs = [avro.decode(m["value"])[1] for m in common.read_topic(st, "jobs") if m["key"] == p.encode()]
    rec = recs[-1]
    rec["header"] = common.header("doctor")
    rec["detail"]["arrayProperties"]["statusSummary"]["RUNNING"] = 1
    common.produce_raw(st, "jobs", p.encode(), avro.encode("JobRecord", rec))
    expect("array-summary", "an array's statusSummary off by one")
    # accounting: the compute environment's instance-seconds off by 5 s
    use = [avro.decode(m["value"])[1] for m in common.read_topic(st, "usage") if m["key"] == b"ce:local"]
    ok(bool(use), "accounting published ce:local")
    if use:
        u = use[-1]
        u["header"] = common.header("doctor")
        u["instanceSeconds"] += 5.0
        common.produce_raw(st, "usage", b"ce:local", avro.encode("UsageRecord", u))
        expect("accounting", "barge.usage's instance time off by 5 s")
    # audit: the service was stopped before every forged record: the file is intact but behind
    t0 = time.monotonic()
    r, rep = check(st, "--json", "--quiet", "--audit", audit, "--audit-key", key, "--audit-grace-ms", "1500")
    au = (rep or {}).get("audit", {})
    named = [v for v in (rep or {}).get("violations", []) if v["kind"] == "audit"]
    want = sum(produced.values())
    ok(r.returncode == 1 and au.get("current") is False and au.get("behind") == want
       and au.get("behindByTopic") == dict(produced),
       f"a stopped audit: the file is {want} records behind, by topic ({dict(produced)})", au)
    ok(len(named) == 1 and f"{want} records behind" in named[0]["detail"] and "stopped or stuck" in named[0]["detail"],
       "one audit violation names how far behind the file is", named)
    ok(au.get("waitedMs", 0) >= 1500 and time.monotonic() - t0 < 120, "check waited --audit-grace-ms for it, no longer",
       au.get("waitedMs"))
    r, _ = check(st, "--quiet", "--audit", audit, "--audit-key", key, "--audit-grace-ms", "0")
    ok(r.returncode == 1 and f"VIOLATION audit {audit}: intact through line" in r.stdout
       and f"{want} records behind" in r.stdout, "the text report names it too", r.stdout[-1500:])
    # restarted, the audit catches up (within the grace) and the file is current again
    st.start("audit", *audit_args)
    r, rep = check(st, "--json", "--quiet", "--audit", audit, "--audit-key", key)
    au = (rep or {}).get("audit", {})
    ok(au.get("current") is True and (rep or {}).get("counts", {}).get("audit") == 0,
       "a running audit catches up: the file is current, no audit violation", au)
    st.stop_services()

    # audit: one changed byte in a copy of the audit file
    with open(audit, "rb") as fh:
        lines = fh.read().split(b"\n")
    line = bytearray(lines[2])
    i = line.index(b'"offset":') + 9
    line[i] = ord("7") if line[i] != ord("7") else ord("8")
    lines[2] = bytes(line)
    bad = os.path.join(st.home, "tampered.jsonl")
    with open(bad, "wb") as fh:
        fh.write(b"\n".join(lines))
    r, rep = check(st, "--json", "--quiet", "--audit", bad, "--audit-key", key, "--no-audit")
    ok(r.returncode == 1 and (rep or {}).get("counts", {}).get("audit", 0) == 0, "--no-audit skips the audit file")
    r, rep = check(st, "--json", "--quiet", "--audit", bad, "--audit-key", key)
    named = [v for v in (rep or {}).get("violations", []) if v["kind"] == "audit"]
    ok(r.returncode == 1 and named and "line 3" in named[0]["detail"], "a changed byte in the audit file: caught at line 3",
       named)
    r, _ = check(st, "--quiet")
    ok(r.returncode == 1 and "VIOLATION capacity" in r.stdout and "VIOLATION dependency" in r.stdout,
       "the text report names each violation", r.stdout[-1500:])

    # the defaults of --audit and --audit-key are the `barge up` stack's file and key, each taken
    # when only the other is given (--audit alone was refused for want of a key, and --audit-key
    # alone was ignored for the stack's)
    stack = os.path.join(st.home, "stack")
    with open(stack, "w") as fh:
        fh.write(f"brokers={st.brokers}\nprefix={st.prefix}\naudit_file={audit}\naudit_key={key}\n")
    r, rep = check(st, "--json", "--quiet", "--audit", audit)
    au = (rep or {}).get("audit", {})
    ok((rep or {}).get("counts", {}).get("audit") == 0 and au.get("current") is True,
       "--audit FILE alone: verified with the stack's key",
       [v for v in (rep or {}).get("violations", []) if v["kind"] == "audit"])
    wrong = os.path.join(st.home, "wrong.key")
    with open(wrong, "w") as fh:
        fh.write(os.urandom(32).hex())
    r, rep = check(st, "--json", "--quiet", "--audit-key", wrong)
    named = [v for v in (rep or {}).get("violations", []) if v["kind"] == "audit"]
    ok(len(named) == 1 and named[0]["subject"] == audit and "key is wrong" in named[0]["detail"],
       "--audit-key KEY alone: the stack's file checked with that key", named)
    # a key that cannot be read, or none at all, is bad usage said before the log is read (exit
    # 2); it was an audit violation after the whole log (exit 1), as if the file had failed
    missing = os.path.join(st.home, "no-such.key")
    r, _ = check(st, "--quiet", "--audit", audit, "--audit-key", missing)
    ok(r.returncode == 2 and missing in r.stderr and "VIOLATION" not in r.stdout,
       "an --audit-key that cannot be read: exit 2 naming it", (r.returncode, r.stderr[-300:], r.stdout[-300:]))
    # --lost-after-ms: the scheduler's of the `barge up` stack of this prefix, which it records in
    # the stack file, unless given; `barge scheduler`'s 30000 without such a stack (it was 30000
    # on a `barge up` stack too, whose scheduler runs with 60000, so a cut-off copy of a lost
    # attempt within the stack's bound was an overlap violation)
    with open(stack, "a") as fh:
        fh.write("lost_after_ms=45000\n")
    r, rep = check(st, "--json", "--quiet", "--no-audit")
    ok((rep or {}).get("lostAfterMs") == 45000, "--lost-after-ms not given: the stack's", (rep or {}).get("lostAfterMs"))
    r, rep = check(st, "--json", "--quiet", "--no-audit", "--lost-after-ms", "5000")
    ok((rep or {}).get("lostAfterMs") == 5000, "--lost-after-ms given: that one", (rep or {}).get("lostAfterMs"))
    with open(stack, "w") as fh:
        fh.write(f"brokers={st.brokers}\nprefix=other.\nlost_after_ms=45000\n")
    r, rep = check(st, "--json", "--quiet", "--no-audit")
    ok((rep or {}).get("lostAfterMs") == 30000, "a stack of another prefix: barge scheduler's default",
       (rep or {}).get("lostAfterMs"))
    r, _ = check(st, "--quiet", "--no-audit", "--lost-after-ms", "-1")
    ok(r.returncode == 2 and "lost-after-ms" in r.stderr, "--lost-after-ms -1: bad usage", (r.returncode, r.stderr[-300:]))
    os.remove(stack)
    r, _ = check(st, "--quiet", "--audit", audit)
    ok(r.returncode == 2 and "needs --audit-key" in r.stderr and "VIOLATION" not in r.stdout,
       "--audit FILE and no key anywhere: exit 2 saying so", (r.returncode, r.stderr[-300:], r.stdout[-300:]))


if __name__ == "__main__":
    common.run_test("check", body)
