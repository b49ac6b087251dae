#!/usr/bin/env python3
"""test_cli_output_awscli.py: `--output table`, `text`, `yaml` and `yaml-stream` print what the AWS CLI v2
prints. The same requests go to the real aws CLI v2 (/usr/bin/aws, against `barge api` of a
`barge up` stack) and to `barge` (the operation run in-process); the outputs must be identical,
byte for byte: describe-jobs of a finished job (nested attempts, container, environment, tags;
a command argument long enough that YAML folds it), list-jobs, describe-job-definitions,
--query results, and --max-items/--page-size/--starting-token pages with their NextToken. Both write to a pipe (80 columns), so the wide
tables turn vertical in both. An operation whose response is empty (tag-resource, untag-resource,
cancel-job, terminate-job) prints nothing in every format and without --output (json), where
barge printed `{}` for json and yaml and `- {}` for yaml-stream."""
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
    s.create_queue("q2", "local")
    long_arg = "echo " + " ".join(f"word{i}" for i in range(30)) + " it's: #done"
    s.register("shout", ["sh", "-c", long_arg + "; exit 3"], vcpus=1, memory=128, settle=True,
               env={"A": "x: y", "B": "true"})
    job = s.submit("j1", "q", "shout", "--tags", "team=a,yes=1.5")
    st = s.wait_terminal([job], 120)[job]["status"]
    ok(st == "FAILED", f"the job ran and FAILED with exit 3 ({st})")
    env = dict(s.env, AWS_SHARED_CREDENTIALS_FILE=creds, AWS_PAGER="")
    requests = [["describe-jobs", "--jobs", job], ["list-jobs", "--job-queue", "q", "--job-status", "FAILED"],
                # (the whole of describe-job-queues differs: this aws v2's model predates
                # jobStateTimeLimitActions, which botocore drops)
                ["describe-job-queues", "--query", "jobQueues[0].computeEnvironmentOrder"], ["describe-job-definitions"],
                ["describe-jobs", "--jobs", job, "--query", "jobs[0].container.command"],
                # --max-items: the same NextToken, cut mid-page and on a page boundary
                ["describe-job-queues", "--max-items", "1", "--page-size", "2", "--query", "{q: jobQueues[].jobQueueName, t: NextToken}"],
                ["describe-job-queues", "--max-items", "1", "--page-size", "1", "--query", "{q: jobQueues[].jobQueueName, t: NextToken}"],
                ["describe-job-queues", "--starting-token", "eyJuZXh0VG9rZW4iOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAxfQ==",
                 "--query", "jobQueues[].[jobQueueName, priority]"]]
    for req in requests:
        # (aws takes ~4 s a call; text: rows named by their member, keys sorted, as awscli/text.py
        # writes them; barge used to print every value on one line)
        for fmt in ("table", "text", "yaml") + (("yaml-stream",) if req[0] == "list-jobs" else ()):
            a = subprocess.run([AWS, "batch", *req, "--endpoint-url", endpoint, "--region", "us-east-1", "--profile",
                                "barge", "--output", fmt], env=env, capture_output=True, text=True, timeout=120)
            b = s.run(*req, "--output", fmt, check=False)
            same = a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout and a.stdout.strip()
            if not same:
                log(f"--- aws ({a.returncode}) {a.stderr}\n{a.stdout}--- barge ({b.returncode}) {b.stderr}\n{b.stdout}")
            ok(same, f"{req[0]} {' '.join(req[1:])[-30:]} --output {fmt}: barge prints what aws v2 prints")

    arn = s.json("describe-job-queues", "--job-queues", "q")["jobQueues"][0]["jobQueueArn"]
    every = ([], ["--output", "json"], ["--output", "text"], ["--output", "table"], ["--output", "yaml"],
             ["--output", "yaml-stream"])
    empty = [(["tag-resource", "--resource-arn", arn, "--tags", "team=a"], every),
             (["untag-resource", "--resource-arn", arn, "--tag-keys", "team"], every),
             (["cancel-job", "--job-id", job, "--reason", "not needed"], ([], ["--output", "yaml"])),
             (["terminate-job", "--job-id", job, "--reason", "not needed"], ([], ["--output", "table"]))]
    for req, fmts in empty:
        for fmt in fmts:
            a = subprocess.run([AWS, "batch", *req, "--endpoint-url", endpoint, "--region", "us-east-1", "--profile",
                                "barge", *fmt], env=env, capture_output=True, text=True, timeout=120)
            b = s.run(*req, *fmt, check=False)
            same = a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout == ""
            if not same:
                log(f"--- aws ({a.returncode}) {a.stderr}\n{a.stdout!r}\n--- barge ({b.returncode}) {b.stderr}\n"
                    f"{b.stdout!r}")
            ok(same, f"{req[0]} {' '.join(fmt) or '(no --output)'}: an empty response prints nothing, as in aws v2")


if __name__ == "__main__":
    common.run_test("clioutput", body)
