#!/usr/bin/env python3
"""test_container_log_limits.py: a container attempt's log against its limits, with
`barge agent --runtime podman` (issue 13, "resource exhaustion"; docs/containers.md, "The log:
its size, and a full disk"). test_agent_log_limits.py is the same for the process runtime.

1. A log that reaches `--max-log-mib 1`: the container writes 3 MiB and then a last line; the job
   SUCCEEDS, its log keeps exactly the first MiB followed by one line saying the rest was dropped
   (and not the last line), the log has its time index (<log>.times), and the CloudWatch Logs API
   (`barge api`, boto3's GetLogEvents on DescribeJobs' logStreamName) ends the stream with that
   line.
2. A full disk under the agent's log directory (a 2 MiB tmpfs the test mounts and fills): a
   container that writes is stopped, the job FAILED with `CannotWriteLogError: ...No space left on
   device`, its container is gone, and the agent carries on: once space is freed, the next
   container job SUCCEEDS with its output in its log.
Skipped (77) when podman cannot run here or a tmpfs cannot be mounted (not root).
barge-test: plain-only"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import container_image  # noqa: E402
from api_common import ADMIN, start_api  # noqa: E402
from common import log, ok  # noqa: E402

MIB = 1024 * 1024
INST_CAP = "i-0c0a7a1e0000000c1"
INST_FULL = "i-0c0a7a1e0000000c2"


def jd(st, name, command):
    props = {"image": container_image.IMAGE, "command": command,
             "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "128"}]}
    st.json("register-job-definition", "--job-definition-name", name, "--type", "container",
            "--container-properties", common.json.dumps(props))


def attempt_reason(d):
    """The reasons DescribeJobs gives for a job's last attempt, joined."""
    att = (d.get("attempts") or [{}])[-1]
    return " ".join(x for x in (d.get("statusReason"), att.get("statusReason"),
                                att.get("container", {}).get("reason")) if x)


def stream_tail(st, addr, stream):
    """The last events of stream, as boto3's GetLogEvents gives them (from the tail)."""
    import boto3
    from botocore.config import Config
    logs = boto3.session.Session(aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1],
                                 region_name="us-east-1").client(
        "logs", endpoint_url=f"http://{addr[0]}:{addr[1]}", config=Config(retries={"max_attempts": 1}))
    return logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream, limit=5)["events"]


def capped(st):
    log("-- a container's log past --max-log-mib 1")
    st.init_queue("q", "local")
    jd(st, "loud", ["sh", "-c", "head -c 3145728 /dev/zero | tr '\\0' x; echo; echo last-line"])
    st.scheduler()
    st.agent(INST_CAP, runtime="podman", max_log_mib=1)
    addr = start_api(st)
    job = st.submit("loud", "q", "loud")
    d = st.wait_terminal([job], 120)[job]
    ok(d["status"] == "SUCCEEDED", "the container that wrote 3 MiB SUCCEEDED", (d["status"], attempt_reason(d)))
    path = os.path.join(st.home, "logs", job, "1.log")
    with open(path, "rb") as f:
        data = f.read()
    head, _, rest = data.partition(b"\n[barge: ")
    ok(len(head) == MIB and set(head) == {ord("x")}, f"the log keeps the first MiB ({len(head)} bytes of x)")
    ok(rest.startswith(b"this log reached its limit of 1048576 bytes") and b"last-line" not in rest,
       "then one line saying the rest was dropped, and nothing after it", rest[:200])
    ok(os.path.exists(path + ".times"), "the container's log has its time index (<log>.times)")
    stream = d["container"].get("logStreamName")
    evs = stream_tail(st, addr, stream)
    last = evs[-1]["message"] if evs else ""
    ok(last.startswith("[barge: this log reached its limit of 1048576 bytes"),
       "GetLogEvents on the container job's stream ends with that line", (stream, last[:200]))
    ok(all(e["timestamp"] >= d["startedAt"] for e in evs), "its events are dated no earlier than startedAt",
       [(e["timestamp"], d["startedAt"]) for e in evs])
    left = container_image.containers_of(f"barge.instance={INST_CAP}")
    ok(left == [], "no container left behind", left)
    status = st.stop_services()
    ok(status.get(f"agent-{INST_CAP}") == 0 and status.get("api") == 0, "the agent and the API stop cleanly", status)


def full_disk(st):
    log("-- a full disk under a podman agent's log directory")
    logs = os.path.join(st.home, "small-logs")
    os.makedirs(logs)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", logs], check=True)
    try:
        st.init_queue("q", "local")
        jd(st, "writer", ["sh", "-c", "for i in $(seq 1 2000); do echo line $i of some output; done; sleep 60"])
        jd(st, "hello", ["sh", "-c", "echo hello after the disk was freed"])
        st.scheduler()
        st.start("agent", "agent", "--brokers", st.brokers, "--topic-prefix", st.prefix, "--compute-environment",
                 "local", "--instance-id", INST_FULL, "--heartbeat-ms", "1000", "--runtime", "podman",
                 "--kill-grace-ms", "1000", "--log-dir", logs)
        common.wait_for(lambda: "ready:" in st.log_text("agent"), 60, "the podman agent ready")
        fill = os.path.join(logs, "fill")
        subprocess.run(["dd", "if=/dev/zero", f"of={fill}", "bs=4096"], capture_output=True)
        job = st.submit("writer", "q", "writer")
        d = st.wait_terminal([job], 90)[job]
        why = attempt_reason(d)
        ok(d["status"] == "FAILED" and "CannotWriteLogError" in why and "No space left on device" in why,
           "the container is stopped, the job FAILED with CannotWriteLogError: ...No space left on device",
           (d["status"], why))
        left = container_image.containers_of(f"barge.instance={INST_FULL}")
        ok(left == [], "its container is gone", left)
        ok(st.alive("agent"), "the agent carries on")
        os.unlink(fill)
        job2 = st.submit("hello", "q", "hello")
        d2 = st.wait_terminal([job2], 90)[job2]
        with open(os.path.join(logs, job2, "1.log")) as f:
            text = f.read()
        ok(d2["status"] == "SUCCEEDED" and "hello after the disk was freed" in text,
           "with space again, the next container job SUCCEEDS with its output in its log", (d2["status"], text))
        status = st.stop_services()
        ok(status.get("agent") == 0, "the agent stops cleanly", status)
    finally:
        subprocess.run(["umount", "-l", logs], check=False)


def main():
    container_image.podman_or_skip()
    common.scenario("ctrlogcap", capped, "the container log-limit scenario")
    common.scenario("ctrdiskfull", full_disk, "the container full-disk scenario")
    common.finish()


if __name__ == "__main__":
    main()
