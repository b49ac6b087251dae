#!/usr/bin/env python3
"""test_watch_details.py: every `barge watch` event shows the job as it was at that transition.

A stack of two agents runs a mix: quick `true` jobs (their start and end usually fall in one
scheduler step, "started folded"), a job retried twice before it succeeds, a job failing with 3
after a retry, and an array of 3 `true` children. Then, for every job (the array's children
included), `barge watch --job <id> --from-beginning --count <its transitions>` is compared with
barge.job-events and describe-jobs:
- one event per transition, in order, with the transition's status;
- the end event shows what describe-jobs shows: attempts, container.exitCode, stoppedAt;
- an earlier event shows only what existed then: as many attempts as had ended, no stoppedAt,
  no container.exitCode while an attempt is live or before the first has ended, no startedAt
  before the first RUNNING;
- no event carries the internal `storedJson`.
Each job is watched twice (a re-read must give the same details). Before the fix, the end event
of some jobs showed `attempts: []` (the watcher paired it with an earlier record of barge.jobs
it happened to have read), earlier events the exit code and stoppedAt of the end, and every event
`"storedJson":"{}"`.

Then jobs too big for their queue: each one's "Batch Job Queue Blocked" must come after its
"Batch Job State Change" to RUNNABLE, live and --from-beginning (the watcher printed the blocked
event as soon as it read the job's record on barge.jobs, mostly before the state change it read
on barge.job-events).

Then the watcher's refusals: --count 0 and -1 exit 2; --job-queue nope exits 1 at once saying
the queue does not exist; --job nope says once on stderr that it waits for a job not yet seen.

Then a signal: `barge watch --count N` stopped by Ctrl-C before N events exits 130 (SIGTERM: 143),
and so does `barge logs --follow` of a job still running, as the AWS CLI exits 130 on Ctrl-C; both
used to exit 0, which a script took for "saw the N events" or "the job ended"."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

TERMINAL = ("SUCCEEDED", "FAILED")


def closed_after(trans, i):
    """Attempts ended after transition i (STARTING|RUNNING -> anything but RUNNING closes one)."""
    return sum(1 for o, n in trans[:i + 1] if o in ("STARTING", "RUNNING") and n != "RUNNING")


def check_job(st, job, trans, final, rounds=2):
    """Problems of `barge watch --job job` against the transitions and the final DescribeJobs."""
    bad = []
    outs = []
    for _ in range(rounds):
        p = st.run("watch", "--job", job, "--from-beginning", "--count", str(len(trans)), timeout=60,
                   check=False)
        if p.returncode != 0:
            return [f"watch exited {p.returncode}: {p.stderr.strip()}"]
        outs.append(p.stdout)
    evs = [json.loads(x)["detail"] for x in outs[0].splitlines() if x.strip()]
    again = [json.loads(x)["detail"] for x in outs[1].splitlines() if x.strip()] if rounds > 1 else evs
    strip = lambda d: {k: v for k, v in d.items() if k != "arrayProperties"}  # noqa: E731
    if [strip(d) for d in again] != [strip(d) for d in evs]:
        bad.append("a re-read gave other details")
    if [d.get("status") for d in evs] != [n for _, n in trans]:
        return bad + [f"statuses {[d.get('status') for d in evs]} != {[n for _, n in trans]}"]
    running_seen = False
    for i, d in enumerate(evs):
        st_ = d["status"]
        running_seen |= st_ == "RUNNING"
        n = closed_after(trans, i)
        c = d.get("container", {})
        where = f"event {i} ({trans[i][0]}->{st_})"
        if "storedJson" in json.dumps(d):
            bad.append(f"{where}: storedJson")
        if len(d.get("attempts", [])) != n:
            bad.append(f"{where}: {len(d.get('attempts', []))} attempts, {n} had ended")
        if st_ in TERMINAL:
            if d.get("attempts") != final.get("attempts"):
                bad.append(f"{where}: attempts {d.get('attempts')} != describe-jobs {final.get('attempts')}")
            if c.get("exitCode") != final.get("container", {}).get("exitCode"):
                bad.append(f"{where}: exitCode {c.get('exitCode')} != {final.get('container', {}).get('exitCode')}")
            if d.get("stoppedAt") != final.get("stoppedAt"):
                bad.append(f"{where}: stoppedAt {d.get('stoppedAt')} != {final.get('stoppedAt')}")
        else:
            if "stoppedAt" in d:
                bad.append(f"{where}: stoppedAt before the end")
            if "exitCode" in c and (n == 0 or st_ in ("STARTING", "RUNNING")):
                bad.append(f"{where}: container.exitCode {c['exitCode']} while no attempt had ended or one is live")
        if not running_seen and "startedAt" in d:
            bad.append(f"{where}: startedAt before RUNNING")
    return bad


def main():
    st = common.Stack("wdet")
    try:
        st.up("--agents", "2", "--agent-vcpus", "4", "--agent-memory", "2048", "--heartbeat-ms", "500",
              "--tick-ms", "200")
        st.create_queue("q", "local")
        st.register("quick", ["true"])
        st.register("retry", ["sh", "-c", 'test "$AWS_BATCH_JOB_ATTEMPT" -ge 3 || exit 1'],
                    retry_strategy={"attempts": 3})
        st.register("fail3", ["sh", "-c", "exit 3"], retry_strategy={"attempts": 2})
        st.register("short", ["sh", "-c", "sleep 0.3"])
        jobs = [st.submit(f"quick{i}", "q", "quick") for i in range(8)]
        jobs += [st.submit("retry", "q", "retry"), st.submit("fail3", "q", "fail3"),
                 st.submit("short", "q", "short")]
        arr = st.submit("arr", "q", "quick", "--array-properties", "size=3")
        final = st.wait_terminal(jobs + [arr], 120)
        kids = [f"{arr}:{i}" for i in range(3)]
        final.update(st.describe(*kids))
        time.sleep(1)
        events = common.job_events(st, common.Avro())
        ok(final[jobs[8]]["status"] == "SUCCEEDED" and len(final[jobs[8]]["attempts"]) == 3,
           "the retried job succeeded at its third attempt", final[jobs[8]].get("attempts"))
        problems = {}
        for job in jobs + kids:
            trans = [(e["oldStatus"], e["newStatus"]) for e in events if e["jobId"] == job]
            bad = check_job(st, job, trans, final[job])
            if bad:
                problems[job] = bad
        ok(not problems, f"barge watch shows each of {len(jobs) + len(kids)} jobs as it was at each "
           "transition, the end as describe-jobs does, without storedJson, twice the same", problems)

        # -- an array parent: its own transitions and its children's, none with internal fields
        n = sum(1 for e in events if e["jobId"] == arr or e.get("parentJobId") == arr)
        p = st.run("watch", "--job", arr, "--from-beginning", "--count", str(n), timeout=60)
        evs = [json.loads(x)["detail"] for x in p.stdout.splitlines() if x.strip()]
        ok(len(evs) == n and evs[-1]["jobId"] == arr and evs[-1]["status"] == "SUCCEEDED"
           and all("storedJson" not in json.dumps(d) for d in evs),
           "--job <array parent>: its children's events and its own end", [d["status"] for d in evs])

        # -- a blocked job: its "Queue Blocked" comes after the "State Change" that made it RUNNABLE
        st.create_queue("qb", "local")
        st.register("huge", ["true"], vcpus=64)
        live = subprocess.Popen([common.BARGE, "watch", "--job-queue", "qb", "--count", "6"], env=st.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        huge = [st.submit(f"huge{i}", "qb", "huge") for i in range(3)]
        out, err = live.communicate(timeout=60)
        outs = {"live": out}
        for job in huge:
            outs[job] = st.run("watch", "--job", job, "--from-beginning", "--count", "2", timeout=60).stdout
        wrong = {}
        for name, text in outs.items():
            seq = [(e["detail"]["jobId"], e["detail-type"], e["detail"]["status"])
                   for e in map(json.loads, text.splitlines())]
            for job in huge if name == "live" else [name]:
                mine = [(t, s) for j, t, s in seq if j == job]
                if mine != [("Batch Job State Change", "RUNNABLE"), ("Batch Job Queue Blocked", "RUNNABLE")]:
                    wrong[f"{name} {job}"] = mine
        ok(not wrong, "a job too big for its queue: watch (live and --from-beginning) says it became RUNNABLE "
           "before it says it is blocked", wrong)

        # -- refusals
        for bad in ("0", "-1"):
            r = st.run("watch", "--count", bad, check=False, timeout=30)
            ok(r.returncode == 2 and "--count" in r.stderr, f"--count {bad} is refused (exit 2)",
               (r.returncode, r.stderr))
        t0 = time.monotonic()
        r = st.run("watch", "--job-queue", "nope", check=False, timeout=30)
        ok(r.returncode == 1 and "nope" in r.stderr and "does not exist" in r.stderr
           and time.monotonic() - t0 < 20, "--job-queue nope: exit 1, the queue does not exist",
           (r.returncode, r.stderr))
        r = st.run("watch", "--job-queue", "q", "--from-beginning", "--count", "1", timeout=30)
        ok(len(r.stdout.splitlines()) == 1, "--job-queue q (a queue that exists) still prints")
        w = subprocess.Popen([common.BARGE, "watch", "--job", "nope"], env=st.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5)
        w.terminate()
        out, err = w.communicate(timeout=30)
        ok("nope" in err and "not" in err and err.count("\n") == 1 and not out,
           "--job nope: one line on stderr says it waits for a job not seen yet", err)
        ok(w.returncode == 128 + signal.SIGTERM, "... and SIGTERM stops it with exit 143", w.returncode)

        # -- Ctrl-C before the end: 130, not 0
        w = subprocess.Popen([common.BARGE, "watch", "--job-queue", "q", "--from-beginning", "--count", "100000"],
                             env=st.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        w.send_signal(signal.SIGINT)
        out, err = w.communicate(timeout=30)
        ok(w.returncode == 130 and out.count("\n") > 10, "watch --count 100000 stopped by Ctrl-C after "
           f"{out.count(chr(10))} events: exit 130", (w.returncode, err))
        st.register("sleepy", ["sh", "-c", "echo started; sleep 60"])
        job = st.submit("sleepy", "q", "sleepy")
        f = subprocess.Popen([common.BARGE, "logs", "--follow", job], env=st.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        common.wait_for(lambda: st.describe(job).get(job, {}).get("status") == "RUNNING", 60, "the sleepy job running")
        time.sleep(2)
        f.send_signal(signal.SIGINT)
        out, err = f.communicate(timeout=30)
        ok(f.returncode == 130 and "started" in out, "logs --follow of a running job stopped by Ctrl-C: exit 130",
           (f.returncode, out, err))
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired, KeyError, json.JSONDecodeError) as e:
        ok(False, f"unexpected error: {e}")
    finally:
        st.close()
    common.finish()


if __name__ == "__main__":
    main()
