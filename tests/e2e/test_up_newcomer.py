#!/usr/bin/env python3
"""test_up_newcomer.py: a newcomer's first path with plain `barge up` (docs/operations.md "The local
stack"): the stack runs every service (scheduler, agents, provisioner with the local driver,
accounting, audit, API); a MANAGED compute environment the user creates is VALID once the
provisioner serves it; a queue over it and a job definition; the submitted job SUCCEEDS on a local
instance the provisioner starts; `barge usage` shows the job; `barge status` lists every service up
with its lag, its metrics endpoint and the local driver's clamp; the scheduler's metrics count the
job; the audit file verifies with the key `barge up` generated."""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def body(s):
    s.init()
    out = s.up()
    log("  " + out.strip().replace("\n", "\n  "))
    for part in ("provisioner: driver local", "accounting:  on", "audit:       "):
        ok(part in out, f"barge up says it runs {part.split(':')[0]}")
    key = s.stack_value("audit_key")
    ok(key and os.path.exists(key) and (os.stat(key).st_mode & 0o077) == 0, "an audit key generated, mode 0600", key)

    s.create_ce("cpu", {"type": "EC2", "minvCpus": 0, "maxvCpus": 8, "instanceTypes": ["optimal"],
                        "subnets": ["subnet-1"], "instanceRole": "ecsInstanceRole"})
    ce = s.wait("the MANAGED compute environment to be served",
                lambda: (lambda c: c if c["status"] == "VALID" else None)(s.describe_ce("cpu")), timeout=60)
    ok(ce and ce["statusReason"] == "ComputeEnvironment Healthy", "the MANAGED CE is VALID once served", ce and ce["status"])
    s.create_queue("q", "cpu")
    s.register("hello", ["sh", "-c", "echo hello newcomer"], vcpus=1, memory=256, settle=True)
    job = s.submit("h1", "q", "hello")
    st = s.wait_terminal([job], 180)[job]
    ok(st["status"] == "SUCCEEDED", f"the job SUCCEEDED on a local instance ({st['status']}: {st.get('statusReason')})")
    logs = s.run("logs", job).stdout
    ok("hello newcomer" in logs, "barge logs shows its output", logs)

    def usage_row():
        rep = json.loads(s.run("usage", "--by", "job", "--format", "json").stdout or "{}")
        rows = rep.get("rows", rep if isinstance(rep, list) else [])
        return [r for r in rows if job in json.dumps(r)] or None
    rows = s.wait("barge usage to show the job", usage_row, timeout=60, every=2)
    ok(rows, "barge usage shows the job", rows)

    st = s.run("status", check=False)
    log("  " + st.stdout.strip().replace("\n", "\n  "))
    ok(st.returncode == 0, "barge status: every service up (exit 0)", st.stderr)
    for name in ("scheduler", "provisioner", "accounting", "audit", "api", "agent i-"):
        line = [x for x in st.stdout.splitlines() if x.startswith(name)]
        ok(line and " up " in line[0], f"barge status lists {name} up", line)
    ok("clamped to" in st.stdout and "cpu" in st.stdout, "barge status says the local driver's clamp for cpu")
    # every service has a metrics endpoint (docs/metrics.md), printed by barge up, listed by barge status
    ok(out.count("/metrics") >= 7, "barge up prints the metrics endpoint of each of its 7 services", out)
    line = [x for x in st.stdout.splitlines() if x.startswith("scheduler")]
    url = line[0].split()[-1] if line else ""
    if ok(url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), "barge status shows the scheduler's metrics", line):
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        ok('\nbarge_jobs{queue="q",state="SUCCEEDED"} 1\n' in text, "the scheduler's metrics count the SUCCEEDED job",
           [x for x in text.splitlines() if x.startswith("barge_jobs")])
    s.down()
    audit = s.run("audit", "verify", os.path.join(s.home, "audit", "events.jsonl"), "--hmac-key-file", key, check=False)
    ok(audit.returncode == 0, "the audit file verifies with the generated key", audit.stdout + audit.stderr)


if __name__ == "__main__":
    common.run_test("newcomer", body)
