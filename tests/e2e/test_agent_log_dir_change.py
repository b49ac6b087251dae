#!/usr/bin/env python3
"""test_agent_log_dir_change.py: an agent restarted with another --log-dir says that the attempts of
its earlier start may still run (docs/operations.md, "Job logs on the agents").

The agent keeps its state (incarnation, the process groups of its attempts, the name of its
attempt cgroups) under --log-dir, so a start with another --log-dir does not know the earlier
start's attempts and does not stop them. With the process runtime and a usable cgroup tree, an
agent (--log-dir A) runs `sleep 300` and is SIGKILLed; the same instance id started with
--log-dir B must warn, naming the cgroup folder where the left attempt runs. It used to say
nothing. Skipped (77) without a usable cgroup tree (not root)."""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log, ok  # noqa: E402

INST = "i-0c0a7a1e0000005d4"


def kill_left(folder):
    """SIGKILLs what runs in the attempt groups under folder (the left attempt), then removes the
    groups (v1: the cpu controller's too) once emptied."""
    for sub in os.listdir(folder):
        try:
            with open(os.path.join(folder, sub, "cgroup.procs")) as f:
                pids = [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            continue
        for pid in pids:
            log(f"killing {pid}, left in {folder}/{sub}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    time.sleep(0.5)
    name = os.path.basename(folder)
    for ctl in ("memory", "cpu,cpuacct", "cpu", ""):
        parent = os.path.join("/sys/fs/cgroup", ctl, "barge", name)
        if not os.path.isdir(parent):
            continue
        for sub in os.listdir(parent):
            if os.path.isdir(os.path.join(parent, sub)):
                try:
                    os.rmdir(os.path.join(parent, sub))
                except OSError:
                    pass
        try:
            os.rmdir(parent)
        except OSError:
            pass


def body(st):
    st.init_queue("q", "local")
    st.register("sleeper", ["sleep", "300"])
    st.scheduler()

    def agent(name, log_dir):
        st.start(name, "agent", "--brokers", st.brokers, "--topic-prefix", st.prefix, "--compute-environment", "local",
                 "--instance-id", INST, "--vcpus", "2", "--memory", "2048", "--heartbeat-ms", "1000",
                 "--log-dir", os.path.join(st.home, log_dir), "--runtime", "process")
    agent("agent-a", "logs-a")
    st.wait("agent-a ready", lambda: "ready:" in st.log_text("agent-a") or None, timeout=60, every=0.2)
    if "limits with cgroup" not in st.log_text("agent-a"):
        log("skip: no usable cgroup tree here")
        st.kill("agent-a", signal.SIGTERM)
        st.close()
        sys.exit(77)
    job = st.submit("s", "q", "sleeper")
    st.wait(f"{job} RUNNING", lambda: st.describe(job).get(job, {}).get("status") == "RUNNING" or None, timeout=60)
    st.kill("agent-a")
    left = None
    try:
        agent("agent-b", "logs-b")
        st.wait("agent-b ready", lambda: "ready:" in st.log_text("agent-b") or None, timeout=60, every=0.2)
        text = st.log_text("agent-b")
        m = re.search(r"process\(es\) run in (\S+), the attempt cgroups of an agent with this --instance-id", text)
        left = m.group(1) if m else None
        ok(m is not None and "another --log-dir" in text and INST in left,
           "the agent started with another --log-dir warns of the earlier start's attempt, naming its cgroups",
           st.log_tail("agent-b", 8))
    finally:
        if not left:  # the left attempt's groups, from the names the agents give them
            base = "/sys/fs/cgroup/memory/barge" if os.path.isdir("/sys/fs/cgroup/memory/barge") else "/sys/fs/cgroup/barge"
            for d in os.listdir(base) if os.path.isdir(base) else []:
                if d.startswith(INST + "-"):
                    kill_left(os.path.join(base, d))
        else:
            kill_left(left)


def main():
    common.run_test("logdirchange", body, clean_stop=True)


if __name__ == "__main__":
    main()
