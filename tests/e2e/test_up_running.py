#!/usr/bin/env python3
"""test_up_running.py: `barge up` while a stack runs (docs/operations.md, "The local stack"). With
no option, or the very options the running stack was started with, it says the stack runs and
exits 0, so that "make sure it is up" stays idempotent. With other options it exits 1 on stderr,
naming the running stack's options: they were not applied. It used to exit 0 in every case, so a
script's `barge up --detach --agents 4` went on against a stack of 2 agents as if it had started
what it asked for. On that stack (no audit), `barge check` says on stderr that it checked no audit
file, and stays quiet about it with --no-audit.

The stack is started by two `barge up --detach` at once in the same BARGE_HOME: one stack must
start, the other command saying it runs. Both used to start one; the stack file named the last,
and the other ran on out of `barge down`'s reach, fencing the first one's scheduler. And `barge
down` while a `barge up` is starting (it holds $BARGE_HOME/up.lock, no stack file yet) waits for
it rather than saying no stack runs (the stack then started after it)."""
import json
import os
import fcntl
import re
import signal
import subprocess
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402

ARGS = ("--agents", "1", "--no-provisioner", "--no-accounting", "--no-audit", "--no-api", "--no-metrics")


def body(st):
    st.init()
    cmd = [common.BARGE, "up", "--detach", "--brokers", st.brokers, *ARGS]
    procs = [subprocess.Popen(cmd, env=st.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [(p.wait(timeout=180), p.stdout.read()) for p in procs]
    pids = {int(m) for _, out in outs for m in re.findall(r"\(pid (\d+)", out)}
    started = sum("stack running in the background" in out for _, out in outs)
    st.supervisor = int(st.stack_value("supervisor"))
    st.kids = common.wait_for(lambda: common._children(st.supervisor), 30, "the stack's services")
    ok(all(rc == 0 for rc, _ in outs) and started == 1 and pids == {st.supervisor},
       "two barge up at once in one BARGE_HOME: one stack starts, the other command says it runs", outs)
    for pid in pids - {st.supervisor}:  # the stray stack of the defect
        os.kill(pid, signal.SIGTERM)
    sup = st.supervisor

    def up(*args):
        p = st.run("up", *args, check=False, timeout=60)
        return p.returncode, (p.stdout + p.stderr).strip()

    for what, args in (("no option", ()), ("--detach alone", ("--detach",)),
                       ("the running stack's own options", ("--detach", "--brokers", st.brokers, *ARGS))):
        rc, out = up(*args)
        ok(rc == 0 and "already running" in out, f"barge up with {what}: exit 0, the stack is running", (rc, out))
    rc, out = up("--detach", "--brokers", st.brokers, "--agents", "3", *ARGS[2:])
    ok(rc == 1 and "not applied" in out and "--agents 1" in out,
       "barge up with other options (--agents 3): exit 1, saying they were not applied and what the stack runs with",
       (rc, out))
    ok(st.stack_value("supervisor") == str(sup) and common.pid_alive(sup), "the running stack is left as it was")
    # a service that exits young waits to be started again (1 s, then 2, 4, ...): it is listed as
    # restarting meanwhile (pid 0 in $BARGE_HOME/services); it kept its dead pid, so barge status
    # said down
    def agent_pid():
        with open(os.path.join(st.home, "services")) as f:
            return next(int(ln.split("\t")[1]) for ln in f if ln.startswith("agent"))
    killed = set()
    for _ in range(4):
        pid = common.wait_for(lambda: agent_pid() not in killed | {0} and agent_pid(), 30, "the agent restarted")
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    waiting = common.wait_for(lambda: agent_pid() == 0, 2, "the agent listed as restarting", interval=0.05)
    p = st.run("status", check=False, timeout=60)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("agent")), "")
    ok(waiting and line.split()[3] == "restarting", "a service waiting to be restarted: barge status says restarting",
       p.stdout)
    common.wait_for(lambda: agent_pid() not in killed | {0}, 30, "the agent restarted")
    # this stack runs no audit: `barge check` says it checked no audit file (it said nothing, so
    # "violations: 0" read as covering one), and --no-audit skips it quietly
    p = st.run("check", check=False, timeout=120)
    ok(p.returncode == 0 and "no audit file checked" in p.stderr, "barge check on a stack without an audit says "
       "no audit file was checked", (p.returncode, p.stderr[-300:]))
    p = st.run("check", "--no-audit", "--json", check=False, timeout=120)
    ok(p.returncode == 0 and "no audit file checked" not in p.stderr, "... and not with --no-audit", p.stderr[-300:])
    # its lost-after bound is the one this stack's scheduler runs with (`barge up`'s 60000,
    # recorded in the stack file), not `barge scheduler`'s 30000
    ok(json.loads(p.stdout or "{}").get("lostAfterMs") == 60000, "barge check takes the stack's lost-after period",
       p.stdout[-300:])
    st.down()
    # -- barge down while a barge up starts (played by holding its lock): it waits for it
    with open(os.path.join(st.home, "up.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        d = subprocess.Popen([common.BARGE, "down"], env=st.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(1.5)
        waiting = d.poll() is None
        fcntl.flock(lock, fcntl.LOCK_UN)
    out, err = d.communicate(timeout=30)
    ok(waiting and "is starting a stack" in out and d.returncode == 0,
       "barge down while a barge up is starting: it waits for it (then, none recorded, says no stack runs)",
       (waiting, d.returncode, out, err))


if __name__ == "__main__":
    common.run_test("uprunning", body)
