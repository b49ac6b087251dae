#!/usr/bin/env python3
"""test_up_starting.py: `barge status` tells a service that is still starting, and an agent whose
compute environment is gone, from one that is up (docs/operations.md "barge status").

A stack (the scheduler, one agent and the audit) runs under `barge up --detach`, given as its
broker a TCP relay to the fixture's: new connections through it can be held, which is a broker
that does not answer for a process starting then (the running ones already talk to the broker it
advertised). Right after `barge up --detach` (which waits for their start-up) status exits 0
with each one `up`. Then the relay holds
new connections and the scheduler and the agent are killed: the supervisor restarts them, and
they wait for a broker. Status must say both are `starting` (the scheduler serves
barge_service_ready 0 meanwhile, the agent serves no metrics before a broker answers) and exit 1;
it used to say `up` and exit 0. Once the relay lets them through they are `up` again, exit 0.
Then the agent's compute environment (`local`, created by `barge up`) is disabled and deleted:
the agent runs on and is given no job; status must say `no-ce`, naming the CE, that it was
deleted, and exit 1 (it used to say `up`, exit 0, then "does not exist (deleted?)"). Last, an agent
of a compute environment never created (`lcoal`), listed where the local driver lists its agents:
status must say `no-ce` and that `lcoal` was never created, pointing at --compute-environment (it
used to say "deleted?" for both)."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import tcp_relay  # noqa: E402
from common import ok, log, wait_for  # noqa: E402


class Relay(tcp_relay.Relay):
    """127.0.0.1:port -> target; while held, new connections are accepted and left unanswered
    (closed when released, so the client tries again)."""

    def __init__(self, target):
        host, port = target.split(",")[0].rsplit(":", 1)
        self.held, self.holding, self.lock = [], False, threading.Lock()
        super().__init__(("127.0.0.1", 0), (host, int(port)))

    def admit(self, client):
        with self.lock:
            if self.holding:
                self.held.append(client)
                return False
        return True

    def hold(self, on):
        with self.lock:
            self.holding = on
            held, self.held = self.held, []
        for c in held:
            c.close()


def health(out):
    """service name -> its HEALTH column."""
    h = {}
    for line in out.splitlines():
        m = re.match(r"^(scheduler|audit|agent \S+)\s+\d+\s+(\S+)\s", line)
        if m:
            h[m.group(1)] = m.group(2)
    return h


def main():
    st = common.Stack("upstarting")
    relay = Relay(st.brokers)
    fixture = st.brokers
    try:
        st.brokers = f"127.0.0.1:{relay.port}"  # barge up's --brokers; status keeps the fixture's
        st.up("--no-provisioner", "--no-accounting", "--no-api", "--agents", "1")
        st.brokers = fixture

        def all_up():
            s = st.run("status", check=False)
            h = health(s.stdout)
            return (s, h) if s.returncode == 0 and len(h) == 3 and set(h.values()) == {"up"} else None
        # barge up --detach returns once they are ready (docs/operations.md, "The local stack")
        r = all_up()
        ok(r is not None, "right after barge up --detach, barge status says each service is up and exits 0",
           r and r[1])
        if r is None:
            wait_for(all_up, 60, "every service up")

        relay.hold(True)
        sched, agent = st.service_pids("scheduler")[0], st.service_pids("agent")[0]
        os.kill(sched, signal.SIGKILL)
        os.kill(agent, signal.SIGKILL)

        def restarted():
            ps, pa = st.service_pids("scheduler"), st.service_pids("agent")
            return ps and pa and ps[0] != sched and pa[0] != agent and (ps[0], pa[0])
        ns, na = wait_for(restarted, 30, "the scheduler and the agent restarted")
        s = st.run("status", check=False)
        h = health(s.stdout)
        agent_name = next((k for k in h if k.startswith("agent ")), None)
        ok(re.search(rf"^scheduler\s+{ns}\s+starting\s", s.stdout, re.M) is not None and
           re.search(rf"^agent \S+\s+{na}\s+starting\s", s.stdout, re.M) is not None and h.get("audit") == "up",
           "with no broker answering them, the restarted scheduler and agent are starting (the audit up)",
           s.stdout)
        ok(s.returncode == 1, "barge status exits 1 while a service is starting", s.returncode)
        url = next((x.split()[-1] for x in s.stdout.splitlines() if x.startswith("scheduler ")), "")
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        ok("\nbarge_service_ready 0\n" in text, "the starting scheduler's metrics say barge_service_ready 0",
           [x for x in text.splitlines() if "ready" in x])

        relay.hold(False)
        s, h = wait_for(all_up, 90, "the restarted services up")
        ok(True, "once a broker answers them, both are up again, exit 0", h)
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        ok("\nbarge_service_ready 1\n" in text, "the scheduler's metrics now say barge_service_ready 1",
           [x for x in text.splitlines() if "ready" in x])

        st.run("update-compute-environment", "--compute-environment", "local", "--state", "DISABLED")
        st.run("delete-compute-environment", "--compute-environment", "local")

        def marked():
            s = st.run("status", check=False)
            return s if health(s.stdout).get(agent_name) == "no-ce" else None
        s = wait_for(marked, 30, "the agent marked no-ce")
        line = next(x for x in s.stdout.splitlines() if x.startswith(agent_name))
        ok("compute environment local was deleted" in line and s.returncode == 1 and
           health(s.stdout).get("scheduler") == "up",
           "with its compute environment deleted, the agent is no-ce, the CE named as deleted, and status exits 1",
           s.stdout)
        log(line)

        # an agent of a CE never created, listed as the local driver lists its agents
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            port = so.getsockname()[1]
        iid = "i-0c0e00000000000c1"
        alog = os.path.join(st.home, f"agent-{iid}.log")
        with open(alog, "ab") as f:
            st.procs["lcoal"] = subprocess.Popen(
                ["barge", "agent", "--brokers", fixture, "--topic-prefix", st.prefix, "--compute-environment",
                 "lcoal", "--instance-id", iid, "--vcpus", "1", "--memory", "512", "--heartbeat-ms", "1000",
                 "--log-dir", os.path.join(st.home, "logs"), "--runtime", "process", "--metrics-port", str(port)],
                executable=common.BARGE, env=st.env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        st.logs["lcoal"] = alog
        with open(os.path.join(st.home, "local-agents"), "w") as f:
            f.write(f"agent {iid}\t{st.procs['lcoal'].pid}\t0\t{alog}\thttp://127.0.0.1:{port}/metrics\n")

        def never():
            s = st.run("status", check=False)
            h = re.search(rf"^agent {iid}\s+\d+\s+(\S+)\s.*$", s.stdout, re.M)
            return h if h and h.group(1) == "no-ce" else None
        h = wait_for(never, 30, "the agent of lcoal marked no-ce")
        ok("compute environment lcoal was never created" in h.group(0) and "--compute-environment" in h.group(0),
           "an agent of a CE never created is no-ce, said never created (not deleted), pointing at "
           "--compute-environment", h.group(0))
        log(h.group(0))
    finally:
        st.brokers = fixture
        st.close()
        relay.srv.close()
    common.finish()


if __name__ == "__main__":
    main()
