#!/usr/bin/env python3
"""test_cli_query.py: --query is JMESPath as the AWS CLI runs it. A bad expression (a syntax
error, an unknown function, a wrong argument count) exits 252 with a one-line error naming
--query before anything is sent: a submit-job with one writes nothing to barge.requests. Then,
on real responses (describe-jobs of finished, failed and array jobs, describe-job-queues),
`barge ... --query E` prints what jmespath.py (the AWS CLI's JMESPath) gives for E on the same
response: filters, comparisons, && || !, pipes, multiselect lists and hashes, flatten
projections, slices and the functions. A function given the wrong type exits 255."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

try:
    import jmespath
except ImportError:
    jmespath = None

QUERIES = [
    "jobs[0].jobId",
    "jobs[].attempts[].container.exitCode",
    "jobs[*].attempts[*].container.exitCode",
    "jobs[?status==`SUCCEEDED`].jobName",
    "jobs[?status=='FAILED'].[jobName, attempts[0].container.exitCode]",
    "jobs[?createdAt >= `0` && status != 'SUCCEEDED'].jobName",
    "jobs[?!arrayProperties].jobName",
    "jobs[?arrayProperties.size > `1`].arrayProperties.statusSummary",
    "length(jobs)",
    "jobs[0].{s:status, n:jobName, code: container.exitCode}",
    "jobs | [0].status",
    "jobs[0].[status,attempts[0].statusReason]",
    "sort_by(jobs, &jobName)[].jobName",
    "max_by(jobs, &createdAt).jobName",
    "min_by(jobs, &jobName).jobName",
    "jobs[?contains(jobName, 'ok')].jobName",
    "jobs[?starts_with(jobName, 'f')].status",
    "keys(jobs[0]) | sort(@)",
    "join(',', sort(jobs[].status))",
    "reverse(jobs[].jobName)",
    "to_string(length(jobs))",
    "to_number('42')",
    "jobs[:2].jobName",
    "jobs[0].container.command[-1]",
    "jobs[].tags",
    "jobs[].tags.*",
]
QUEUE_QUERIES = [
    "jobQueues[?jobQueueName==`q`]",
    "jobQueues[?jobQueueName==`q`].computeEnvironmentOrder[].computeEnvironment | [0]",
    "jobQueues[?priority > `5`].jobQueueName",
    "length(jobQueues[?state=='ENABLED'])",
]


def body(st):
    if jmespath is None:
        log("  python3 has no jmespath module (pip install jmespath): no oracle")
        sys.exit(77)
    st.init_queue("q", "local", priority=10)
    st.create_queue("q2", "local", priority=7)
    st.register("hello", ["sh", "-c", "exit 0"])
    st.register("fail", ["sh", "-c", "exit 3"])
    good = ["submit-job", "--job-name", "bad-query", "--job-queue", "q", "--job-definition", "hello"]

    requests = lambda: sum(common.end_offsets(st, "requests").values())  # noqa: E731
    before = requests()
    bad = [("jobId[", "column"), ("jobs[?status==`x`", "expected ']'"), ("lenght(jobs)", "unknown function"),
           ("length(jobs, jobs)", "takes 1 argument"), ("a = b", "'=' is not an operator"), ("", "empty expression")]
    for q, words in bad:
        for argv in (good, ["describe-job-queues"]):
            p = st.run(*argv, "--query", q, check=False)
            lines = [x for x in p.stderr.splitlines() if x.strip()]
            ok(p.returncode == 252 and len(lines) == 1 and "--query" in lines[0] and words in lines[0],
               f"{argv[0]} --query {q!r}: exit 252, one line naming --query and saying {words!r}",
               f"exit {p.returncode}, stderr {p.stderr!r}")
            ok(p.stdout == "", f"{argv[0]} --query {q!r}: nothing on stdout", p.stdout)
    ok(requests() == before, "no submit-job with a bad --query reached barge.requests", (before, requests()))

    st.scheduler()
    st.agent("i-q1")
    ids = [st.submit("ok1", "q", "hello", "--tags", "team=a"), st.submit("fail1", "q", "fail"),
           st.submit("ok2", "q", "hello", size=2)]
    st.wait_terminal(ids[:2], 120)
    st.wait_array_done(ids[2], 120)
    for args, queries in ((["describe-jobs", "--jobs", *ids], QUERIES), (["describe-job-queues"], QUEUE_QUERIES)):
        full = st.json(*args)
        for q in queries:
            want = jmespath.search(q, full)
            p = st.run(*args, "--query", q, check=False)
            try:
                got = json.loads(p.stdout)
            except ValueError:
                got = "(not JSON) " + p.stdout
            ok(p.returncode == 0 and got == want, f"{args[0]} --query {q}: what jmespath.py gives",
               f"exit {p.returncode}, got {got!r}, jmespath.py {want!r}, stderr {p.stderr!r}")
    p = st.run("describe-jobs", "--jobs", *ids, "--query", "length(jobs[0].createdAt)", check=False)
    ok(p.returncode == 255 and "length()" in p.stderr and p.stdout == "",
       "a function given the wrong type exits 255 with the function named", (p.returncode, p.stderr))
    p = st.run("describe-jobs", "--jobs", *ids, "--query", "jobs[].status", "--output", "text")
    ok(sorted(p.stdout.split()) == ["FAILED", "SUCCEEDED", "SUCCEEDED"], "--output text prints a projection's values",
       p.stdout)


if __name__ == "__main__":
    common.run_test("cliquery", body, clean_stop=True)
