#!/usr/bin/env python3
"""test_agent_unknown_ce.py: an agent started with a compute environment that does not exist (a
misspelt --compute-environment) says so in its log, where it used to say only "ready" and never
be given a job (the scheduler dead-letters its heartbeats). It keeps running and, once the CE is
created, says it exists now and runs the jobs placed on it: a CE created a moment after its
agents start (as `barge up` may do) still works.

1. Agent of "lcoal" while only "local" exists: within 20 s its log has an error naming lcoal, that
   it does not exist and how to create one; the agent is still running. `barge instances` (JSON
   and table) shows it in state unknown-ce with a reason naming lcoal (it said "ready"), the
   agent of local as ready.
2. "lcoal" is created with a queue over it; the agent says it exists now, `barge instances` shows
   it ready, and a job submitted to that queue SUCCEEDS on it.
3. An agent of "local" (which exists) never logs that error.
4. An agent of a stack with no resource at all (barge.config empty) says its CE does not exist,
   and `barge instances` shows it unknown-ce."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, wait_for  # noqa: E402

BAD = "i-0c0e000000000000b"
GOOD = "i-0c0e000000000000a"


def body(st):
    st.init_queue("q", "local")
    st.register("hello", ["sh", "-c", "echo hello"])
    st.scheduler()
    st.agent(GOOD, ce="local", name="good")
    st.agent(BAD, ce="lcoal", name="bad")
    said = "compute environment lcoal does not exist"
    try:
        wait_for(lambda: said in st.log_text("bad"), 20, "the agent of lcoal to say its CE does not exist")
    except TimeoutError:
        pass
    text = st.log_text("bad")
    ok(said in text and "create-compute-environment" in text,
       "the agent of a CE that does not exist says so, and how to create it", st.log_tail("bad", 8))
    ok(st.alive("bad"), "it keeps running (the CE may be created a moment later)")
    # `barge instances` listed it as "ready", like an agent that gets jobs
    rows = {r["instanceId"]: r for r in st.instances()}
    bad, good = rows.get(BAD, {}), rows.get(GOOD, {})
    ok(bad.get("state") == "unknown-ce" and said in bad.get("reason", ""),
       "barge instances shows the agent of lcoal as unknown-ce, saying its CE does not exist", bad)
    ok(good.get("state") == "ready" and "reason" not in good, "and the agent of local as ready", good)
    table = st.run("instances").stdout
    ok(any(BAD in line and "unknown-ce" in line for line in table.splitlines()),
       "the table too shows it as unknown-ce", table)

    st.create_ce("lcoal")
    st.create_queue("q2", "lcoal", priority=5)
    try:
        wait_for(lambda: "compute environment lcoal exists now" in st.log_text("bad"), 30,
                 "the agent to see its CE created")
    except TimeoutError:
        pass
    ok("compute environment lcoal exists now" in st.log_text("bad"), "once created, the agent says it exists now",
       st.log_tail("bad", 8))
    state = {r["instanceId"]: r["state"] for r in st.instances()}.get(BAD)
    ok(state == "ready", "once its CE exists, barge instances shows it ready", state)
    job = st.submit("on-lcoal", "q2", "hello")
    d = st.wait_terminal([job], 60)[job]
    ok(d["status"] == "SUCCEEDED", "a job of a queue over lcoal SUCCEEDED", (d["status"], d.get("statusReason")))
    ok(BAD in json.dumps(d.get("container", {})), "it ran on the agent of lcoal", d.get("container"))
    ok("does not exist" not in st.log_text("good"), "the agent of local (which exists) says nothing of the kind")


def empty(st):
    """4. An agent of a stack with no resource at all (an empty barge.config) says the same."""
    st.init()
    st.agent(BAD, ce="nothing", name="bad")
    said = "compute environment nothing does not exist"
    try:
        wait_for(lambda: said in st.log_text("bad"), 20, "the agent to say its CE does not exist")
    except TimeoutError:
        pass
    ok(said in st.log_text("bad"), "with barge.config empty, the agent says its CE does not exist",
       st.log_tail("bad", 6))
    row = {r["instanceId"]: r for r in st.instances()}.get(BAD, {})
    ok(row.get("state") == "unknown-ce" and said in row.get("reason", ""),
       "and barge instances shows it as unknown-ce", row)


if __name__ == "__main__":
    common.scenario("agent_unknown_ce", body, clean_stop=True)
    common.scenario("agent_unknown_ce_empty", empty, clean_stop=True)
    common.finish()
