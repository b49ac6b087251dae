#!/usr/bin/env python3
"""test_container_signal_stall.py: a container engine slow to answer a signal does not hold the
agent's loop (docs/containers.md, "Stopping").

The agent's SIGTERM and SIGKILL to a container (TerminateJob, a timeout) are Docker API calls
that may take up to 120 s; they were made on the agent's loop thread, so an engine that took
its time stopped the loop: no placement handled, no heartbeat sent, and past --fence-after-ms
the agent declared itself cut off from Kafka and exited, stopping every attempt it ran.

A podman agent talks to its podman service through a relay (--engine-socket) that holds every
`POST /containers/NAME/kill` for STALL_S seconds before passing it on. A job that traps SIGTERM
(prints TERM, exits 42) runs and is terminated; while its SIGTERM is held:
1. a second job submitted then SUCCEEDS on the same agent within 15 s;
2. the agent is still running after twice its --fence-after-ms and never says it is cut off;
3. once the relay passes the SIGTERM on, the terminated job ends FAILED `Terminated` with exit
   code 42, and no container is left behind.
Skipped (77) when podman cannot run here.
barge-test: plain-only"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import container_image  # noqa: E402
import tcp_relay  # noqa: E402
from common import log, ok  # noqa: E402

INST = "i-0c0a7a1e0000005a1"
STALL_S = 25
FENCE_MS = 6000


class StallRelay(tcp_relay.Relay):
    """A unix socket relay to the engine's socket that holds each kill request stall_s s
    (test_container_stop_stall.py uses it too)."""

    def __init__(self, listen, target, stall_s=STALL_S):
        self.stall_s = stall_s
        self.kills = 0
        super().__init__(listen, target)

    def new_connection(self):
        return self.hold_kills

    def hold_kills(self, data):
        if b"/kill?signal=" in data:
            self.kills += 1
            log(f"    relay: holding a kill request {self.stall_s} s")
            time.sleep(self.stall_s)
        return data


def body(st):
    st.init_queue("q", "local")
    sock = os.path.join(st.home, "engine.sock")
    relay_sock = os.path.join(st.home, "relay.sock")
    svc = subprocess.Popen([*container_image.PODMAN, "system", "service", "--time=0", "unix://" + sock],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    relay = None
    try:
        st.wait("the podman service to answer", lambda: os.path.exists(sock) or None, timeout=30, every=0.2)
        time.sleep(1)
        relay = StallRelay(relay_sock, sock)
        # explicit ulimits: the defaults come from the process listening on the socket (the relay)
        ulimits = [{"name": "nofile", "softLimit": 1024, "hardLimit": 1024},
                   {"name": "nproc", "softLimit": 1000, "hardLimit": 1000}]

        def register(name, command):
            props = {"image": container_image.IMAGE, "command": command, "ulimits": ulimits,
                     "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
            st.json("register-job-definition", "--job-definition-name", name, "--type", "container",
                    "--container-properties", common.json.dumps(props))
        register("trap", ["sh", "-c", "trap 'echo TERM; exit 42' TERM; echo started; sleep 120 & wait"])
        register("quick", ["echo", "hello"])
        st.scheduler()
        st.agent(INST, runtime="podman", vcpus=4, engine_socket=relay_sock, fence_after_ms=FENCE_MS,
                 kill_grace_ms=60000)
        trap = st.submit("trap", "q", "trap")
        st.wait(f"{trap} RUNNING", lambda: st.describe(trap).get(trap, {}).get("status") == "RUNNING" or None,
                timeout=120)
        time.sleep(1)
        t0 = time.monotonic()
        st.run("terminate-job", "--job-id", trap, "--reason", "stalled signal")
        st.wait("the kill request at the relay", lambda: relay.kills > 0 or None, timeout=15, every=0.2)
        quick = st.submit("quick", "q", "quick")
        try:
            d = st.wait_terminal([quick], 15)[quick]
        except TimeoutError:
            d = st.describe(quick).get(quick, {})
        took = time.monotonic() - t0
        ok(d.get("status") == "SUCCEEDED", f"a job submitted while a SIGTERM is held SUCCEEDED ({took:.1f} s)",
           (d.get("status"), d.get("statusReason")))
        time.sleep(max(0.0, 2 * FENCE_MS / 1000 - (time.monotonic() - t0)))
        ok(st.alive(f"agent-{INST}"), f"the agent still runs {2 * FENCE_MS / 1000:.0f} s into the stall",
           st.log_tail(f"agent-{INST}", 5))
        d = st.wait_terminal([trap], 120)[trap]
        ok(d["status"] == "FAILED" and d.get("statusReason", "").startswith("Terminated")
           and d.get("container", {}).get("exitCode") == 42,
           "the terminated job got its SIGTERM once the relay passed it on: Terminated, exit code 42",
           (d["status"], d.get("statusReason"), d.get("container", {}).get("exitCode")))
        ok("cut off from Kafka" not in st.log_text(f"agent-{INST}"), "the agent never said it was cut off",
           st.log_tail(f"agent-{INST}", 5))
        time.sleep(0.5)
        left = container_image.containers_of(f"barge.instance={INST}")
        ok(left == [], "no container left behind", left)
    finally:
        if relay:
            relay.close()
        os.killpg(svc.pid, signal.SIGKILL)
        svc.wait()


def main():
    container_image.podman_or_skip()
    common.run_test("ctrsigstall", body, clean_stop=True)


if __name__ == "__main__":
    main()
