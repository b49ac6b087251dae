#!/usr/bin/env python3
"""test_agent_same_id.py: a second agent started with the --instance-id (and --log-dir) of one
that still runs takes the instance over (a new incarnation, docs/architecture.md "Agent
incarnations"); the first says so in its log and, when stopped, does not report the instance
TERMINATED. It used to say nothing and report TERMINATED at its stop, which the scheduler took
as the end of the instance the second agent now served: the second's heartbeats were ignored
from then on and no job was placed on the instance again.

1. Agent A runs a job (sleep); agent B starts with the same instance id.
2. Within 15 s A's log has an error naming the instance id and what to do.
3. A is stopped (SIGTERM) and says it does not report the instance TERMINATED.
4. A job submitted then SUCCEEDS on B within 30 s (its first attempt may go to A's incarnation
   if the scheduler has not read B's READY yet: it has two)."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, wait_for  # noqa: E402

INST = "i-0sa3e1d0000000001"


def body(st):
    st.init_queue("q", "local")
    st.register("long", ["sleep", "120"])
    # two attempts: a job placed in the moment between A's stop and the scheduler reading B's READY
    # goes to A's incarnation, which B ignores; B's first heartbeat then settles that attempt as
    # lost (docs/architecture.md, "Agent incarnations"), and the retry runs on B
    st.register("hello", ["sh", "-c", "echo hello"], retry_strategy={"attempts": 2})
    st.scheduler()
    st.agent(INST, name="a")
    long_job = st.submit("long", "q", "long")
    wait_for(lambda: st.describe(long_job).get(long_job, {}).get("status") == "RUNNING", 60, "the long job RUNNING")
    st.agent(INST, name="b")
    said = f"another agent started with --instance-id {INST}"
    try:
        wait_for(lambda: said in st.log_text("a"), 15, "agent A to say it was superseded")
    except TimeoutError:
        pass
    ok(said in st.log_text("a"), "the first agent says another started with its instance id", st.log_tail("a", 6))
    wait_for(lambda: "ready:" in st.log_text("b"), 30, "agent B to be ready")
    st.kill("a", signal.SIGTERM)
    ok("not reporting instance" in st.log_text("a"), "stopped, it does not report the instance TERMINATED",
       st.log_tail("a", 4))
    job = st.submit("hello", "q", "hello")
    try:
        d = st.wait_terminal([job], 30)[job]
    except TimeoutError:
        d = st.describe(job).get(job, {})
    ok(d.get("status") == "SUCCEEDED", "a job submitted after the first agent stopped SUCCEEDS on the second",
       (d.get("status"), d.get("statusReason")))
    st.run("terminate-job", "--job-id", long_job, "--reason", "test done")


if __name__ == "__main__":
    common.run_test("agent_same_id", body, clean_stop=True)
