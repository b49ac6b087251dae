#!/usr/bin/env python3
"""test_agent_placement_memory.py: the agent ignores a placement delivered again, and forgets
the placements it accepted after `--placement-memory-ms` (docs/architecture.md, "Agent
incarnations"), so a long-lived agent's memory follows its rate of placements, not its age.

An agent remembers placements for 5 s. A job runs; its placement record is produced again on
barge.placements, byte for byte: the job does not run a second time (one start and one end
reported for the attempt, one line in its log). The gauge barge_agent_placements_remembered counts the
placement, then falls to 0 once two windows have passed with nothing new."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, wait_for  # noqa: E402

AGENT = "i-0b10c0000000000m1"


def remembered(url):
    return common.metrics_scrape(url).get(("barge_agent_placements_remembered", ()), None)


def body(st):
    avro = common.Avro()
    st.init_queue("q", "local")
    st.register("once", ["sh", "-c", "echo ran $AWS_BATCH_JOB_ID"])
    st.scheduler()
    st.agent(AGENT, placement_memory_ms="5000", metrics_port="0")
    url = common.metrics_endpoint(st, f"agent-{AGENT}")
    job = st.submit("once", "q", "once")
    d = st.wait_terminal([job], 60)[job]
    ok(d["status"] == "SUCCEEDED", "the job SUCCEEDED", d["status"])
    ok((remembered(url) or 0) >= 1, "the agent remembers its placement", remembered(url))

    def placement_of(jid):
        for r in common.read_topic(st, "placements"):
            if r["value"] and r["key"] == AGENT.encode():
                _, cmd = avro.decode(r["value"])
                body = cmd["body"][1] if isinstance(cmd["body"], tuple) else cmd["body"]
                if isinstance(body, dict) and body.get("jobId") == jid:
                    return r
        return None
    rec = placement_of(job)
    ok(rec is not None, "its placement is on barge.placements")
    common.produce_raw(st, "placements", rec["key"], rec["value"])
    time.sleep(2)

    def reports(jid):
        out = []
        for r in common.read_topic(st, "executions"):
            _, rep = avro.decode(r["value"])
            if rep.get("jobId") == jid:
                out.append(rep["kind"])
        return out
    kinds = reports(job)
    ok(kinds.count("EXITED") == 1 and kinds.count("STARTED") <= 1 and len(kinds) <= 2,
       "the placement delivered again started nothing: one start and one end reported", kinds)
    with open(os.path.join(st.home, "logs", job, "1.log")) as f:
        text = f.read()
    ok(text == f"ran {job}\n", "and one run in the log", text)
    ok(st.describe(job)[job]["status"] == "SUCCEEDED", "the job is still SUCCEEDED")
    wait_for(lambda: remembered(url) == 0, 30, "the remembered placements to be forgotten")
    ok(remembered(url) == 0, "two windows later nothing is remembered: memory follows the rate")
    ok(st.alive(f"agent-{AGENT}"), "the agent carries on")


if __name__ == "__main__":
    common.scenario("placememory", body, "the placement-memory scenario")
    common.finish()
