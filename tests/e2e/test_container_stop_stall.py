#!/usr/bin/env python3
"""test_container_stop_stall.py: an agent that stops kills its containers at once, and a container
engine that does not answer holds its stop a bounded time (docs/containers.md, "Stopping").

On a stop (and at the fence) the agent sends each of its containers a SIGKILL, a Docker API call
that may take up to 120 s; it sent them one after the other, so with N containers on an engine
that did not answer the stop took N times as long (and at the fence the copies could outlive the
scheduler's --lost-after-ms).

A podman agent talks to its podman service through a relay (--engine-socket,
test_container_signal_stall.StallRelay) that holds every `POST /containers/NAME/kill` for HOLD_S
seconds. Three jobs run; SIGTERM to the agent:
1. the three kill requests reach the relay together (within 3 s of the SIGTERM);
2. the agent exits with status 0 within BOUND_S (less than HOLD_S: it waits 10 s for its
   containers), and says which containers it could not confirm killed (all three).
Before: one kill request at a time, and the agent exited after 3 x HOLD_S.
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
from common import log, ok  # noqa: E402
from test_container_signal_stall import StallRelay  # noqa: E402

INST = "i-0c0a7a1e0000005b2"
HOLD_S = 20
BOUND_S = 15
N = 3


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
        relay = StallRelay(relay_sock, sock, stall_s=HOLD_S)
        ulimits = [{"name": "nofile", "softLimit": 1024, "hardLimit": 1024},
                   {"name": "nproc", "softLimit": 1000, "hardLimit": 1000}]
        props = {"image": container_image.IMAGE, "command": ["sh", "-c", "echo started; sleep 300"],
                 "ulimits": ulimits,
                 "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
        st.json("register-job-definition", "--job-definition-name", "sleeper", "--type", "container",
                "--container-properties", common.json.dumps(props))
        st.scheduler()
        name = f"agent-{INST}"
        st.agent(INST, runtime="podman", vcpus=4, engine_socket=relay_sock)
        jobs = [st.submit(f"s{i}", "q", "sleeper") for i in range(N)]
        st.wait(f"{N} jobs RUNNING",
                lambda: [v.get("status") for v in st.describe(*jobs).values()] == ["RUNNING"] * N or None, timeout=120)
        time.sleep(1)
        p = st.procs[name]
        p.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            st.wait("the kill requests at the relay", lambda: relay.kills >= N or None, timeout=3 * HOLD_S + 10,
                    every=0.1)
        except TimeoutError:
            pass
        reached = time.monotonic() - t0
        ok(relay.kills == N and reached < 3, f"the {N} kill requests reached the engine together ({reached:.1f} s)",
           relay.kills)
        st.exits_within(name, t0, BOUND_S, 3 * HOLD_S + 30)
        text = st.log_text(name)
        unconfirmed = [ln for ln in text.splitlines() if "not confirmed killed" in ln and "barge-" in ln]
        ok(len(unconfirmed) == N and all(any(j in ln for ln in unconfirmed) for j in jobs),
           f"the agent named the {N} containers it could not confirm killed", st.log_tail(name, 8))
    finally:
        if relay:
            relay.close()
        left = container_image.containers_of(f"barge.instance={INST}")
        if left:
            log(f"removing the containers left: {left}")
            container_image.podman("rm", "-f", "-t", "0", *left, check=False)
        os.killpg(svc.pid, signal.SIGKILL)
        svc.wait()


def main():
    container_image.podman_or_skip()
    common.run_test("ctrstopstall", body, clean_stop=True)


if __name__ == "__main__":
    main()
