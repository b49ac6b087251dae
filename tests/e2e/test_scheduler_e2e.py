"""test_scheduler_e2e.py: issue #3 through the real binary, the real broker and real agents.

Resources and their rules (revisions, INACTIVE, a CE used by a queue, a DISABLED queue), array
jobs with N_TO_N and SEQUENTIAL dependencies, retries by evaluateOnExit, a timeout that kills a
sleeping job, cancel of a RUNNABLE job versus terminate of a RUNNING one, list-jobs filters and
pagination, and `barge watch`.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Stack, finish, log, ok, wait_for  # noqa: E402


def main():
    st = Stack("sched")
    st.env["BARGE_MIN_ATTEMPT_DURATION_SECONDS"] = "1"  # a 2 s timeout, for the test's sake
    try:
        st.init()
        st.scheduler(tick_ms=200)
        st.agent("i-00000000000000001", name="agent-1", vcpus=2, memory=2048)
        st.agent("i-00000000000000002", name="agent-2", vcpus=2, memory=2048)
        st.run("create-compute-environment", "--compute-environment-name", "local", "--type", "UNMANAGED")
        st.create_queue("q1", "local", priority=10)

        log("-- resources: revisions, INACTIVE, a CE in use, a DISABLED queue")
        r1 = st.register("echo", ["sh", "-c", "echo rev1 $AWS_BATCH_JOB_ARRAY_INDEX"])
        r2 = st.register("echo", ["sh", "-c", "echo child $AWS_BATCH_JOB_ARRAY_INDEX of $AWS_BATCH_JOB_ID"])
        ok(r1["revision"] == 1 and r2["revision"] == 2, "revisions count up from 1")
        st.run("deregister-job-definition", "--job-definition", "echo:1")
        jds = st.json("describe-job-definitions", "--job-definition-name", "echo")["jobDefinitions"]
        status = {d["revision"]: d["status"] for d in jds}
        ok(status == {1: "INACTIVE", 2: "ACTIVE"}, "deregister makes a revision INACTIVE", status)
        p = st.run("submit-job", "--job-name", "x", "--job-queue", "q1", "--job-definition", "echo:1", check=False)
        ok(p.returncode == 254 and "INACTIVE" in p.stderr, "a submission against an INACTIVE revision is refused", p.stderr)
        p = st.run("delete-compute-environment", "--compute-environment", "local", check=False)
        ok(p.returncode == 254 and "DISABLED" in p.stderr, "an ENABLED CE cannot be deleted", p.stderr)
        st.run("update-compute-environment", "--compute-environment", "local", "--state", "DISABLED")
        p = st.run("delete-compute-environment", "--compute-environment", "local", check=False)
        ok(p.returncode == 254 and "q1" in p.stderr, "a CE used by a queue cannot be deleted", p.stderr)
        st.run("update-compute-environment", "--compute-environment", "local", "--state", "ENABLED")
        ces = st.json("describe-compute-environments", "--compute-environments", "local")["computeEnvironments"]
        ok(len(ces) == 1 and ces[0]["state"] == "ENABLED" and ces[0]["type"] == "UNMANAGED", "describe-compute-environments", ces)
        want = ["i-00000000000000001", "i-00000000000000002"]

        def listed():
            c = st.json("describe-compute-environments", "--compute-environments", "local")["computeEnvironments"]
            return sorted(i["instanceId"] for i in c[0].get("instances", [])) == want
        try:  # the agents register a moment after they start
            ok(wait_for(listed, 30, "the agents in describe-compute-environments"), "describe-compute-environments lists the CE's instances")
        except TimeoutError as e:
            ok(False, "describe-compute-environments lists the CE's instances", str(e))

        log("-- arrays: 10 children N_TO_N-dependent on another array of 10, through real agents")
        a = st.submit("first", "q1", "echo", "--array-properties", "size=10")
        b = st.submit("second", "q1", "echo", "--array-properties", "size=10", "--depends-on", f"jobId={a},type=N_TO_N")
        done = st.wait_terminal([a, b], 120)
        ok(done[a]["status"] == "SUCCEEDED" and done[b]["status"] == "SUCCEEDED", "both arrays succeed",
           {k: v["status"] for k, v in done.items()})
        summary = done[b]["arrayProperties"]["statusSummary"]
        ok(summary["SUCCEEDED"] == 10 and len(summary) == 7, "statusSummary counts 10 SUCCEEDED over 7 keys", summary)
        kids_a = st.describe(*[f"{a}:{i}" for i in range(10)])
        kids_b = st.describe(*[f"{b}:{i}" for i in range(10)])
        ok(all(kids_b[f"{b}:{i}"]["startedAt"] >= kids_a[f"{a}:{i}"]["stoppedAt"] for i in range(10)),
           "child i of the second array starts after child i of the first stopped")
        out = st.run("logs", f"{b}:7").stdout
        ok(f"child 7 of {b}:7" in out, "a child sees its AWS_BATCH_JOB_ARRAY_INDEX and id", out)

        log("-- SEQUENTIAL: a failing child fails every later one")
        st.register("seq", ["sh", "-c", "test $AWS_BATCH_JOB_ARRAY_INDEX -ne 1"])
        s = st.submit("seq", "q1", "seq", "--array-properties", "size=4", "--depends-on", "type=SEQUENTIAL")
        st.wait_terminal([s], 60)
        kids = st.describe(*[f"{s}:{i}" for i in range(4)])
        sts = [kids[f"{s}:{i}"]["status"] for i in range(4)]
        ok(sts == ["SUCCEEDED", "FAILED", "FAILED", "FAILED"], "SEQUENTIAL order and failure propagation", sts)
        ok(kids[f"{s}:2"]["statusReason"] == f"Dependent job {s}:1 failed", "the dependency reason",
           kids[f"{s}:2"].get("statusReason"))

        log("-- retryStrategy with evaluateOnExit")
        st.register("flaky", ["sh", "-c", 'test "$AWS_BATCH_JOB_ATTEMPT" -ge 2 || exit 3'],
                     retry_strategy={"attempts": 3, "evaluateOnExit": [{"onExitCode": "3", "action": "RETRY"}, {"onExitCode": "*", "action": "EXIT"}]})
        f = st.submit("flaky", "q1", "flaky")
        d = st.wait_terminal([f], 60)[f]
        ok(d["status"] == "SUCCEEDED" and len(d["attempts"]) == 2, "retried once, then succeeded",
           (d["status"], len(d["attempts"])))
        ok(d["attempts"][0]["container"]["exitCode"] == 3, "the first attempt's exit code is kept")

        log("-- a timeout kills a sleeping job, and is not retried")
        st.register("sleeper", ["sleep", "60"], timeout={"attemptDurationSeconds": 2}, retry_strategy={"attempts": 3})
        t = st.submit("sleeper", "q1", "sleeper")
        d = st.wait_terminal([t], 60)[t]
        ok(d["status"] == "FAILED" and d["statusReason"] == "Job attempt duration exceeded timeout",
           "FAILED with the timeout reason", (d["status"], d.get("statusReason")))
        ok(len(d["attempts"]) == 1, "a timed-out job is not retried", len(d["attempts"]))
        ok(d["stoppedAt"] - d["startedAt"] < 30000, "killed soon after its 2 s timeout",
           d["stoppedAt"] - d["startedAt"])

        log("-- terminate a RUNNING job, cancel a RUNNABLE one")
        st.register("long", ["sleep", "60"], vcpus=2)
        longs = [st.submit(f"long{i}", "q1", "long") for i in range(3)]  # 2 fit on 2 agents, 1 waits
        wait_for(lambda: sum(j["status"] == "RUNNING" for j in st.describe(*longs).values()) == 2, 60, "two RUNNING")
        jobs = st.describe(*longs)
        running = [i for i in longs if jobs[i]["status"] == "RUNNING"]
        waiting = [i for i in longs if jobs[i]["status"] == "RUNNABLE"]
        ok(len(waiting) == 1, "the third waits RUNNABLE", {k: v["status"] for k, v in jobs.items()})
        snap = st.json("get-job-queue-snapshot", "--job-queue", "q1")["frontOfQueue"]["jobs"]
        ok([x["jobArn"] for x in snap] == [jobs[waiting[0]]["jobArn"]], "get-job-queue-snapshot shows the waiting job", snap)
        st.run("cancel-job", "--job-id", running[0], "--reason", "cancel is not for running jobs")
        st.run("cancel-job", "--job-id", waiting[0], "--reason", "not needed")
        d = st.wait_terminal([waiting[0]], 30)[waiting[0]]
        ok(d["status"] == "FAILED" and d["statusReason"] == "Cancelled: not needed" and d["isCancelled"],
           "cancel of a RUNNABLE job", (d["status"], d.get("statusReason")))
        ok(st.describe(running[0])[running[0]]["status"] == "RUNNING", "cancel leaves a RUNNING job running")
        for i in running:
            st.run("terminate-job", "--job-id", i, "--reason", "enough")
        d = st.wait_terminal(running, 60)
        ok(all(v["status"] == "FAILED" and v["statusReason"] == "Terminated: enough" and v["isTerminated"]
               for v in d.values()), "terminate stops RUNNING jobs", {k: v.get("statusReason") for k, v in d.items()})

        log("-- list-jobs: status, filters, pagination, array children")
        lst = st.json("list-jobs", "--job-queue", "q1", "--job-status", "SUCCEEDED")["jobSummaryList"]
        ids = [x["jobId"] for x in lst]
        ok(a in ids and b in ids and f in ids and f"{a}:0" not in ids, "SUCCEEDED jobs and parents, no children", len(ids))
        ok([x["createdAt"] for x in lst] == sorted([x["createdAt"] for x in lst], reverse=True), "newest first")
        lst = st.json("list-jobs", "--job-queue", "q1", "--filters", "name=JOB_NAME,values=long*")["jobSummaryList"]
        ok(sorted(x["jobId"] for x in lst) == sorted(longs), "JOB_NAME filter with a prefix", [x["jobName"] for x in lst])
        page = st.json("list-jobs", "--job-queue", "q1", "--job-status", "SUCCEEDED", "--max-results", "2")
        ok(len(page["jobSummaryList"]) == 2 and "nextToken" in page, "a page of 2 and a nextToken")
        page2 = st.json("list-jobs", "--job-queue", "q1", "--job-status", "SUCCEEDED", "--max-results", "2",
                         "--next-token", page["nextToken"])
        ok(not set(x["jobId"] for x in page2["jobSummaryList"]) & set(x["jobId"] for x in page["jobSummaryList"]),
           "the next page holds other jobs")
        kids = st.json("list-jobs", "--array-job-id", a, "--job-status", "SUCCEEDED")["jobSummaryList"]
        ok(len(kids) == 10 and all(k["arrayProperties"]["index"] >= 0 for k in kids), "children via --array-job-id", len(kids))

        log("-- scheduling policies and a fair-share queue")
        pol = st.json("create-scheduling-policy", "--name", "fs", "--fairshare-policy",
                       json.dumps({"shareDecaySeconds": 0, "computeReservation": 0,
                                   "shareDistribution": [{"shareIdentifier": "blue", "weightFactor": 1},
                                                         {"shareIdentifier": "red*", "weightFactor": 3}]}))
        ok(pol["arn"].endswith("scheduling-policy/fs"), "create-scheduling-policy returns its ARN", pol)
        p = st.run("create-scheduling-policy", "--name", "bad", "--fairshare-policy",
                    json.dumps({"shareDistribution": [{"shareIdentifier": "a*"}, {"shareIdentifier": "ab"}]}), check=False)
        ok(p.returncode == 254 and "overlap" in p.stderr, "overlapping share identifiers are refused", p.stderr)
        st.run("create-job-queue", "--job-queue-name", "fair", "--priority", "5", "--scheduling-policy-arn", pol["arn"],
                "--compute-environment-order", "order=1,computeEnvironment=local")
        p = st.run("submit-job", "--job-name", "x", "--job-queue", "fair", "--job-definition", "echo", check=False)
        ok(p.returncode == 254 and "shareIdentifier" in p.stderr, "a fair-share queue needs shareIdentifier", p.stderr)
        fj = [st.submit(f"f{i}", "fair", "echo", "--share-identifier", "blue" if i % 2 else "red1") for i in range(6)]
        d = st.wait_terminal(fj, 60)
        ok(all(v["status"] == "SUCCEEDED" for v in d.values()), "fair-share jobs run", {k: v["status"] for k, v in d.items()})
        ok(all(v["shareIdentifier"] in ("blue", "red1") for v in d.values()), "shareIdentifier is reported")
        st.run("update-scheduling-policy", "--arn", pol["arn"], "--fairshare-policy", json.dumps({"shareDecaySeconds": 3600}))
        got = st.json("describe-scheduling-policies", "--arns", pol["arn"])["schedulingPolicies"]
        ok(got and got[0]["fairsharePolicy"]["shareDecaySeconds"] == 3600, "update-scheduling-policy", got)
        p = st.run("delete-scheduling-policy", "--arn", pol["arn"], check=False)
        ok(p.returncode == 254 and "fair" in p.stderr, "a policy used by a queue cannot be deleted", p.stderr)

        log("-- a DISABLED queue takes no new jobs but finishes its own")
        st.register("pause", ["sleep", "2"])
        pj = st.submit("pause", "q1", "pause")
        st.run("update-job-queue", "--job-queue", "q1", "--state", "DISABLED")
        p = st.run("submit-job", "--job-name", "late", "--job-queue", "q1", "--job-definition", "pause", check=False)
        ok(p.returncode == 254 and "DISABLED" in p.stderr, "submissions to a DISABLED queue are refused", p.stderr)
        ok(st.wait_terminal([pj], 60)[pj]["status"] == "SUCCEEDED", "its queued job still runs")
        st.run("update-job-queue", "--job-queue", "q1", "--state", "ENABLED")

        log("-- barge watch: Batch Job State Change events")
        w = st.run("watch", "--from-beginning", "--job", f, "--count", "7", timeout=60).stdout.splitlines()
        evs = [json.loads(x) for x in w]
        seq = [e["detail"]["status"] for e in evs]
        ok(seq == ["RUNNABLE", "STARTING", "RUNNING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"],
           "the states of the retried job, in order, and --count exactly", seq)
        ok(all(e["detail-type"] == "Batch Job State Change" and e["source"] == "aws.batch"
               and e["resources"] == [e["detail"]["jobArn"]] for e in evs), "the EventBridge envelope")
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired, KeyError, json.JSONDecodeError) as e:
        ok(False, f"unexpected error: {e}")
    finally:
        st.close()
    finish()


if __name__ == "__main__":
    main()
