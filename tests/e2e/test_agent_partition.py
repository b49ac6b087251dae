#!/usr/bin/env python3
"""test_agent_partition.py: an agent cut off from Kafka mid-job (issue 13, "agent partition").

The agent runs in a network namespace of the test's own, joined to the host by a veth pair; it
reaches the broker through two relays (tcp_relay.py: the namespace's 127.0.0.1:PORT to the
host's end of the veth, and that address to the broker), so the Kafka metadata (127.0.0.1:PORT)
works on both sides. Traffic only flows on the test's own addresses (10.231.N.0/30).

The job (attempt 1) runs on the agent in the namespace and writes a line a tenth of a second
("attempt epoch-ns") to a file; the veth is taken down. Then:
- the scheduler (--lost-after-ms 4000) declares the instance lost and attempt 1 ends with
  `Host EC2 (instance ...) terminated.`; attempt 2 runs on an agent outside and SUCCEEDS;
- the cut-off agent, which has had no heartbeat delivered for --fence-after-ms (2500, below the
  scheduler's lost-after), stops its copy and exits, saying so in its log;
- the two copies never ran at once: the last line of attempt 1 is before the first line of
  attempt 2, and came at most fence-after + 1 s after the cut (the bound is printed).
Skipped (77) where network namespaces cannot be made (not root)."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log, ok  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LOST_AFTER_MS, FENCE_MS, HEARTBEAT_MS = 4000, 2500, 500


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


class Namespace:
    """A network namespace with a veth to the host: host end 10.231.N.1, namespace end .2."""

    def __init__(self):
        n = os.getpid() % 250 + 1
        self.name = f"bargep{os.getpid()}"
        self.host_if, self.ns_if = f"bph{os.getpid() % 100000}", f"bpn{os.getpid() % 100000}"
        self.host_ip, self.ns_ip = f"10.231.{n}.1", f"10.231.{n}.2"
        sh("ip", "netns", "add", self.name)
        try:
            sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            sh("ip", "link", "set", self.ns_if, "netns", self.name)
            sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            sh("ip", "link", "set", self.host_if, "up")
            self.run("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            self.run("ip", "link", "set", self.ns_if, "up")
            self.run("ip", "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            self.close()
            raise

    def run(self, *args):
        return sh("ip", "netns", "exec", self.name, *args)

    def cut(self):
        self.run("ip", "link", "set", self.ns_if, "down")

    def close(self):
        sh("ip", "link", "del", self.host_if, check=False)
        sh("ip", "netns", "del", self.name, check=False)


def relay(argv, logpath):
    """Starts tcp_relay.py (argv: the command before the script); waits for its "ready"."""
    with open(logpath, "w") as f:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=f, text=True)
    line = p.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"relay {argv} did not start: {line!r}")
    return p


def ticks(path):
    """{attempt: [epoch seconds, ...]} of the job's lines."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    out.setdefault(int(parts[0]), []).append(int(parts[1]) / 1e9)
    except OSError:
        pass
    return out


def body(st, ns):
    port = st.brokers.rsplit(":", 1)[1]
    relays = [relay([sys.executable, os.path.join(HERE, "tcp_relay.py"), f"{ns.host_ip}:{port}",
                     f"127.0.0.1:{port}"], os.path.join(st.home, "relay-host.log")),
              relay(["ip", "netns", "exec", ns.name, sys.executable, os.path.join(HERE, "tcp_relay.py"),
                     f"127.0.0.1:{port}", f"{ns.host_ip}:{port}"], os.path.join(st.home, "relay-ns.log"))]
    try:
        scenario(st, ns)
    finally:
        for r in relays:
            r.kill()
            r.wait()


def scenario(st, ns):
    st.init()
    st.create_ce("inside")
    st.create_ce("outside")
    st.create_queue("q", ["inside", "outside"])
    out = os.path.join(st.home, "ticks")
    st.register("ticker", ["sh", "-c", f'n=0; while [ "$AWS_BATCH_JOB_ATTEMPT" = 1 ] || [ $n -lt 20 ]; do '
                                       f'echo "$AWS_BATCH_JOB_ATTEMPT $(date +%s%N)" >> {out}; n=$((n+1)); '
                                       f'sleep 0.1; done'])
    st.scheduler("--lost-after-ms", str(LOST_AFTER_MS))
    inside = "i-0a9a00000000000a1"
    path = os.path.join(st.home, "agent-inside.log")
    st.logs["agent-inside"] = path
    with open(path, "ab") as f:
        st.procs["agent-inside"] = subprocess.Popen(
            ["ip", "netns", "exec", ns.name, common.BARGE, "agent", "--brokers", st.brokers, "--topic-prefix",
             st.prefix, "--compute-environment", "inside", "--instance-id", inside, "--vcpus", "2", "--memory",
             "2048", "--heartbeat-ms", str(HEARTBEAT_MS), "--fence-after-ms", str(FENCE_MS), "--runtime",
             "process", "--log-dir", os.path.join(st.home, "logs")],
            env=st.env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    job = st.submit("ticker", "q", "ticker", "--retry-strategy", "attempts=3")
    common.wait_for(lambda: len(ticks(out).get(1, [])) >= 5, 60, "attempt 1 running inside the namespace")
    st.agent("i-0a9a00000000000b2", ce="outside", name="agent-outside", heartbeat_ms=HEARTBEAT_MS)
    time.sleep(1)
    cut = time.time()
    ns.cut()
    log(f"   the veth of {ns.name} is down")

    jobs = st.wait_terminal([job], 90)
    d = jobs[job]
    atts = d.get("attempts", [])
    ok(d["status"] == "SUCCEEDED" and len(atts) == 2, "the job SUCCEEDED on its second attempt",
       (d["status"], len(atts)))
    ok(atts and atts[0].get("statusReason") == f"Host EC2 (instance {inside}) terminated.",
       "attempt 1 ended with the Host EC2 reason", atts[:1])
    agent = st.procs["agent-inside"]
    common.wait_for(lambda: agent.poll() is not None, 30, "the cut-off agent to exit")
    ok(agent.returncode not in (0, None), f"the cut-off agent exited with a failure ({agent.returncode})")
    ok("cut off from Kafka" in st.log_text("agent-inside"), "the cut-off agent says why it stopped")
    st.stopped.add("agent-inside")

    t = ticks(out)
    last1, first2 = max(t.get(1, [0])), min(t.get(2, [float("inf")]))
    ok(last1 < first2, f"the copies never ran at once: attempt 1's last line {first2 - last1:.2f} s before "
                       f"attempt 2's first", (last1, first2))
    ran_on = last1 - cut
    ok(ran_on <= FENCE_MS / 1000 + 1.0, f"the cut-off copy ran on {ran_on:.2f} s after the cut "
                                        f"(bound: --fence-after-ms {FENCE_MS} ms + 1 s)", ran_on)
    ok(first2 - cut >= LOST_AFTER_MS / 1000 - 1.0,
       f"attempt 2 started {first2 - cut:.2f} s after the cut (the scheduler's lost-after is {LOST_AFTER_MS} ms)")
    log(f"   cut at 0 s; attempt 1 last line at {ran_on:.2f} s; attempt 2 first line at {first2 - cut:.2f} s")


def main():
    if os.geteuid() != 0:
        print("SKIP network namespaces need root")
        sys.exit(77)
    try:
        ns = Namespace()
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        print(f"SKIP cannot make a network namespace here: {e}")
        sys.exit(77)
    try:
        common.scenario("part", lambda st: body(st, ns), "the partition scenario")
    finally:
        ns.close()
    common.finish()


if __name__ == "__main__":
    main()
