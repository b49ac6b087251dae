"""test_api_rate_limit.py: `barge api --rate-limit 5 --rate-burst 5` (docs/api.md, "Rate
limit"): one access key flooding SubmitJob is answered 429 TooManyRequestsException in AWS's
error shape once its bucket is empty, and nothing of a refused request reaches barge.requests;
another key is served meanwhile; boto3 (retries off) reports TooManyRequestsException; the
bucket refills at the configured rate."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, SESSION, api_test, error_of, signed_request  # noqa: E402
from common import log, ok, read_topic  # noqa: E402

RATE = 5


def call(addr, op, req, key=ADMIN):
    return signed_request(addr, "POST", f"/v1/{op}", json.dumps(req).encode(), key=key)


def body(st, addr):
    setup = [("createcomputeenvironment", {"computeEnvironmentName": "rl-ce", "type": "UNMANAGED"}),
             ("createjobqueue", {"jobQueueName": "rl-q", "priority": 1,
                                 "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "rl-ce"}]}),
             ("registerjobdefinition", {"jobDefinitionName": "rl-jd", "type": "container",
                                        "containerProperties": {"image": "busybox", "command": ["true"],
                                                                "vcpus": 1, "memory": 64}})]
    for op, req in setup:
        a = call(addr, op, req)
        ok(a[0] == 200, f"setup {op}: 200", a)
    time.sleep(1.5)  # the admin key's bucket refills

    log("-- one key floods SubmitJob")
    accepted, refused, shapes = [], 0, []
    t0 = time.monotonic()
    for i in range(60):
        a = call(addr, "submitjob", {"jobName": f"flood-{i}", "jobQueue": "rl-q", "jobDefinition": "rl-jd"})
        if a[0] == 200:
            accepted.append(json.loads(a[2])["jobId"])
        elif a[0] == 429:
            refused += 1
            shapes.append(error_of(*a) + (a[1].get("x-amzn-requestid", ""),))
        else:
            ok(False, "a flood answer is 200 or 429", a)
    secs = time.monotonic() - t0
    log(f"60 SubmitJob in {secs:.2f} s: {len(accepted)} accepted, {refused} refused")
    most = RATE + RATE * secs + 1  # the burst, the refill, rounding
    ok(refused > 0 and len(accepted) <= most, f"the flood is throttled: at most {most:.0f} of 60 accepted",
       (len(accepted), refused))
    ok(all(s[0] == s[1] == "TooManyRequestsException" and s[2] and len(s[3]) == 36 for s in shapes),
       "each 429 carries x-amzn-ErrorType and __type TooManyRequestsException, a message, a request id",
       shapes[:2])

    log("-- another key is served meanwhile")
    other = call(addr, "describejobqueues", {}, key=SESSION[:2] + (SESSION[2],))
    ok(other[0] == 200, "another access key: 200 while the first is throttled", other[:1])

    log("-- boto3 (retries off) sees TooManyRequestsException")
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    s = boto3.session.Session(aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], region_name="us-east-1")
    batch = s.client("batch", endpoint_url=f"http://{addr[0]}:{addr[1]}",
                     config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    codes = []
    for i in range(20):
        try:
            r = batch.submit_job(jobName=f"boto-{i}", jobQueue="rl-q", jobDefinition="rl-jd")
            accepted.append(r["jobId"])
        except ClientError as e:
            codes.append((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))
    ok(("TooManyRequestsException", 429) in codes, "boto3 raises ClientError TooManyRequestsException (429)",
       codes[:3])

    log("-- nothing refused was written")
    time.sleep(0.5)
    keys = {r["key"].decode() for r in read_topic(st, "requests") if r["key"]}
    ok(keys == set(accepted), "barge.requests holds exactly the accepted jobs",
       (len(keys), len(accepted), sorted(keys - set(accepted))[:3]))

    log("-- the bucket refills")
    time.sleep(1.0)
    a = call(addr, "submitjob", {"jobName": "after", "jobQueue": "rl-q", "jobDefinition": "rl-jd"})
    ok(a[0] == 200, "after a second's pause the key is served again", a[:1])


def main():
    api_test("apirate", body, "--rate-limit", str(RATE), "--rate-burst", str(RATE))


if __name__ == "__main__":
    main()
