"""test_api_logs.py: job logs through the CloudWatch Logs API of `barge api` (docs/api.md, "Job
logs"), driven by boto3's `logs` client as Airflow's and Nextflow's Batch integrations use it:
logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=<describe_jobs'
container.logStreamName>).

Lines are dated by the agent's time index (a job that sleeps between two lines shows it).
Two compute environments, each with one agent: `local`'s agent writes under the stack's
BARGE_HOME; `far`'s agent writes to a log dir of its own and serves it (`--log-listen`, requests
signed with the secret of `--log-token-file`). Jobs print
known lines; then, against the API that reads local files:
- GetLogEvents from the head, the tail, page by page forward and backward with the tokens (the
  same token back at the end), startTime/endTime, and the attempts of a retried job, each its own
  stream;
- FilterLogEvents by stream and by pattern, paged with nextToken; DescribeLogStreams by prefix, by
  last event time, paged;
- CloudWatch's errors: unknown group or stream (ResourceNotFoundException), a bad token
  (InvalidParameterException), an unknown action, a Batch-scoped signature;
- the calls find streams in the API's view, never by reading barge.jobs: the API's metric
  barge_api_logs_records_total (--metrics-port) says how many job records a call looked at:
  a GetLogEvents or a FilterLogEvents of one named stream looks at that job's record only (not
  every job's), a DescribeLogStreams at the jobs that have streams, and none comes from the topic.
A second API started with --no-local-logs fetches the `far` job's log from its agent's server
(and says clearly that the `local` one, whose agent serves none, cannot be reached), signing its
requests with the same token file. Direct requests to the agent's log server: none without
credentials (401) or with a wrong secret, a stale time or a replayed header (403), each with a
one-line reason, and the agent logs the refusals at a bounded rate; an agent asked to serve on a
non-loopback address without a token refuses to start, saying what to do. An array's children
log into folders of their own (<parentId>:<index>/<attempt>.log), where `barge logs`, both APIs
and the log server find them; so do a multi-node job's node logs (<jobId>#<node>/, the '#' sent
to the log server as %23). A job that prints nothing has no log file: `barge logs` prints
nothing (exit 0) and both APIs read its stream as empty. `barge logs --follow` prints a job's lines
as they are written, from before it starts until it ends, across a retry, also from an agent's log
server, which answers byte ranges (206, 416 at the end). `barge logs --no-local-logs` fetches from
the agent's log server as the second API does (signed with --log-token-file; without it, the
agent's 401). A third API
serves HTTPS (--tls-cert/--tls-key with a self-signed certificate made by openssl): boto3 with
verify=<the certificate> and the aws CLI with --ca-bundle talk to it; a plain-HTTP request to its
port fails and the server carries on. An agent's log server serves HTTPS (--log-tls-cert/--log-tls-key):
the API verifies it with --log-ca-bundle, and one that does not trust it says why."""
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, api_test, signed_request  # noqa: E402
from common import BARGE, log, ok, wait_for  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

GROUP = "/aws/batch/job"
CFG = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60)


def clients(url, verify=None):
    s = boto3.session.Session(aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], region_name="us-east-1")
    return (s.client("batch", endpoint_url=url, config=CFG, verify=verify),
            s.client("logs", endpoint_url=url, config=CFG, verify=verify))


def start_more_api(st, name, *extra):
    """Another `barge api` on the stack (start_api's credentials file); returns its URL."""
    st.start(name, "api", "--listen", "127.0.0.1:0", "--credentials-file", os.path.join(st.home, "api-credentials"),
             "--region", "us-east-1", "--brokers", st.brokers, "--topic-prefix", st.prefix, *extra)

    def bound():
        m = re.search(r"listening on (https?://[0-9.]+:\d+)", st.log_text(name))
        return m.group(1) if m else None
    return wait_for(bound, 60, f"{name} to listen")


def error_code(fn):
    try:
        fn()
        return None
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", "")


def props(command):
    return {"image": "busybox", "command": ["sh", "-c", command],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}


def finished(batch, ids):
    def done():
        jobs = batch.describe_jobs(jobs=ids)["jobs"]
        return jobs if len(jobs) == len(ids) and all(j["status"] in ("SUCCEEDED", "FAILED") for j in jobs) else None
    return {j["jobId"]: j for j in wait_for(done, 180, "the jobs to finish", interval=1.0)}


TOKEN = "4f2b0c9e7d6a5b4c3d2e1f00112233445566778899aabbccddeeff0011223344"


def token_file(st):
    path = os.path.join(st.home, "log.token")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(path, 0o600)
    return path


def setup(st, batch, far_dir):
    st.scheduler(tick_ms=200)
    st.agent("i-0000000000000c001", ce="local")
    st.start("agent-far", "agent", "--brokers", st.brokers, "--topic-prefix", st.prefix, "--compute-environment",
             "far", "--instance-id", "i-0000000000000c002", "--vcpus", "2", "--memory", "2048", "--heartbeat-ms",
             "1000", "--log-dir", far_dir, "--log-listen", "127.0.0.1:0", "--log-token-file", token_file(st),
             "--runtime", "process")
    for ce in ("local", "far"):
        batch.create_compute_environment(computeEnvironmentName=ce, type="UNMANAGED")
        batch.create_job_queue(jobQueueName=f"q-{ce}", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])
    batch.register_job_definition(jobDefinitionName="hello", type="container",
                                  containerProperties=props("echo first line; echo 'second line'; "
                                                            "echo ERROR something broke; printf 'no newline'"))
    batch.register_job_definition(jobDefinitionName="many", type="container",
                                  containerProperties=props("i=0; while [ $i -lt 25 ]; do echo line-$i; "
                                                            "i=$((i+1)); done"))
    batch.register_job_definition(jobDefinitionName="indexed", type="container",
                                  containerProperties=props("echo child $AWS_BATCH_JOB_ARRAY_INDEX"))
    batch.register_job_definition(jobDefinitionName="slow", type="container",
                                  containerProperties=props("echo early; sleep 1.5; echo late"))
    batch.register_job_definition(jobDefinitionName="retry", type="container", retryStrategy={"attempts": 2},
                                  containerProperties=props('echo try $AWS_BATCH_JOB_ATTEMPT; '
                                                            'test "$AWS_BATCH_JOB_ATTEMPT" = 2'))
    time.sleep(2)  # the scheduler's configuration consumer reads the new resources
    ids = {
        "hello": batch.submit_job(jobName="hello", jobQueue="q-local", jobDefinition="hello")["jobId"],
        "retry": batch.submit_job(jobName="retry", jobQueue="q-local", jobDefinition="retry")["jobId"],
        "far": batch.submit_job(jobName="far", jobQueue="q-far", jobDefinition="many")["jobId"],
        "slow": batch.submit_job(jobName="slow", jobQueue="q-local", jobDefinition="slow")["jobId"],
    }
    return ids, finished(batch, list(ids.values()))


def walk_forward(logs, stream, limit):
    """Every message by nextForwardToken pages until the token comes back unchanged."""
    r = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True, limit=limit)
    msgs, pages = [e["message"] for e in r["events"]], 1
    while True:
        tok = r["nextForwardToken"]
        r = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken=tok, limit=limit)
        if r["nextForwardToken"] == tok:
            return msgs, pages, r["events"]
        msgs += [e["message"] for e in r["events"]]
        pages += 1


def check_get(logs, jobs, ids):
    hello = jobs[ids["hello"]]
    stream = hello["container"].get("logStreamName", "")
    ok(re.fullmatch(r"hello/default/[0-9a-f-]{36}", stream) is not None,
       "describe_jobs gives container.logStreamName <jobDefinitionName>/default/<taskId>", stream)
    ok(hello["attempts"][0]["container"].get("logStreamName") == stream,
       "the attempt's container.logStreamName is the same stream", hello["attempts"])
    r = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    want = ["first line", "second line", "ERROR something broke", "no newline"]
    ok([e["message"] for e in r["events"]] == want, "get_log_events returns the job's lines, one event each",
       r["events"])
    started, stopped = hello["attempts"][0]["startedAt"], hello["attempts"][0]["stoppedAt"]
    ts = [e["timestamp"] for e in r["events"]]
    ok(all(started <= t <= stopped + 1000 and e["ingestionTime"] == t for t, e in zip(ts, r["events"]))
       and ts == sorted(ts), "each event is dated within its attempt, in order", (started, stopped, ts))
    slow = jobs[ids["slow"]]
    ev = logs.get_log_events(logGroupName=GROUP, logStreamName=slow["container"]["logStreamName"],
                             startFromHead=True)["events"]
    gap = ev[1]["timestamp"] - ev[0]["timestamp"] if len(ev) == 2 else None
    ok([e["message"] for e in ev] == ["early", "late"] and gap is not None and 1000 <= gap <= 4000,
       "lines written 1.5 s apart are dated 1.5 s apart (the agent's time index)", (gap, ev))
    if len(ev) == 2:
        late = logs.get_log_events(logGroupName=GROUP, logStreamName=slow["container"]["logStreamName"],
                                   startTime=ev[1]["timestamp"])["events"]
        ok([e["message"] for e in late] == ["late"], "startTime selects the later line only", late)
    again = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken=r["nextForwardToken"])
    ok(again["events"] == [] and again["nextForwardToken"] == r["nextForwardToken"],
       "at the end, nextForwardToken comes back unchanged (as CloudWatch does)", again)
    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=2)
    ok([e["message"] for e in tail["events"]] == want[2:], "without startFromHead: the last events (limit 2)", tail)
    win = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startTime=max(ts) + 1)
    ok(win["events"] == [], "startTime after the last line: no events", win["events"])
    win = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startTime=started, endTime=max(ts) + 1)
    ok(len(win["events"]) == 4, "startTime..endTime around them: all events", len(win["events"]))

    far = jobs[ids["far"]]["container"]["logStreamName"]
    msgs, pages, last = walk_forward(logs, far, 10)
    ok(msgs == [f"line-{i}" for i in range(25)] and pages == 3 and last == [],
       "25 lines forward in pages of 10: 3 pages, in order, then the same token", (pages, msgs))
    r = logs.get_log_events(logGroupName=GROUP, logStreamName=far, limit=10)
    back = [e["message"] for e in r["events"]]
    for _ in range(3):
        r = logs.get_log_events(logGroupName=GROUP, logStreamName=far, limit=10, nextToken=r["nextBackwardToken"])
        back = [e["message"] for e in r["events"]] + back
    ok(back == [f"line-{i}" for i in range(25)] and r["events"] == [],
       "backward from the tail with nextBackwardToken: every line once, then nothing", back)

    retry = jobs[ids["retry"]]
    names = [a["container"]["logStreamName"] for a in retry["attempts"]]
    ok(len(names) == 2 and names[0] != names[1] and names[1] == retry["container"]["logStreamName"],
       "a retried job: one stream per attempt, container.logStreamName the last", names)
    texts = [[e["message"] for e in logs.get_log_events(logGroupName=GROUP, logStreamName=n,
                                                          startFromHead=True)["events"]] for n in names]
    ok(texts == [["try 1"], ["try 2"]], "each attempt's stream holds that attempt's output", texts)
    return stream, far, names


def records_read(st):
    """barge_api_logs_records_total of the api, by origin ("view", "topic")."""
    m = re.search(r"metrics at (http://\S+/metrics)", st.log_text("api"))
    text = urllib.request.urlopen(m.group(1), timeout=10).read().decode() if m else ""
    got = {"view": 0.0, "topic": 0.0}
    for k, v in re.findall(r'^barge_api_logs_records_total\{from="(\w+)"\} (\S+)$', text, re.M):
        got[k] = float(v)
    return m is not None, got


def check_index(st, logs, jobs, hello, far):
    """Each call looks at the records of the streams it asks for, from the view's index."""
    served, before = records_read(st)
    for _ in range(5):
        logs.get_log_events(logGroupName=GROUP, logStreamName=hello, limit=1)
    logs.filter_log_events(logGroupName=GROUP, logStreamNames=[far], filterPattern="line-1")
    _, after = records_read(st)
    ok(served and len(jobs) >= 4 and after["view"] - before["view"] == 6 and after["topic"] == 0,
       f"5 GetLogEvents and a FilterLogEvents of one stream looked at 6 job records of the view (not the "
       f"{len(jobs)} jobs), none read from barge.jobs", (served, before, after))
    logs.describe_log_streams(logGroupName=GROUP)
    _, listed = records_read(st)
    ok(listed["view"] - after["view"] >= len(jobs) and listed["topic"] == 0,
       "DescribeLogStreams lists from the view (every job with a stream), not from barge.jobs", listed)


def check_filter_describe(logs, hello, far, retry_streams):
    r = logs.filter_log_events(logGroupName=GROUP, logStreamNames=[far], filterPattern="line-1")
    want = ["line-1"] + [f"line-{i}" for i in range(10, 20)]
    ok([e["message"] for e in r["events"]] == want and "nextToken" not in r,
       "filter_log_events: a term matches as a substring", r["events"][:3])
    ok(all(e["logStreamName"] == far and e.get("eventId") for e in r["events"]), "events name their stream, with ids")
    pages = list(logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, logStreamNames=[far], filterPattern="line-1", PaginationConfig={"PageSize": 4}))
    got = [e["message"] for p in pages for e in p["events"]]
    ok(got == want and len(pages) == 3, "filter_log_events paged by 4 with nextToken (boto3's paginator)",
       (len(pages), got))
    r = logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR")
    ok([(e["logStreamName"], e["message"]) for e in r["events"]] == [(hello, "ERROR something broke")],
       "filter_log_events over the whole group", r["events"])
    r = logs.filter_log_events(logGroupName=GROUP, filterPattern='"second line"')
    ok([e["message"] for e in r["events"]] == ["second line"], "a quoted phrase", r["events"])
    r = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="many/", filterPattern="line -line-1 ?-2 ?-3")
    ok([e["message"] for e in r["events"]] == ["line-2", "line-3", "line-20", "line-21", "line-22", "line-23",
                                                "line-24"],
       "terms, -exclusions and ?alternatives", [e["message"] for e in r["events"]])

    r = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="retry/")
    ok(sorted(s["logStreamName"] for s in r["logStreams"]) == sorted(retry_streams),
       "describe_log_streams by prefix: the retried job's two streams", r["logStreams"])
    s0 = r["logStreams"][0]
    ok(s0["arn"].startswith("arn:aws:logs:") and s0["creationTime"] > 0 and "lastEventTimestamp" in s0,
       "a stream has its arn and times", s0)
    pages = list(logs.get_paginator("describe_log_streams").paginate(logGroupName=GROUP,
                                                                    PaginationConfig={"PageSize": 2}))
    names = [s["logStreamName"] for p in pages for s in p["logStreams"]]
    ok(len(pages) == 3 and names == sorted(names) and set(names) >= {hello, far, *retry_streams} and len(names) == 5,
       "describe_log_streams paged by 2 (5 streams), in name order", (len(pages), names))
    r = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", descending=True)
    times = [s["lastEventTimestamp"] for s in r["logStreams"]]
    ok(times == sorted(times, reverse=True) and len(times) == 5, "orderBy LastEventTime, descending", times)


def check_errors(logs, addr, stream):
    e = error_code(lambda: logs.get_log_events(logGroupName=GROUP, logStreamName="hello/default/nope"))
    ok(e and e[0] == "ResourceNotFoundException" and "log stream does not exist" in e[1], "an unknown stream", e)
    e = error_code(lambda: logs.get_log_events(logGroupName="/aws/other", logStreamName=stream))
    ok(e and e[0] == "ResourceNotFoundException" and "log group does not exist" in e[1], "an unknown group", e)
    e = error_code(lambda: logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken="garbage"))
    ok(e and e[0] == "InvalidParameterException", "a bad token: InvalidParameterException", e)
    e = error_code(lambda: logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime",
                                                     logStreamNamePrefix="x"))
    ok(e and e[0] == "InvalidParameterException", "LastEventTime with a prefix is refused, as CloudWatch does", e)
    e = error_code(lambda: logs.describe_log_groups())
    ok(e and e[0] == "UnknownOperationException", "an action Barge does not serve", e)
    body = json.dumps({"logGroupName": GROUP, "logStreamName": stream}).encode()
    status, headers, raw = signed_request(addr, "POST", "/", body, headers={
        "X-Amz-Target": "Logs_20140328.GetLogEvents", "Content-Type": "application/x-amz-json-1.1"})
    ok(status == 403 and headers.get("x-amzn-errortype") == "InvalidSignatureException"
       and b"Credential should be scoped" in raw, "a logs request signed for the service batch is refused",
       (status, raw[:200]))


def signed_get(url, path, secret=TOKEN, ts_ms=None, nonce=None, header=None, signed=None, context=None):
    """GET url+path with the log server's Authorization header (lib/logauth.h), signing `signed`
    (the decoded path, when path is percent-encoded) or path; (status, body, header)."""
    ts = str(int(time.time() * 1000) if ts_ms is None else ts_ms)
    nonce = nonce or os.urandom(8).hex()
    if header is None:
        msg = f"barge-log-v1\n{signed or path}\n{ts}\n{nonce}".encode()
        sig = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
        header = f"Barge-Log ts={ts}, nonce={nonce}, sig={sig}"
    req = urllib.request.Request(url + path, headers={"Authorization": header} if header else {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, r.read().decode(), header
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), header


def ranged_get(url, path, rng):
    """A signed GET of url+path with "Range: bytes=RNG"; (status, body, Content-Range or None)."""
    ts, nonce = str(int(time.time() * 1000)), os.urandom(8).hex()
    sig = hmac.new(TOKEN.encode(), f"barge-log-v1\n{path}\n{ts}\n{nonce}".encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request(url + path, headers={"Authorization": f"Barge-Log ts={ts}, nonce={nonce}, sig={sig}",
                                                      "Range": f"bytes={rng}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Range")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Content-Range")


def check_log_server_range(base, ids):
    """The log server answers one byte range (what barge logs --follow asks for): the bytes with
    206, a start at or past the end 416 with the size, any other form the whole file."""
    path = f"/{ids['far']}/1.log"
    full = "".join(f"line-{i}\n" for i in range(25))
    n = len(full)
    got = ranged_get(base, path, "7-")
    ok(got == (206, full[7:], f"bytes 7-{n - 1}/{n}"), "Range bytes=7-: 206, the rest of the file", got)
    got = ranged_get(base, path, "7-13")
    ok(got == (206, full[7:14], f"bytes 7-13/{n}"), "Range bytes=7-13: 206, those 7 bytes", got)
    got = ranged_get(base, path, f"5-{n + 100}")
    ok(got == (206, full[5:], f"bytes 5-{n - 1}/{n}"), "a range past the end is cut at the end", got)
    got = ranged_get(base, path, f"{n}-")
    ok(got[0] == 416 and got[2] == f"bytes */{n}", "a range from the end: 416 with the size (nothing new)", got)
    for other in ("-5", "3-1", "x-"):
        got = ranged_get(base, path, other)
        ok(got[0] == 200 and got[1] == full, f"Range bytes={other} (another form): the whole file, 200", got[:2])


def check_log_server_auth(st, base, ids):
    path = f"/{ids['far']}/1.log"
    status, text, good = signed_get(base, path)
    ok(status == 200 and text.splitlines() == [f"line-{i}" for i in range(25)],
       "a request signed with the token gets the attempt's file", (status, text[:80]))
    for what, kw, want, reason in (
            ("no credentials", {"header": ""}, 401, "no credentials"),
            ("a bearer token", {"header": "Bearer " + TOKEN}, 401, "no credentials"),
            ("a wrong secret", {"secret": "not-the-secret-0123456789"}, 403, "wrong signature"),
            ("a 5-minute-old signature", {"ts_ms": int(time.time() * 1000) - 300000}, 403, "stale signature"),
            ("a replayed header", {"header": good}, 403, "replayed signature")):
        status, text, _ = signed_get(base, path, **kw)
        ok(status == want and reason in text and text.count("\n") == 1 and "line-0" not in text,
           f"the log server refuses {what}: {want} with a one-line reason", (status, text))
    status, _, _ = signed_get(base, f"/{ids['far']}/2.log")
    ok(status == 404, "a signed request for a missing attempt: 404", status)
    logged = [ln for ln in st.log_text("agent-far").splitlines() if "refused a request" in ln]
    ok(1 <= len(logged) <= 2 and "from 127.0.0.1" in logged[0],
       "the agent logs the refusals at a bounded rate (one line per 10 s)", logged)
    p = subprocess.run([BARGE, "agent", "--brokers", st.brokers, "--topic-prefix", st.prefix, "--compute-environment",
                        "far", "--instance-id", "i-0000000000000c0ff", "--log-dir", os.path.join(st.home, "open"),
                        "--log-listen", "0.0.0.0:0"], env=st.env, capture_output=True, text=True, timeout=60)
    ok(p.returncode != 0 and "give --log-token-file" in p.stderr + p.stdout,
       "an agent asked to serve logs on 0.0.0.0 without a token refuses to start, saying what to do",
       (p.returncode, (p.stderr + p.stdout)[-300:]))


def check_remote(st, jobs, ids):
    url = start_more_api(st, "api-remote", "--no-local-logs", "--log-token-file", token_file(st))
    _, logs = clients(url)
    far = jobs[ids["far"]]["container"]["logStreamName"]
    msgs, _, _ = walk_forward(logs, far, 7)
    ok(msgs == [f"line-{i}" for i in range(25)], "--no-local-logs: the far job's log is fetched from its agent",
       msgs[:3])
    hello = jobs[ids["hello"]]["container"]["logStreamName"]
    e = error_code(lambda: logs.get_log_events(logGroupName=GROUP, logStreamName=hello))
    ok(e and e[0] == "ServiceUnavailableException" and "serves no logs" in e[1],
       "a log whose agent serves none: ServiceUnavailableException saying why", e)
    # barge logs reads as the API does: from the agent's log server when told not to read files
    p = st.run("logs", ids["far"], "--no-local-logs", "--log-token-file", token_file(st), check=False)
    ok(p.returncode == 0 and p.stdout == "".join(f"line-{i}\n" for i in range(25)),
       "barge logs --no-local-logs fetches the far job's log from its agent, signed", (p.returncode, p.stderr))
    p = st.run("logs", ids["far"], "--no-local-logs", check=False)
    ok(p.returncode == 1 and "401" in p.stderr and p.stdout == "",
       "barge logs without the secret: the agent's 401, exit 1", (p.returncode, p.stderr))
    p = st.run("logs", ids["hello"], "--no-local-logs", check=False)
    ok(p.returncode == 1 and "serves no logs" in p.stderr,
       "barge logs of a log whose agent serves none: exit 1 saying why", (p.returncode, p.stderr))
    m = re.search(r"serving the logs of \S+ at (http://\S+)", st.log_text("agent-far"))
    ok(m is not None, "the far agent says where it serves its logs")
    base = m.group(1) if m else "http://127.0.0.1:1"
    check_log_server_auth(st, base, ids)
    check_log_server_range(base, ids)
    for path in ("/../../etc/passwd", "/.agents/i-0000000000000c002/incarnation", f"/{ids['far']}", "/"):
        status, _, _ = signed_get(base, path)
        ok(status == 404, f"the agent's log server refuses a signed GET {path}", status)
    return url, base


def check_array(st, batch, far_dir, local_url, remote_url, base):
    """An array's children log into folders of their own (<parentId>:<index>/<attempt>.log), and
    every reader finds them there: `barge logs`, the API reading local files, the API fetching from
    the agent's log server, and the log server itself."""
    arr = batch.submit_job(jobName="arr", jobQueue="q-far", jobDefinition="indexed",
                           arrayProperties={"size": 3})["jobId"]
    kids = [f"{arr}:{i}" for i in range(3)]
    jobs = finished(batch, kids)
    ok(all(j["status"] == "SUCCEEDED" for j in jobs.values()), "the array's children succeeded",
       {k: j["status"] for k, j in jobs.items()})
    made = [k for k in kids if os.path.exists(os.path.join(far_dir, k, "1.log"))]
    ok(made == kids, "the children's logs are <parentId>:<index>/1.log", sorted(os.listdir(far_dir)))
    out = st.run("logs", kids[2]).stdout
    ok(out == "child 2\n", "barge logs PARENT:2 prints the child's log", out)
    stream = jobs[kids[1]]["container"]["logStreamName"]
    for name, url in (("local files", local_url), ("the agent's log server", remote_url)):
        _, logs = clients(url)
        r = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
        ok([e["message"] for e in r["events"]] == ["child 1"], f"the API reads a child's log from {name}", r["events"])
    status, body, _ = signed_get(base, f"/{arr}:0/1.log")
    ok(status == 200 and body == "child 0\n", "the log server serves /PARENT:0/1.log", (status, body))


def check_quiet(st, batch, far_dir, local_url, remote_url, base):
    """A job that prints nothing leaves no log file (the agent makes it with the first byte,
    docs/containers.md): `barge logs` prints nothing and exits 0, and its stream reads as empty,
    from local files (the agent's state folder beside) and through the agent's log server (which
    has no such file), while a stream that does not exist is still refused."""
    batch.register_job_definition(jobDefinitionName="quiet", type="container", containerProperties=props("true"))
    ids = {ce: batch.submit_job(jobName=f"quiet-{ce}", jobQueue=f"q-{ce}", jobDefinition="quiet")["jobId"]
           for ce in ("local", "far")}
    jobs = finished(batch, list(ids.values()))
    ok(all(j["status"] == "SUCCEEDED" for j in jobs.values()), "the silent jobs succeeded",
       {k: j["status"] for k, j in jobs.items()})
    local_dir = os.path.join(st.home, "logs")
    ok(not os.path.exists(os.path.join(local_dir, ids["local"])) and not os.path.exists(os.path.join(far_dir, ids["far"])),
       "a job that printed nothing has no log folder", (os.listdir(local_dir), os.listdir(far_dir)))
    for ce in ("local", "far"):
        p = st.run("logs", ids[ce], check=False)
        ok(p.returncode == 0 and p.stdout == "", f"barge logs of the silent job on `{ce}`: nothing, exit 0",
           (p.returncode, p.stdout, p.stderr))
    p = st.run("logs", ids["far"], "--no-local-logs", "--log-token-file", token_file(st), check=False)
    ok(p.returncode == 0 and p.stdout == "", "and through its agent's log server: nothing, exit 0",
       (p.returncode, p.stdout, p.stderr))
    for name, url, ces in (("local files", local_url, ("local", "far")), ("the agent's log server", remote_url, ("far",))):
        _, logs = clients(url)
        for ce in ces:
            stream = jobs[ids[ce]]["container"]["logStreamName"]
            r = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
            ok(r["events"] == [], f"the API reads the silent `{ce}` job's stream from {name} as empty", r["events"])
    status, _, _ = signed_get(base, f"/{ids['far']}/1.log")
    ok(status == 404, "the log server itself has no file for it (404)", status)
    batch.register_job_definition(jobDefinitionName="nocmd", type="container",
                                  containerProperties=dict(props("true"), command=["no-such-command-barge"]))
    bad = batch.submit_job(jobName="nocmd", jobQueue="q-local", jobDefinition="nocmd")["jobId"]
    j = finished(batch, [bad])[bad]
    p = st.run("logs", bad, check=False)
    ok(j["status"] == "FAILED" and p.returncode == 0 and p.stdout == "" and "never started" in p.stderr
       and "CannotStartContainerError" in p.stderr,
       "barge logs of an attempt that never started: no output, and why on stderr", (j["status"], p.returncode, p.stderr))


def follow(st, job, *opts):
    """barge logs JOB --follow OPTS to its end: (exit code, [(line, seconds since the start)], stderr)."""
    p = subprocess.Popen([BARGE, "logs", job, "--follow", *opts], env=st.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lines = []
    t0 = time.monotonic()
    for line in p.stdout:
        lines.append((line, time.monotonic() - t0))
    p.wait(timeout=60)
    return p.returncode, lines, p.stderr.read()


def check_follow(st, batch):
    """barge logs --follow, started right after the submission (before the job runs), prints each
    line as it is written and ends once the job has ended; across a retry it goes on with the next
    attempt, saying so on stderr; on an ended job it prints the log and ends at once."""
    batch.register_job_definition(jobDefinitionName="ticker", type="container",
                                  containerProperties=props("echo one; sleep 2; echo two; sleep 2; echo three"))
    job = batch.submit_job(jobName="ticker", jobQueue="q-local", jobDefinition="ticker")["jobId"]
    t0 = time.monotonic()
    rc, lines, err = follow(st, job)
    ended_at = time.monotonic() - t0
    texts = [t for t, _ in lines]
    ok(rc == 0 and texts == ["one\n", "two\n", "three\n"], "barge logs --follow prints the whole log",
       (rc, texts, err))
    ok(len(lines) == 3 and lines[2][1] - lines[0][1] > 2.5,
       "... each line as it comes (the first one seconds before the last)", [round(t, 1) for _, t in lines])
    j = batch.describe_jobs(jobs=[job])["jobs"][0]
    ok(j["status"] == "SUCCEEDED" and ended_at - lines[-1][1] < 5 if lines else False,
       "... and it ends once the job has", (j["status"], ended_at))
    batch.register_job_definition(jobDefinitionName="retry-slow", type="container", retryStrategy={"attempts": 2},
                                  containerProperties=props('echo try $AWS_BATCH_JOB_ATTEMPT; sleep 2; '
                                                            'test "$AWS_BATCH_JOB_ATTEMPT" = 2'))
    retry = batch.submit_job(jobName="retry-f", jobQueue="q-local", jobDefinition="retry-slow")["jobId"]
    p = subprocess.run([BARGE, "logs", retry, "--follow"], env=st.env, capture_output=True, text=True, timeout=90)
    ok(p.returncode == 0 and p.stdout == "try 1\ntry 2\n" and "attempt 2" in p.stderr,
       "--follow across a retry: both attempts' lines, the second announced on stderr", (p.returncode, p.stdout, p.stderr))
    # from the agent's log server: each look asks for the bytes after those printed (a Range)
    far = batch.submit_job(jobName="ticker-far", jobQueue="q-far", jobDefinition="ticker")["jobId"]
    rc, lines, err = follow(st, far, "--no-local-logs", "--log-token-file", token_file(st))
    ok(rc == 0 and [t for t, _ in lines] == ["one\n", "two\n", "three\n"] and lines[2][1] - lines[0][1] > 2.5,
       "--follow --no-local-logs: each line once, as it comes, from the agent's log server", (rc, lines, err))
    t1 = time.monotonic()
    p = subprocess.run([BARGE, "logs", job, "--follow"], env=st.env, capture_output=True, text=True, timeout=30)
    ok(p.returncode == 0 and p.stdout == "one\ntwo\nthree\n" and time.monotonic() - t1 < 10,
       "--follow on an ended job: the log, then it ends", (p.returncode, p.stdout, p.stderr))


def check_multinode(st, batch, far_dir, remote_url, base):
    """A multi-node job's node logs under "<jobId>#<node>/": the API fetches one from the agent's
    log server (the '#' sent as %23, the decoded path signed), and the server serves it."""
    batch.register_job_definition(
        jobDefinitionName="mnp", type="multinode",
        nodeProperties={"numNodes": 1, "mainNode": 0, "nodeRangeProperties": [
            {"targetNodes": "0", "container": props("echo node $AWS_BATCH_JOB_NODE_INDEX of $AWS_BATCH_JOB_NUM_NODES")}]})
    time.sleep(2)  # the scheduler's configuration consumer reads the new definition
    mnp = batch.submit_job(jobName="mnp", jobQueue="q-far", jobDefinition="mnp")["jobId"]
    node = f"{mnp}#0"
    jobs = finished(batch, [mnp, node])
    ok(jobs[node]["status"] == "SUCCEEDED", "the multi-node job's node succeeded", jobs[node].get("statusReason"))
    ok(os.path.exists(os.path.join(far_dir, node, "1.log")), "the node's log is <jobId>#0/1.log in the far log dir",
       sorted(os.listdir(far_dir)))
    _, logs = clients(remote_url)
    stream = jobs[node]["container"]["logStreamName"]
    r = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    ok([e["message"] for e in r["events"]] == ["node 0 of 1"], "the API fetches a node's log from the agent's server",
       r["events"])
    status, body, _ = signed_get(base, f"/{mnp}%230/1.log", signed=f"/{node}/1.log")
    ok(status == 200 and body == "node 0 of 1\n", "the log server serves /JOB%230/1.log", (status, body))
    status, _, _ = signed_get(base, f"/{mnp}%230/1.log")
    ok(status == 403, "a signature over the encoded path is refused (the decoded one is signed)", status)


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def check_tls(st, jobs, ids):
    cert, key = make_cert(st.home)
    url = start_more_api(st, "api-tls", "--tls-cert", cert, "--tls-key", key)
    ok(url.startswith("https://"), "barge api --tls-cert/--tls-key listens on https", url)
    batch, logs = clients(url, verify=cert)
    q = batch.describe_job_queues()["jobQueues"]
    ok(sorted(x["jobQueueName"] for x in q) == ["q-far", "q-local"], "boto3 over https (verify=the certificate)")
    stream = jobs[ids["hello"]]["container"]["logStreamName"]
    r = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    ok(len(r["events"]) == 4, "boto3's logs client over https", r["events"])
    host, port = url[len("https://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /v1/describejobqueues HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = s.recv(200)
        except OSError as e:
            answer = repr(e).encode()
    ok(not answer.startswith(b"HTTP/1.1 200"), "plain HTTP to the TLS port gets no answer", answer[:60])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    creds = os.path.join(st.home, "aws-credentials")
    with open(creds, "w") as f:
        f.write(f"[admin]\naws_access_key_id = {ADMIN[0]}\naws_secret_access_key = {ADMIN[1]}\n")
    env.update(AWS_SHARED_CREDENTIALS_FILE=creds, AWS_CONFIG_FILE=os.path.join(st.home, "none"), AWS_PAGER="")
    for svc, args in (("batch", ["describe-job-queues"]),
                      ("logs", ["get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream,
                                "--start-from-head"])):
        p = subprocess.run([sys.executable, "-m", "awscli", svc, "--endpoint-url", url, "--ca-bundle", cert,
                            "--region", "us-east-1", "--profile", "admin", "--output", "json", *args],
                           env=env, capture_output=True, text=True, timeout=120)
        ok(p.returncode == 0 and json.loads(p.stdout or "{}"), f"aws {svc} {args[0]} --ca-bundle over https",
           (p.returncode, p.stderr[-300:]))
    ok(st.alive("api-tls") and batch.describe_job_queues()["jobQueues"], "the TLS server carries on")
    return cert, key


def check_log_tls(st, batch, cert, key):
    """An agent whose log server speaks HTTPS (--log-tls-cert/--log-tls-key): it advertises an
    https URL, the API verifies it with --log-ca-bundle and fetches the log; an API that does not
    trust the certificate says why; plain HTTP to it gets no log."""
    tls_dir = tempfile.mkdtemp(prefix="barge-tls-logs-")
    try:
        st.start("agent-tls", "agent", "--brokers", st.brokers, "--topic-prefix", st.prefix, "--compute-environment",
                 "tlsce", "--instance-id", "i-0000000000000c003", "--vcpus", "2", "--memory", "2048",
                 "--heartbeat-ms", "1000", "--log-dir", tls_dir, "--log-listen", "127.0.0.1:0", "--log-token-file",
                 token_file(st), "--log-tls-cert", cert, "--log-tls-key", key, "--runtime", "process")
        batch.create_compute_environment(computeEnvironmentName="tlsce", type="UNMANAGED")
        batch.create_job_queue(jobQueueName="q-tls", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "tlsce"}])
        time.sleep(2)  # the scheduler's configuration consumer reads the new resources
        jid = batch.submit_job(jobName="tls", jobQueue="q-tls", jobDefinition="many")["jobId"]
        job = finished(batch, [jid])[jid]
        ok(job["status"] == "SUCCEEDED", "the job on the TLS agent succeeded", job.get("statusReason"))
        m = re.search(r"serving the logs of \S+ at (\S+)", st.log_text("agent-tls"))
        base = m.group(1) if m else ""
        ok(base.startswith("https://127.0.0.1:"), "the agent advertises an https log URL", base)
        stream = job["container"]["logStreamName"]
        url = start_more_api(st, "api-logtls", "--no-local-logs", "--log-token-file", token_file(st),
                             "--log-ca-bundle", cert)
        _, logs = clients(url)
        msgs, _, _ = walk_forward(logs, stream, 7)
        ok(msgs == [f"line-{i}" for i in range(25)], "the API fetches the log over https (--log-ca-bundle)", msgs[:3])
        url = start_more_api(st, "api-logtls-noca", "--no-local-logs", "--log-token-file", token_file(st))
        _, logs = clients(url)
        e = error_code(lambda: logs.get_log_events(logGroupName=GROUP, logStreamName=stream))
        ok(e and "certificate" in e[1], "an API that does not trust the certificate says so", e)
        ctx = ssl.create_default_context(cafile=cert)
        status, body, _ = signed_get(base, f"/{jid}/1.log", context=ctx)
        ok(status == 200 and body.startswith("line-0\n"), "a signed GET over https, the certificate verified",
           (status, body[:30]))
        try:
            status, _, _ = signed_get(base.replace("https://", "http://"), f"/{jid}/1.log")
        except (OSError, http.client.HTTPException) as ex:
            status = repr(ex)
        ok(status != 200, "plain HTTP to the TLS log server gets no log", status)
        ok(st.alive("agent-tls"), "the TLS agent carries on")
    finally:
        shutil.rmtree(tls_dir, ignore_errors=True)


def body(st, addr):
    batch, logs = clients(f"http://{addr[0]}:{addr[1]}")
    far_dir = tempfile.mkdtemp(prefix="barge-far-logs-")
    try:
        ids, jobs = setup(st, batch, far_dir)
        ok(all(j["status"] == "SUCCEEDED" for j in jobs.values()), "the jobs succeeded",
           {k: jobs[v]["status"] for k, v in ids.items()})
        ok(os.path.exists(os.path.join(far_dir, ids["far"], "1.log")), "the far agent wrote into its own log dir")
        hello, far, retry_streams = check_get(logs, jobs, ids)
        check_index(st, logs, jobs, hello, far)
        check_filter_describe(logs, hello, far, retry_streams)
        check_errors(logs, addr, hello)
        remote_url, base = check_remote(st, jobs, ids)
        check_array(st, batch, far_dir, f"http://{addr[0]}:{addr[1]}", remote_url, base)
        check_multinode(st, batch, far_dir, remote_url, base)
        check_quiet(st, batch, far_dir, f"http://{addr[0]}:{addr[1]}", remote_url, base)
        check_follow(st, batch)
        cert, key = check_tls(st, jobs, ids)
        check_log_tls(st, batch, cert, key)
        ok(st.alive("api"), "barge api still runs")
    finally:
        shutil.rmtree(far_dir, ignore_errors=True)


if __name__ == "__main__":
    api_test("apilogs", body, "--metrics-port", "0")
