#!/usr/bin/env python3
"""test_container_engine_restart.py: the podman service a podman agent runs ends (killed,
crashed): the agent starts it again, and the jobs placed on it meanwhile run
(docs/containers.md, "The engine, driven through its API").

The agent used to go on as if nothing had happened: still READY, still taking placements, and
failing each one at once with `CannotCreateContainerError: POST /containers/create... Couldn't
connect to server`, a black hole that burned every job's attempts (5 of 6 quick jobs FAILED
in a stack whose one agent had lost its service).

1. A podman agent runs a job; its `podman system service` is then SIGKILLed.
2. Three jobs submitted right after all SUCCEED, each in one attempt, and the agent's log says
   that the service ended and was started again, under a new pid.
3. A job running when the service is SIGKILLed (it prints a line, sleeps 6 s, exits 0) ends
   SUCCEEDED with exit code 0: the worker asks the new service for its end. It used to end
   FAILED without an exit code, its container left behind.
4. No container is left behind, and the agent (and its new service with it) stops cleanly.
5. An agent given `--engine-socket` of a podman service it did not start (the operator's) runs a
   job with the default ulimits: nofile and nproc at that service's own hard limits, read from
   the process listening on the socket. It used to take the agent's own limits, which podman
   lowers for itself (nproc 96367 here, its service's 32768), and runc then refused to start
   every container: `error setting rlimit type 6: operation not permitted`.
6. That service is SIGKILLed while a job runs (it prints a line, sleeps, exits 3) and the
   operator starts it again 2 s later: the job ends FAILED with exit code 3, its container
   removed. It used to end at once, without an exit code and with `Essential container in task
   exited`, its container left running (a retry would have run beside it): only the podman
   service the agent runs itself was waited for.
7. A job is terminated while that service is down (SIGKILLed, started again 2 s later): the
   SIGTERM reaches the container once the service answers again, and the job (it traps SIGTERM
   and exits 42) ends `Terminated` with exit code 42 within 15 s, its container removed. The
   SIGTERM used to be sent once and lost, and the attempt reported over at once without an exit
   code while its container ran on, never removed (the wait for the engine gave up for a stopped
   attempt).
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

INST = "i-0c0a7a1e0000000f1"
EXT_INST = "i-0c0a7a1e0000000f2"


def service_pids(agent_pid):
    """The pids of `podman system service` started by the agent process agent_pid."""
    p = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True)
    out = []
    for line in p.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] == str(agent_pid) and "system service" in parts[2]:
            out.append(int(parts[0]))
    return out


def restart(st):
    log("-- the podman service of a podman agent dies; the agent starts it again")
    st.init_queue("q", "local")
    props = {"image": container_image.IMAGE, "command": ["echo", "hello"],
             "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
    st.json("register-job-definition", "--job-definition-name", "hello", "--type", "container",
            "--container-properties", common.json.dumps(props))
    st.scheduler()
    agent = st.agent(INST, runtime="podman")
    first = st.submit("first", "q", "hello")
    d = st.wait_terminal([first], 120)[first]
    ok(d["status"] == "SUCCEEDED", "a job runs before the service dies", d["status"])
    before = service_pids(agent.pid)
    ok(len(before) == 1, "the agent runs one podman service", before)
    os.kill(before[0], signal.SIGKILL)
    jobs = [st.submit(f"after{i}", "q", "hello") for i in range(3)]
    ds = st.wait_terminal(jobs, 180)
    states = [(ds[j]["status"], len(ds[j].get("attempts") or []), ds[j].get("statusReason")) for j in jobs]
    ok(all(s == "SUCCEEDED" and n == 1 for s, n, _ in states),
       "the three jobs placed after the service died SUCCEED, each in one attempt", states)
    text = st.log_text(f"agent-{INST}")
    ok("ended" in text and "started again" in text, "the agent's log says the service ended and was started again",
       text[-600:])
    after = []
    for _ in range(50):
        after = service_pids(agent.pid)
        if after:
            break
        time.sleep(0.1)
    ok(len(after) == 1 and after != before, "a new podman service, under a new pid", (before, after))
    props["command"] = ["sh", "-c", "echo started; sleep 6; echo done"]
    st.json("register-job-definition", "--job-definition-name", "slow", "--type", "container",
            "--container-properties", common.json.dumps(props))
    time.sleep(2)  # the scheduler's configuration consumer reads it
    slow = st.submit("slow", "q", "slow")
    st.wait(f"{slow} RUNNING", lambda: st.describe(slow).get(slow, {}).get("status") == "RUNNING" or None,
            timeout=60)
    time.sleep(1)
    os.kill(after[0], signal.SIGKILL)
    d = st.wait_terminal([slow], 120)[slow]
    ok(d["status"] == "SUCCEEDED" and d.get("container", {}).get("exitCode") == 0,
       "a job running when the service was SIGKILLed ends SUCCEEDED with exit code 0",
       (d["status"], d.get("statusReason"), d.get("container", {}).get("exitCode")))
    for _ in range(50):
        after = service_pids(agent.pid)
        if after:
            break
        time.sleep(0.1)
    left = container_image.containers_of(f"barge.instance={INST}")
    ok(left == [], "no container left behind", left)
    status = st.stop_services()
    ok(status.get(f"agent-{INST}") == 0, "the agent stops cleanly", status)
    gone = [p for p in after if common.pid_alive(p)]
    ok(gone == [], "its new podman service ended with it", gone)


def hard_limits(pid):
    """{"nofile": N, "nproc": N} of process pid, from /proc/PID/limits."""
    out = {}
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            for name, head in (("nofile", "Max open files"), ("nproc", "Max processes")):
                if line.startswith(head):
                    out[name] = line[len(head):].split()[1]
    return out


def external(st):
    log("-- an agent on a podman service it did not start (--engine-socket)")
    st.init_queue("q", "local")
    sock = os.path.join(st.home, "engine.sock")
    def service():
        return subprocess.Popen([*container_image.PODMAN, "system", "service", "--time=0", "unix://" + sock],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    svc = service()
    try:
        st.wait("the podman service to answer", lambda: os.path.exists(sock) or None, timeout=30, every=0.2)
        time.sleep(1)
        limits = hard_limits(svc.pid)
        props = {"image": container_image.IMAGE, "command": ["sh", "-c", "echo nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)"],
                 "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
        st.json("register-job-definition", "--job-definition-name", "limits", "--type", "container",
                "--container-properties", common.json.dumps(props))
        st.scheduler()
        st.agent(EXT_INST, runtime="podman", engine_socket=sock)
        job = st.submit("limits", "q", "limits")
        d = st.wait_terminal([job], 120)[job]
        ok(d["status"] == "SUCCEEDED", "a job with the default ulimits SUCCEEDS on the operator's podman service",
           (d["status"], d.get("statusReason")))
        out = st.run("logs", job, check=False).stdout.strip()
        ok(out == f"nofile={limits['nofile']} nproc={limits['nproc']}",
           "its nofile and nproc are the service's own hard limits", (out, limits))

        def running(name, command):
            """A job of a new job definition running command, once it is RUNNING."""
            props["command"] = command
            st.json("register-job-definition", "--job-definition-name", name, "--type", "container",
                    "--container-properties", common.json.dumps(props))
            time.sleep(2)  # the scheduler's configuration consumer reads it
            job = st.submit(name, "q", name)
            st.wait(f"{job} RUNNING", lambda: st.describe(job).get(job, {}).get("status") == "RUNNING" or None,
                    timeout=60)
            time.sleep(1)
            return job

        slow = running("slow", ["sh", "-c", "echo started; sleep 8; exit 3"])
        os.killpg(svc.pid, signal.SIGKILL)
        svc.wait()
        time.sleep(2)
        svc = service()
        d = st.wait_terminal([slow], 120)[slow]
        ok(d["status"] == "FAILED" and d.get("container", {}).get("exitCode") == 3,
           "a job running when the operator's service was SIGKILLed and started again ends with its exit code 3",
           (d["status"], d.get("statusReason"), d.get("container", {}).get("exitCode")))
        time.sleep(0.5)
        left = container_image.containers_of(f"barge.instance={EXT_INST}")
        ok(left == [], "no container left behind", left)
        trap = running("trap", ["sh", "-c", "trap 'echo TERM; exit 42' TERM; echo started; sleep 60 & wait"])
        os.killpg(svc.pid, signal.SIGKILL)
        svc.wait()
        t0 = time.time()
        st.run("terminate-job", "--job-id", trap, "--reason", "while the engine is down")
        time.sleep(2)
        svc = service()
        d = st.wait_terminal([trap], 120)[trap]
        took = time.time() - t0
        ok(d["status"] == "FAILED" and d.get("statusReason", "").startswith("Terminated")
           and d.get("container", {}).get("exitCode") == 42 and took < 15,
           f"a job terminated while the engine was down got its SIGTERM once it was back ({took:.1f} s)",
           (d["status"], d.get("statusReason"), d.get("container", {}).get("exitCode")))
        time.sleep(0.5)
        left = container_image.containers_of(f"barge.instance={EXT_INST}")
        ok(left == [], "its container is removed, not left running", left)
        status = st.stop_services()
        ok(status.get(f"agent-{EXT_INST}") == 0, "the agent stops cleanly", status)
        ok(svc.poll() is None, "the operator's service outlives the agent")
    finally:
        os.killpg(svc.pid, signal.SIGKILL)
        svc.wait()


def main():
    container_image.podman_or_skip()
    common.scenario("ctrengine", restart, "the podman service restart scenario")
    common.scenario("ctrengineext", external, "the external podman service scenario")
    common.finish()


if __name__ == "__main__":
    main()
