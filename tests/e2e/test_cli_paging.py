#!/usr/bin/env python3
"""test_cli_paging.py: --max-items, --starting-token and --page-size page a listing as the AWS
CLI does (botocore's paginator), both when the command reads through the API of the `barge up`
stack and when it reads the tables itself (BARGE_CLI_DIRECT=1). On 7 SUCCEEDED jobs:
--max-items 5 gives 5 and a NextToken (and no nextToken), --starting-token with it gives the
other 2 and no NextToken; walking with --max-items 2 (and with --page-size 3 --max-items 2,
which cuts pages in the middle) gives the whole listing once, in order; --page-size 2 alone
still gives everything; describe-job-queues pages the same way. A token that is not one and
--max-items 0 exit 252. Before, --max-items was accepted and ignored: all jobs, no NextToken."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402

N = 7


def walk(s, env, args, *paging):
    """Names of the whole listing fetched NextToken by NextToken; the number of calls."""
    names, token, calls = [], None, 0
    while True:
        p = s.run(*args, *paging, *(["--starting-token", token] if token else []), check=False, env=env)
        calls += 1
        out = json.loads(p.stdout) if p.returncode == 0 else {}
        key = "jobSummaryList" if "jobSummaryList" in out else "jobQueues"
        names += [x.get("jobName") or x.get("jobQueueName") for x in out.get(key, [])]
        token = out.get("NextToken")
        if not token or calls > 20:
            return names, calls


def body(s):
    s.init()
    s.up("--no-provisioner", "--no-accounting", "--no-audit")
    s.create_queue("q", "local")
    s.create_queue("q2", "local")
    s.register("hello", ["true"], settle=True)
    ids = [s.submit(f"j{i}", "q", "hello") for i in range(N)]
    s.wait_terminal(ids, 120)
    listing = ["list-jobs", "--job-queue", "q", "--job-status", "SUCCEEDED"]
    for how, env in (("through the API", {}), ("reading the tables", {"BARGE_CLI_DIRECT": "1"})):
        env = dict(s.env, **env)
        full = [j["jobName"] for j in json.loads(s.run(*listing, env=env).stdout)["jobSummaryList"]]
        ok(sorted(full) == sorted(f"j{i}" for i in range(N)), f"{how}: list-jobs lists the {N} jobs", full)
        p = s.run(*listing, "--max-items", "5", env=env)
        out = json.loads(p.stdout)
        first = [j["jobName"] for j in out["jobSummaryList"]]
        ok(first == full[:5] and out.get("NextToken") and "nextToken" not in out,
           f"{how}: --max-items 5 gives the first 5 and a NextToken", out)
        p = s.run(*listing, "--max-items", "5", "--starting-token", out.get("NextToken", "x"), env=env, check=False)
        rest = json.loads(p.stdout) if p.returncode == 0 else {}
        ok([j["jobName"] for j in rest.get("jobSummaryList", [])] == full[5:] and "NextToken" not in rest,
           f"{how}: --starting-token NextToken gives the other {N - 5} and no NextToken", (p.stderr, rest))
        for paging in (["--max-items", "2"], ["--page-size", "3", "--max-items", "2"], ["--page-size", "2", "--max-items", "4"]):
            names, calls = walk(s, env, listing, *paging)
            ok(names == full, f"{how}: {' '.join(paging)} walked to the end gives the listing once, in order",
               (names, full))
        out = json.loads(s.run(*listing, "--page-size", "2", env=env).stdout)
        ok([j["jobName"] for j in out["jobSummaryList"]] == full and "NextToken" not in out,
           f"{how}: --page-size 2 alone still gives every job", out)
        queues, calls = walk(s, env, ["describe-job-queues"], "--max-items", "1")
        ok(sorted(queues) == ["q", "q2"] and calls == 2, f"{how}: describe-job-queues --max-items 1 takes 2 calls",
           (queues, calls))
        for bad, words in ((["--starting-token", "bm90IGEgdG9rZW4="], "--starting-token"),
                           (["--max-items", "0"], "--max-items")):
            p = s.run(*listing, *bad, env=env, check=False)
            ok(p.returncode == 252 and words in p.stderr and p.stdout == "", f"{how}: {' '.join(bad)} exits 252",
               (p.returncode, p.stderr))


if __name__ == "__main__":
    common.run_test("clipaging", body)
