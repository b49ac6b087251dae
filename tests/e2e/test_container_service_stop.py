#!/usr/bin/env python3
"""test_container_service_stop.py: the podman service an agent started holds the agent's stop a
bounded time (docs/containers.md, "The engine, driven through its API").

A podman agent without --engine-socket runs its own `podman system service` and, when it stops
(SIGTERM, or at the fence), sends it SIGTERM and waits for it. It waited with no limit: a
service that hung or ignored its SIGTERM kept the agent from ever exiting.

The agent's PATH starts with a `podman` of the test's: a shell that ignores SIGTERM and runs the
real podman's `system service` in a session of its own, so that neither the agent's SIGTERM to
the service's process group nor the one to its pid ends it. SIGTERM to the agent once it is ready:
1. it exits with status 0 within BOUND_S (it waits 10 s for the service, then SIGKILLs its
   process group);
2. its log names the service's pid in a warning that it did not end and was killed;
3. the service's process (the wrapper) is gone.
Before: the agent never exited (killed by the test after BOUND_S + 20 s).
The real podman service left running in its own session is killed at the end.
Skipped (77) when podman cannot run here.
barge-test: plain-only"""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import container_image  # noqa: E402
from common import log, ok  # noqa: E402

INST = "i-0c0a7a1e0000005c1"
BOUND_S = 16  # the agent's 10 s for its service, plus its other goodbyes

WRAPPER = """#!/bin/sh
# the test's podman (test_container_service_stop.py): `system service` in a session of its own,
# under a shell that ignores SIGTERM; anything else is the real podman
trap '' TERM
case " $* " in
  *" system service "*)
    setsid {real} "$@" </dev/null &
    echo $! >"{pidfile}"
    while :; do wait; sleep 1; done ;;
esac
exec {real} "$@"
"""


def processes_under(path):
    """The pids of the processes whose command line names path."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid() and path in common.cmdline(int(d)):
            out.append(int(d))
    return out


def body(st):
    real = shutil.which("podman")
    bindir = os.path.join(st.home, "bin")
    os.makedirs(bindir)
    pidfile = os.path.join(st.home, "real-service.pid")
    wrapper = os.path.join(bindir, "podman")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(real=real, pidfile=pidfile))
    os.chmod(wrapper, 0o755)
    st.env["PATH"] = bindir + os.pathsep + st.env.get("PATH", "")
    name = f"agent-{INST}"
    try:
        st.init_queue("q", "local")
        p = st.agent(INST, runtime="podman")
        st.wait("the agent's podman service to answer",
                lambda: "Docker Engine API on" in st.log_text(name) or None, timeout=60, every=0.2)
        m = re.search(r"`podman system service` \(pid (\d+)\)", st.log_text(name))
        svc = int(m.group(1)) if m else -1
        ok(svc > 0 and wrapper in common.cmdline(svc),
           "the agent runs the test's podman, which ignores SIGTERM", (svc, common.cmdline(svc)))
        time.sleep(1)
        p.send_signal(signal.SIGTERM)
        st.exits_within(name, time.monotonic(), BOUND_S, BOUND_S + 20)
        warned = [ln for ln in st.log_text(name).splitlines()
                  if f"(pid {svc})" in ln and "SIGKILL" in ln and "WARN" in ln.upper()]
        ok(len(warned) == 1, f"the agent's log warns that service {svc} did not end and was SIGKILLed",
           st.log_tail(name, 8))
        ok(not common.pid_alive(svc), f"the service's process {svc} is gone", common.cmdline(svc))
    finally:
        # the real service, in a session of its own, outlives the wrapper (and the wrapper the
        # agent, when the agent did not kill it): both name the agent's socket
        for pid in processes_under(os.path.join(st.home, "logs", ".agents", INST, "podman.sock")):
            log(f"killing the leftover {pid}: {common.cmdline(pid)[:200]}")
            try:
                os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        left = container_image.containers_of(f"barge.instance={INST}")
        if left:
            container_image.podman("rm", "-f", "-t", "0", *left, check=False)


def main():
    container_image.podman_or_skip()
    common.run_test("ctrsvcstop", body)


if __name__ == "__main__":
    main()
