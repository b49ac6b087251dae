#!/usr/bin/env python3
"""test_topics_more_partitions.py: topics made by an earlier Barge, with 3 partitions, keep working.

Barge creates every topic with one partition (docs/architecture.md, "Topics"); before, it made
job-events, executions, jobs, placements and job-waits with 3. Here those five exist with 3
partitions before `barge up` (which leaves existing topics as they are). An array of 24 and 4
single jobs run to SUCCEEDED, their records spread over several partitions of barge.jobs; the
AWS Batch API started by `barge up` (its live view waits for the end of every partition, the
broker saying how many) describes every one of them as SUCCEEDED through the real aws CLI;
`barge status` exits 0 (its lag sums every partition); `barge logs NODE --follow` of a multi-node
job's node whose own id hashes to another partition than its parent's ends with the node (it
followed that other partition, never saw the node end and waited for ever); the replay rebuild
finds no difference."""
import json
import os
import re
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log, ok  # noqa: E402

OLD = ["job-events", "executions", "jobs", "placements", "job-waits"]


def make_old_topics(st):
    ck = common._kafka()
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": st.brokers})
    cfg = {"jobs": {"cleanup.policy": "compact"}}
    fs = admin.create_topics([NewTopic(st.topic(b), 3, 1, config=cfg.get(b, {"cleanup.policy": "delete"}))
                              for b in OLD])
    for f in fs.values():
        f.result(30)
    del ck


def aws_describe(st, cmd, ids):
    """DescribeJobs through the printed aws command (the real CLI against `barge api`)."""
    line = cmd.replace(" describe-job-queues", " describe-jobs --jobs " + " ".join(ids))
    p = subprocess.run(["bash", "-c", line], env=st.env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return {"error": p.stderr.strip()}
    return {j["jobId"]: j["status"] for j in json.loads(p.stdout)["jobs"]}


def follow_node(st):
    """A multi-node job whose node #1 hashes to another partition of barge.job-events than the
    parent's id, which keys the node's state changes (librdkafka's default partitioner: CRC-32 of
    the key, modulo the partition count): `barge logs ID#1 --follow` prints its log and ends."""
    def node(cmd):
        return {"image": "busybox", "command": ["sh", "-c", cmd],
                "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
    props = {"numNodes": 2, "mainNode": 0, "nodeRangeProperties": [
        {"targetNodes": "0", "container": node("sleep 4; echo main")},
        {"targetNodes": "1", "container": node("sleep 2; echo worker $AWS_BATCH_JOB_NODE_INDEX")}]}
    st.run("register-job-definition", "--job-definition-name", "mnp", "--type", "multinode",
           "--node-properties", json.dumps(props))
    job, gangs = None, []
    for _ in range(10):
        gangs.append(st.submit("gang", "q", "mnp"))
        if zlib.crc32(gangs[-1].encode()) % 3 != zlib.crc32(f"{gangs[-1]}#1".encode()) % 3:
            job = gangs[-1]
            break
    ok(job is not None, "a multi-node job whose node #1 hashes to another partition than its parent")
    try:
        p = subprocess.run([common.BARGE, "logs", f"{job}#1", "--follow"], env=st.env, capture_output=True,
                           text=True, timeout=90) if job else None
        ok(p and p.returncode == 0 and p.stdout == "worker 1\n",
           "barge logs ID#1 --follow prints the node's log and ends", p and (p.returncode, p.stdout, p.stderr))
    except subprocess.TimeoutExpired:
        ok(False, "barge logs ID#1 --follow ends when the node ends (it still waited after 90 s)")
    st.wait_terminal(gangs, 90)
    return [x for g in gangs for x in (g, f"{g}#0", f"{g}#1")]


def body(st):
    make_old_topics(st)
    ok(all(common.partitions(st, b) == [0, 1, 2] for b in OLD), "the five topics exist with 3 partitions")
    out = st.up("--agents", "2")
    cmd = next((ln.strip() for ln in out.splitlines() if ln.strip().startswith("AWS_SHARED_CREDENTIALS_FILE=")),
               None)
    ok(cmd is not None, "barge up prints the aws command of its API", out)
    ok(all(common.partitions(st, b) == [0, 1, 2] for b in OLD), "barge up left them as they were")
    st.create_queue("q", "local", priority=1)
    st.register("t", ["true"], settle=True)
    parent = st.submit("arr", "q", "t", size=24)
    singles = [st.submit(f"one{i}", "q", "t") for i in range(4)]
    ok(st.wait_array_done(parent, timeout=180) == "SUCCEEDED", "the array of 24 SUCCEEDED")
    done = st.wait_terminal(singles, 120)
    ok(all(j["status"] == "SUCCEEDED" for j in done.values()), "the 4 single jobs SUCCEEDED")
    children = [f"{parent}:{i}" for i in range(24)]
    recs = common.read_topic(st, "jobs")
    parts = {r["partition"] for r in recs}
    ok(len(parts) > 1, f"barge.jobs records landed on several partitions ({sorted(parts)})")
    ids = [parent] + singles + children
    got = {}
    if cmd:
        line = re.sub(r"AWS_SHARED_CREDENTIALS_FILE=\S+", "AWS_SHARED_CREDENTIALS_FILE=" +
                      st.stack_value("api_credentials"), cmd)
        got = common.wait_for(lambda: (lambda g: g if len(g) == len(ids) and
                                       all(v == "SUCCEEDED" for v in g.values()) else None)(
            aws_describe(st, line, ids)), 60, "the API to describe every job as SUCCEEDED")
    ok(len(got) == len(ids), f"the API describes all {len(ids)} jobs as SUCCEEDED", got)
    ids += follow_node(st)
    r = st.run("status", check=False)
    ok(r.returncode == 0, f"barge status exits 0 (got {r.returncode})", r.stdout[-1500:] + r.stderr[-800:])
    r = st.run("replay", "rebuild", check=False)
    ok(r.returncode == 0 and f"{len(ids)} jobs checked, 0 differences" in r.stdout,
       "the replay rebuild finds no difference", r.stdout[-1500:] + r.stderr[-800:])
    st.down()
    log("done")


if __name__ == "__main__":
    common.run_test("topics_more_partitions", body)
