#!/usr/bin/env python3
"""test_replay_rebuild.py: `barge replay print` and `barge replay rebuild` on a real run.

A real scheduler and two real agents on the fixture broker (private topic prefix) run a workload
with arrays (plain, SEQUENTIAL, N_TO_N), dependencies (one satisfied, one failing in cascade),
a retried job, a cancellation of a PENDING job, a cancellation right after submission and the
termination of a running job. Then:
  - `barge replay rebuild` exits 0 and prints "N jobs checked, 0 differences" (N = every job and
    array child);
  - `barge replay print` prints one job's events in order, honours --key, --from-offset /
    --until-offset and --from / --until, and a topic's records carry topic/partition/offset;
  - a forged JobRecord (the job's status changed) is reported, exit status 1, in text and JSON;
  - once the start of barge.requests and barge.job-events is deleted (as retention does; the
    compacted barge.jobs keeps every record), the jobs whose history went are not checked and
    counted as such, exit 0 (each was a difference, "never submitted").
Also checked by the way: the scheduler's --record file has the input events as JSON lines.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def body(st):
    st.init_queue("q", "ce", maxv=4)
    st.register("ok", ["sh", "-c", "sleep 0.3"], memory=256)
    st.register("flaky", ["sh", "-c", 'test "$AWS_BATCH_JOB_ATTEMPT" -ge 2'], memory=256,
                retry_strategy={"attempts": 2})
    st.register("fail", ["sh", "-c", "exit 3"], memory=256)
    st.register("long", ["sleep", "120"], memory=256)
    record = os.path.join(st.home, "input.jsonl")
    st.scheduler("--record", record, tick_ms=500)
    st.agent("i-0000000000000aa01", "ce", memory=4096, instance_type="m5.large", kill_grace_ms=2000)
    st.agent("i-0000000000000aa02", "ce", memory=4096, instance_type="m5.large", kill_grace_ms=2000)

    ids = []
    a = st.submit_json(jobName="a", jobQueue="q", jobDefinition="ok")
    b = st.submit_json(jobName="b", jobQueue="q", jobDefinition="ok", arrayProperties={"size": 4})
    c = st.submit_json(jobName="c", jobQueue="q", jobDefinition="ok", dependsOn=[{"jobId": a}])
    d = st.submit_json(jobName="d", jobQueue="q", jobDefinition="flaky")
    e = st.submit_json(jobName="e", jobQueue="q", jobDefinition="fail")
    f = st.submit_json(jobName="f", jobQueue="q", jobDefinition="ok", dependsOn=[{"jobId": e}])
    g = st.submit_json(jobName="g", jobQueue="q", jobDefinition="ok", arrayProperties={"size": 3},
                  dependsOn=[{"type": "SEQUENTIAL"}])
    h = st.submit_json(jobName="h", jobQueue="q", jobDefinition="ok", arrayProperties={"size": 4},
                  dependsOn=[{"jobId": b, "type": "N_TO_N"}])
    i = st.submit_json(jobName="i", jobQueue="q", jobDefinition="long")
    j = st.submit_json(jobName="j", jobQueue="q", jobDefinition="ok", dependsOn=[{"jobId": i}])
    ids += [a, b, c, d, e, f, g, h, i, j]
    more = [st.submit_json(jobName=f"m{k}", jobQueue="q", jobDefinition="ok") for k in range(6)]
    ids += more
    st.run("cancel-job", "--job-id", more[-1], "--reason", "not needed")
    st.run("cancel-job", "--job-id", j, "--reason", "depends on a job we stop")
    # terminate i once it runs
    common.wait_for(lambda: st.describe(i).get(i, {}).get("status") == "RUNNING", 240, "job i RUNNING")
    st.run("terminate-job", "--job-id", i, "--reason", "stopped by the test")
    jobs = st.wait_terminal(ids, timeout=300)
    status = {k: v["status"] for k, v in jobs.items()}
    log("final: " + json.dumps({n: status[x] for n, x in zip("abcdefghij", ids[:10])}))
    ok(status[a] == "SUCCEEDED" and status[b] == "SUCCEEDED" and status[c] == "SUCCEEDED",
       "plain, array and dependent jobs succeeded")
    ok(status[d] == "SUCCEEDED" and len(jobs[d]["attempts"]) == 2, "the flaky job succeeded on its retry")
    ok(status[e] == "FAILED" and status[f] == "FAILED", "a failure cascades to its dependent")
    ok(status[g] == "SUCCEEDED" and status[h] == "SUCCEEDED", "SEQUENTIAL and N_TO_N arrays succeeded")
    ok(status[i] == "FAILED" and jobs[i]["statusReason"].startswith("Terminated"), "the running job was terminated")
    ok(status[j] == "FAILED" and jobs[j].get("isCancelled"), "the pending job was cancelled")

    # ---- rebuild: no difference ----
    time.sleep(1)
    r = st.run("replay", "rebuild", check=False)
    log(r.stdout[-2000:] + r.stderr[-2000:])
    n_jobs = len(ids) + 4 + 3 + 4  # array children
    ok(r.returncode == 0, f"replay rebuild exits 0 (got {r.returncode})")
    ok(f"{n_jobs} jobs checked, 0 differences" in r.stdout, f"summary says {n_jobs} jobs checked, 0 differences")
    rj = st.run("replay", "rebuild", "--json", check=False)
    summary = json.loads(rj.stdout.strip().splitlines()[-1])["summary"]
    ok(summary["jobsChecked"] == n_jobs and summary["differences"] == 0, "the JSON summary agrees")

    # ---- print ----
    p = st.run("replay", "print", "--topic", "job-events", "--key", d)
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    ok(len(lines) >= 6 and all(x["key"] == d for x in lines), f"print --key gives the flaky job's {len(lines)} events")
    ok([x["event"]["newStatus"] for x in lines][:2] == ["RUNNABLE", "STARTING"] and
       lines[-1]["event"]["newStatus"] == "SUCCEEDED", "in order, from RUNNABLE to SUCCEEDED")
    ok(all(k in lines[0] for k in ("topic", "partition", "offset", "timestamp", "key", "event")) and
       lines[0]["topic"] == st.prefix + "job-events", "each line names topic, partition, offset, timestamp, key")
    part, first = lines[0]["partition"], lines[0]["offset"]
    p2 = st.run("replay", "print", "--topic", "job-events", "--key", d, "--from-offset", str(first + 1),
                "--until-offset", str(lines[2]["offset"]))
    l2 = [json.loads(x) for x in p2.stdout.splitlines()]
    ok([x["offset"] for x in l2] == [x["offset"] for x in lines[1:3]], "--from-offset/--until-offset bound the range")
    # the first timestamp after the first event's (two events of one transaction may share a ms)
    t_mid = next(x["timestamp"] for x in lines if x["timestamp"] > lines[0]["timestamp"])
    p3 = st.run("replay", "print", "--topic", st.prefix + "job-events", "--key", d, "--from", str(t_mid))
    l3 = [json.loads(x) for x in p3.stdout.splitlines()]
    want = [x["offset"] for x in lines if x["timestamp"] >= t_mid]
    ok([x["offset"] for x in l3] == want and len(want) < len(lines), "--from TIME bounds the range")
    p4 = st.run("replay", "print", "--topic", "requests")
    reqs = [json.loads(x) for x in p4.stdout.splitlines()]
    subs = [x for x in reqs if "SubmitJob" in x["event"]["body"]]
    ok(len(subs) == len(ids), f"print --topic requests shows the {len(ids)} submissions")
    bad = st.run("replay", "print", "--topic", "nope", check=False)
    ok(bad.returncode == 2, "an unknown topic is a usage error")

    # the scheduler's own input log
    with open(record) as fh:  # the scheduler still writes it: complete lines only
        rec = [json.loads(x) for x in fh if x.endswith("\n")]
    ok(any(x["type"] == "barge.JobRequest" for x in rec) and any(x["type"] == "barge.ExecutionReport" for x in rec),
       "the scheduler's --record file holds its input events")

    # ---- a forged record ----
    pa = st.run("replay", "print", "--topic", "jobs", "--key", a)
    latest = [json.loads(x) for x in pa.stdout.splitlines()][-1]["event"]
    latest["detail"]["status"] = "FAILED"
    latest["seq"] = latest.get("seq", 0) + 1
    common.produce_raw(st, "jobs", a.encode(), common.Avro().encode("JobRecord", latest))
    r = st.run("replay", "rebuild", check=False)
    log(r.stdout[-1500:])
    ok(r.returncode == 1, f"a forged record: rebuild exits 1 (got {r.returncode})")
    ok(f"job {a}: status: rebuilt SUCCEEDED, barge.jobs FAILED" in r.stdout, "the difference names the job and the field")
    ok(f"{n_jobs} jobs checked, 1 differences" in r.stdout, "the summary counts it")
    rj = st.run("replay", "rebuild", "--json", check=False)
    first = json.loads(rj.stdout.splitlines()[0])
    ok(first == {"jobId": a, "field": "status", "rebuilt": "SUCCEEDED", "recorded": "FAILED"}, "JSON difference")

    # ---- the start of the log deleted, as retention does: a's request and early events go ----
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient
    b_req = next(x["offset"] for x in subs if x["event"]["body"]["SubmitJob"]["jobId"] == b)
    b_ev = json.loads(st.run("replay", "print", "--topic", "job-events", "--key", b).stdout.splitlines()[0])["offset"]
    admin = AdminClient({"bootstrap.servers": st.brokers})
    for f in admin.delete_records([TopicPartition(st.topic("requests"), 0, b_req),
                                   TopicPartition(st.topic("job-events"), 0, b_ev)]).values():
        f.result(30)
    r = st.run("replay", "rebuild", check=False)
    log(r.stdout[-1500:])
    ok(r.returncode == 0 and " 0 differences (" in r.stdout and "jobs not checked: their history begins before" in r.stdout,
       "with the log's start deleted: exit 0, the jobs whose history went not checked", (r.returncode, r.stdout[-600:]))
    rj = st.run("replay", "rebuild", "--json", check=False)
    summary = json.loads(rj.stdout.strip().splitlines()[-1])["summary"]
    ok(summary["differences"] == 0 and summary["notRetained"] >= 1 and
       summary["jobsChecked"] + summary["notRetained"] == n_jobs, "the JSON summary counts them apart", summary)


if __name__ == "__main__":
    common.run_test("rebuild", body)
