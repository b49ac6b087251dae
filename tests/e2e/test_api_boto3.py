"""test_api_boto3.py: `barge api` driven by boto3 (the version scripts/requirements.txt pins), as
a Python user of AWS Batch would, against a real scheduler and agent.

Create compute environments, queues and job definitions; submit a single job, an array of 8 with
an N_TO_N dependant array of 8, and a job whose first attempt fails and whose retryStrategy runs
it again; follow them with describe_jobs until they end (botocore defines no Batch waiters, so
polling is what users do); list_jobs with the paginator (PageSize, MaxItems/StartingToken) and
by hand (maxResults/nextToken); cancel_job and terminate_job; the finished job's log through the
`logs` client (get_log_events of describe_jobs' container.logStreamName); botocore's decoding of Barge's
errors. A SubmitJob racing a ListJobs page walk must neither lose nor repeat a job that existed
before the walk began.

Reads answer from the API's in-memory view: a job is described and listed right after
submit_job answers (read-your-writes), and so is a job definition right after
register_job_definition; nextToken is opaque (a made-up one is refused) and stable while jobs
are submitted; describe_jobs takes at most 100 ids.

Tagging and identity (docs/job-model.md §10): tags given at creation and submission are shown by
the Describe* calls and ListTagsForResource; tag_resource / untag_resource on a queue, a job
definition, a compute environment, a scheduling policy and a job; propagateTags gives the job's
container the job definition's tags overlaid by the job's; AWS's tag limits and members Barge
does not honour are refused with a ClientException naming them, and nothing is written to
barge.config or barge.requests then. ARNs are arn:aws:batch:us-east-1:<the key's
barge_account_id>:..., and the requests record the key's profile as their principal."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, api_test  # noqa: E402
import common  # noqa: E402
from common import TERMINAL, log, ok  # noqa: E402

import boto3  # noqa: E402
import botocore  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402


def client(addr, key=ADMIN):
    s = boto3.session.Session(aws_access_key_id=key[0], aws_secret_access_key=key[1], region_name="us-east-1")
    return s.client("batch", endpoint_url=f"http://{addr[0]}:{addr[1]}",
                    config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=120))


def props(command, vcpus=1, memory=64):
    return {"image": "busybox", "command": command,
            "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)}, {"type": "MEMORY", "value": str(memory)}]}


def poll(batch, ids, done, timeout, what, interval=1.0):
    """describe_jobs (100 ids a call) until done(job) holds for every id, as a user's loop does;
    returns {id: job}. On timeout, returns what it last saw and logs it."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {}
        for i in range(0, len(ids), 100):
            for j in batch.describe_jobs(jobs=ids[i:i + 100])["jobs"]:
                seen[j["jobId"]] = j
        if len(seen) == len(ids) and all(done(j) for j in seen.values()):
            return seen
        if time.monotonic() > deadline:
            log(f"  timed out after {timeout} s waiting for {what}: " +
                json.dumps({i: seen.get(i, {}).get("status") for i in ids})[:600])
            return seen
        time.sleep(interval)


def body_of(response):
    """A boto3 answer without botocore's ResponseMetadata."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def terminal(j):
    return j["status"] in TERMINAL


def status_is(s):
    return lambda j: j["status"] == s


def resources(batch, st):
    log("-- resources through boto3")
    for name in ("local", "idle"):
        ce = batch.create_compute_environment(computeEnvironmentName=name, type="UNMANAGED")
        ok(ce.get("computeEnvironmentName") == name and ce.get("computeEnvironmentArn"),
           f"create_compute_environment {name}", ce)
    for name, ce in (("q", "local"), ("idle-q", "idle")):
        # jobQueueType ECS, what AWS reports for such a queue, was refused as out of scope
        typed = {"jobQueueType": "ECS"} if name == "idle-q" else {}
        q = batch.create_job_queue(jobQueueName=name, priority=10,
                                   computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}], **typed)
        ok(q.get("jobQueueName") == name and q.get("jobQueueArn"), f"create_job_queue {name} over {ce}", q)
    marker = os.path.join(st.home, "retry-marker")
    defs = {"hello": (props(["sh", "-c", "echo hello from boto3"]), {}),
            "indexed": (props(["sh", "-c", "echo child $AWS_BATCH_JOB_ARRAY_INDEX"]), {}),
            # fails its first attempt (no marker yet), succeeds the next
            "flaky": (props(["sh", "-c", f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; exit 3"]),
                      {"retryStrategy": {"attempts": 3}}),
            "sleeper": (props(["sleep", "300"]), {})}
    for name, (cp, extra) in defs.items():
        jd = batch.register_job_definition(jobDefinitionName=name, type="container", containerProperties=cp, **extra)
        ok(jd.get("jobDefinitionName") == name and jd.get("revision") == 1, f"register_job_definition {name}", jd)
        got = batch.describe_job_definitions(jobDefinitions=[jd["jobDefinitionArn"]])["jobDefinitions"]
        ok([d.get("jobDefinitionName") for d in got] == [name],
           f"describe_job_definitions right after registering {name} shows it (read-your-writes)", got)
    time.sleep(2)  # let the scheduler's configuration consumer read the new resources
    got = batch.describe_job_queues()["jobQueues"]
    ok(sorted(q["jobQueueName"] for q in got) == ["idle-q", "q"], "describe_job_queues lists both queues",
       [q["jobQueueName"] for q in got])
    ok([q.get("jobQueueType") for q in got] == ["ECS", "ECS"],
       "describe_job_queues: jobQueueType ECS on both, given or not", [(q["jobQueueName"], q.get("jobQueueType")) for q in got])
    got = batch.describe_job_definitions(jobDefinitionName="flaky", status="ACTIVE")["jobDefinitions"]
    ok(len(got) == 1 and got[0].get("retryStrategy", {}).get("attempts") == 3,
       "describe_job_definitions shows the retry strategy", got)


def single_job(batch, st):
    log("-- a single job")
    sub = batch.submit_job(jobName="b1", jobQueue="q", jobDefinition="hello")
    job_id = sub.get("jobId")
    ok(job_id and sub.get("jobName") == "b1" and sub.get("jobArn"), "submit_job answers jobId, jobName, jobArn", sub)
    at_once = batch.describe_jobs(jobs=[job_id])["jobs"]
    ok([j["jobId"] for j in at_once] == [job_id] and at_once[0].get("jobName") == "b1"
       and at_once[0].get("status") in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"),
       "describe_jobs right after submit_job shows the job (read-your-writes)", at_once)
    listed = batch.list_jobs(jobQueue="q", filters=[{"name": "JOB_NAME", "values": ["b1"]}])["jobSummaryList"]
    ok([s["jobId"] for s in listed] == [job_id], "list_jobs right after submit_job lists it", listed)
    try:
        batch.describe_jobs(jobs=[job_id] * 101)
        ok(False, "describe_jobs of 101 ids is refused")
    except ClientError as e:
        ok(e.response["Error"]["Code"] == "ClientException" and "100" in e.response["Error"]["Message"],
           "describe_jobs of 101 ids is refused with ClientException", e.response["Error"])
    ok(job_id in [j["jobId"] for j in batch.describe_jobs(jobs=[job_id] * 100)["jobs"]], "describe_jobs takes 100 ids")
    # an empty id was looked up and left out (an empty answer, as for a job that does not exist)
    client_error(lambda: batch.describe_jobs(jobs=[job_id, ""]), "describe_jobs with an empty id: ClientException (400)",
                 "jobs[1] is empty")
    after = batch.submit_job(jobName="b1-after", jobQueue="q", jobDefinition="hello", dependsOn=[{"jobId": job_id}])
    ok(after.get("jobId"), "submit_job dependsOn the job submitted a moment ago is accepted", after)
    try:
        batch.submit_job(jobName="orphan", jobQueue="q", jobDefinition="hello",
                         dependsOn=[{"jobId": "00000000-0000-4000-8000-000000000000"}])
        ok(False, "submit_job dependsOn an unknown job is refused")
    except ClientError as e:
        ok(e.response["Error"]["Code"] == "ClientException" and "does not exist" in e.response["Error"]["Message"],
           "submit_job dependsOn an unknown job is refused with ClientException", e.response["Error"])
    # Airflow's AwsBatchOperator submits every plain job with arrayProperties={}, parameters={} and
    # containerOverrides={} (its defaults, `or {}`); AWS runs it as a single job
    af = batch.submit_job(jobName="airflow", jobQueue="q", jobDefinition="hello", arrayProperties={},
                          parameters={}, containerOverrides={}).get("jobId")
    done = poll(batch, [job_id, af], terminal, 180, "the single job and Airflow's")
    ok(done.get(af, {}).get("status") == "SUCCEEDED" and "arrayProperties" not in done.get(af, {}),
       "submit_job as Airflow's AwsBatchOperator sends it runs a single job to SUCCEEDED",
       {k: done.get(af, {}).get(k) for k in ("status", "statusReason", "arrayProperties")})
    j = done.get(job_id, {})
    ok(j.get("status") == "SUCCEEDED" and j.get("container", {}).get("exitCode") == 0,
       "describe_jobs polled to SUCCEEDED, exit code 0", (j.get("status"), j.get("statusReason")))
    ok(j.get("jobQueue", "").endswith("job-queue/q") and j.get("startedAt", 0) >= j.get("createdAt", 1) > 0
       and j.get("stoppedAt", 0) >= j.get("startedAt", 1), "its queue and timestamps",
       {k: j.get(k) for k in ("jobQueue", "createdAt", "startedAt", "stoppedAt")})
    listed = [s["jobId"] for s in batch.list_jobs(jobQueue="q", jobStatus="SUCCEEDED")["jobSummaryList"]]
    ok(job_id in listed, "list_jobs(jobStatus=SUCCEEDED) lists it", listed)
    cli = st.describe(job_id).get(job_id, {})
    ok(cli.get("status") == "SUCCEEDED" and cli.get("jobArn") == sub.get("jobArn"),
       "the barge CLI sees the same job", cli.get("status"))
    # the job's log as Airflow's BatchOperator fetches it: the stream describe_jobs names
    logs = boto3.session.Session(aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1],
                                 region_name="us-east-1").client("logs", endpoint_url=batch.meta.endpoint_url,
                                                                 config=batch.meta.config)
    stream = j.get("container", {}).get("logStreamName", "")
    ev = logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream, startFromHead=True)["events"]
    ok([e["message"] for e in ev] == ["hello from boto3"],
       "logs.get_log_events(/aws/batch/job, container.logStreamName) returns the job's output", (stream, ev))
    # a job definition whose logConfiguration names its own group (awslogs-group): Airflow's
    # BatchOperator and Nextflow read the log from that group, as AWS writes it there
    cp = props(["sh", "-c", "echo in my own group"])
    cp["logConfiguration"] = {"logDriver": "awslogs", "options": {"awslogs-group": "/barge/custom"}}
    batch.register_job_definition(jobDefinitionName="grouped", type="container", containerProperties=cp)
    g = batch.submit_job(jobName="grouped", jobQueue="q", jobDefinition="grouped")["jobId"]
    gj = poll(batch, [g], terminal, 180, "the job logging to /barge/custom").get(g, {})
    gc = gj.get("container", {})
    try:
        ev = logs.get_log_events(logGroupName=gc.get("logConfiguration", {}).get("options", {}).get("awslogs-group", "?"),
                                 logStreamName=gc.get("logStreamName", ""), startFromHead=True)["events"]
        got = [e["message"] for e in ev]
    except ClientError as e:
        got = e.response["Error"]
    ok(gj.get("status") == "SUCCEEDED" and got == ["in my own group"],
       "logs.get_log_events(its awslogs-group, container.logStreamName) returns the job's output", (gc, got))


def arrays_and_retry(batch, st):
    log("-- an array of 8, its N_TO_N dependant array, and a job with a retry strategy")
    a = batch.submit_job(jobName="arr", jobQueue="q", jobDefinition="indexed", arrayProperties={"size": 8})["jobId"]
    b = batch.submit_job(jobName="arr-dep", jobQueue="q", jobDefinition="indexed", arrayProperties={"size": 8},
                         dependsOn=[{"jobId": a, "type": "N_TO_N"}])["jobId"]
    r = batch.submit_job(jobName="flaky", jobQueue="q", jobDefinition="flaky")["jobId"]
    # an N_TO_N dependency on an array of another size was accepted and the job failed afterwards;
    # refused at once now (docs/job-model.md §6.2): here the target is this process's own submission
    mismatched = lambda: batch.submit_job(jobName="arr-mis", jobQueue="q", jobDefinition="indexed",  # noqa: E731
                                          arrayProperties={"size": 4}, dependsOn=[{"jobId": a, "type": "N_TO_N"}])
    client_error(mismatched, "submit_job: an array of 4 N_TO_N on an array of 8 just submitted is refused (400)",
                 "dependsOn", "N_TO_N", a, "size 8", "has 4")
    got = poll(batch, [a, b, r], terminal, 300, "the arrays and the retried job", interval=2.0)
    # and here its record in barge.jobs
    client_error(mismatched, "submit_job: an array of 4 N_TO_N on an array of 8 that ran is refused (400)",
                 "dependsOn", "N_TO_N", a, "size 8", "has 4")
    for pid, what in ((a, "the array of 8"), (b, "the N_TO_N dependant array")):
        p = got.get(pid, {})
        ap = p.get("arrayProperties", {})
        ok(p.get("status") == "SUCCEEDED" and ap.get("size") == 8 and ap.get("statusSummary", {}).get("SUCCEEDED") == 8,
           f"{what}: SUCCEEDED, statusSummary 8 SUCCEEDED", (p.get("status"), ap))
    dep = got.get(b, {}).get("dependsOn", [])
    ok(dep == [{"jobId": a, "type": "N_TO_N"}], "the dependant array's dependsOn", dep)
    kids_a = [f"{a}:{i}" for i in range(8)]
    kids_b = [f"{b}:{i}" for i in range(8)]
    kids = poll(batch, kids_a + kids_b, terminal, 60, "the children")
    ok(all(kids.get(k, {}).get("status") == "SUCCEEDED" for k in kids_a + kids_b),
       "describe_jobs of the 16 children: all SUCCEEDED", {k: kids.get(k, {}).get("status") for k in kids_a + kids_b})
    ok(all(kids.get(k, {}).get("arrayProperties", {}).get("index") == i for i, k in enumerate(kids_a)),
       "each child carries its index", [kids.get(k, {}).get("arrayProperties") for k in kids_a])
    order = [(i, kids.get(kids_b[i], {}).get("startedAt", 0), kids.get(kids_a[i], {}).get("stoppedAt", 1 << 62))
             for i in range(8)]
    ok(all(started >= stopped for _, started, stopped in order),
       "N_TO_N: dependant child i starts only after child i of the first array stopped", order)
    pages = list(batch.get_paginator("list_jobs").paginate(arrayJobId=a, jobStatus="SUCCEEDED",
                                                           PaginationConfig={"PageSize": 3}))
    listed = [s["jobId"] for p in pages for s in p["jobSummaryList"]]
    ok(sorted(listed) == sorted(kids_a) and [len(p["jobSummaryList"]) for p in pages] == [3, 3, 2],
       "the paginator lists an array's 8 children in pages of 3", [len(p["jobSummaryList"]) for p in pages])
    j = got.get(r, {})
    attempts = j.get("attempts", [])
    ok(j.get("status") == "SUCCEEDED" and len(attempts) == 2
       and attempts[0].get("container", {}).get("exitCode") == 3
       and attempts[1].get("container", {}).get("exitCode") == 0,
       "retryStrategy attempts=3: the first attempt exits 3, the second succeeds",
       (j.get("status"), [a.get("container", {}).get("exitCode") for a in attempts]))


def runnable_jobs(batch, n, prefix):
    """n jobs in idle-q (a queue whose compute environment has no instance: they stay RUNNABLE);
    returns their ids once every one is RUNNABLE."""
    ids = [batch.submit_job(jobName=f"{prefix}{i}", jobQueue="idle-q", jobDefinition="hello")["jobId"]
           for i in range(n)]
    got = poll(batch, ids, status_is("RUNNABLE"), 120, f"{n} jobs to be RUNNABLE")
    ok(len(got) == n and all(j["status"] == "RUNNABLE" for j in got.values()),
       f"{n} jobs in idle-q are RUNNABLE", {i: got.get(i, {}).get("status") for i in ids})
    return ids


def pagination(batch):
    log("-- list_jobs pagination")
    ids = runnable_jobs(batch, 12, "p")
    whole = batch.list_jobs(jobQueue="idle-q", jobStatus="RUNNABLE")
    order = [s["jobId"] for s in whole["jobSummaryList"]]
    ok(sorted(order) == sorted(ids) and "nextToken" not in whole, "one list_jobs call lists all 12", len(order))

    pages = list(batch.get_paginator("list_jobs").paginate(jobQueue="idle-q", jobStatus="RUNNABLE",
                                                           PaginationConfig={"PageSize": 5}))
    walked = [s["jobId"] for p in pages for s in p["jobSummaryList"]]
    ok(walked == order and [len(p["jobSummaryList"]) for p in pages] == [5, 5, 2],
       "the paginator (PageSize 5): pages of 5, 5, 2 in the same order", [len(p["jobSummaryList"]) for p in pages])

    by_hand, token, calls = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        r = batch.list_jobs(jobQueue="idle-q", jobStatus="RUNNABLE", maxResults=5, **kw)
        by_hand += [s["jobId"] for s in r["jobSummaryList"]]
        calls += 1
        token = r.get("nextToken")
        if not token or calls > 10:
            break
    ok(by_hand == order and calls == 3, "maxResults=5 and nextToken by hand: 3 calls, the same jobs in order",
       (calls, len(by_hand)))

    first = batch.get_paginator("list_jobs").paginate(jobQueue="idle-q", jobStatus="RUNNABLE",
                                                      PaginationConfig={"MaxItems": 7, "PageSize": 5}).build_full_result()
    rest = batch.get_paginator("list_jobs").paginate(
        jobQueue="idle-q", jobStatus="RUNNABLE",
        PaginationConfig={"StartingToken": first.get("NextToken"), "PageSize": 5}).build_full_result()
    got = [s["jobId"] for s in first["jobSummaryList"]] + [s["jobId"] for s in rest["jobSummaryList"]]
    ok(len(first["jobSummaryList"]) == 7 and first.get("NextToken") and got == order,
       "MaxItems=7 then StartingToken: 7 and the other 5, in order", (len(first["jobSummaryList"]), len(got)))
    try:
        batch.list_jobs(jobQueue="idle-q", jobStatus="RUNNABLE", nextToken="not-a-token")
        ok(False, "a made-up nextToken is refused")
    except ClientError as e:
        ok(e.response["Error"]["Code"] == "ClientException", "a made-up nextToken is refused with ClientException",
           e.response["Error"])
    return ids


def race(batch, before):
    log("-- SubmitJob racing a ListJobs page walk")
    before = set(before)
    seen, pages, added = [], 0, []
    for page in batch.get_paginator("list_jobs").paginate(jobQueue="idle-q", jobStatus="RUNNABLE",
                                                          PaginationConfig={"PageSize": 3}):
        seen += [s["jobId"] for s in page["jobSummaryList"]]
        pages += 1
        # a job submitted between two pages, visible (RUNNABLE) before the next page is asked for
        jid = batch.submit_job(jobName=f"race{pages}", jobQueue="idle-q", jobDefinition="hello")["jobId"]
        added.append(jid)
        poll(batch, [jid], status_is("RUNNABLE"), 60, "the racing job")
        if pages > 20:
            break
    old = [i for i in seen if i in before]
    lost = sorted(before - set(old))
    repeated = sorted({i for i in old if old.count(i) > 1})
    log(f"  walked {pages} pages while submitting {len(added)} jobs: {len(old)} listings of the {len(before)} "
        f"jobs from before the walk, {len(repeated)} repeated, {len(lost)} lost")
    ok(pages > 2 and len(added) == pages, "the walk took several pages, a job submitted after each", (pages, len(added)))
    ok(not lost, "a page walk loses no job that existed before it began, while jobs are submitted", lost)
    ok(not repeated, "a page walk repeats no job that existed before it began, while jobs are submitted", repeated)
    return added


def cancel_terminate(batch, runnable):
    log("-- cancel_job and terminate_job")
    victim = runnable[0]
    c = batch.cancel_job(jobId=victim, reason="no longer needed")
    ok(body_of(c) == {}, "cancel_job answers {}", c)
    j = poll(batch, [victim], terminal, 60, "the cancelled job").get(victim, {})
    ok(j.get("status") == "FAILED" and "no longer needed" in j.get("statusReason", ""),
       "cancel_job of a RUNNABLE job: FAILED with the reason", (j.get("status"), j.get("statusReason")))
    s = batch.submit_job(jobName="long", jobQueue="q", jobDefinition="sleeper")["jobId"]
    j = poll(batch, [s], status_is("RUNNING"), 120, "the sleeper to run").get(s, {})
    ok(j.get("status") == "RUNNING", "the sleeper is RUNNING", j.get("status"))
    c = batch.cancel_job(jobId=s, reason="too late")
    time.sleep(2)
    j = batch.describe_jobs(jobs=[s])["jobs"][0]
    ok(body_of(c) == {}, "cancel_job of a RUNNING job answers {}", c)
    ok(j["status"] == "RUNNING", "cancel_job has no effect on a RUNNING job (AWS's rule)", j["status"])
    t = batch.terminate_job(jobId=s, reason="stop it")
    ok(body_of(t) == {}, "terminate_job answers {}", t)
    j = poll(batch, [s], terminal, 120, "the terminated job").get(s, {})
    ok(j.get("status") == "FAILED" and "stop it" in j.get("statusReason", ""),
       "terminate_job of a RUNNING job: FAILED with the reason", (j.get("status"), j.get("statusReason")))


def errors(batch, addr, job_arn):
    log("-- errors as botocore decodes them")
    try:
        batch.describe_jobs(jobs=[f"id-{i}" for i in range(101)])
        ok(False, "101 ids are refused")
    except ClientError as e:
        err, meta = e.response["Error"], e.response["ResponseMetadata"]
        ok(err["Code"] == "ClientException" and meta["HTTPStatusCode"] == 400 and meta.get("RequestId"),
           "describe_jobs with 101 ids: ClientException, 400, a RequestId", (err, meta.get("HTTPStatusCode")))
    try:
        client(addr, (ADMIN[0], "not-the-secret")).describe_job_queues()
        ok(False, "a wrong secret is refused")
    except ClientError as e:
        ok(e.response["Error"]["Code"] == "InvalidSignatureException"
           and e.response["ResponseMetadata"]["HTTPStatusCode"] == 403,
           "a wrong secret: InvalidSignatureException, 403", e.response["Error"])
    tags = batch.list_tags_for_resource(resourceArn=job_arn)
    ok(body_of(tags) == {"tags": {}}, "list_tags_for_resource of an untagged job: {}", tags)


ACCOUNT_ARN = "arn:aws:batch:us-east-1:123456789012:"  # the admin key's barge_account_id


def client_error(call, what, *words):
    """call() must raise a ClientException (400) whose message holds every word."""
    try:
        r = call()
        ok(False, what, f"answered {r}")
    except ClientError as e:
        err = e.response["Error"]
        ok(err["Code"] == "ClientException" and e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
           and all(w in err["Message"] for w in words), what, err)


def requests_with(st, pred):
    """The bodies of barge.requests events (principal added) for which pred holds."""
    avro, out = common.Avro(), []
    for m in common.read_topic(st, "requests", read_committed=False):
        try:
            _, ev = avro.decode(m["value"])
        except ValueError:
            continue
        body = dict(ev.get("body") or {})
        body["principal"] = ev.get("principal")
        if pred(body):
            out.append(body)
    return out


def tagging(batch, st):
    log("-- tags on create and submit, TagResource/UntagResource/ListTagsForResource, identity")
    ce = batch.create_compute_environment(computeEnvironmentName="tagged-ce", type="UNMANAGED",
                                          tags={"team": "ml", "cost-center": "42"})
    ce_arn = ce["computeEnvironmentArn"]
    ok(ce_arn == ACCOUNT_ARN + "compute-environment/tagged-ce", "an arn:aws: ARN in the key's account", ce_arn)
    q = batch.create_job_queue(jobQueueName="tagged-q", priority=1, tags={"team": "ml"},
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce_arn}])
    pol = batch.create_scheduling_policy(name="tagged-pol", tags={"kind": "fair"})
    jd = batch.register_job_definition(jobDefinitionName="tagged-jd", type="container", propagateTags=True,
                                       containerProperties=props(["true"]), tags={"from": "jd", "both": "jd"})
    got = batch.describe_compute_environments(computeEnvironments=["tagged-ce"])["computeEnvironments"]
    ok(got and got[0].get("tags") == {"team": "ml", "cost-center": "42"}, "describe_compute_environments shows tags", got)
    got = batch.describe_job_queues(jobQueues=[q["jobQueueArn"]])["jobQueues"]
    ok(got and got[0].get("tags") == {"team": "ml"}, "describe_job_queues (by ARN) shows tags", got)
    got = batch.describe_scheduling_policies(arns=[pol["arn"]])["schedulingPolicies"]
    ok(got and got[0].get("tags") == {"kind": "fair"}, "describe_scheduling_policies shows tags", got)
    got = batch.describe_job_definitions(jobDefinitions=[jd["jobDefinitionArn"]])["jobDefinitions"]
    ok(got and got[0].get("tags") == {"from": "jd", "both": "jd"} and got[0].get("propagateTags") is True,
       "describe_job_definitions shows tags and propagateTags", got)

    for arn, before in ((q["jobQueueArn"], {"team": "ml"}), (ce_arn, {"team": "ml", "cost-center": "42"}),
                        (pol["arn"], {"kind": "fair"}), (jd["jobDefinitionArn"], {"from": "jd", "both": "jd"})):
        kind = arn.split(":")[5].split("/")[0]
        ok(body_of(batch.list_tags_for_resource(resourceArn=arn)) == {"tags": before},
           f"list_tags_for_resource of the {kind}", arn)
        ok(body_of(batch.tag_resource(resourceArn=arn, tags={"env": "prod", "team": "data"})) == {},
           f"tag_resource of the {kind} answers {{}}")
        want = {**before, "env": "prod", "team": "data"}
        ok(batch.list_tags_for_resource(resourceArn=arn)["tags"] == want, f"the {kind}'s tags added and replaced", want)
        batch.untag_resource(resourceArn=arn, tagKeys=["env", "absent"])
        want.pop("env")
        ok(batch.list_tags_for_resource(resourceArn=arn)["tags"] == want, f"untag_resource of the {kind}", want)
    got = batch.describe_job_queues(jobQueues=["tagged-q"])["jobQueues"]
    ok(got and got[0].get("tags") == {"team": "data"}, "describe_job_queues shows the new tags", got)

    time.sleep(2)  # the scheduler reads the new queue and job definition
    sub = batch.submit_job(jobName="tagged", jobQueue="tagged-q", jobDefinition="tagged-jd",
                           tags={"both": "job", "run": "1"}, propagateTags=True)
    job_id, job_arn = sub["jobId"], sub["jobArn"]
    ok(job_arn == ACCOUNT_ARN + "job/" + job_id, "submit_job's jobArn is in the key's account", job_arn)
    j = poll(batch, [job_id], lambda j: True, 30, "the tagged job").get(job_id, {})
    ok(j.get("jobArn") == job_arn and j.get("tags") == {"both": "job", "run": "1"} and j.get("propagateTags") is True,
       "describe_jobs: the scheduler's jobArn is submit_job's, the job's tags, propagateTags", j)
    raw = st.describe(job_id).get(job_id, {})
    # the job definition's tags are now from, both and team (tag_resource above)
    ok(raw.get("container", {}).get("tags") == {"from": "jd", "both": "job", "team": "data", "run": "1"},
       "propagated to the container: the JD's tags overlaid by the job's", raw.get("container", {}).get("tags"))
    batch.tag_resource(resourceArn=job_arn, tags={"owner": "me"})
    batch.untag_resource(resourceArn=job_arn, tagKeys=["run"])
    want = {"both": "job", "owner": "me"}
    deadline = time.monotonic() + 30
    while batch.list_tags_for_resource(resourceArn=job_arn)["tags"] != want and time.monotonic() < deadline:
        time.sleep(0.3)
    ok(batch.list_tags_for_resource(resourceArn=job_arn)["tags"] == want,
       "tag_resource / untag_resource of a job, applied by the scheduler", want)
    ok(batch.describe_jobs(jobs=[job_id])["jobs"][0].get("tags") == want, "describe_jobs shows them")
    log("  the scheduler killed and started again: the job keeps its ARN and tags, and takes new ones")
    st.kill("scheduler")
    st.scheduler(tick_ms=200)
    batch.tag_resource(resourceArn=job_arn, tags={"after": "restart"})
    want = {**want, "after": "restart"}
    deadline = time.monotonic() + 60
    while batch.list_tags_for_resource(resourceArn=job_arn)["tags"] != want and time.monotonic() < deadline:
        time.sleep(0.3)
    j = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    ok(j.get("tags") == want and j.get("jobArn") == job_arn, "after a scheduler restart: tags and jobArn kept",
       (j.get("tags"), j.get("jobArn")))
    mine = requests_with(st, lambda b: b.get("jobName") == "tagged" or b.get("jobId") == job_id)
    ok(mine and all(b["principal"] == "admin" for b in mine),
       "the job's requests (submit, tag, untag) record the key's profile as principal",
       [(b.get("jobName"), b["principal"]) for b in mine])
    return job_id


def refusals(batch, st, job_id):
    log("-- refused: tag limits, unhonoured and unknown members; nothing written")
    config_before = sum(common.end_offsets(st, "config").values())
    q_arn = ACCOUNT_ARN + "job-queue/tagged-q"
    client_error(lambda: batch.tag_resource(resourceArn=q_arn, tags={"aws:owner": "x"}),
                 "a tag key with the aws: prefix", "aws:owner", "reserves")
    client_error(lambda: batch.tag_resource(resourceArn=q_arn, tags={f"k{i}": "v" for i in range(51)}),
                 "51 tags", "at most 50")
    client_error(lambda: batch.tag_resource(resourceArn=q_arn, tags={f"k{i}": "v" for i in range(50)}),
                 "50 new tags on a queue that has one", "at most 50 tags")
    client_error(lambda: batch.tag_resource(resourceArn=q_arn, tags={"k" * 129: "v"}), "a key of 129", "1 to 128")
    client_error(lambda: batch.tag_resource(resourceArn=q_arn, tags={"k": "v" * 257}), "a value of 257", "at most 256")
    client_error(lambda: batch.untag_resource(resourceArn=q_arn, tagKeys=["aws:x"]), "untagging aws:x", "reserves")
    client_error(lambda: batch.tag_resource(resourceArn=ACCOUNT_ARN + "job-queue/nope", tags={"a": "b"}),
                 "tagging a queue that does not exist", "does not exist")
    client_error(lambda: batch.create_job_queue(jobQueueName="qq", priority=1, tags={"aws:x": "1"},
                                                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "tagged-ce"}]),
                 "tags on create: the aws: prefix", "reserves")
    client_error(lambda: batch.update_compute_environment(computeEnvironment="tagged-ce",
                                                          updatePolicy={"terminateJobsOnUpdate": True}),
                 "UpdateComputeEnvironment updatePolicy (not honoured)", "updatePolicy", "not implemented by Barge")
    client_error(lambda: batch.update_compute_environment(
        computeEnvironment="tagged-ce", computeResources={"launchTemplate": {"launchTemplateName": "lt"}}),
        "UpdateComputeEnvironment computeResources.launchTemplate", "computeResources.launchTemplate", "not implemented")
    client_error(lambda: batch.create_job_queue(jobQueueName="qq", priority=1, jobQueueType="ECS_FARGATE",
                                                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "tagged-ce"}]),
                 "CreateJobQueue jobQueueType ECS_FARGATE", "jobQueueType ECS_FARGATE is not supported by Barge",
                 "out of scope: Fargate", "leave jobQueueType out or give ECS")
    client_error(lambda: batch.create_job_queue(jobQueueName="qq", priority=1, jobQueueType="FARGATE",
                                                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "tagged-ce"}]),
                 "CreateJobQueue jobQueueType FARGATE", "jobQueueType 'FARGATE' is not a job queue type: give ECS")
    ok(sum(common.end_offsets(st, "config").values()) == config_before, "nothing written to barge.config")
    client_error(lambda: batch.submit_job(jobName="refused-job", jobQueue="tagged-q", jobDefinition="tagged-jd",
                                          tags={"aws:x": "1"}), "submit_job with an aws: tag", "reserves")
    client_error(lambda: batch.tag_resource(resourceArn=ACCOUNT_ARN + "job/" + job_id, tags={"aws:y": "1"}),
                 "tag_resource of a job with an aws: tag", "reserves")
    bad = requests_with(st, lambda b: b.get("jobName") == "refused-job" or "aws:y" in (b.get("tags") or {}))
    ok(bad == [], "nothing of the refused requests in barge.requests", bad)


def body(st, addr):
    log(f"-- boto3 {boto3.__version__}, botocore {botocore.__version__}")
    batch = client(addr)
    log(f"  Batch waiters botocore defines: {batch.waiter_names or 'none'}; following jobs by polling describe_jobs")
    st.scheduler(tick_ms=200)
    st.agent("i-0000000000000b001", vcpus=2, memory=2048)
    resources(batch, st)
    single_job(batch, st)
    arrays_and_retry(batch, st)
    ids = pagination(batch)
    race(batch, ids)
    arn = batch.describe_jobs(jobs=[ids[0]])["jobs"][0]["jobArn"]
    cancel_terminate(batch, ids)
    errors(batch, addr, arn)
    refusals(batch, st, tagging(batch, st))
    ok(st.alive("api") and st.alive("scheduler"), "barge api and the scheduler still run")


def main():
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]  # nothing from the machine's AWS settings; the test gives its own
    os.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    api_test("apiboto", body)


if __name__ == "__main__":
    main()
