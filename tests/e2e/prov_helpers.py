"""prov_helpers.py: what the provisioner's end-to-end tests share (tests/e2e/test_prov_*.py).

A Stack runs the real `barge scheduler` and `barge provisioner` against the test broker (the
CTest Kafka fixture: $BARGE_KAFKA_DIR/bootstrap) under a private topic prefix and BARGE_HOME,
drives them through the `barge` CLI as a user would, and reads back what happened: job states
(describe-jobs / list-jobs), scaling decisions and the instance history (`barge instances
--decisions / --events`). Every wait polls with a generous deadline: the machine may be a slow,
shared 2-core one; nothing here measures speed."""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PASSED = 0
FAILED = 0


def check(cond, what):
    """Records one check; prints it."""
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok   " + what, flush=True)
    else:
        FAILED += 1
        print("FAIL " + what, flush=True)
    return cond


def summary():
    print("%d passed, %d failed" % (PASSED, FAILED), flush=True)
    return 1 if FAILED else 0


def barge_bin():
    b = os.environ.get("BARGE_BIN")
    if not b:
        build = os.environ.get("BARGE_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
        b = os.path.join(build, "barge")
    return b


def brokers():
    d = os.environ.get("BARGE_KAFKA_DIR")
    if not d:
        sys.exit("BARGE_KAFKA_DIR is not set: run through ctest (the Kafka fixture)")
    with open(os.path.join(d, "bootstrap")) as f:
        return f.read().strip()


class Stack:
    def __init__(self, name):
        self.name = name
        self.prefix = "t%s." % secrets.token_hex(5)
        self.home = tempfile.mkdtemp(prefix="barge-%s-" % name)
        self.brokers = brokers()
        self.env = dict(os.environ)
        self.env.update({"BARGE_HOME": self.home, "BARGE_BROKERS": self.brokers, "BARGE_TOPIC_PREFIX": self.prefix,
                         "BARGE_LOG": self.env.get("BARGE_LOG", "info")})
        self.procs = []
        print("stack %s: prefix %s, home %s, brokers %s" % (name, self.prefix, self.home, self.brokers), flush=True)
        self.run("init")

    # ---- processes ----
    def start(self, name, *args):
        log = open(os.path.join(self.home, name + ".log"), "ab")
        p = subprocess.Popen([barge_bin()] + list(args), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        self.procs.append((name, p, log))
        return p

    def start_scheduler(self, *extra):
        return self.start("scheduler", "scheduler", "--brokers", self.brokers, "--topic-prefix", self.prefix,
                          "--tick-ms", "200", *extra)

    def start_provisioner(self, *extra):
        return self.start("provisioner", "provisioner", "--brokers", self.brokers, "--topic-prefix", self.prefix,
                          "--transactional-id", "prov-" + self.prefix, "--tick-ms", "200", *extra)

    def alive(self, name):
        return all(p.poll() is None for n, p, _ in self.procs if n == name)

    def stop(self):
        for name, p, log in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p, log in reversed(self.procs):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()
        self.procs = []

    def dump_logs(self, tail=60):
        for f in sorted(os.listdir(self.home)):
            if f.endswith(".log"):
                path = os.path.join(self.home, f)
                with open(path, errors="replace") as fh:
                    lines = fh.readlines()
                print("---- %s (last %d of %d lines)" % (f, min(tail, len(lines)), len(lines)))
                sys.stdout.write("".join(lines[-tail:]))

    def cleanup(self, ok):
        self.stop()
        if ok and not os.environ.get("BARGE_KEEP"):
            shutil.rmtree(self.home, ignore_errors=True)
        else:
            self.dump_logs()
            print("kept %s" % self.home)

    # ---- CLI ----
    def run(self, *args, check_rc=True, timeout=120):
        r = subprocess.run([barge_bin()] + list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check_rc and r.returncode != 0:
            raise RuntimeError("barge %s failed (%d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r.stdout

    def call(self, *args):
        out = self.run(*args)
        return json.loads(out) if out.strip() else {}

    def create_ce(self, name, resources, state="ENABLED"):
        return self.call("create-compute-environment", "--compute-environment-name", name, "--type", "MANAGED",
                         "--state", state, "--compute-resources", json.dumps(resources))

    def create_queue(self, name, ces):
        order = [{"order": i + 1, "computeEnvironment": ce} for i, ce in enumerate(ces)]
        return self.call("create-job-queue", "--job-queue-name", name, "--priority", "1",
                         "--compute-environment-order", json.dumps(order))

    def register_jd(self, name, vcpus, memory, command, env=None, retry=None):
        props = {"image": "busybox", "command": command,
                 "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)}, {"type": "MEMORY", "value": str(memory)}],
                 "environment": [{"name": k, "value": v} for k, v in (env or {}).items()]}
        args = ["register-job-definition", "--job-definition-name", name, "--type", "container",
                "--container-properties", json.dumps(props)]
        if retry:
            args += ["--retry-strategy", json.dumps(retry)]
        r = self.call(*args)
        # Let the scheduler's configuration consumer read the new records before a submission
        # names them: its catch-up on an unknown job definition can stop at a stale end-of-
        # partition event and reject the job (reported to the scheduler's owner).
        time.sleep(2)
        return r

    def submit(self, name, queue, jd, size=None, env=None):
        args = ["submit-job", "--job-name", name, "--job-queue", queue, "--job-definition", jd]
        if size:
            args += ["--array-properties", json.dumps({"size": size})]
        if env:
            args += ["--container-overrides", json.dumps({"environment": [{"name": k, "value": v} for k, v in env.items()]})]
        return self.call(*args)["jobId"]

    def describe(self, ids):
        out = []
        for i in range(0, len(ids), 100):
            out += self.call("describe-jobs", "--jobs", *ids[i:i + 100]).get("jobs", [])
        return out

    def children(self, parent, status=None):
        args = ["list-jobs", "--array-job-id", parent]
        if status:
            args += ["--job-status", status]
        items, token = [], None
        while True:
            a = args + (["--next-token", token] if token else [])
            r = self.call(*a)
            items += r.get("jobSummaryList", [])
            token = r.get("nextToken")
            if not token:
                return items

    def decisions(self, ce=None):
        args = ["instances", "--decisions"] + (["--compute-environment", ce] if ce else [])
        return [json.loads(l) for l in self.run(*args).splitlines() if l.strip()]

    def instance_events(self, ce=None):
        args = ["instances", "--events"] + (["--compute-environment", ce] if ce else [])
        return [json.loads(l) for l in self.run(*args).splitlines() if l.strip()]

    def instances(self, ce=None, all_=False):
        args = ["instances", "--output", "json"] + (["--compute-environment", ce] if ce else []) + (["--all"] if all_ else [])
        return self.call(*args)["instances"]

    def describe_ce(self, name):
        return self.call("describe-compute-environments", "--compute-environments", name)["computeEnvironments"][0]

    # ---- waiting ----
    def wait_for(self, what, fn, timeout=300, every=1.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            for n, p, _ in self.procs:
                if p.poll() is not None:
                    print("  %s exited with %s while waiting for %s" % (n, p.returncode, what), flush=True)
                    return None
            try:
                last = fn()
            except (RuntimeError, json.JSONDecodeError, subprocess.TimeoutExpired) as e:
                last = None
                print("  (retrying: %s)" % str(e).strip()[:200], flush=True)
            if last:
                return last
            time.sleep(every)
        print("  timed out waiting for %s" % what, flush=True)
        return None

    def wait_array_done(self, parent, size, timeout=400):
        def done():
            j = self.describe([parent])
            st = j[0]["status"] if j else None
            summary = j[0].get("arrayProperties", {}).get("statusSummary", {}) if j else {}
            print("  %s %s %s" % (parent[:8], st, json.dumps(summary, sort_keys=True)), flush=True)
            return st if st in ("SUCCEEDED", "FAILED") else None
        return self.wait_for("array %s" % parent, done, timeout=timeout, every=2.0)


def live_capacity(events):
    """Sweeps an instance history: (peak vCPUs of instances alive at once, live vCPUs at the end,
    instances ever launched). An instance is alive from LAUNCHING (or its first event) until
    TERMINATED, LOST or LAUNCH_FAILED."""
    alive, peak, launched = {}, 0, set()
    for e in events:
        i, kind = e["instanceId"], e["kind"]
        if kind in ("TERMINATED", "LOST", "LAUNCH_FAILED"):
            alive.pop(i, None)
        elif i not in alive and kind in ("LAUNCHING", "READY"):
            alive[i] = e.get("vcpus", 0)
            launched.add(i)
        peak = max(peak, sum(alive.values()))
    return peak, sum(alive.values()), len(launched)
