#!/usr/bin/env python3
"""test_agent_log_retention.py: `barge agent --log-retention-hours` (docs/operations.md, "Job logs
on the agents") through the real binary and broker.

An agent keeps logs for 0.001 h (3.6 s). A quick job and a long job that prints a line and then
sleeps 14 s run side by side. Once the quick job's log is past the retention its folder goes (the
metric barge_agent_log_folders_removed_total counts it), while the long job's folder, just as old
on disk, stays as long as the job is alive; after it ends and its log ages, it goes too. The agent's
state folder (.agents/) stays throughout. A negative retention is refused at start (exit 2), as
are --heartbeat-ms 0, --vcpus or --memory below 1, a negative --gpus and an unknown --runtime. An
agent given a relative --log-dir writes DIR/<jobId>/1.log in its own folder, and `barge logs` run
elsewhere finds it."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import BARGE, log, ok, wait_for  # noqa: E402


def removed_metric(url):
    return common.metrics_scrape(url).get(("barge_agent_log_folders_removed_total", ()), 0)


def body(st):
    st.init_queue("q", "local")
    st.register("quick", ["sh", "-c", "echo quick output"])
    st.register("long", ["sh", "-c", "echo long job started; exec sleep 14"])
    st.scheduler()
    st.agent("i-0b10c0000000000r1", log_retention_hours="0.001", metrics_port="0")
    url = common.metrics_endpoint(st, "agent-i-0b10c0000000000r1")
    logs = os.path.join(st.home, "logs")
    long = st.submit("long", "q", "long")
    quick = st.submit("quick", "q", "quick")
    d = st.wait_terminal([quick], 60)[quick]
    ok(d["status"] == "SUCCEEDED" and os.path.exists(os.path.join(logs, quick, "1.log")),
       "the quick job SUCCEEDED and wrote its log", d["status"])
    wait_for(lambda: st.describe(long)[long]["status"] == "RUNNING", 30, "the long job running")
    gone_at = wait_for(lambda: None if os.path.exists(os.path.join(logs, quick)) else time.time(), 30,
                       "the quick job's log folder to go")
    ok(gone_at is not None, "past the retention, the ended job's log folder is removed")
    ok(removed_metric(url) >= 1, "barge_agent_log_folders_removed_total counts it", removed_metric(url))
    long_log = os.path.join(logs, long, "1.log")
    age = time.time() - os.stat(long_log).st_mtime
    ok(age > 3.6 and st.describe(long)[long]["status"] == "RUNNING",
       f"the long job's log is older than the retention ({age:.1f} s) while it runs")
    time.sleep(2)  # more walks of the log dir
    ok(os.path.exists(long_log), "a job alive on the agent keeps its log folder, however old")
    d = st.wait_terminal([long], 60)[long]
    ok(d["status"] == "SUCCEEDED", "the long job SUCCEEDED", d["status"])
    wait_for(lambda: not os.path.exists(os.path.join(logs, long)), 30, "the long job's folder to go once ended")
    ok(not os.path.exists(os.path.join(logs, long)), "once it ended, its folder goes too")
    ok(os.path.isdir(os.path.join(logs, ".agents")), "the agent's state folder stays")
    ok(removed_metric(url) >= 2, "the metric counts both", removed_metric(url))
    ok(st.alive("agent-i-0b10c0000000000r1"), "the agent carries on")
    # a relative --log-dir: the logs go to DIR/<jobId>/ under the agent's folder (they went to DIR/DIR/<jobId>/,
    # with that relative path as the attempt's logPath, which `barge logs` elsewhere could not find)
    st.create_ce("rel")
    st.create_queue("qr", "rel")
    wd = os.path.join(st.home, "wd")
    os.makedirs(wd)
    here = os.getcwd()
    os.chdir(wd)
    try:
        st.start("agent-rel", "agent", "--brokers", st.brokers, "--topic-prefix", st.prefix, "--compute-environment",
                 "rel", "--instance-id", "i-0b10c0000000000r2", "--heartbeat-ms", "1000", "--runtime", "process",
                 "--log-dir", "rel-logs")
    finally:
        os.chdir(here)
    rel = st.submit("quick-rel", "qr", "quick")
    d = st.wait_terminal([rel], 60)[rel]
    ok(d["status"] == "SUCCEEDED" and os.path.exists(os.path.join(wd, "rel-logs", rel, "1.log")),
       "with --log-dir rel-logs the log is rel-logs/<jobId>/1.log in the agent's folder",
       (d["status"], [x[0] for x in os.walk(wd)][:6]))
    out = st.run("logs", rel, check=False)
    ok("quick output" in out.stdout, "barge logs, run in another folder, prints it", (out.stdout, out.stderr))
    p = subprocess.run([BARGE, "agent", "--brokers", st.brokers, "--topic-prefix", st.prefix, "--compute-environment",
                        "local", "--log-retention-hours", "-1"], capture_output=True, text=True, timeout=30)
    ok(p.returncode == 2 and "--log-retention-hours" in p.stderr, "a negative retention: exit 2, saying why",
       (p.returncode, p.stderr))
    # --heartbeat-ms 0 ran an agent that wrote a heartbeat every turn of a loop that never slept (about
    # 100,000 records a second on barge.instances); refused at once now, before any broker is asked
    try:
        p = subprocess.run([BARGE, "agent", "--brokers", "127.0.0.1:1", "--compute-environment", "local",
                            "--heartbeat-ms", "0"], capture_output=True, text=True, timeout=10)
        got = (p.returncode, p.stderr)
    except subprocess.TimeoutExpired:
        got = ("still running after 10 s", "")
    ok(got[0] == 2 and "--heartbeat-ms" in got[1], "--heartbeat-ms 0: exit 2 at once, saying why", got)
    # an agent of -1 vCPU (or 0 MiB) registered as such; a misspelt runtime waited for the broker, then exited 1
    for bad, word in ((["--vcpus", "-1"], "--vcpus"), (["--memory", "0"], "--memory"), (["--gpus", "-2"], "--gpus"),
                      (["--runtime", "podmn"], "--runtime podmn")):
        try:
            p = subprocess.run([BARGE, "agent", "--brokers", "127.0.0.1:1", "--compute-environment", "local", *bad],
                               capture_output=True, text=True, timeout=10)
            got = (p.returncode, p.stderr)
        except subprocess.TimeoutExpired:
            got = ("still running after 10 s", "")
        ok(got[0] == 2 and word in got[1], f"{' '.join(bad)}: exit 2 at once, saying why", got)


if __name__ == "__main__":
    common.scenario("logretention", body, "the log-retention scenario")
    common.finish()
