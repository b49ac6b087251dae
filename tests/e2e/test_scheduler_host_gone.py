#!/usr/bin/env python3
"""test_scheduler_host_gone.py: an instance that ends while the scheduler is down does not leave
its jobs RUNNING for ever (docs/architecture.md, "Scheduler restart").

A job runs on an agent; the scheduler is killed (SIGKILL), then the agent is stopped (SIGTERM: it
kills the job's process and writes TERMINATED, "agent stopped"), as `barge down` does when the
scheduler stops after the agents or a provisioner's agents end with it. The scheduler starts
again. Its rebuild read barge.instances to its end, TERMINATED included, so the instance was gone
before the job was attached to it, and the TERMINATED it then took as input changed nothing: the
job stayed RUNNING on a host that no longer exists, for good. Now the job's attempt must end with
"Host EC2 (instance ...) terminated." and, with a second attempt allowed, the job must SUCCEED on
another agent."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

A1, A2 = "i-0a9e77000000000a1", "i-0a9e77000000000a2"


def body(st):
    st.init_queue("q", "local", priority=10)
    st.register("nap", ["sleep", "6"], retry_strategy={"attempts": 2})
    st.scheduler()
    st.agent(A1, name="a1")
    job = st.submit("nap", "q", "nap")
    got = st.wait("the job to run on " + A1,
                  lambda: (lambda d: d if d.get("status") == "RUNNING" else None)(st.describe(job).get(job, {})),
                  timeout=60, every=0.3)
    ok(got, "the job is RUNNING on the first agent")
    st.kill("scheduler", signal.SIGKILL)
    st.kill("a1", signal.SIGTERM)
    ended = [e for e in st.instance_events() if e["instanceId"] == A1 and e["kind"] == "TERMINATED"]
    ok(ended, "the first agent wrote TERMINATED while the scheduler was down")
    st.scheduler()
    st.agent(A2, name="a2")
    try:
        done = st.wait_terminal([job], 60)[job]
    except TimeoutError:
        done = st.describe(job).get(job, {})
    log(f"  job {job}: {done.get('status')}, attempts "
        f"{[(a.get('container', {}).get('containerInstanceArn', '').rsplit('/', 1)[-1], a.get('statusReason')) for a in done.get('attempts', [])]}")
    atts = done.get("attempts", [])
    ok(done.get("status") == "SUCCEEDED", "the job ends (SUCCEEDED on the second agent), not RUNNING for ever",
       done.get("status"))
    ok(len(atts) == 2 and atts[0].get("statusReason") == f"Host EC2 (instance {A1}) terminated.",
       "its first attempt ended as on a lost host, its second ran elsewhere", atts)


if __name__ == "__main__":
    common.run_test("hostgone", body)
