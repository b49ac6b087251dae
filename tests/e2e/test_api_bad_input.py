"""test_api_bad_input.py: `barge api` under bad input, over raw HTTP (http.client), with
requests signed as botocore signs them: malformed JSON, a body that is not an object, wrong
member types, unknown members (top-level and nested), a member Barge does not honour, an oversize body (with Content-Length and chunked), an unknown path, a stale
signature, a tampered body, a slow client, a TagResource of a job that does not exist, and the checks
the control plane once missed (an unknown instance type, a CE listed twice in a queue, a resource type given twice,
maxResults beyond AWS's range, a node range's consumableResourcePropertiesOverride, an empty
jobQueue of GetJobQueueSnapshot; also through the barge command, exit 254). Each gets a 4xx with AWS's error shape
(x-amzn-ErrorType, {"__type", "message"}) and x-amzn-RequestId, and the server carries on.
Also: the checked-in route table matches the installed botocore's model."""
import os
import socket
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import api_test, error_of, signed_request, utc_minutes_ago  # noqa: E402
from common import SOURCE_DIR, log, ok  # noqa: E402

LIMIT = 1024 * 1024  # API_MAX_BODY_BYTES


def expect(what, answer, status, error_type, text=""):
    st_, headers, body = answer
    hdr, typ, msg = error_of(*answer)
    rid = headers.get("x-amzn-requestid", "")
    ok(st_ == status and hdr == error_type and typ == error_type and text in msg and len(rid) == 36,
       f"{what}: {status} {error_type}", (st_, hdr, typ, msg, rid))


def body(st, addr):
    good = signed_request(addr, "POST", "/v1/describejobqueues", b"{}")
    ok(good[0] == 200 and len(good[1].get("x-amzn-requestid", "")) == 36, "a good request: 200 with a request id",
       good[:2])

    log("-- bodies")
    expect("malformed JSON", signed_request(addr, "POST", "/v1/describejobqueues", b'{"maxResults": '), 400,
           "ClientException", "not valid JSON")
    expect("a body that is not an object", signed_request(addr, "POST", "/v1/describejobqueues", b"[1,2]"), 400,
           "ClientException", "JSON object")
    expect("a JSON string body", signed_request(addr, "POST", "/v1/submitjob", b'"x"'), 400, "ClientException")
    expect("a member of the wrong type", signed_request(addr, "POST", "/v1/describejobs", b'{"jobs": "not-a-list"}'),
           400, "ClientException", "invalid type for parameter jobs: expected list")
    expect("SubmitJob with wrong member types",
           signed_request(addr, "POST", "/v1/submitjob", b'{"jobName": 5, "jobQueue": [], "jobDefinition": {}}'),
           400, "ClientException", "invalid type for parameter jobName")
    expect("a member no operation has", signed_request(addr, "POST", "/v1/describejobqueues", b'{"jobQueuez": []}'),
           400, "ClientException", "unknown parameter jobQueuez, must be one of: jobQueues")
    expect("an unknown nested member",
           signed_request(addr, "POST", "/v1/submitjob",
                          b'{"jobName": "j", "jobQueue": "q", "jobDefinition": "d", "retryStrategy": {"tries": 2}}'),
           400, "ClientException", "unknown parameter retryStrategy.tries")
    expect("a member Barge does not honour",
           signed_request(addr, "POST", "/v1/updatecomputeenvironment",
                          b'{"computeEnvironment": "ce", "computeResources": {"ec2KeyPair": "k"}}'),
           400, "ClientException", "computeResources.ec2KeyPair is not implemented by Barge")
    expect("UntagResource with an aws: key in the query string",
           signed_request(addr, "DELETE", "/v1/tags/arn%3Aaws%3Abatch%3Aus-east-1%3A1%3Ajob-queue%2Fq?tagKeys=aws%3Ax"),
           400, "ClientException", "reserves")
    big = b'{"x": "' + b"a" * (LIMIT + 10) + b'"}'
    expect("an oversize body (Content-Length)", signed_request(addr, "POST", "/v1/submitjob", big), 413,
           "ClientException", f"limit of {LIMIT} bytes")
    # chunked: no Content-Length, the server reads and drops the excess, then answers
    c = __import__("http.client").client.HTTPConnection(addr[0], addr[1], timeout=60)
    c.request("POST", "/v1/submitjob", body=iter([b"{" + b" " * 65536] * 20 + [b"}"]),
              headers={"Content-Type": "application/json"}, encode_chunked=True)
    resp = c.getresponse()
    ans = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    c.close()
    expect("an oversize chunked body", ans, 413, "ClientException", "limit")

    log("-- paths and signatures")
    expect("an unknown path", signed_request(addr, "POST", "/v1/nosuchoperation", b"{}"), 404,
           "UnknownOperationException", "/v1/nosuchoperation")
    expect("a known path with another method", signed_request(addr, "GET", "/v1/submitjob", b""), 404,
           "UnknownOperationException")
    # an operation of AWS's model Barge does not serve: said so, not "not an AWS Batch operation"
    expect("an AWS operation Barge does not implement",
           signed_request(addr, "POST", "/v1/listconsumableresources", b"{}"), 400, "ClientException",
           "ListConsumableResources is an AWS Batch operation Barge does not implement (out of scope: consumable")
    expect("a stale signature (20 minutes old)",
           signed_request(addr, "POST", "/v1/describejobqueues", b"{}", at=utc_minutes_ago(20)), 403,
           "InvalidSignatureException", "Signature expired:")
    expect("no signature", signed_request(addr, "POST", "/v1/describejobqueues", b"{}", sign=False), 403,
           "MissingAuthenticationTokenException", "Missing Authentication Token")
    # a body changed after signing: sign one body, send another of the same length
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from api_common import ADMIN
    req = AWSRequest(method="POST", url=f"http://{addr[0]}:{addr[1]}/v1/describejobqueues",
                     data=b'{"maxResults": 10}', headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(*ADMIN), "batch", "us-east-1").add_auth(req)
    c = __import__("http.client").client.HTTPConnection(addr[0], addr[1], timeout=30)
    c.request("POST", "/v1/describejobqueues", body=b'{"maxResults": 99}', headers=dict(req.headers))
    resp = c.getresponse()
    ans = (resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    c.close()
    expect("a tampered body", ans, 403, "InvalidSignatureException", "does not match")

    log("-- a slow client is cut off; others are served meanwhile")
    s = socket.create_connection(addr, timeout=30)
    s.sendall(b"POST /v1/describejobqueues HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    t0 = time.monotonic()
    mid = signed_request(addr, "POST", "/v1/describejobqueues", b"{}")
    ok(mid[0] == 200, "a request is served while a slow client holds a connection", mid[0])
    try:
        data = s.recv(100)
    except (ConnectionResetError, socket.timeout):
        data = b""
    waited = time.monotonic() - t0
    ok(data == b"" and waited < 25, f"the silent connection is closed after the idle timeout ({waited:.1f} s)",
       data[:80])
    s.close()

    log("-- a TagResource of a job that does not exist")
    missing = "arn:aws:batch:us-east-1:123456789012:job/00000000-0000-0000-0000-000000000000"
    ans = signed_request(addr, "POST", "/v1/tags/" + urllib.parse.quote(missing, safe=""), b'{"tags": {"a": "b"}}')
    expect("TagResource of a job that does not exist", ans, 400, "ClientException",
           "resourceArn: job 00000000-0000-0000-0000-000000000000 does not exist")
    ok("dependsOn" not in error_of(*ans)[2], "its message does not speak of dependsOn", error_of(*ans)[2])

    log("-- validations the control plane used to miss: a 400 over HTTP, exit 254 from the barge command")
    expect("CreateComputeEnvironment with an instance type Barge does not know",
           signed_request(addr, "POST", "/v1/createcomputeenvironment",
                          b'{"computeEnvironmentName": "ce-zz", "type": "MANAGED", "computeResources": '
                          b'{"type": "EC2", "maxvCpus": 4, "instanceTypes": ["zz9.huge"]}}'),
           400, "ClientException", "computeResources.instanceTypes[0] zz9.huge is not an instance type Barge knows")
    p = st.run("create-compute-environment", "--compute-environment-name", "ce-zz", "--type", "MANAGED",
               "--compute-resources", "type=EC2,maxvCpus=4,instanceTypes=[c5,zz9.huge]", check=False)
    ok(p.returncode == 254 and "instanceTypes[1] zz9.huge is not an instance type" in p.stderr,
       "the barge command: create-compute-environment instanceTypes=[c5,zz9.huge] exits 254 naming it",
       (p.returncode, p.stderr.strip()))
    st.create_ce("ce-ok")
    expect("CreateJobQueue with one compute environment listed twice",
           signed_request(addr, "POST", "/v1/createjobqueue",
                          b'{"jobQueueName": "q-dup", "priority": 1, "computeEnvironmentOrder": '
                          b'[{"order": 1, "computeEnvironment": "ce-ok"}, {"order": 2, "computeEnvironment": "ce-ok"}]}'),
           400, "ClientException", "compute environment ce-ok is already listed at computeEnvironmentOrder[0]")
    expect("RegisterJobDefinition with VCPU twice",
           signed_request(addr, "POST", "/v1/registerjobdefinition",
                          b'{"jobDefinitionName": "jd-dup", "type": "container", "containerProperties": {"image": "i", '
                          b'"command": ["true"], "resourceRequirements": [{"type": "VCPU", "value": "1"}, '
                          b'{"type": "MEMORY", "value": "64"}, {"type": "VCPU", "value": "2"}]}}'),
           400, "ClientException", "resourceRequirements[2].type VCPU is already given at resourceRequirements[0]")
    expect("ListJobs with maxResults 100000",
           signed_request(addr, "POST", "/v1/listjobs", b'{"jobQueue": "q-none", "maxResults": 100000}'),
           400, "ClientException", "maxResults must be a whole number from 1 to 1000, got 100000")
    expect("DescribeJobQueues with maxResults 101",
           signed_request(addr, "POST", "/v1/describejobqueues", b'{"maxResults": 101}'),
           400, "ClientException", "maxResults must be a whole number from 1 to 100, got 101")
    p = st.run("list-jobs", "--job-queue", "q-none", "--max-results", "100000", check=False)
    ok(p.returncode == 254 and "maxResults must be a whole number from 1 to 1000" in p.stderr,
       "the barge command: list-jobs --max-results 100000 exits 254", (p.returncode, p.stderr.strip()))
    p = st.run("describe-job-queues", "--page-size", "100")
    ok(p.returncode == 0, "the barge command: describe-job-queues --page-size 100 is still answered", p.returncode)

    log("-- the newer members and operations of AWS's model (consumable resources, ...)")
    ans = signed_request(addr, "POST", "/v1/createjobqueue",
                         b'{"jobQueueName": "q-mn", "priority": 1, "computeEnvironmentOrder": '
                         b'[{"order": 1, "computeEnvironment": "ce-ok"}]}')
    ok(ans[0] == 200, "CreateJobQueue q-mn", ans[2][:200])
    ans = signed_request(addr, "POST", "/v1/registerjobdefinition",
                         b'{"jobDefinitionName": "jd-mn", "type": "multinode", "nodeProperties": {"numNodes": 2, '
                         b'"mainNode": 0, "nodeRangeProperties": [{"targetNodes": "0:", "container": {"image": "i", '
                         b'"command": ["true"], "resourceRequirements": [{"type": "VCPU", "value": "1"}, '
                         b'{"type": "MEMORY", "value": "64"}]}}]}}')
    ok(ans[0] == 200, "RegisterJobDefinition jd-mn (multinode)", ans[2][:200])
    # was accepted (200) and dropped: the job ran without the consumable resource asked for
    expect("SubmitJob with a node range's consumableResourcePropertiesOverride",
           signed_request(addr, "POST", "/v1/submitjob",
                          b'{"jobName": "mn", "jobQueue": "q-mn", "jobDefinition": "jd-mn", "nodeOverrides": '
                          b'{"nodePropertyOverrides": [{"targetNodes": "0:", "consumableResourcePropertiesOverride": '
                          b'{"consumableResourceList": [{"consumableResource": "lic", "quantity": 1}]}}]}}'),
           400, "ClientException",
           "nodeOverrides.nodePropertyOverrides[0].consumableResourcePropertiesOverride is not supported by Barge "
           "(out of scope:")
    # was "job queue  does not exist"
    expect("GetJobQueueSnapshot with an empty jobQueue",
           signed_request(addr, "POST", "/v1/getjobqueuesnapshot", b'{"jobQueue": ""}'),
           400, "ClientException", "jobQueue is empty: give a job queue's name or ARN")
    ans = signed_request(addr, "POST", "/v1/getjobqueuesnapshot", b'{"jobQueue": "q-mn"}')
    ok(ans[0] == 200 and b'"frontOfQueue"' in ans[2], "GetJobQueueSnapshot of q-mn: 200 with frontOfQueue", ans[2][:200])

    log("-- the server carries on")
    after = signed_request(addr, "POST", "/v1/describejobqueues", b"{}")
    ok(after[0] == 200 and st.alive("api"), "a good request after all that: 200", after[:1])


def main():
    log("-- the route table is the installed botocore's")
    p = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "gen_api_routes.py"), "--check",
                        os.path.join(SOURCE_DIR, "producers", "api", "routes_gen.c")], capture_output=True, text=True)
    ok(p.returncode == 0, "producers/api/routes_gen.c matches the model", (p.stdout + p.stderr).strip())
    api_test("apibad", body)


if __name__ == "__main__":
    main()
