#!/usr/bin/env python3
"""test_agent_log_limits.py: an attempt's log against its limits (issue 13, "resource
exhaustion"; docs/containers.md, "Logs").

1. A log that reaches `barge agent --max-log-mib 1`: the job writes 3 MiB and then a last line;
   it SUCCEEDS (it was never blocked), its log keeps exactly the first MiB followed by one line
   saying the rest was dropped, and `barge logs` shows that line.
2. A full disk under the agent's log directory (a 2 MiB tmpfs the test mounts and fills): a job
   that writes is stopped, FAILED with `CannotWriteLogError: ...No space left on device`, and
   the agent carries on: a silent job meanwhile SUCCEEDS, the agent saying once (not 200 times
   a second, as it did) that it cannot record the job's process group; once space is freed, the
   next job SUCCEEDS with its output in its log.
Skipped (77) where the test cannot mount a tmpfs (not root)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log, ok  # noqa: E402

MIB = 1024 * 1024


def attempt_reason(d):
    """The reasons DescribeJobs gives for a job's last attempt, joined."""
    att = (d.get("attempts") or [{}])[-1]
    return " ".join(x for x in (d.get("statusReason"), att.get("statusReason"),
                                att.get("container", {}).get("reason")) if x)


def capped(st):
    log("-- a log past --max-log-mib 1")
    st.init_queue("q", "local")
    st.register("loud", ["sh", "-c", "head -c 3145728 /dev/zero | tr '\\0' x; echo; echo last-line"])
    st.scheduler()
    st.agent("i-0b10c00000000000a", max_log_mib=1)
    job = st.submit("loud", "q", "loud")
    d = st.wait_terminal([job], 60)[job]
    ok(d["status"] == "SUCCEEDED", "the job that wrote 3 MiB SUCCEEDED", (d["status"], attempt_reason(d)))
    path = os.path.join(st.home, "logs", job, "1.log")
    with open(path, "rb") as f:
        data = f.read()
    head, _, rest = data.partition(b"\n[barge: ")
    ok(len(head) == MIB and set(head) == {ord("x")}, f"the log keeps the first MiB ({len(head)} bytes of x)")
    ok(rest.startswith(b"this log reached its limit of 1048576 bytes") and b"last-line" not in rest,
       "then one line saying the rest was dropped, and nothing after it", rest[:200])
    out = st.run("logs", job).stdout
    ok("this log reached its limit" in out, "barge logs shows that line")


def full_disk(st):
    log("-- a full disk under the agent's log directory")
    logs = os.path.join(st.home, "small-logs")
    os.makedirs(logs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", logs], check=True)
    try:
        st.init_queue("q", "local")
        st.register("writer", ["sh", "-c", "for i in $(seq 1 2000); do echo line $i of some output; done; sleep 60"])
        st.register("hello", ["sh", "-c", "echo hello after the disk was freed"])
        st.register("silent", ["sleep", "3"])
        st.scheduler()
        st.start("agent", "agent", "--brokers", st.brokers, "--topic-prefix", st.prefix, "--compute-environment",
                 "local", "--instance-id", "i-0b10c00000000000b", "--heartbeat-ms", "1000", "--runtime", "process",
                 "--kill-grace-ms", "1000", "--log-dir", logs, "--cgroup-root", "none")
        common.wait_for(lambda: os.path.isdir(os.path.join(logs, ".agents")), 30, "the agent's state folder")
        fill = os.path.join(logs, "fill")
        subprocess.run(["dd", "if=/dev/zero", f"of={fill}", "bs=4096"], capture_output=True)
        job = st.submit("writer", "q", "writer")
        d = st.wait_terminal([job], 60)[job]
        why = attempt_reason(d)
        ok(d["status"] == "FAILED" and "CannotWriteLogError" in why and "No space left on device" in why,
           "the job is stopped, FAILED with CannotWriteLogError: ...No space left on device", (d["status"], why))
        ok(st.alive("agent"), "the agent carries on")
        # a silent job meanwhile: its process group cannot be recorded (no --cgroup-root: the agent
        # records it for its next incarnation), said once, not in every turn of the loop
        job3 = st.submit("silent", "q", "silent")
        d3 = st.wait_terminal([job3], 60)[job3]
        said = st.log_text("agent").count("cannot record the live process groups")
        ok(d3["status"] == "SUCCEEDED" and 1 <= said <= 2,
           f"a silent job on the full disk SUCCEEDS, and the agent says once per job on the full disk that it cannot "
           f"record its process group ({said} lines)", (d3["status"], attempt_reason(d3)))
        os.unlink(fill)
        job2 = st.submit("hello", "q", "hello")
        d2 = st.wait_terminal([job2], 60)[job2]
        with open(os.path.join(logs, job2, "1.log")) as f:
            text = f.read()
        ok(d2["status"] == "SUCCEEDED" and "hello after the disk was freed" in text,
           "with space again, the next job SUCCEEDS with its output in its log", (d2["status"], text))
        st.stop_services()
    finally:
        subprocess.run(["umount", "-l", logs], check=False)


def main():
    if os.geteuid() != 0:
        print("SKIP mounting a tmpfs needs root")
        sys.exit(77)
    common.scenario("logcap", capped, "the log-limit scenario")
    common.scenario("diskfull", full_disk, "the full-disk scenario")
    common.finish()


if __name__ == "__main__":
    main()
