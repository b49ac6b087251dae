#!/usr/bin/env python3
"""bench_latency.py: submit -> RUNNING latency on idle capacity (issue 11's target: p99 <= 50 ms).

A local stack (`barge up --detach`, one agent of 4 vCPUs, default 1 s tick, its own BARGE_HOME
and topic prefix) gets N single jobs of `true` (1 vCPU), submitted one by one: the next is
submitted only once the previous one has ended, so capacity is always idle. It prints two
figures, p50/p90/p99/max in milliseconds:

- events: the job's own `startedAt - createdAt` (DescribeJobs, from its events);
- client: from the start of `barge submit-job` until `barge watch` (started before the first
  submission) prints the job's RUNNING, as a user would see it. This includes the CLI's own start
  (process, Kafka connection, the configuration read and the durable write).

Usage: bench/bench_latency.py [--jobs N] [--brokers HOST:PORT] [--barge PATH]
Without --brokers (or $BARGE_BROKERS) `barge up` starts its own Kafka. A figure, not a test:
nothing is asserted; the exit status is 0 unless the stack fails."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def summary(name, values):
    return (f"{name:8} p50 {pct(values, 50):7.1f}  p90 {pct(values, 90):7.1f}  p99 {pct(values, 99):7.1f}"
            f"  max {max(values):7.1f} ms  (n={len(values)})")


class Watch:
    """`barge watch` in the background: the monotonic time each job was first seen in a status."""

    def __init__(self, barge, env):
        self.seen = {}
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([barge, "watch"], env=env, stdout=subprocess.PIPE, text=True,
                                     stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            try:
                d = json.loads(line)["detail"]
            except (ValueError, KeyError):
                continue
            with self.cond:
                self.seen.setdefault((d["jobId"], d["status"]), t)
                self.cond.notify_all()

    def wait(self, job, statuses, timeout=60):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for s in statuses:
                    if (job, s) in self.seen:
                        return self.seen[(job, s)]
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"job {job} never reached {statuses}")
                self.cond.wait(left)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--brokers", default=os.environ.get("BARGE_BROKERS"))
    ap.add_argument("--barge", default=os.environ.get("BARGE_BIN") or os.path.join(HERE, "..", "build", "barge"))
    a = ap.parse_args()
    if a.jobs < 1:
        ap.error(f"--jobs wants a number of jobs, 1 or more (got {a.jobs})")  # exit 2, with the usage
    home = tempfile.mkdtemp(prefix="barge-latency-")
    env = dict(os.environ, BARGE_HOME=home, BARGE_TOPIC_PREFIX=f"lat{os.getpid()}.", AWS_PAGER="")
    if a.brokers:
        env["BARGE_BROKERS"] = a.brokers

    def run(*args):
        p = subprocess.run([a.barge, *args], env=env, capture_output=True, text=True, timeout=120)
        if p.returncode:
            raise RuntimeError(f"barge {' '.join(args)}: {p.stdout}{p.stderr}")
        return p.stdout

    up = ["up", "--detach", "--no-api", "--agents", "1", "--agent-vcpus", "4", "--agent-memory", "8192"]
    if a.brokers:
        up += ["--brokers", a.brokers]
    watch = None
    try:
        run(*up)
        run("create-job-queue", "--job-queue-name", "lat", "--priority", "1",
            "--compute-environment-order", "order=1,computeEnvironment=local")
        run("register-job-definition", "--job-definition-name", "t", "--type", "container",
            "--container-properties", json.dumps({"image": "x", "command": ["true"], "resourceRequirements": [
                {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}))
        watch = Watch(a.barge, env)
        time.sleep(2)  # the watcher positioned, the stack settled
        ids, client = [], []
        for i in range(a.jobs + 3):  # the first 3 warm up and are not counted
            t0 = time.monotonic()
            jid = json.loads(run("submit-job", "--job-name", f"l{i}", "--job-queue", "lat",
                                 "--job-definition", "t"))["jobId"]
            t_run = watch.wait(jid, ("RUNNING", "SUCCEEDED", "FAILED"))
            watch.wait(jid, ("SUCCEEDED", "FAILED"))
            if i >= 3:
                ids.append(jid)
                client.append((t_run - t0) * 1000)
        events = []
        for k in range(0, len(ids), 100):
            for j in json.loads(run("describe-jobs", "--jobs", *ids[k:k + 100]))["jobs"]:
                if j.get("startedAt") and j.get("createdAt"):
                    events.append(float(j["startedAt"] - j["createdAt"]))
        print(f"submit -> RUNNING on idle capacity, {len(ids)} single jobs one by one "
              f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
        print(summary("events", events))
        print(summary("client", client))
        return 0
    finally:
        if watch:
            watch.close()
        subprocess.run([a.barge, "down"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
