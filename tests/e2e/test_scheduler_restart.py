#!/usr/bin/st python3
"""test_scheduler_restart.py: the scheduler is killed with SIGKILL while jobs are in flight,
restarted, and every job still ends exactly once in its right final state.

A scheduler and two agents run as direct children (own prefix). About twenty jobs are submitted:
sleeps of 1-3 s, jobs exiting 2, one retried once (attempts=2), an array of 5, a dependency chain
of three, and a dependency on a failing job. The scheduler is SIGKILLed while jobs are RUNNING,
left down while they finish (their ExecutionReports wait in barge.executions), restarted with the
same transactional id, SIGKILLed again once it has made progress, restarted, SIGKILLed right
after rebuilding its state, and restarted once more. Then, from
barge.job-events read as read_committed (what any consumer sees):
- every job (array children included) has exactly one terminal transition, and it is the
  expected one (SUCCEEDED / FAILED, exit code, reason);
- no transition appears twice (same job, attempt, old and new status), and each job's
  transitions chain (each oldStatus is the previous newStatus);
- barge.executions shows at most one STARTED per (job, attempt): nothing ran twice;
- describe-jobs agrees, with the expected number of attempts."""
import collections
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def overrides(sleep, code=0):
    return json.dumps({"environment": [{"name": "SLEEP", "value": str(sleep)},
                                       {"name": "CODE", "value": str(code)}]})


def body(st):
    avro = common.Avro()
    st.init_queue("q1", "local", priority=10)
    st.register("work", ["sh", "-c", "echo run $AWS_BATCH_JOB_ID; sleep ${SLEEP:-1}; exit ${CODE:-0}"])
    st.scheduler()
    st.agent("i-0a11ce00000000001", name="agent1", vcpus=3)
    st.agent("i-0a11ce00000000002", name="agent2", vcpus=3)

    expect = {}  # job id -> (status, exit code or None, reason prefix or None, attempts)

    def submit(name, sleep, code=0, *more, status=None, attempts=1, reason=None):
        jid = st.submit(name, "q1", "work", "--container-overrides", overrides(sleep, code), *more)
        want = status or ("SUCCEEDED" if code == 0 else "FAILED")
        expect[jid] = (want, code if attempts else None, reason, attempts)
        return jid

    for i in range(10):
        submit(f"ok{i}", 1 + i % 3)
    for i in range(4):
        submit(f"exit2-{i}", 1 + i % 2, 2)
    retry = submit("retry", 1, 2, "--retry-strategy", "attempts=2", attempts=2)
    arr = st.submit("arr5", "q1", "work", "--array-properties", "size=5",
                     "--container-overrides", overrides(1))
    expect[arr] = ("SUCCEEDED", None, None, 0)
    for i in range(5):
        expect[f"{arr}:{i}"] = ("SUCCEEDED", 0, None, 1)
    c1 = submit("chain1", 1)
    c2 = submit("chain2", 1, 0, "--depends-on", f"jobId={c1}")
    submit("chain3", 1, 0, "--depends-on", f"jobId={c2}")
    bad = submit("willfail", 2, 2)
    submit("orphan", 1, 0, "--depends-on", f"jobId={bad}", status="FAILED", attempts=0,
           reason=f"Dependent job {bad} failed")
    ids = list(expect)
    log(f"{len(ids)} jobs submitted (array children included)")

    def count(statuses):
        d = st.describe(*ids)
        return sum(1 for j in d.values() if j["status"] in statuses)

    # first kill: while jobs are RUNNING
    common.wait_for(lambda: count(("RUNNING",)) >= 2, 45, "two jobs RUNNING")
    st.kill("scheduler", signal.SIGKILL)
    # the baseline right after the kill: a describe first (slow under load) gave the running jobs
    # time to end and report, and then no report could come while the scheduler was down
    ex0 = sum(common.end_offsets(st, "executions").values())
    done_before = count(common.TERMINAL)
    log(f"scheduler SIGKILLed with jobs running ({done_before} terminal)")
    common.wait_for(lambda: sum(common.end_offsets(st, "executions").values()) >= ex0 + 1, 30,
                    "agents to report while the scheduler is down")
    st.scheduler()
    # second kill: once the restarted scheduler has made progress
    common.wait_for(lambda: count(common.TERMINAL) > done_before, 45, "progress after the restart")
    st.kill("scheduler", signal.SIGKILL)
    log(f"scheduler SIGKILLed again ({count(common.TERMINAL)} terminal)")
    # third kill: just after the next one has rebuilt its state, then a last restart
    rebuilt = st.log_text("scheduler").count("state rebuilt")
    st.scheduler()
    common.wait_for(lambda: st.log_text("scheduler").count("state rebuilt") > rebuilt, 30,
                    "the restarted scheduler to rebuild its state", interval=0.05)
    st.kill("scheduler", signal.SIGKILL)
    log(f"scheduler SIGKILLed right after its rebuild ({count(common.TERMINAL)} terminal)")
    st.scheduler()

    jobs = st.wait_terminal(ids, 60)
    ok(len(jobs) == len(ids), "describe-jobs knows every job")

    # -- barge.job-events, read_committed
    events = common.job_events(st, avro)
    per_job = collections.defaultdict(list)
    for e in events:
        per_job[e["jobId"]].append(e)
    tuples = collections.Counter((e["jobId"], e["attempt"], e["oldStatus"], e["newStatus"]) for e in events)
    dups = {k: n for k, n in tuples.items() if n > 1}
    # a retried job legitimately repeats RUNNABLE -> STARTING etc. under another attempt
    ok(not dups, "no transition appears twice in barge.job-events", dups)
    for jid in ids:
        evs = per_job.get(jid, [])
        terms = [e for e in evs if e["newStatus"] in common.TERMINAL]
        want, code, reason, attempts = expect[jid]
        name = jobs.get(jid, {}).get("jobName", jid)
        ok(len(terms) == 1, f"{name}: exactly one terminal transition", [(e["oldStatus"], e["newStatus"]) for e in evs])
        if terms:
            t = terms[0]
            ok(t["newStatus"] == want, f"{name}: ends {want}", t["newStatus"])
            if code is not None and attempts:
                ok(t.get("exitCode") == code, f"{name}: exit code {code}", t.get("exitCode"))
            if reason:
                ok(t.get("statusReason") == reason, f"{name}: reason '{reason}'", t.get("statusReason"))
            ok(evs[-1] is t, f"{name}: nothing after the terminal transition")
        chain = all(evs[i]["oldStatus"] == evs[i - 1]["newStatus"] for i in range(1, len(evs)))
        ok(chain, f"{name}: transitions chain", [(e["oldStatus"], e["newStatus"]) for e in evs])
        j = jobs.get(jid, {})
        ok(j.get("status") == want, f"{name}: describe-jobs says {want}", j.get("status"))
        ok(len(j.get("attempts", [])) == attempts, f"{name}: {attempts} attempt(s)", len(j.get("attempts", [])))
    r = jobs.get(retry, {})
    ok([a["container"].get("exitCode") for a in r.get("attempts", [])] == [2, 2],
       "the retried job failed twice with exit 2", r.get("attempts"))

    # -- barge.executions: nothing started twice
    started = collections.Counter()
    for rec in common.read_topic(st, "executions"):
        name, ex = avro.decode(rec["value"])
        if common.says_started(ex):
            started[(ex["jobId"], ex["attempt"])] += 1
    ok(started and all(n == 1 for n in started.values()), "no (job, attempt) STARTED twice",
       {k: n for k, n in started.items() if n > 1})
    expected_runs = sum(a for (_, _, _, a) in expect.values())
    ok(sum(started.values()) == expected_runs, f"{expected_runs} attempts ran in all", sum(started.values()))
    ok(st.alive("scheduler") and st.alive("agent1") and st.alive("agent2"), "the services are running")


if __name__ == "__main__":
    common.run_test("restart", body, clean_stop=True)
