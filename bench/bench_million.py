#!/usr/bin/env python3
"""bench_million.py: 1,000,000 jobs queued through the whole pipeline (issue 11's targets: the
scheduler <= 1 GiB RSS; a scheduler restart back to placing within 10 s).

A scheduler and one agent of 2 vCPUs run as children under their own topic prefix; N jobs of
`true` (1 vCPU) are submitted as arrays of 10,000 through `barge submit-job`, so nearly all of them
stay RUNNABLE while the agent works through a few. Once the scheduler has expanded them all
(every child's JobRecord written to barge.jobs), it prints:

- how long the scheduler took to take in the N jobs, and the records of barge.jobs;
- the scheduler's resident memory (VmRSS and VmHWM, from /proc);
- restart: the scheduler is SIGKILLed and started again at once; the time until it logs
  "state rebuilt" and until its first new placement reaches barge.placements.

Usage: bench/bench_million.py [--jobs N] [--restarts K] [--brokers HOST:PORT] [--barge PATH]
                              [--late] [--scheduler-arg ARG ...]
--brokers (or $BARGE_BROKERS) is required: start one with `scripts/kafka.sh start --dir DIR`
(it needs a few GiB of free disk at N = 1,000,000). A figure, not a test. On a failure the
services' logs are kept and their last lines printed (BARGE_KEEP=1 keeps them anyway)."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
ARRAY = 10000


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


class Topics:
    def __init__(self, brokers, prefix):
        self.prefix = prefix
        self.c_conf = brokers
        self.c = Consumer({"bootstrap.servers": brokers, "group.id": f"bench-{prefix}",
                           "enable.auto.commit": False})

    def watch_new(self, base):
        """Positions a read_committed reader at the current end of a topic (its next committed
        record is new)."""
        t = self.prefix + base
        md = self.c.list_topics(t, timeout=15).topics[t]
        self.rc = Consumer({"bootstrap.servers": self.c_conf, "group.id": f"bench-rc-{self.prefix}",
                            "enable.auto.commit": False, "isolation.level": "read_committed"})
        self.rc.assign([TopicPartition(t, p, self.c.get_watermark_offsets(TopicPartition(t, p), timeout=15)[1])
                        for p in md.partitions])

    def new_record(self):
        m = self.rc.poll(0.05)
        return m is not None and not m.error()

    def end(self, base):
        t = self.prefix + base
        md = self.c.list_topics(t, timeout=15).topics[t]
        return sum(self.c.get_watermark_offsets(TopicPartition(t, p), timeout=15)[1] for p in md.partitions)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000000)
    ap.add_argument("--restarts", type=int, default=1, help="SIGKILL and restart the scheduler this many times")
    ap.add_argument("--brokers", default=os.environ.get("BARGE_BROKERS"))
    ap.add_argument("--barge", default=os.environ.get("BARGE_BIN") or os.path.join(HERE, "..", "build", "barge"))
    ap.add_argument("--late", action="store_true",
                    help="start the scheduler only once every array is submitted (one coming back after an "
                         "outage): it finds them all waiting in barge.requests")
    ap.add_argument("--scheduler-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for the scheduler (repeat: --scheduler-arg=--txn-max-mib --scheduler-arg=0)")
    a = ap.parse_args()
    if not a.brokers:
        sys.exit("bench_million: --brokers (or BARGE_BROKERS) is required")
    home = tempfile.mkdtemp(prefix="barge-million-")
    prefix = f"m{os.getpid()}."
    env = dict(os.environ, BARGE_HOME=home, BARGE_TOPIC_PREFIX=prefix, BARGE_BROKERS=a.brokers, AWS_PAGER="")
    procs = {}
    failed = False

    def run(*args):
        p = subprocess.run([a.barge, *args], env=env, capture_output=True, text=True, timeout=300)
        if p.returncode:
            raise RuntimeError(f"barge {' '.join(args)}: {p.stdout}{p.stderr}")
        return p.stdout

    def start(name, *args):
        log = open(os.path.join(home, f"{name}.log"), "ab")
        procs[name] = subprocess.Popen([a.barge, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
        return procs[name]

    def scheduler():
        return start("scheduler", "scheduler", "--transactional-id", f"sched-{prefix}", *a.scheduler_arg)

    def log_count(name, text):
        with open(os.path.join(home, f"{name}.log"), errors="replace") as f:
            return f.read().count(text)

    try:
        run("init")
        run("create-compute-environment", "--compute-environment-name", "local", "--type", "UNMANAGED")
        run("create-job-queue", "--job-queue-name", "m", "--priority", "1",
            "--compute-environment-order", "order=1,computeEnvironment=local")
        run("register-job-definition", "--job-definition-name", "t", "--type", "container",
            "--container-properties", json.dumps({"image": "x", "command": ["true"], "resourceRequirements": [
                {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}))
        sched = None if a.late else scheduler()
        start("agent", "agent", "--compute-environment", "local", "--instance-id", "i-0be4c400000000001",
              "--vcpus", "2", "--memory", "4096", "--log-dir", os.path.join(home, "logs"))
        topics = Topics(a.brokers, prefix)
        time.sleep(2)
        t0 = time.monotonic()
        left = a.jobs
        while left > 0:
            n = min(ARRAY, left)
            run("submit-job", "--job-name", f"m{left}", "--job-queue", "m", "--job-definition", "t",
                *(["--array-properties", f"size={n}"] if n > 1 else []))
            left -= n
        t_sub = time.monotonic() - t0
        if a.late:
            sched = scheduler()
        arrays = (a.jobs + ARRAY - 1) // ARRAY
        want = a.jobs + arrays  # one JobRecord per child and per parent, at least
        while topics.end("jobs") < want:
            if sched.poll() is not None:
                raise RuntimeError("the scheduler exited")
            time.sleep(1)
        t_in = time.monotonic() - t0
        time.sleep(2)
        mem = rss(sched.pid)
        jobs_recs = topics.end("jobs")
        late = " (started once they all were)" if a.late else ""
        print(f"{a.jobs} jobs queued ({arrays} arrays submitted in {t_sub:.1f} s); the scheduler{late} took "
              f"them in within {t_in:.1f} s ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})", flush=True)
        print(f"barge.jobs: {jobs_recs} records")
        print(f"scheduler memory: VmRSS {mem.get('VmRSS', 0):.0f} MiB, VmHWM {mem.get('VmHWM', 0):.0f} MiB", flush=True)

        for k in range(a.restarts):
            # a restarted scheduler shows it is placing again only if jobs are left to place: at a
            # small --jobs the agent may have run them all already, and the wait below would last
            # its whole 600 s for a placement that cannot come (placements' end offset counts the
            # transactions' markers too, so this stops slightly early, never late)
            if topics.end("placements") >= a.jobs:
                print(f"bench_million: before restart {k + 1} the agent had been given every one of the "
                      f"{a.jobs} jobs: nothing is left for a restarted scheduler to place; give more --jobs "
                      f"(at least a few thousand)", file=sys.stderr)
                return 1
            rebuilt = log_count("scheduler", "state rebuilt")
            sched.send_signal(signal.SIGKILL)
            sched.wait()
            t_kill = time.monotonic()
            # positioned once the old scheduler is dead, so a commit it had in flight is not
            # taken for the new one's first placement
            topics.watch_new("placements")
            sched = scheduler()
            t_rebuilt = t_placing = None
            while t_placing is None and time.monotonic() - t_kill < 600:
                if t_rebuilt is None and log_count("scheduler", "state rebuilt") > rebuilt:
                    t_rebuilt = time.monotonic() - t_kill
                if topics.new_record():
                    t_placing = time.monotonic() - t_kill
                if sched.poll() is not None:
                    raise RuntimeError("the restarted scheduler exited")
            mem2 = rss(sched.pid)
            print(f"restart {k + 1} after SIGKILL: state rebuilt in "
                  f"{t_rebuilt if t_rebuilt is not None else float('nan'):.1f} s, "
                  f"placing again after {t_placing if t_placing is not None else float('nan'):.1f} s "
                  f"(load {os.getloadavg()[0]:.1f}); VmRSS then {mem2.get('VmRSS', 0):.0f} MiB, "
                  f"peak (VmHWM) {mem2.get('VmHWM', 0):.0f} MiB", flush=True)
        return 0
    except Exception:
        failed = True  # keep the services' logs: a failure here is worth reading
        raise
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if failed:
            for name in procs:
                try:
                    with open(os.path.join(home, f"{name}.log"), errors="replace") as f:
                        tail = f.readlines()[-15:]
                except OSError:
                    continue
                print(f"---- {name}.log (last {len(tail)} lines)\n{''.join(tail)}", file=sys.stderr)
        if failed or os.environ.get("BARGE_KEEP"):
            print(f"kept {home}", file=sys.stderr if failed else sys.stdout)
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
