#!/usr/bin/env python3
"""test_chaos.py: a workload survives services killed with SIGKILL at random, and `barge check`
finds the log clean (docs/chaos.md).

A local stack of services started by the test (scheduler, provisioner, three agents, accounting,
audit, the API) runs a workload of arrays (N_TO_N and SEQUENTIAL dependants), single jobs that
fail at random and retry (3 attempts), chains of dependencies, attempts that time out, jobs
cancelled while PENDING and jobs terminated while RUNNING. Meanwhile a seeded random schedule
SIGKILLs one service after another (each round a shuffle of all of them, so each is killed) and
starts it again after a random pause; an agent comes back under its instance id (a new
incarnation). A service that dies on its own is restarted too (and counted). After the
workload, `barge check --require-terminal` over the whole log and the audit file must report 0
violations. The figures (kills per service, jobs, attempts, violations) are printed.

Bounded here (about 400 jobs, chaos for at most BARGE_CHAOS_SECONDS=60 s). The long form is
bench/chaos.sh: BARGE_CHAOS_JOBS=10000, its own broker, which is killed too
(BARGE_CHAOS_BROKER=1, scripts/kafka.sh start --keep brings it back on the same port).
Plain build only: under the sanitizer build it exits 77 (skipped). barge-test: plain-only.

Environment: BARGE_CHAOS_SEED (default: random, printed), BARGE_CHAOS_JOBS (400),
BARGE_CHAOS_SECONDS (60; the long form: until the workload is done), BARGE_CHAOS_BROKER (0).
"""
import collections
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

JOBS = int(os.environ.get("BARGE_CHAOS_JOBS", "400"))
CHAOS_S = float(os.environ.get("BARGE_CHAOS_SECONDS", "60"))
KILL_BROKER = os.environ.get("BARGE_CHAOS_BROKER", "0") == "1"
SEED = int(os.environ.get("BARGE_CHAOS_SEED") or random.randrange(1 << 31))
LOST_AFTER_MS = 6000
AGENTS = 3


def sanitizer_build():
    try:
        with open(os.path.join(common.BUILD, "CMakeCache.txt")) as f:
            return any(line.startswith("BARGE_SANITIZE:BOOL=ON") for line in f)
    except OSError:
        return False


def workload(n):
    """The JSONL lines of the workload (about n jobs, array children counted) and what to do to
    some of them: {"cancel": [line, ...], "terminate": [line, ...]}."""
    lines, acts = [], {"cancel": [], "terminate": []}

    def add(req):
        lines.append(req)
        return len(lines)  # its line number, for "line:N" references

    q = "chaosq"
    blocker = add({"jobName": "blocker", "jobQueue": q, "jobDefinition": "long"})
    for i in range(5):  # PENDING behind the blocker, then cancelled (T13)
        acts["cancel"].append(add({"jobName": f"cancelme{i}", "jobQueue": q, "jobDefinition": "ok",
                                   "dependsOn": [{"jobId": f"line:{blocker}"}]}))
    for i in range(3):  # RUNNING, then terminated (T14)
        acts["terminate"].append(add({"jobName": f"terminateme{i}", "jobQueue": q, "jobDefinition": "long"}))
    acts["terminate"].append(blocker)
    for i in range(4):  # time out (T11) after the shortest timeout AWS allows, 60 s
        add({"jobName": f"slow{i}", "jobQueue": q, "jobDefinition": "slow"})
    size = max(2, n * 2 // 5)  # two arrays of 40 % each
    a = add({"jobName": "flaky-array", "jobQueue": q, "jobDefinition": "flaky",
             "arrayProperties": {"size": size}})
    add({"jobName": "n-to-n", "jobQueue": q, "jobDefinition": "ok", "arrayProperties": {"size": size},
         "dependsOn": [{"jobId": f"line:{a}", "type": "N_TO_N"}]})
    add({"jobName": "sequential", "jobQueue": q, "jobDefinition": "ok",
         "arrayProperties": {"size": max(2, min(50, n // 40))}, "dependsOn": [{"type": "SEQUENTIAL"}]})
    rnd = random.Random(SEED)
    singles = []
    for i in range(max(10, n - 2 * size - len(lines))):
        req = {"jobName": f"single{i}", "jobQueue": q, "jobDefinition": "flaky" if i % 2 else "ok"}
        if singles and rnd.random() < 0.3:
            req["dependsOn"] = [{"jobId": f"line:{rnd.choice(singles[-50:])}"}]
        singles.append(add(req))
    return lines, acts


class Chaos:
    """The services, started by the test and killed by the schedule; the broker too (long form)."""

    def __init__(self, st, kafka_dir):
        self.st, self.kafka_dir = st, kafka_dir
        self.kills = collections.Counter()
        self.crashes = collections.Counter()
        self.audit_file = os.path.join(st.home, "audit", "events.jsonl")
        self.audit_key = os.path.join(st.home, "audit", "hmac.key")
        os.makedirs(os.path.dirname(self.audit_file), exist_ok=True)
        with open(self.audit_key, "w") as f:
            f.write(os.urandom(32).hex())
        self.names = ["scheduler", "provisioner", "accounting", "audit", "api"] + \
            [f"agent-{i}" for i in range(AGENTS)]

    def start(self, name):
        st, b, p = self.st, self.st.brokers, self.st.prefix
        k = ["--brokers", b, "--topic-prefix", p]
        if name == "scheduler":
            st.scheduler("--lost-after-ms", str(LOST_AFTER_MS))
        elif name == "provisioner":
            st.provisioner("--driver", "local")
        elif name == "accounting":
            st.start(name, "accounting", *k, "--group", f"acct-{p}", "--settle-lag-ms", "1000",
                     "--publish-ms", "500")
        elif name == "audit":
            st.start(name, "audit", *k, "--out", self.audit_file, "--hmac-key-file", self.audit_key,
                     "--group", f"audit-{p}")
        elif name == "api":
            st.start(name, "api", *k, "--listen", "127.0.0.1:0", "--allow-anonymous")
        else:
            i = int(name.split("-")[1])
            st.agent(f"i-c4a05000000000{i:03x}", name=name, vcpus=4, memory=4096, heartbeat_ms=500)

    def broker_pid(self):
        try:
            with open(os.path.join(self.kafka_dir, "pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def broker_ports(self):
        """The broker's and its controller's ports (server.properties), to come back on: every
        client holds the old bootstrap address. kafka.sh --keep alone picks new ports when the
        old ones are in TIME_WAIT, which the broker itself (SO_REUSEADDR) would bind."""
        ports = []
        with open(os.path.join(self.kafka_dir, "server.properties")) as f:
            props = dict(line.strip().split("=", 1) for line in f if "=" in line and not line.startswith("#"))
        for k, flag in (("advertised.listeners", "--port"), ("controller.quorum.voters", "--controller-port")):
            if k in props:
                ports += [flag, props[k].rsplit(":", 1)[1]]
        return ports

    def kill(self, name, pause):
        if name == "broker":
            pid = self.broker_pid()
            if pid:
                ports = self.broker_ports()
                os.kill(pid, signal.SIGKILL)
                time.sleep(pause)
                r = subprocess.run([os.path.join(common.SOURCE_DIR, "scripts", "kafka.sh"), "start", "--dir",
                                    self.kafka_dir, "--keep", *ports], capture_output=True, text=True, timeout=300)
                log(f"  broker restarted: {(r.stdout + r.stderr).strip()[-200:]}")
                self.kills[name] += 1
            return
        self.st.kill(name, signal.SIGKILL)
        self.kills[name] += 1
        time.sleep(pause)
        self.start(name)

    def revive(self):
        """Restarts any service that ended on its own (a supervisor's job)."""
        for n in self.names:
            if not self.st.alive(n):
                p = self.st.procs.get(n)
                log(f"  {n} exited on its own ({p.returncode if p else '?'}); restarting it")
                self.crashes[n] += 1
                self.start(n)


def submit_workload(st, lines):
    path = os.path.join(st.home, "workload.jsonl")
    with open(path, "w") as f:
        for req in lines:
            f.write(json.dumps(req) + "\n")
    r = st.run("submit-job", "--from-jsonl", path, "--quiet", timeout=600)
    ids = {}
    for row in r.stdout.splitlines():
        n, _, jid = row.partition("\t")
        ids[int(n)] = jid
    return ids


def all_done(st, ids):
    """Are all top-level jobs (singles and array parents) terminal? Counts by status (a broker
    being restarted: not known yet)."""
    try:
        d = st.describe(*ids)
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        return False, {"unknown": str(e).strip()[:100]}
    counts = collections.Counter(j["status"] for j in d.values())
    return len(d) == len(ids) and all(j["status"] in common.TERMINAL for j in d.values()), counts


def body(st):
    kafka_dir = os.environ.get("BARGE_KAFKA_DIR", "")
    st.init_queue("chaosq", "local", priority=10)
    st.register("ok", ["sleep", "0.1"], retry_strategy={"attempts": 3})
    st.register("flaky", ["sh", "-c", "sleep 0.1; exit $(( $(od -An -N1 -tu1 /dev/urandom) % 4 == 0 ))"],
                retry_strategy={"attempts": 3})
    st.register("slow", ["sleep", "600"], timeout={"attemptDurationSeconds": 60})
    st.register("long", ["sleep", "600"], settle=True)
    ch = Chaos(st, kafka_dir)
    for n in ch.names:
        ch.start(n)
    lines, acts = workload(JOBS)
    t0 = time.monotonic()
    ids = submit_workload(st, lines)
    ok(len(ids) == len(lines), f"{len(lines)} requests submitted (seed {SEED})", len(ids))
    top = list(ids.values())
    rnd = random.Random(SEED ^ 0x5eed)
    schedule = []
    acted = False
    deadline = t0 + (CHAOS_S if CHAOS_S > 0 else 1e9)
    done = False
    while time.monotonic() < deadline:
        if not schedule:
            schedule = ch.names + (["broker"] if KILL_BROKER and kafka_dir else [])
            rnd.shuffle(schedule)
        victim = schedule.pop()
        time.sleep(rnd.uniform(1.0, 3.0))
        ch.revive()
        pause = rnd.uniform(0.2, 2.0) if victim != "broker" else rnd.uniform(1.0, 5.0)
        log(f"  t={time.monotonic() - t0:5.1f}s kill -9 {victim}, back after {pause:.1f} s")
        ch.kill(victim, pause)
        if not acted and time.monotonic() - t0 > 8:
            for n in acts["cancel"]:
                st.run("cancel-job", "--job-id", ids[n], "--reason", "chaos cancel", check=False)
            for n in acts["terminate"]:
                st.run("terminate-job", "--job-id", ids[n], "--reason", "chaos terminate", check=False)
            acted = True
        if CHAOS_S <= 0 and sum(ch.kills.values()) % len(ch.names) == 0:
            done, counts = all_done(st, top)
            log(f"  progress: {dict(counts)}")
            if done:
                break
    ch.revive()
    if not acted:
        for n in acts["cancel"]:
            st.run("cancel-job", "--job-id", ids[n], "--reason", "chaos cancel", check=False)
        for n in acts["terminate"]:
            st.run("terminate-job", "--job-id", ids[n], "--reason", "chaos terminate", check=False)
    log(f"-- chaos over after {time.monotonic() - t0:.0f} s; waiting for the workload to finish")

    end = time.monotonic() + (1800 if JOBS > 1000 else 400)
    while not done and time.monotonic() < end:
        ch.revive()
        done, counts = all_done(st, top)
        log(f"  {dict(counts)}")
        if not done:
            time.sleep(3)
    ok(done, "every job of the workload reached SUCCEEDED or FAILED")
    time.sleep(4)  # accounting settles (lag 1 s, publish 0.5 s); audit flushes (0.2 s)
    r = st.run("check", "--require-terminal", "--json", "--audit", ch.audit_file, "--audit-key", ch.audit_key,
               "--lost-after-ms", str(LOST_AFTER_MS), check=False, timeout=1200)
    try:
        rep = json.loads(r.stdout)
    except json.JSONDecodeError:
        rep = {"violations": [{"kind": "?", "subject": "", "detail": r.stdout[-2000:] + r.stderr[-2000:]}]}
    s = rep.get("stats", {})
    nv = len(rep.get("violations", []))
    log(f"FIGURES seed {SEED}: kills {dict(sorted(ch.kills.items()))} (total {sum(ch.kills.values())}), "
        f"restarts after a crash {dict(ch.crashes)}; jobs {s.get('jobs')} (arrays {s.get('arrays')}, "
        f"children {s.get('arrayChildren')}), attempts {s.get('attempts')}, instances {s.get('instances')}; "
        f"violations {nv}; {time.monotonic() - t0:.0f} s")
    for v in rep.get("violations", [])[:30]:
        log(f"    VIOLATION {v['kind']} {v['subject']}: {v['detail']}")
    ok(r.returncode == 0 and nv == 0, "barge check: 0 violations over the whole log and the audit file",
       f"exit {r.returncode}")
    ok(all(ch.kills[n] >= 1 for n in ch.names), "every service was killed at least once", dict(ch.kills))
    ok(s.get("jobs", 0) >= JOBS * 0.9, f"the log holds the workload's jobs ({s.get('jobs')})")


if __name__ == "__main__":
    if sanitizer_build():
        print("SKIP chaos runs in the plain build only (too slow under the sanitizers)")
        sys.exit(77)
    common.run_test("chaos", body)
