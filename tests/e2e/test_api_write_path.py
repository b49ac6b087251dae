"""test_api_write_path.py: `barge api`'s concurrent write path (docs/api.md, "The write path").
Many SubmitJob at once over separate connections: every one answered 200 is in barge.requests
(durably written before the answer), ids distinct; configuration written by the `barge` CLI
straight to Kafka is usable through the API at once; configuration written through the API is
seen by the next request (a new queue takes jobs, a disabled one refuses them); concurrent
configuration writes stay consistent (one of four CreateJobQueue of one name wins; eight
concurrent RegisterJobDefinition get revisions 1..8); ListTagsForResource answers from the view
(a job's tags right after SubmitJob, before any scheduler recorded it), and TagResource counts a
job's tags as the view has them (30 submitted + 25 is over AWS's 50)."""
import json
import os
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import api_test, signed_request  # noqa: E402
from common import log, ok, read_topic  # noqa: E402

THREADS, EACH = 16, 25


def call(addr, op, req):
    st_, _, body = signed_request(addr, "POST", f"/v1/{op}", json.dumps(req).encode())
    try:
        return st_, json.loads(body)
    except ValueError:
        return st_, {"raw": body}


def at_once(n, fn):
    """fn(i) for i in 0..n-1 on n threads started together; the results in order."""
    out, gate = [None] * n, threading.Barrier(n)

    def run(i):
        gate.wait()
        out[i] = fn(i)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def body(st, addr):
    log("-- configuration written by the CLI is usable through the API at once")
    st.create_ce("wp-ce")
    st.create_queue("wp-q", "wp-ce")
    st.register("wp-jd", ["true"])
    a = call(addr, "submitjob", {"jobName": "first", "jobQueue": "wp-q", "jobDefinition": "wp-jd"})
    ok(a[0] == 200, "SubmitJob right after the CLI made the queue and job definition: 200", a)

    log(f"-- {THREADS} connections x {EACH} SubmitJob at once")

    def submit_many(i):
        ids = []
        for k in range(EACH):
            r = call(addr, "submitjob", {"jobName": f"c{i}-{k}", "jobQueue": "wp-q", "jobDefinition": "wp-jd"})
            ids.append(r[1].get("jobId") if r[0] == 200 else r)
        return ids
    got = [x for ids in at_once(THREADS, submit_many) for x in ids]
    ids = [x for x in got if isinstance(x, str)]
    ok(len(ids) == THREADS * EACH and len(set(ids)) == len(ids), f"all {THREADS * EACH} answered 200, distinct ids",
       [x for x in got if not isinstance(x, str)][:2])
    keys = {r["key"].decode() for r in read_topic(st, "requests") if r["key"]}
    ok(set(ids) <= keys, "every job answered 200 is in barge.requests", len(set(ids) - keys))

    log("-- concurrent configuration writes stay consistent")
    qs = at_once(4, lambda i: call(addr, "createjobqueue", {
        "jobQueueName": "wp-race", "priority": 1, "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "wp-ce"}]}))
    codes = sorted(q[0] for q in qs)
    ok(codes == [200, 400, 400, 400] and all("already exists" in q[1].get("message", "") for q in qs if q[0] == 400),
       "four CreateJobQueue of one name at once: one 200, three 'already exists'", qs)
    jds = at_once(8, lambda i: call(addr, "registerjobdefinition", {
        "jobDefinitionName": "wp-jd2", "type": "container",
        "containerProperties": {"image": "busybox", "command": ["true"], "vcpus": 1, "memory": 64}}))
    revs = sorted(j[1].get("revision", -1) for j in jds)
    ok(revs == list(range(1, 9)), "eight RegisterJobDefinition at once: revisions 1..8", revs)

    log("-- configuration written through the API is seen by the next request")
    a = call(addr, "createjobqueue", {"jobQueueName": "wp-new", "priority": 1,
                                      "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "wp-ce"}]})
    b = call(addr, "submitjob", {"jobName": "n", "jobQueue": "wp-new", "jobDefinition": "wp-jd2:8"})
    ok(a[0] == 200 and b[0] == 200, "CreateJobQueue, then SubmitJob to it at once: 200", (a, b))
    a = call(addr, "updatejobqueue", {"jobQueue": "wp-new", "state": "DISABLED"})
    b = call(addr, "submitjob", {"jobName": "n2", "jobQueue": "wp-new", "jobDefinition": "wp-jd2"})
    ok(a[0] == 200 and b[0] == 400 and "DISABLED" in b[1].get("message", ""),
       "UpdateJobQueue DISABLED, then SubmitJob to it at once: 400 DISABLED", (a, b))

    log("-- ListTagsForResource answers from the view, as DescribeJobs does")
    # no scheduler runs here: the job is in the API's view (read-your-writes), not in barge.jobs,
    # which ListTagsForResource used to read to its end per call ("job ... does not exist")
    a = call(addr, "submitjob", {"jobName": "tagged", "jobQueue": "wp-q", "jobDefinition": "wp-jd",
                                 "tags": {"team": "ml"}})
    arn = urllib.parse.quote(a[1].get("jobArn", ""), safe="")
    st_, _, raw = signed_request(addr, "GET", f"/v1/tags/{arn}")
    d = call(addr, "describejobs", {"jobs": [a[1].get("jobId")]})
    ok(a[0] == 200 and st_ == 200 and json.loads(raw) == {"tags": {"team": "ml"}}
       and [j.get("tags") for j in d[1].get("jobs", [])] == [{"team": "ml"}],
       "ListTagsForResource of a job right after SubmitJob: its tags, as DescribeJobs shows them", (st_, raw, d))
    # TagResource holds a job to AWS's 50 tags with the tags the view shows: it read barge.jobs,
    # where a job not yet recorded has none, and let 30 + 25 through
    a = call(addr, "submitjob", {"jobName": "tagged30", "jobQueue": "wp-q", "jobDefinition": "wp-jd",
                                 "tags": {f"k{i}": "v" for i in range(30)}})
    jarn = urllib.parse.quote(a[1].get("jobArn", ""), safe="")
    t = signed_request(addr, "POST", f"/v1/tags/{jarn}", json.dumps({"tags": {f"n{i}": "v" for i in range(25)}}).encode())
    ok(a[0] == 200 and t[0] == 400 and b"at most 50 tags" in t[2] and b"would have 55" in t[2],
       "TagResource of 25 tags on a job submitted with 30, not yet recorded: 400, at most 50", (a[0], t[0], t[2]))
    t = signed_request(addr, "POST", f"/v1/tags/{jarn}", json.dumps({"tags": {f"n{i}": "v" for i in range(20)}}).encode())
    ok(t[0] == 200, "TagResource of 20 more on it (50 in all): 200", (t[0], t[2]))
    qarn = urllib.parse.quote(call(addr, "describejobqueues", {"jobQueues": ["wp-q"]})[1]["jobQueues"][0]["jobQueueArn"], safe="")
    t = signed_request(addr, "POST", f"/v1/tags/{qarn}", json.dumps({"tags": {"env": "prod"}}).encode())
    st_, _, raw = signed_request(addr, "GET", f"/v1/tags/{qarn}")
    ok(t[0] == 200 and st_ == 200 and json.loads(raw) == {"tags": {"env": "prod"}},
       "TagResource of a queue, then ListTagsForResource at once: the new tag", (t[0], st_, raw))


def main():
    api_test("apiwrite", body)


if __name__ == "__main__":
    main()
