"""test_api_awscli.py: `barge api` driven by the real aws CLI (`aws batch --endpoint-url`), both
v1 (PyPI's awscli that scripts/requirements.txt pins, run as `python3 -m awscli` with the test's
own Python) and v2 (Debian's awscli package, /usr/bin/aws on Debian's /usr/bin/python3, which
scripts/setup.sh installs), each on its own stack. Without a v2 at /usr/bin/aws (or when what is
there reports another version) the v2 run is skipped with a printed note.

SigV4 with the right key works; a wrong secret, an unknown key, a wrong session token and an
unsigned request (`--no-sign-request`) are refused with AWS's error types; a read-only key
reads but cannot write. Then, against a real scheduler and agent, the whole path through the
API: create a compute environment, a queue and a job definition, submit a job, follow it with
describe-jobs to SUCCEEDED, list it; the `barge` CLI sees the same job; `aws logs get-log-events`
of its container.logStreamName prints its output. Then (with v1 only, to keep the test short:
every aws CLI call costs a second of Python start-up) an array of 8 with an N_TO_N dependant
array of 8, a job with retry rules, list-jobs paged with --max-items/--starting-token, cancel-job
of a RUNNABLE job and terminate-job of a RUNNING one.

Tagging (tags_through_cli): `aws batch tag-resource / untag-resource / list-tags-for-resource`
on a queue and a job (ARNs arn:aws:batch:us-east-1:<the key's barge_account_id>:...), the same
operations through the `barge` CLI, and refusals through both: AWS's tag limits and members
Barge does not honour (`update-compute-environment --update-policy`, a launchTemplate in
computeResources), a ClientException naming the member, with nothing written to barge.config."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, SESSION, VIEWER, api_finish, api_scenario  # noqa: E402
import common  # noqa: E402
from common import log, ok, wait_for  # noqa: E402

CLIENT_CREDENTIALS = f"""[admin]
aws_access_key_id = {ADMIN[0]}
aws_secret_access_key = {ADMIN[1]}
[viewer]
aws_access_key_id = {VIEWER[0]}
aws_secret_access_key = {VIEWER[1]}
[session]
aws_access_key_id = {SESSION[0]}
aws_secret_access_key = {SESSION[1]}
aws_session_token = {SESSION[2]}
[wrong-token]
aws_access_key_id = {SESSION[0]}
aws_secret_access_key = {SESSION[1]}
aws_session_token = not-the-token
[wrong-secret]
aws_access_key_id = {ADMIN[0]}
aws_secret_access_key = not-the-secret
[unknown-key]
aws_access_key_id = AKIANOBODYKNOWS
aws_secret_access_key = whatever
"""


AWS_V1 = [sys.executable, "-m", "awscli"]
AWS_V2 = ["/usr/bin/aws"]


def version_of(cli):
    try:
        p = subprocess.run([*cli, "--version"], capture_output=True, text=True, timeout=60, env=clean_env())
        return (p.stdout + p.stderr).strip()
    except OSError as e:
        return f"not runnable: {e}"


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("PYTHONPATH", "PYTHONHOME")}


class Aws:
    def __init__(self, st, addr, cli):
        self.cli = cli
        self.url = f"http://{addr[0]}:{addr[1]}"
        self.env = clean_env()
        path = os.path.join(st.home, "aws-credentials")
        with open(path, "w") as f:
            f.write(CLIENT_CREDENTIALS)
        self.env.update(AWS_SHARED_CREDENTIALS_FILE=path, AWS_CONFIG_FILE=os.path.join(st.home, "no-aws-config"),
                        AWS_PAGER="", AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")

    def run(self, *args, profile="admin", sign=True, service="batch"):
        cmd = [*self.cli, service, "--endpoint-url", self.url, "--region", "us-east-1", "--output", "json", *args]
        cmd += ["--profile", profile] if sign else ["--no-sign-request"]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        return p

    def json(self, *args, profile="admin", service="batch"):
        p = self.run(*args, profile=profile, service=service)
        if p.returncode != 0:
            raise RuntimeError(f"aws {service} {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
        return json.loads(p.stdout) if p.stdout.strip() else {}


def refused(p, error_type, text, what):
    want = f"An error occurred ({error_type})"
    ok(p.returncode != 0 and want in p.stderr and text in p.stderr, what, (p.returncode, p.stderr.strip()))


def body_with(cli):
    return lambda st, addr: body(st, addr, cli)


def body(st, addr, cli):
    aws = Aws(st, addr, cli)
    log(f"-- SigV4 through the real aws CLI ({version_of(cli)}: {' '.join(cli)})")
    p = aws.run("describe-job-queues")
    ok(p.returncode == 0 and json.loads(p.stdout) == {"jobQueues": []}, "describe-job-queues with the right key",
       (p.returncode, p.stdout, p.stderr))
    refused(aws.run("describe-job-queues", profile="wrong-secret"), "InvalidSignatureException",
            "The request signature we calculated does not match", "a wrong secret is refused")
    refused(aws.run("describe-job-queues", profile="unknown-key"), "UnrecognizedClientException",
            "The security token included in the request is invalid", "an unknown access key is refused")
    refused(aws.run("describe-job-queues", sign=False), "MissingAuthenticationTokenException",
            "Missing Authentication Token", "an unsigned request (--no-sign-request) is refused")
    p = aws.run("describe-job-queues", profile="session")
    ok(p.returncode == 0, "session credentials with the right X-Amz-Security-Token", p.stderr)
    refused(aws.run("describe-job-queues", profile="wrong-token"), "UnrecognizedClientException",
            "security token", "a wrong session token is refused")
    p = aws.run("describe-compute-environments", profile="viewer")
    ok(p.returncode == 0, "a read-only key reads", p.stderr)
    refused(aws.run("create-compute-environment", "--compute-environment-name", "nope", "--type", "UNMANAGED",
                    profile="viewer"),
            "AccessDeniedException", "is not authorized to perform: batch:CreateComputeEnvironment",
            "a read-only key cannot write")

    log("-- the whole path through the API: resources, a job, describe, list")
    st.scheduler(tick_ms=200)
    st.agent("i-0000000000000a001", vcpus=2, memory=2048)
    ce = aws.json("create-compute-environment", "--compute-environment-name", "local", "--type", "UNMANAGED")
    ok(ce.get("computeEnvironmentName") == "local" and ce.get("computeEnvironmentArn"),
       "create-compute-environment", ce)
    q = aws.json("create-job-queue", "--job-queue-name", "q", "--priority", "10",
                 "--compute-environment-order", "order=1,computeEnvironment=local")
    ok(q.get("jobQueueName") == "q", "create-job-queue", q)
    props = {"image": "busybox", "command": ["sh", "-c", "echo hello from the api"],
             "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
    jd = aws.json("register-job-definition", "--job-definition-name", "hello", "--type", "container",
                  "--container-properties", json.dumps(props))
    ok(jd.get("revision") == 1, "register-job-definition", jd)
    time.sleep(2)  # let the scheduler's configuration consumer read the new resources
    queues = aws.json("describe-job-queues")["jobQueues"]
    ok([x["jobQueueName"] for x in queues] == ["q"], "describe-job-queues lists the new queue", queues)
    sub = aws.json("submit-job", "--job-name", "h1", "--job-queue", "q", "--job-definition", "hello")
    job_id = sub.get("jobId")
    ok(job_id and sub.get("jobName") == "h1" and sub.get("jobArn"), "submit-job answers jobId, jobName, jobArn", sub)

    def finished():
        jobs = aws.json("describe-jobs", "--jobs", job_id)["jobs"]
        return jobs[0] if jobs and jobs[0]["status"] in ("SUCCEEDED", "FAILED") else None
    try:
        job = wait_for(finished, 180, "the job to finish", interval=1.0)
    except TimeoutError as e:
        job = {}
        ok(False, "the job finishes", str(e))
    ok(job.get("status") == "SUCCEEDED", "describe-jobs through the API: SUCCEEDED", job.get("status"))
    listed = aws.json("list-jobs", "--job-queue", "q", "--job-status", "SUCCEEDED")["jobSummaryList"]
    ok([j["jobId"] for j in listed] == [job_id], "list-jobs through the API", listed)
    seen = st.describe(job_id).get(job_id, {})  # not `cli`: that name is the aws CLI run below
    ok(seen.get("status") == job.get("status") and seen.get("jobArn") == job.get("jobArn"),
       "the barge CLI sees the same job", seen.get("status"))
    refused(aws.run("describe-jobs", "--jobs", *[f"id-{i}" for i in range(101)]), "ClientException", "",
            "the operation's own ClientException comes back as such (101 ids)")
    # the AWS CLI sends --jobs '' as {"jobs": [""]}: answered with an empty list before
    refused(aws.run("describe-jobs", "--jobs", ""), "ClientException", "jobs[0] is empty",
            "describe-jobs --jobs '': ClientException naming the empty id")
    tags_through_cli(aws, st, job)
    stream = job.get("container", {}).get("logStreamName", "")
    ev = aws.json("get-log-events", "--log-group-name", "/aws/batch/job", "--log-stream-name", stream,
                  "--start-from-head", service="logs").get("events", [])
    ok([e.get("message") for e in ev] == ["hello from the api"],
       "aws logs get-log-events of the finished job (its container.logStreamName)", (stream, ev))
    if cli == AWS_V1:  # once: each aws CLI call costs a second of Python start-up; v2 signs and pages alike
        more_jobs(aws, st)
    ok(st.alive("api"), "barge api still runs")


def tags_through_cli(aws, st, job):
    log("-- tag-resource, untag-resource, list-tags-for-resource: the aws CLI and the barge CLI")
    account = "arn:aws:batch:us-east-1:123456789012:"
    q_arn = aws.json("describe-job-queues", "--job-queues", "q")["jobQueues"][0]["jobQueueArn"]
    ok(q_arn == account + "job-queue/q", "the queue's ARN: arn:aws:, the key's account", q_arn)
    p = aws.run("tag-resource", "--resource-arn", q_arn, "--tags", "team=ml,env=prod")
    ok(p.returncode == 0, "aws batch tag-resource", p.stderr)
    got = aws.json("list-tags-for-resource", "--resource-arn", q_arn)
    ok(got == {"tags": {"team": "ml", "env": "prod"}}, "aws batch list-tags-for-resource", got)
    p = aws.run("untag-resource", "--resource-arn", q_arn, "--tag-keys", "env", "absent")
    ok(p.returncode == 0, "aws batch untag-resource (an absent key is no error)", p.stderr)
    got = aws.json("describe-job-queues", "--job-queues", q_arn)["jobQueues"][0].get("tags")
    ok(got == {"team": "ml"}, "describe-job-queues shows what is left", got)
    st.run("tag-resource", "--resource-arn", q_arn, "--tags", "by=barge")
    got = aws.json("list-tags-for-resource", "--resource-arn", q_arn)
    ok(got == {"tags": {"team": "ml", "by": "barge"}}, "barge tag-resource, seen through the API", got)
    got = st.json("list-tags-for-resource", "--resource-arn", q_arn.replace("arn:aws:", "arn:barge:"))
    ok(got == {"tags": {"team": "ml", "by": "barge"}}, "barge list-tags-for-resource, given the arn:barge: form", got)
    job_arn = job.get("jobArn", "")
    ok(job_arn.startswith(account + "job/"), "the job's ARN is in the key's account", job_arn)
    p = aws.run("tag-resource", "--resource-arn", job_arn, "--tags", "run=7")
    ok(p.returncode == 0, "aws batch tag-resource of a job", p.stderr)
    try:
        wait_for(lambda: aws.json("list-tags-for-resource", "--resource-arn", job_arn) == {"tags": {"run": "7"}},
                 30, "the job's tag", interval=0.5)
        ok(True, "the job's tag, applied by the scheduler, listed")
    except TimeoutError as e:
        ok(False, "the job's tag, applied by the scheduler, listed", str(e))

    config_before = sum(common.end_offsets(st, "config").values())
    refused(aws.run("tag-resource", "--resource-arn", q_arn, "--tags", "aws:owner=x"), "ClientException",
            "reserves", "aws CLI: a tag key with the aws: prefix")
    refused(aws.run("update-compute-environment", "--compute-environment", "local", "--update-policy",
                    "terminateJobsOnUpdate=true"), "ClientException", "updatePolicy is not implemented by Barge",
            "aws CLI: update-compute-environment --update-policy is refused, naming the member")
    refused(aws.run("update-compute-environment", "--compute-environment", "local", "--compute-resources",
                    "launchTemplate={launchTemplateName=lt}"), "ClientException",
            "computeResources.launchTemplate is not implemented", "aws CLI: computeResources.launchTemplate refused")
    p = st.run("update-compute-environment", "--compute-environment", "local", "--update-policy",
               "terminateJobsOnUpdate=true", check=False)
    ok(p.returncode != 0 and "updatePolicy is not implemented by Barge" in p.stderr,
       "barge CLI: --update-policy refused, naming the member", (p.returncode, p.stderr.strip()))
    p = st.run("tag-resource", "--resource-arn", q_arn, "--tags", "aws:x=1", check=False)
    ok(p.returncode != 0 and "reserves" in p.stderr, "barge CLI: an aws: tag refused", (p.returncode, p.stderr.strip()))
    ok(sum(common.end_offsets(st, "config").values()) == config_before, "nothing written to barge.config")


def wait_jobs(aws, ids, done, timeout, what):
    """describe-jobs until done(job) for every id; {id: job} as last seen."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {j["jobId"]: j for j in aws.json("describe-jobs", "--jobs", *ids)["jobs"]}
        if len(seen) == len(ids) and all(done(j) for j in seen.values()):
            return seen
        if time.monotonic() > deadline:
            log(f"  timed out waiting for {what}: {json.dumps({i: seen.get(i, {}).get('status') for i in ids})}")
            return seen
        time.sleep(1.0)


def terminal(j):
    return j["status"] in ("SUCCEEDED", "FAILED")


def more_jobs(aws, st):
    log("-- an array of 8 with an N_TO_N dependant, a job with retry rules, paging, cancel, terminate")
    marker = os.path.join(st.home, "retry-marker")
    aws.json("create-compute-environment", "--compute-environment-name", "idle", "--type", "UNMANAGED")
    aws.json("create-job-queue", "--job-queue-name", "idle-q", "--priority", "1",
             "--compute-environment-order", "order=1,computeEnvironment=idle")
    for name, cmd, extra in (("indexed", ["sh", "-c", "echo child $AWS_BATCH_JOB_ARRAY_INDEX"], []),
                             ("flaky", ["sh", "-c", f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; exit 3"],
                              ["--retry-strategy", "attempts=3"]),
                             ("sleeper", ["sleep", "300"], [])):
        props = {"image": "busybox", "command": cmd,
                 "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
        aws.json("register-job-definition", "--job-definition-name", name, "--type", "container",
                 "--container-properties", json.dumps(props), *extra)
    time.sleep(2)  # the scheduler's configuration consumer reads the new resources
    a = aws.json("submit-job", "--job-name", "arr", "--job-queue", "q", "--job-definition", "indexed",
                 "--array-properties", "size=8")["jobId"]
    b = aws.json("submit-job", "--job-name", "arr-dep", "--job-queue", "q", "--job-definition", "indexed",
                 "--array-properties", "size=8", "--depends-on", f"jobId={a},type=N_TO_N")["jobId"]
    r = aws.json("submit-job", "--job-name", "flaky", "--job-queue", "q", "--job-definition", "flaky")["jobId"]
    # an N_TO_N dependency on an array of another size: accepted before, the job failing afterwards
    refused(aws.run("submit-job", "--job-name", "arr-mis", "--job-queue", "q", "--job-definition", "indexed",
                    "--array-properties", "size=4", "--depends-on", f"jobId={a},type=N_TO_N"), "ClientException",
            f"N_TO_N target {a} has size 8, this array has 4", "submit-job: an array of 4 N_TO_N on an array of 8 is refused")
    got = wait_jobs(aws, [a, b, r], terminal, 300, "the arrays and the retried job")
    for pid, what in ((a, "the array of 8"), (b, "the N_TO_N dependant array")):
        ap = got.get(pid, {}).get("arrayProperties", {})
        ok(got.get(pid, {}).get("status") == "SUCCEEDED" and ap.get("statusSummary", {}).get("SUCCEEDED") == 8,
           f"{what}: SUCCEEDED, 8 children SUCCEEDED", ap)
    kids_a, kids_b = [f"{a}:{i}" for i in range(8)], [f"{b}:{i}" for i in range(8)]
    kids = wait_jobs(aws, kids_a + kids_b, terminal, 60, "the children")
    ok(all(kids.get(kids_b[i], {}).get("startedAt", 0) >= kids.get(kids_a[i], {}).get("stoppedAt", 1 << 62)
           for i in range(8)), "N_TO_N: dependant child i starts after child i of the first array stopped")
    att = got.get(r, {}).get("attempts", [])
    ok(got.get(r, {}).get("status") == "SUCCEEDED" and [x["container"].get("exitCode") for x in att] == [3, 0],
       "--retry-strategy attempts=3: the first attempt exits 3, the second succeeds", att)

    listed, pages, tok = [], 0, None
    while pages < 10:
        more = ["--starting-token", tok] if tok else []
        page = aws.json("list-jobs", "--array-job-id", a, "--job-status", "SUCCEEDED", "--max-items", "3", *more)
        listed += [x["jobId"] for x in page["jobSummaryList"]]
        pages += 1
        tok = page.get("NextToken")
        if not tok:
            break
    ok(sorted(listed) == sorted(kids_a) and pages == 3,
       "list-jobs --max-items 3 / --starting-token: the 8 children in 3 pages, none twice", (pages, listed))

    victim = aws.json("submit-job", "--job-name", "stuck", "--job-queue", "idle-q", "--job-definition", "indexed")["jobId"]
    wait_jobs(aws, [victim], lambda j: j["status"] == "RUNNABLE", 60, "the job in idle-q to be RUNNABLE")
    ok(aws.json("cancel-job", "--job-id", victim, "--reason", "no longer needed") == {}, "cancel-job answers {}")
    j = wait_jobs(aws, [victim], terminal, 60, "the cancelled job").get(victim, {})
    ok(j.get("status") == "FAILED" and "no longer needed" in j.get("statusReason", ""),
       "cancel-job of a RUNNABLE job: FAILED with the reason", (j.get("status"), j.get("statusReason")))
    s = aws.json("submit-job", "--job-name", "long", "--job-queue", "q", "--job-definition", "sleeper")["jobId"]
    j = wait_jobs(aws, [s], lambda j: j["status"] == "RUNNING", 120, "the sleeper to run").get(s, {})
    ok(j.get("status") == "RUNNING", "the sleeper is RUNNING", j.get("status"))
    ok(aws.json("terminate-job", "--job-id", s, "--reason", "stop it") == {}, "terminate-job answers {}")
    j = wait_jobs(aws, [s], terminal, 120, "the terminated job").get(s, {})
    ok(j.get("status") == "FAILED" and "stop it" in j.get("statusReason", ""),
       "terminate-job of a RUNNING job: FAILED with the reason", (j.get("status"), j.get("statusReason")))


def main():
    v1 = version_of(AWS_V1)
    if v1.startswith("aws-cli/1."):
        api_scenario("api", body_with(AWS_V1))
    else:
        ok(False, "aws CLI v1 (python3 -m awscli, scripts/requirements.txt) runs", v1)
    v2 = version_of(AWS_V2)
    if v2.startswith("aws-cli/2."):
        api_scenario("apiv2", body_with(AWS_V2))
    else:
        log(f"SKIP the aws CLI v2 run: /usr/bin/aws is not Debian's aws CLI v2 ({v2}); "
            "scripts/setup.sh installs the awscli package")
    api_finish()


if __name__ == "__main__":
    main()
