"""test_api_cli_reads.py: the `barge` command line's reads through `barge api`.

When $BARGE_HOME/stack names an API (api_endpoint=, api_credentials= as `barge up` writes them)
over the same Kafka and topic prefix, describe-jobs, list-jobs and the describe-* of the
configuration and list-tags-for-resource (its ARN in the path) are sent to it, signed with profile barge, and answered from its in-memory view.
Checked: each read shows up in the API's request log, and its output is byte for byte what the
command prints when it reads the tables itself (BARGE_CLI_DIRECT=1); a queue the command line
creates is described through the API right after (the API catches up first); with the API not
answering, the command falls back to the tables with the same output; a ClientException of the
API is the command's error. Jobs sit RUNNABLE in a queue with no instance, so nothing changes
between the two reads."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, api_test  # noqa: E402
from common import BARGE, log, ok, wait_for  # noqa: E402


def cli(st, *args, direct=False):
    env = dict(st.env)
    if direct:
        env["BARGE_CLI_DIRECT"] = "1"
    t = time.monotonic()
    p = subprocess.run([BARGE, *args], env=env, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t


def api_requests(st, op):
    """How many op requests the API answered 200."""
    return st.log_text("api").count(f" {op} -> 200")


def write_stack(st, endpoint):
    creds = os.path.join(st.home, "cli-credentials")
    with open(creds, "w") as f:
        f.write(f"[barge]\naws_access_key_id = {ADMIN[0]}\naws_secret_access_key = {ADMIN[1]}\n")
    with open(os.path.join(st.home, "stack"), "w") as f:
        f.write(f"brokers={st.brokers}\nprefix={st.prefix}\napi_endpoint={endpoint}\napi_credentials={creds}\n")


def body(st, addr):
    st.create_ce("idle")
    st.create_queue("q", "idle")
    st.register("hello", ["true"], settle=True)
    st.scheduler()
    ids = [st.submit(f"j{i}", "q", "hello") for i in range(5)]
    wait_for(lambda: all(j["status"] == "RUNNABLE" for j in st.describe(*ids).values())
             and len(st.describe(*ids)) == 5, 60, "5 RUNNABLE jobs")
    q_arn = cli(st, "describe-job-queues", "--job-queues", "q", "--query", "jobQueues[0].jobQueueArn", "--output",
                "text", direct=True)[1].strip()
    job_arn = st.describe(ids[0])[ids[0]]["jobArn"]
    write_stack(st, f"http://{addr[0]}:{addr[1]}")
    reads = [("DescribeJobs", ["describe-jobs", "--jobs", *ids]),
             ("ListJobs", ["list-jobs", "--job-queue", "q", "--job-status", "RUNNABLE"]),
             ("ListJobs", ["list-jobs", "--job-queue", "q", "--job-status", "RUNNABLE", "--max-items", "2"]),
             ("DescribeJobQueues", ["describe-job-queues"]),
             ("DescribeComputeEnvironments", ["describe-compute-environments"]),
             ("DescribeJobDefinitions", ["describe-job-definitions", "--status", "ACTIVE"]),
             # the ARN goes in the path (/v1/tags/{resourceArn}): sent as "{resourceArn}" it was
             # refused (a bad signature) and the command read the tables itself
             ("ListTagsForResource", ["list-tags-for-resource", "--resource-arn", q_arn]),
             ("ListTagsForResource", ["list-tags-for-resource", "--resource-arn", job_arn])]
    for op, args in reads:
        before = api_requests(st, op)
        rc, out, err, via_api = cli(st, *args)
        time.sleep(0.3)  # the API logs its line after answering
        sent = api_requests(st, op) - before
        rc2, out2, err2, direct = cli(st, *args, direct=True)
        for _ in range(4):  # the scheduler may change a job (a waiting reason) between the two reads
            if out == out2:
                break
            rc, out, err, via_api = cli(st, *args)
            rc2, out2, err2, direct = cli(st, *args, direct=True)
        ok(rc == 0 and sent >= 1, f"`barge {args[0]}` went through the API ({op} requests: {sent})", (rc, err))
        ok(rc2 == 0 and out == out2 and out.strip(), f"`barge {' '.join(args[:3])}`: the same output as a direct read "
           f"({via_api * 1000:.0f} ms through the API, {direct * 1000:.0f} ms direct)", (out, out2, err2))
    before = api_requests(st, "DescribeJobs")
    cli(st, "describe-jobs", "--jobs", ids[0], direct=True)
    time.sleep(0.3)
    ok(api_requests(st, "DescribeJobs") == before, "BARGE_CLI_DIRECT=1 reads the tables itself, not the API")

    # a write of another process (this command writes to Kafka itself) shows in the next read: the
    # command asks the API to catch up with the tables' ends first
    for i in range(5):
        before = api_requests(st, "DescribeJobQueues")
        st.create_queue(f"late{i}", "idle")
        rc, out, err, _ = cli(st, "describe-job-queues", "--job-queues", f"late{i}", "--query", "jobQueues[].jobQueueName",
                              "--output", "text")
        time.sleep(0.3)
        ok(rc == 0 and out.strip() == f"late{i}" and api_requests(st, "DescribeJobQueues") == before + 1,
           f"a queue created by the command line is described through the API at once ({i + 1}/5)", (out, err))
    rc, out, err, _ = cli(st, "list-jobs", "--job-queue", "no-such-queue")
    rc2, out2, err2, _ = cli(st, "list-jobs", "--job-queue", "no-such-queue", direct=True)
    ok(rc != 0 and rc == rc2 and err == err2 and "no-such-queue" in err,
       "an API ClientException is the command's error, as a direct read gives it", (rc, err, rc2, err2))

    write_stack(st, "http://127.0.0.1:1")  # nothing listens there
    rc, out, err, _ = cli(st, "describe-jobs", "--jobs", *ids)
    rc2, out2, _, _ = cli(st, "describe-jobs", "--jobs", *ids, direct=True)
    ok(rc == 0 and out == out2 and len(out) > 10, "with the API not answering, the command reads the tables itself",
       (rc, err))
    log(f"  {len(ids)} jobs")


if __name__ == "__main__":
    api_test("api-cli-reads", body, log_level="debug")  # a log line per request, counted above
