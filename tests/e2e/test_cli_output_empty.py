#!/usr/bin/env python3
"""test_cli_output_empty.py: an operation whose response is empty (tag-resource, untag-resource,
cancel-job, terminate-job) prints nothing, as the AWS CLI v2 does, in every --output format and
without one (json, the default). barge printed `{}` for json and yaml (and `- {}` for yaml-stream).
The same requests go to the real aws CLI v2 (/usr/bin/aws, against `barge api` of a `barge up`
stack) and to `barge`; the outputs must be identical, byte for byte, and both empty."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

AWS = "/usr/bin/aws"


def body(s):
    if not os.access(AWS, os.X_OK):
        log("  no AWS CLI v2 at /usr/bin/aws")
        sys.exit(77)
    s.init()
    s.up("--no-provisioner", "--no-accounting", "--no-audit")
    endpoint, creds = s.stack_value("api_endpoint"), s.stack_value("api_credentials")
    s.create_queue("q", "local")
    arn = s.json("describe-job-queues", "--job-queues", "q")["jobQueues"][0]["jobQueueArn"]
    s.register("idle", ["true"], vcpus=1, memory=64, settle=True)
    job = s.submit("j1", "q", "idle")
    env = dict(s.env, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_PAGER="")
    every = ([], ["--output", "json"], ["--output", "text"], ["--output", "table"], ["--output", "yaml"],
             ["--output", "yaml-stream"])
    requests = [(["tag-resource", "--resource-arn", arn, "--tags", "team=a"], every),
                (["untag-resource", "--resource-arn", arn, "--tag-keys", "team"], every),
                (["cancel-job", "--job-id", job, "--reason", "not needed"], ([], ["--output", "yaml"])),
                (["terminate-job", "--job-id", job, "--reason", "not needed"], ([], ["--output", "table"]))]
    for req, fmts in requests:
        for fmt in fmts:
            a = subprocess.run([AWS, "batch", *req, "--endpoint-url", endpoint, "--region", "us-east-1", "--profile",
                                "barge", *fmt], env=env, capture_output=True, text=True, timeout=120)
            b = s.run(*req, *fmt, check=False)
            same = a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout == ""
            if not same:
                log(f"--- aws ({a.returncode}) {a.stderr}\n{a.stdout!r}\n--- barge ({b.returncode}) {b.stderr}\n"
                    f"{b.stdout!r}")
            ok(same, f"{req[0]} {' '.join(fmt) or '(no --output)'}: nothing printed, as aws v2 prints")


if __name__ == "__main__":
    common.run_test("clioutputempty", body)
