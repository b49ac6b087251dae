#!/usr/bin/env python3
"""test_container_agent_restart.py: a podman agent SIGKILLed while its job's container runs, then
started again under the same instance id (docs/containers.md, docs/architecture.md "Agent
incarnations"): the `podman system service` the killed agent started ends with it; the new
incarnation removes the container left behind (by its barge.instance label); attempt 1 is
settled as lost (`Host EC2 (instance ...) terminated.`) and attempt 2 runs to SUCCEEDED in a new
container. Skipped (77) when podman cannot run here."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import container_image  # noqa: E402
from common import ok  # noqa: E402

INST = "i-0c0a7a1e00000000d"


def services_of(sock):
    """pids of `podman system service` processes serving the socket path."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            c = common.cmdline(int(pid)) or ""
            if "system service" in c.replace("\0", " ") and sock in c:
                out.append(int(pid))
    return out


def body(st):
    st.init_queue("q", "local")
    props = {"image": container_image.IMAGE,
             "command": ["sh", "-c", "if [ \"$AWS_BATCH_JOB_ATTEMPT\" = 1 ]; then exec sleep 300; fi; echo second"],
             "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
    st.json("register-job-definition", "--job-definition-name", "long", "--type", "container",
            "--container-properties", common.json.dumps(props), "--retry-strategy", "attempts=2")
    st.scheduler()
    st.agent(INST, name="agent", runtime="podman")
    job = st.submit("long", "q", "long")
    common.wait_for(lambda: st.describe(job).get(job, {}).get("status") == "RUNNING", 60, "the job RUNNING")
    sock = os.path.join(st.home, "logs", ".agents", INST, "podman.sock")
    ok(len(services_of(sock)) == 1, "the agent runs its own podman service")
    ok(len(container_image.containers_of(f"barge.instance={INST}")) == 1, "attempt 1 runs in a container")
    st.kill("agent", signal.SIGKILL)
    gone = common.wait_for(lambda: not services_of(sock) or None, 15, "the podman service to end")
    ok(gone, "the podman service ended with its SIGKILLed agent")
    ok(len(container_image.containers_of(f"barge.instance={INST}")) == 1, "the container outlived the agent")
    st.agent(INST, name="agent", runtime="podman")
    d = st.wait_terminal([job], 120)[job]
    ok(d["status"] == "SUCCEEDED" and len(d.get("attempts", [])) == 2, "attempt 2 SUCCEEDED",
       {"status": d["status"], "attempts": len(d.get("attempts", []))})
    first = d["attempts"][0]
    ok(first.get("statusReason", "").startswith(f"Host EC2 (instance {INST}) terminated"),
       "attempt 1 was settled as lost", first.get("statusReason"))
    ok("removed 1 container(s) left by an earlier incarnation" in st.log_text("agent"),
       "the new incarnation removed the container left behind")
    time.sleep(0.5)
    ok(container_image.containers_of(f"barge.instance={INST}") == [], "no container left")


if __name__ == "__main__":
    container_image.podman_or_skip()
    common.run_test("ctr-restart", body)
