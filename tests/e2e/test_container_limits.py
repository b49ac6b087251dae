#!/usr/bin/env python3
"""test_container_limits.py: VCPU and MEMORY are enforced, timeouts and terminate stop the whole
attempt, with `barge agent --runtime podman` (docs/containers.md, "Limits").

- a 64 MiB job that allocates without end (`tail /dev/zero`) ends FAILED with exit code 137 and
  the reason `OutOfMemoryError: Container killed due to memory usage`;
- a 64 MiB job whose child runs out of memory (killed) and which then exits 0 SUCCEEDS with exit
  code 0 (the process runtime used to report it FAILED, 137, with the OOM reason);
- a 64 MiB job that exits 137 of its own accord FAILS with 137 and the ordinary reason, not the OOM
  one (with podman on cgroup v1 the removal of the container's memory cgroup was taken for an OOM);
- a 1-vCPU job spinning on 4 threads for SPIN seconds: its cgroup's CPU quota is one CPU
  (cfs_quota_us 100000 of a 100000 period) and the CPU time it got (user + sys, as `time`
  counts it) is at most 1 vCPU x its wall time x 1.25 + 0.3 s (the margin: the scheduler's
  period granularity and the shell's own start); a host with 2 or more free CPUs would give it up
  to 4 x that without the quota. Its memory limit is the job's MEMORY;
- a job with a 2 s timeout that started a background process and ignores SIGTERM (PID 1) ends
  FAILED with `Job attempt duration exceeded timeout` after the kill grace, and nothing of it is
  left (no container; with the process runtime, no process of it);
- terminate-job on a running job: FAILED, nothing left;
- (podman) a running container removed from under the agent (`podman rm -f`) FAILS, never SUCCEEDS
  (podman's wait may answer 0 then: the job used to SUCCEED with exit code 0). Its exit code is
  none when the container was gone before the agent inspected it, or 137 when the agent saw it
  exited (SIGKILLed by the removal: `sh` as PID 1 ignores the SIGTERM) before podman removed it;
  which one is a race inside podman (seen in CI).

test_container_process_limits.py runs the same scenario with the process runtime (cgroups).
Skipped (77) when podman cannot run here."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import container_image  # noqa: E402
from common import ok, log  # noqa: E402

SPIN = 4
MARGIN = 1.25
CPU_SCRIPT = (
    "p=$(sed -nE 's/^[0-9]+:cpu(,cpuacct)?:(.*)/\\2/p' /proc/self/cgroup | head -1); "
    "for f in /sys/fs/cgroup/cpu$p /sys/fs/cgroup/cpu,cpuacct$p /sys/fs/cgroup/cpu; do "
    "  [ -e $f/cpu.cfs_quota_us ] && { echo quota=$(cat $f/cpu.cfs_quota_us) period=$(cat $f/cpu.cfs_period_us); break; }; done; "
    "m=$(sed -n 's/^[0-9]*:memory:\\(.*\\)/\\1/p' /proc/self/cgroup | head -1); "
    "for f in /sys/fs/cgroup/memory$m /sys/fs/cgroup/memory; do "
    "  [ -e $f/memory.limit_in_bytes ] && { echo mem=$(cat $f/memory.limit_in_bytes); break; }; done; "
    f"busybox time sh -c 'for i in 1 2 3 4; do (busybox timeout {SPIN} sh -c \"while :; do :; done\") & done; wait'")


def log_of(st, job, attempt=1):
    try:
        with open(os.path.join(st.home, "logs", job, f"{attempt}.log")) as f:
            return f.read()
    except OSError:
        return ""


def seconds(out, what):
    m = re.search(rf"^{what}\s+(\d+)m\s*([\d.]+)s", out, re.M)
    return int(m.group(1)) * 60 + float(m.group(2)) if m else None


def pids_alive(pids):
    return [p for p in pids if common.pid_alive(p)]


def scenario(runtime, inst):
    def body(st):
        st.init_queue("q", "local")
        image = container_image.IMAGE

        def jd(name, command, vcpus=1, memory=128, **extra):
            props = {"image": image, "command": command,
                     "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)},
                                              {"type": "MEMORY", "value": str(memory)}]}
            args = ["register-job-definition", "--job-definition-name", name, "--type", "container",
                    "--container-properties", common.json.dumps(props)]
            for k, v in extra.items():
                args += ["--" + k, common.json.dumps(v)]
            st.json(*args)

        jd("oom", ["tail", "/dev/zero"], memory=64)
        jd("oomchild", ["sh", "-c", "tail /dev/zero; echo survived"], memory=64)
        jd("exit137", ["sh", "-c", "sleep 2; exit 137"], memory=64)
        jd("cpu", ["sh", "-c", CPU_SCRIPT], memory=96)
        jd("slow", ["sh", "-c", "sleep 300 & echo child=$!; echo self=$$; trap '' TERM; wait"],
           timeout={"attemptDurationSeconds": 2})
        jd("term", ["sh", "-c", "sleep 300 & echo child=$!; echo self=$$; wait"])
        jd("gone", ["sh", "-c", "echo up; sleep 60"])
        st.scheduler()
        st.agent(inst, runtime=runtime, vcpus=2, memory=2048, kill_grace_ms=1500)
        if os.path.exists("oom"):
            os.remove("oom")
        ids = {n: st.submit(n, "q", n) for n in ("oom", "oomchild", "exit137", "cpu", "slow", "term")
               + (("gone",) if runtime == "podman" else ())}
        common.wait_for(lambda: st.describe(ids["term"]).get(ids["term"], {}).get("status") == "RUNNING"
                        and "child=" in log_of(st, ids["term"]), 60, "the terminate job RUNNING")
        term_pids = [int(x) for x in re.findall(r"(?:child|self)=(\d+)", log_of(st, ids["term"]))]
        st.run("terminate-job", "--job-id", ids["term"], "--reason", "stop it")
        if runtime == "podman":
            common.wait_for(lambda: st.describe(ids["gone"]).get(ids["gone"], {}).get("status") == "RUNNING"
                            and "up" in log_of(st, ids["gone"]), 60, "the job to remove RUNNING")
            sock = os.path.join(st.home, "logs", ".agents", inst, "podman.sock")
            subprocess.run(["podman", "--url", "unix://" + sock, "rm", "-f", f"barge-{ids['gone']}-1"],
                           capture_output=True, timeout=60)
        done = st.wait_terminal(ids.values(), 120)
        d = {n: done[i] for n, i in ids.items()}

        o = d["oom"]
        ok(o["status"] == "FAILED" and o["container"].get("exitCode") == 137
           and o.get("statusReason") == "OutOfMemoryError: Container killed due to memory usage"
           and o["container"].get("reason") == "OutOfMemoryError: Container killed due to memory usage",
           f"{runtime}: over its memory: FAILED, exit 137, the OOM reason",
           {k: o.get(k) for k in ("status", "statusReason")} | {"container": o.get("container", {}).get("reason"),
                                                              "exit": o.get("container", {}).get("exitCode")})
        c = d["oomchild"]
        ok(c["status"] == "SUCCEEDED" and c["container"].get("exitCode") == 0 and "survived" in log_of(st, ids["oomchild"]),
           f"{runtime}: a child killed for memory, the job exiting 0: SUCCEEDED, exit 0",
           (c["status"], c.get("statusReason"), c["container"].get("exitCode")))
        x = d["exit137"]
        ok(x["status"] == "FAILED" and x["container"].get("exitCode") == 137
           and x.get("statusReason") == "Essential container in task exited",
           f"{runtime}: a job exiting 137 itself: FAILED, 137, not the OOM reason",
           (x["status"], x.get("statusReason"), x["container"].get("exitCode")))
        if runtime == "podman":
            g = d["gone"]
            ok(g["status"] == "FAILED" and g["container"].get("exitCode") in (None, 137),
               "podman: a container removed while it ran (podman rm -f): FAILED, no exit code or 137",
               (g["status"], g.get("statusReason"), g["container"].get("exitCode")))
        # podman's conmon records an OOM kill in a file "oom" in its working directory
        ok(not os.path.exists("oom"), f"{runtime}: the OOM kill left no file 'oom' in the agent's working directory",
           os.getcwd())
        out = log_of(st, ids["cpu"])
        ok(d["cpu"]["status"] == "SUCCEEDED", f"{runtime}: the CPU job SUCCEEDED", d["cpu"].get("statusReason"))
        ok("quota=100000 period=100000" in out, f"{runtime}: its CPU quota is 1 vCPU", out)
        ok(f"mem={96 * 1024 * 1024}" in out, f"{runtime}: its memory limit is 96 MiB", out)
        real, user, sys_ = seconds(out, "real"), seconds(out, "user"), seconds(out, "sys")
        if real is not None and user is not None and sys_ is not None:
            cpu = user + sys_
            bound = 1.0 * real * MARGIN + 0.3
            log(f"    {runtime}: 4 spinning threads for {real:.2f} s wall got {cpu:.2f} s CPU (bound {bound:.2f} s)")
            ok(0.2 < cpu <= bound, f"{runtime}: 4 threads got at most ~1 vCPU of CPU time ({cpu:.2f} s <= {bound:.2f} s)")
        else:
            ok(False, f"{runtime}: `time` printed its figures", out)

        s = d["slow"]
        ok(s["status"] == "FAILED" and s.get("statusReason") == "Job attempt duration exceeded timeout",
           f"{runtime}: timeout: FAILED with the timeout reason", s.get("statusReason"))
        t = d["term"]
        ok(t["status"] == "FAILED" and "stop it" in (t.get("statusReason") or ""), f"{runtime}: terminated: FAILED",
           t.get("statusReason"))
        if runtime == "process":
            slow_pids = [int(x) for x in re.findall(r"(?:child|self)=(\d+)", log_of(st, ids["slow"]))]
            left = common.wait_for(lambda: not pids_alive(slow_pids + term_pids) or None, 10, "processes gone")
            ok(left and len(slow_pids + term_pids) == 4, f"{runtime}: nothing of the stopped attempts is left",
               pids_alive(slow_pids + term_pids))
        left = container_image.containers_of(f"barge.instance={inst}")
        ok(left == [], f"{runtime}: no container left behind", left)
    return body


def run(runtime, inst, name):
    if runtime == "podman":
        container_image.podman_or_skip()
    elif os.geteuid() != 0 or not os.access("/sys/fs/cgroup/memory", os.W_OK) and \
            not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        container_image.skip("the process runtime's limits need root and a writable cgroup tree")
    elif not os.path.exists("/bin/busybox"):
        container_image.skip("busybox-static is not installed (scripts/setup.sh installs it)")
    common.scenario(name, scenario(runtime, inst), extra_env={"BARGE_MIN_ATTEMPT_DURATION_SECONDS": "1"})
    common.finish()


if __name__ == "__main__":
    run("podman", "i-0c0a7a1e00000000b", "ctr-limits")
