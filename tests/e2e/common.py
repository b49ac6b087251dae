"""common.py: the one harness of Barge's end-to-end tests (tests/e2e/test_*.py).

The tests drive the real `barge` binary ($BARGE_BIN) against the real Kafka broker of the CTest
fixture ($BARGE_KAFKA_DIR/bootstrap), each under its own topic prefix and BARGE_HOME so tests can
run in parallel on one broker. Run by hand with BARGE_BROKERS=HOST:PORT (and BARGE_BIN) set.
Every wait has a generous deadline: the machine may be a slow, shared 2-core one; nothing here
measures speed.

- Stack: the private prefix and home; barge commands and AWS Batch resources; services (the
  scheduler, agents, the provisioner, any command) as children killable by name, or a whole
  `barge up --detach`; close() cleans up.
- Topics: raw reads (read_committed), end offsets and raw produce through confluent_kafka.
- Avro: Barge's schemas loaded with fastavro; single-object frames decoded and encoded.
- Checks: `ok(cond, what)` records a result; `finish()` prints "N passed, N failed" and exits.
- A test's frame: `run_test(name, body)` runs body(stack) and reports an exception as a failure;
  `run_prov_test` does the same around a scheduler, a provisioner and a MANAGED CE.
"""
import copy
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "unit"))
from codec_interop import strip_logical  # noqa: E402  (the schemas without logicalType)

SOURCE_DIR = os.environ.get("BARGE_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
BARGE = os.environ.get("BARGE_BIN") or os.path.join(SOURCE_DIR, "build", "barge")
BUILD = os.environ.get("BARGE_BUILD_DIR") or os.path.dirname(BARGE)
TERMINAL = ("SUCCEEDED", "FAILED")

# topic base name -> Avro type of its values (lib/bus.c's table)
TOPIC_TYPES = {
    "requests": "JobRequest", "config": "ConfigRecord", "job-events": "JobStateChange",
    "executions": "ExecutionReport", "jobs": "JobRecord", "placements": "AgentCommand",
    "capacity": "CapacityDemand", "instances": "InstanceEvent", "scaling": "ScalingDecision",
    "usage": "UsageRecord", "dead-letter": "DeadLetter", "job-waits": "JobWait",
}


def log(*a):
    print(*a, flush=True)


def brokers():
    b = os.environ.get("BARGE_BROKERS")
    if b:
        return b
    kd = os.environ.get("BARGE_KAFKA_DIR")
    if not kd:
        sys.exit("set BARGE_KAFKA_DIR (the CTest fixture) or BARGE_BROKERS=HOST:PORT")
    with open(os.path.join(kd, "bootstrap")) as f:
        return f.read().strip()


def wait_for(pred, timeout, what, interval=0.25):
    """Polls pred() until it returns something truthy; returns it, or raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ------------------------------------------------------------------------------------ checks --
_results = {"pass": 0, "fail": 0}


def ok(cond, what, detail=None):
    if cond:
        _results["pass"] += 1
        log(f"  ok   {what}")
    else:
        _results["fail"] += 1
        log(f"  FAIL {what}" + (f": {detail}" if detail is not None else ""))
    return bool(cond)


def finish():
    log(f"{_results['pass']} passed, {_results['fail']} failed")
    sys.exit(1 if _results["fail"] or not _results["pass"] else 0)


def stops_cleanly(st, what="every service stops cleanly on SIGTERM"):
    """Checks that every service of st still running exits 0 on SIGTERM (Stack.stop_services)."""
    status = st.stop_services()
    return ok(status and all(v == 0 for v in status.values()), what, status)


def scenario(name, body, what="the test", clean_stop=False, extra_env=None):
    """Runs body(st) on a new Stack(name, extra_env); an exception is a failed check "<what> ran
    to its end". With clean_stop, stops_cleanly(st) comes after the body, even one that raised.
    Then st.close() (which prints the services' logs when a check failed)."""
    st = Stack(name, extra_env)
    try:
        body(st)
    except Exception as e:
        ok(False, f"{what} ran to its end", repr(e))
    finally:
        try:
            if clean_stop:
                stops_cleanly(st)
        finally:
            st.close()


def run_test(name, body, clean_stop=False, extra_env=None):
    """A whole test: scenario(name, body, ...) and finish()."""
    scenario(name, body, clean_stop=clean_stop, extra_env=extra_env)
    finish()


# ------------------------------------------------------------------------------------- stack --
def _children(pid):
    kids = []
    for d in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(d.split("/")[2]))
        except (OSError, ValueError, IndexError):
            pass
    return kids


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Stack:
    """A private Barge installation on the fixture broker: its own topic prefix and BARGE_HOME.

    - commands: `run` / `json` call the barge binary; `create_ce`, `create_queue`, `register`,
      `submit` ... the AWS Batch resources; `describe`, `wait_terminal` and the provisioner's views
      (`decisions`, `instance_events`, `instances`) read back;
    - services as direct children of the test, each killable by name: `scheduler`, `agent`,
      `provisioner`, or any `start(name, *args)`; their logs are <home>/<name>.log;
    - or a whole stack with `up(...)` (`barge up --detach`), stopped by `down()`;
    - `close()` stops whatever still runs and removes BARGE_HOME, or keeps it (and prints the
      logs) when a check failed or BARGE_KEEP is set."""

    def __init__(self, name, extra_env=None):
        self.name = name
        self.brokers = brokers()
        self.prefix = f"t{name}{random.randrange(1 << 30):x}."
        self.home = tempfile.mkdtemp(prefix=f"barge-{name}-")
        self.env = dict(os.environ)
        self.env.update(BARGE_HOME=self.home, BARGE_TOPIC_PREFIX=self.prefix, BARGE_BROKERS=self.brokers,
                        AWS_PAGER="")
        self.env.pop("BARGE_KAFKA_SCRIPT", None)
        if extra_env:
            self.env.update(extra_env)
        self.procs = {}      # service name -> Popen
        self.logs = {}       # service name -> log path
        self.stopped = set()  # services the test stopped on purpose
        self.supervisor = None  # `barge up`'s supervisor pid
        self.kids = []
        log(f"stack {name}: prefix {self.prefix}, home {self.home}, brokers {self.brokers}")

    def topic(self, base):
        return self.prefix + base

    # ---- commands ----
    def run(self, *args, check=True, timeout=120, input=None, env=None):
        p = subprocess.run([BARGE, *args], env=env or self.env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise RuntimeError(f"barge {' '.join(args)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
        return p

    def json(self, *args, timeout=120):
        """The command's stdout as JSON ({} when it printed nothing)."""
        out = self.run(*args, timeout=timeout).stdout
        return json.loads(out) if out.strip() else {}

    def init(self):
        self.run("init", "--brokers", self.brokers, "--topic-prefix", self.prefix)

    def init_queue(self, queue, ce, maxv=None, priority=1):
        """init, then the compute environment ce (UNMANAGED, or MANAGED of 0-maxv vCPUs of
        m5.large) and the job queue over it."""
        self.init()
        if maxv is None:
            self.create_ce(ce)
        else:
            self.managed_ce(ce, maxv)
        return self.create_queue(queue, ce, priority=priority)

    # ---- resources ----
    def create_ce(self, name, resources=None, state="ENABLED"):
        """An UNMANAGED compute environment, or a MANAGED one with these computeResources."""
        if resources is None:
            return self.json("create-compute-environment", "--compute-environment-name", name,
                             "--type", "UNMANAGED", "--state", state)
        return self.json("create-compute-environment", "--compute-environment-name", name, "--type", "MANAGED",
                         "--state", state, "--compute-resources", json.dumps(resources))

    def managed_ce(self, name, maxv, instance_types=("m5.large",)):
        return self.create_ce(name, {"type": "EC2", "minvCpus": 0, "maxvCpus": maxv,
                                     "instanceTypes": list(instance_types), "subnets": ["subnet-1"],
                                     "instanceRole": "ecsInstanceRole"})

    def create_queue(self, name, ces, priority=1):
        """A job queue over one compute environment (AWS CLI shorthand) or a list of them (JSON)."""
        if isinstance(ces, str):
            order = f"order=1,computeEnvironment={ces}"
        else:
            order = json.dumps([{"order": i + 1, "computeEnvironment": ce} for i, ce in enumerate(ces)])
        return self.json("create-job-queue", "--job-queue-name", name, "--priority", str(priority),
                         "--compute-environment-order", order)

    def register(self, name, command, vcpus=1, memory=64, env=None, settle=False, **extra):
        """A container job definition; extra members as flags (retry_strategy= -> --retry-strategy),
        JSON-encoded unless already a string. settle: wait 2 s afterwards, so that a running
        scheduler's configuration consumer has read it before a submission names it (its
        catch-up on an unknown job definition can stop at a stale end-of-partition event)."""
        props = {"image": "busybox", "command": command,
                 "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)},
                                          {"type": "MEMORY", "value": str(memory)}]}
        if env:
            props["environment"] = [{"name": k, "value": v} for k, v in env.items()]
        args = ["register-job-definition", "--job-definition-name", name, "--type", "container",
                "--container-properties", json.dumps(props)]
        for k, v in extra.items():
            args += ["--" + k.replace("_", "-"), v if isinstance(v, str) else json.dumps(v)]
        r = self.json(*args)
        if settle:
            time.sleep(2)
        return r

    def submit(self, name, queue, jd, *more, size=None, env=None):
        """submit-job with flags; returns the job id."""
        args = ["submit-job", "--job-name", name, "--job-queue", queue, "--job-definition", jd, *more]
        if size:
            args += ["--array-properties", json.dumps({"size": size})]
        if env:
            args += ["--container-overrides",
                     json.dumps({"environment": [{"name": k, "value": v} for k, v in env.items()]})]
        return self.run(*args, "--query", "jobId", "--output", "text").stdout.strip()

    def submit_json(self, **req):
        """submit-job --cli-input-json with the request's members; returns the job id."""
        return self.json("submit-job", "--cli-input-json", json.dumps(req))["jobId"]

    # ---- reading back ----
    def describe(self, *ids):
        """{jobId: JobDetail} of the jobs describe-jobs knows."""
        jobs = []
        ids = list(ids)
        for i in range(0, len(ids), 100):
            jobs += self.json("describe-jobs", "--jobs", *ids[i:i + 100]).get("jobs", [])
        return {j["jobId"]: j for j in jobs}

    def wait_terminal(self, ids, timeout):
        """Waits until every job is SUCCEEDED or FAILED; returns {id: JobDetail}."""
        ids = list(ids)

        def done():
            d = self.describe(*ids)
            return d if len(d) == len(ids) and all(j["status"] in TERMINAL for j in d.values()) else None
        try:
            return wait_for(done, timeout, f"{len(ids)} job(s) to finish", interval=0.5)
        except TimeoutError:
            d = self.describe(*ids)
            for i in ids:
                log(f"    {i}: {d.get(i, {}).get('status', 'unknown')} {d.get(i, {}).get('statusReason', '')}")
            raise

    def children(self, parent, status=None):
        """An array's children (list-jobs --array-job-id), every page."""
        args = ["list-jobs", "--array-job-id", parent] + (["--job-status", status] if status else [])
        items, token = [], None
        while True:
            r = self.json(*args, *(["--next-token", token] if token else []))
            items += r.get("jobSummaryList", [])
            token = r.get("nextToken")
            if not token:
                return items

    def describe_ce(self, name):
        return self.json("describe-compute-environments", "--compute-environments", name)["computeEnvironments"][0]

    def decisions(self, ce=None):
        """The provisioner's ScalingDecisions (`barge instances --decisions`)."""
        args = ["instances", "--decisions"] + (["--compute-environment", ce] if ce else [])
        return [json.loads(x) for x in self.run(*args).stdout.splitlines() if x.strip()]

    def instance_events(self, ce=None):
        """The instance history (`barge instances --events`)."""
        args = ["instances", "--events"] + (["--compute-environment", ce] if ce else [])
        return [json.loads(x) for x in self.run(*args).stdout.splitlines() if x.strip()]

    def instances(self, ce=None, all_=False):
        args = ["instances", "--output", "json"] + (["--compute-environment", ce] if ce else []) + \
            (["--all"] if all_ else [])
        return self.json(*args)["instances"]

    def wait(self, what, fn, timeout=300, every=1.0):
        """Polls fn() until it returns something truthy and returns it; None after timeout or as
        soon as a service exits on its own. A failing barge command inside fn() is retried."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n, p in self.procs.items():
                if n not in self.stopped and p.poll() is not None:
                    log(f"  {n} exited with {p.returncode} while waiting for {what}")
                    return None
            try:
                v = fn()
            except (RuntimeError, json.JSONDecodeError, subprocess.TimeoutExpired) as e:
                v = None
                log(f"  (retrying: {str(e).strip()[:200]})")
            if v:
                return v
            time.sleep(every)
        log(f"  timed out waiting for {what}")
        return None

    def wait_array_done(self, parent, timeout=400):
        """Waits for an array job to end; returns its status, or None."""
        def done():
            j = self.describe(parent).get(parent)
            st = j["status"] if j else None
            summary = j.get("arrayProperties", {}).get("statusSummary", {}) if j else {}
            log(f"  {parent[:8]} {st} {json.dumps(summary, sort_keys=True)}")
            return st if st in TERMINAL else None
        return self.wait(f"array {parent}", done, timeout=timeout, every=2.0)

    # ---- services, as direct children ----
    def start(self, name, *args):
        path = os.path.join(self.home, f"{name}.log")
        self.logs[name] = path
        with open(path, "ab") as f:
            p = subprocess.Popen([BARGE, *args], env=self.env, stdout=f, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        self.procs[name] = p
        self.stopped.discard(name)
        return p

    def scheduler(self, *extra, name="scheduler", tick_ms=200):
        return self.start(name, "scheduler", "--brokers", self.brokers, "--topic-prefix", self.prefix,
                          "--transactional-id", f"sched-{self.prefix}", "--tick-ms", str(tick_ms), *extra)

    def agent(self, instance_id, ce="local", name=None, vcpus=2, memory=2048, heartbeat_ms=1000, runtime="process",
              **flags):
        """An agent of ce; flags as options (instance_type= -> --instance-type); runtime: --runtime."""
        extra = ["--runtime", runtime]
        for k, v in flags.items():
            extra += ["--" + k.replace("_", "-"), str(v)]
        return self.start(name or f"agent-{instance_id}", "agent", "--brokers", self.brokers, "--topic-prefix",
                          self.prefix, "--compute-environment", ce, "--instance-id", instance_id,
                          "--vcpus", str(vcpus), "--memory", str(memory), "--heartbeat-ms", str(heartbeat_ms),
                          "--log-dir", os.path.join(self.home, "logs"), *extra)

    def provisioner(self, *extra):
        return self.start("provisioner", "provisioner", "--brokers", self.brokers, "--topic-prefix", self.prefix,
                          "--transactional-id", f"prov-{self.prefix}", "--tick-ms", "200", *extra)

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def kill(self, name, sig=signal.SIGKILL):
        """Stops one service on purpose (SIGKILL by default) and waits for it."""
        p = self.procs.get(name)
        self.stopped.add(name)
        if p and p.poll() is None:
            p.send_signal(sig)
            p.wait(timeout=30)

    def exits_within(self, name, t0, bound_s, give_up_s):
        """Waits for the service name, sent SIGTERM at t0 (time.monotonic()), to exit; SIGKILLs it
        give_up_s after t0 if it has not. Checks that it exited 0 within bound_s of t0; returns
        that check."""
        p = self.procs[name]
        try:
            p.wait(max(0.1, t0 + give_up_s - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{name} has not exited: SIGKILL")
            p.kill()
            p.wait()
        took = time.monotonic() - t0
        self.stopped.add(name)
        return ok(p.returncode == 0 and took < bound_s,
                  f"{name} exited 0 within {bound_s} s of its SIGTERM ({took:.1f} s, status {p.returncode})",
                  self.log_tail(name, 8))

    def log_text(self, name):
        try:
            with open(self.logs[name], errors="replace") as f:
                return f.read()
        except (OSError, KeyError):
            return ""

    def log_tail(self, name, n=30):
        return "".join(self.log_text(name).splitlines(keepends=True)[-n:])

    def stop_services(self):
        """SIGTERM to every service still running, SIGKILL after 20 s. Returns {name: exit status}
        of the services this call stopped (0 = a clean stop; under the sanitizer build a leak or
        an error report makes it non-zero); -9 for one that had to be killed."""
        stopping = {n: p for n, p in self.procs.items() if p.poll() is None}
        for p in stopping.values():
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        status = {}
        for n, p in stopping.items():
            try:
                status[n] = p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                status[n] = -9
            self.stopped.add(n)
        return status

    # ---- a whole stack: barge up --detach ----
    def up(self, *up_args):
        """`barge up --detach --brokers <fixture> ...`; returns its output once the supervisor has
        started its services. Stopped by down() (and by close())."""
        try:
            p = self.run("up", "--detach", "--brokers", self.brokers, *up_args, timeout=180)
            self.supervisor = int(self.stack_value("supervisor"))
            self.kids = wait_for(lambda: _children(self.supervisor), 30, "the stack's services")
            return p.stdout
        except BaseException:
            self.down(check=False)  # whatever did start
            raise

    def stack_value(self, key):
        """A value of the stack file `barge up` writes, or None."""
        try:
            with open(os.path.join(self.home, "stack")) as f:
                for line in f:
                    k, _, v = line.rstrip("\n").partition("=")
                    if k == key:
                        return v
        except OSError:
            pass
        return None

    def service_pids(self, word):
        return [p for p in _children(self.supervisor) if f" {word} " in cmdline(p) + " "]

    def down(self, check=True):
        """`barge down`; with check=False whatever is left is killed by pid too."""
        if not self.supervisor and (self.stack_value("supervisor") or "").isdigit():
            self.supervisor = int(self.stack_value("supervisor"))
        if not self.supervisor:
            return None
        kids = set(self.kids) | set(_children(self.supervisor))
        try:
            r = self.run("down", check=check, timeout=120)
        except subprocess.TimeoutExpired:
            r = None
        if not check or r is None or r.returncode != 0:
            for pid in [self.supervisor, *kids]:
                if pid_alive(pid) and ("barge" in cmdline(pid)):
                    os.kill(pid, signal.SIGKILL)
        self.supervisor = None
        return r

    # ---- the end ----
    def dump_logs(self, tail=60):
        for f in sorted(os.listdir(self.home)):
            if f.endswith(".log"):
                with open(os.path.join(self.home, f), errors="replace") as fh:
                    lines = fh.readlines()
                log(f"---- {f} (last {min(tail, len(lines))} of {len(lines)} lines)")
                sys.stdout.write("".join(lines[-tail:]))
        sys.stdout.flush()

    def close(self, keep=False):
        """Stops what still runs; removes BARGE_HOME unless a check failed, keep or BARGE_KEEP."""
        self.down(check=False)
        self.stop_services()
        if keep or _results["fail"] or os.environ.get("BARGE_KEEP"):
            self.dump_logs()
            log(f"kept {self.home}")
        else:
            shutil.rmtree(self.home, ignore_errors=True)


# ------------------------------------------------------------------------------------- kafka --
def _kafka():
    import confluent_kafka
    return confluent_kafka


def metrics_scrape(url):
    """{(sample name, sorted label items): value} of a service's Prometheus endpoint, through
    Prometheus's own parser (the exposition format's Content-Type checked)."""
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(url, timeout=10) as r:
        ctype, text = r.headers.get("Content-Type", ""), r.read().decode()
    if not ctype.startswith("text/plain; version=0.0.4"):
        raise ValueError(f"{url}: Content-Type {ctype}")
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metrics_endpoint(st, name, timeout=60):
    """The URL service name logged ("metrics at http://HOST:PORT/metrics", --metrics-port)."""
    import re

    def find():
        m = re.search(r"metrics at (http://\S+/metrics)", st.log_text(name))
        return m.group(1) if m else None
    return st.wait(f"{name} to log its metrics endpoint", find, timeout=timeout, every=0.3)


def consumer(st, read_committed=True):
    ck = _kafka()
    return ck.Consumer({"bootstrap.servers": st.brokers,
                        "group.id": f"e2e-{random.randrange(1 << 40):x}",
                        "enable.auto.commit": False, "enable.partition.eof": True,
                        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
                        "auto.offset.reset": "earliest"})


def partitions(st, base):
    ck = _kafka()
    c = consumer(st)
    try:
        md = c.list_topics(st.topic(base), timeout=15)
        t = md.topics[st.topic(base)]
        if t.error:
            raise RuntimeError(f"topic {st.topic(base)}: {t.error}")
        return sorted(t.partitions)
    finally:
        c.close()
    del ck


def end_offsets(st, base):
    """{partition: high watermark} of a topic."""
    c = consumer(st)
    try:
        out = {}
        ck = _kafka()
        for p in partitions(st, base):
            deadline = time.monotonic() + 15
            while True:
                try:
                    lo, hi = c.get_watermark_offsets(ck.TopicPartition(st.topic(base), p), timeout=15)
                    break
                except ck.KafkaException as e:  # a topic just created may have no leader yet
                    if not e.args[0].retriable() and e.args[0].code() not in (
                            ck.KafkaError.NOT_LEADER_FOR_PARTITION, ck.KafkaError.LEADER_NOT_AVAILABLE) \
                            or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            out[p] = hi
        return out
    finally:
        c.close()


def read_topic(st, base, timeout=30, read_committed=True):
    """Every record of a topic from the beginning to its end as of the call (read_committed by
    default): a list of dicts {partition, offset, key (bytes), value (bytes or None)}.
    A partition is done at its end-of-partition event or once the position passes the high
    watermark taken at the start (a topic written all the time, such as barge.requests with its
    scheduler's ticks, may never show an end-of-partition event to a read_committed reader)."""
    ck = _kafka()
    c = consumer(st, read_committed)
    name = st.topic(base)
    try:
        ps = partitions(st, base)
        hw = {p: c.get_watermark_offsets(ck.TopicPartition(name, p), timeout=15)[1] for p in ps}
        c.assign([ck.TopicPartition(name, p, ck.OFFSET_BEGINNING) for p in ps])
        pending, out = {p for p in ps if hw[p] > 0}, []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {name}: partitions {pending} never reached their end")
            m = c.poll(0.2)
            if m is not None and m.error():
                if m.error().code() == ck.KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
            elif m is not None:
                if m.offset() < hw[m.partition()]:
                    out.append({"partition": m.partition(), "offset": m.offset(), "key": m.key(),
                                "value": m.value()})
            for tp in c.position([ck.TopicPartition(name, p) for p in pending]):
                if tp.offset >= hw[tp.partition]:
                    pending.discard(tp.partition)
        return out
    finally:
        c.close()


def produce_raw(st, base, key, value, partition=None):
    ck = _kafka()
    p = ck.Producer({"bootstrap.servers": st.brokers, "enable.idempotence": True, "acks": "all"})
    delivered = []
    kw = {} if partition is None else {"partition": partition}
    p.produce(st.topic(base), key=key, value=value,
              on_delivery=lambda err, msg: delivered.append((err, msg)), **kw)
    p.flush(30)
    if not delivered or delivered[0][0] is not None:
        raise RuntimeError(f"producing to {st.topic(base)}: {delivered}")
    m = delivered[0][1]
    return m.partition(), m.offset()


# -------------------------------------------------------------------------------------- avro --
class Avro:
    """Barge's schemas (schemas/*.avsc) for fastavro: every type standalone (named parts
    inlined), its CRC-64-AVRO fingerprint, and single-object framing (C3 01, fingerprint, body)."""

    def __init__(self):
        raw = {}
        for path in glob.glob(os.path.join(SOURCE_DIR, "schemas", "*.avsc")):
            with open(path) as f:
                s = json.load(f)
            full = s["name"] if "." in s["name"] else s.get("namespace", "") + "." + s["name"]
            raw[full] = s
        self.raw = raw
        self.parsed, self.by_fp, self.fp = {}, {}, {}
        for full, s in raw.items():
            if s.get("barge_kind") == "part":
                continue
            name = full.rpartition(".")[2]
            standalone = self._inline(copy.deepcopy(s), set(), s.get("namespace", ""))
            parsed = parse_schema(strip_logical(standalone))
            fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parse_schema(copy.deepcopy(standalone))),
                                           "CRC-64-AVRO"))
            self.parsed[name] = parsed
            self.fp[name] = fp
            self.by_fp[fp] = name

    def _inline(self, s, defined, ns):
        """Replaces references to named types of other files by their definitions (first use)."""
        if isinstance(s, str):
            full = s if "." in s else (ns + "." + s if ns else s)
            if full in self.raw and full not in defined:
                defined.add(full)
                d = copy.deepcopy(self.raw[full])
                d.pop("barge_kind", None)
                return self._inline(d, defined, d.get("namespace", ns))
            return s
        if isinstance(s, list):
            return [self._inline(x, defined, ns) for x in s]
        if isinstance(s, dict):
            t = s.get("type")
            if t in ("record", "enum", "fixed"):
                ns2 = s.get("namespace", ns)
                full = s["name"] if "." in s["name"] else (ns2 + "." + s["name"] if ns2 else s["name"])
                defined.add(full)
                s.pop("barge_kind", None)
                if t == "record":
                    for fld in s["fields"]:
                        fld["type"] = self._inline(fld["type"], defined, ns2)
                return s
            out = dict(s)
            for k in ("type", "items", "values"):
                if k in out and not (k == "type" and out[k] in ("array", "map")):
                    out[k] = self._inline(out[k], defined, ns)
            return out
        return s

    def decode(self, data):
        """(type name, record) of a single-object frame; raises ValueError if it is not one."""
        if data is None or len(data) < 10 or data[0:2] != b"\xc3\x01":
            raise ValueError("not an Avro single-object frame")
        name = self.by_fp.get(bytes(data[2:10]))
        if not name:
            raise ValueError(f"unknown fingerprint {data[2:10].hex()}")
        import io
        return name, fastavro.schemaless_reader(io.BytesIO(data[10:]), self.parsed[name])

    def encode(self, name, record):
        import io
        b = io.BytesIO()
        fastavro.schemaless_writer(b, self.parsed[name], record)
        return b"\xc3\x01" + self.fp[name] + b.getvalue()


def header(source="e2e"):
    import uuid
    return {"event_id": str(uuid.uuid4()), "event_time": int(time.time() * 1000),
            "source": source, "request_id": ""}


def says_started(ex):
    """Does this ExecutionReport say its attempt's process started? A STARTED report, or an end
    report carrying startedAt (the agent folds STARTED into it when it sees both at once)."""
    return ex["kind"] == "STARTED" or (ex["kind"] != "FAILED_TO_START" and ex.get("startedAt") is not None)


def job_events(st, avro, timeout=30):
    """Decoded barge.job-events (read_committed) in partition/offset order: a list of dicts."""
    out = []
    for r in read_topic(st, "job-events", timeout=timeout):
        name, ev = avro.decode(r["value"])
        if name != "JobStateChange":
            raise ValueError(f"a {name} on job-events")
        ev["_partition"], ev["_offset"] = r["partition"], r["offset"]
        out.append(ev)
    return out


def instance_records(st, avro, inst):
    """barge.instances of instance inst, decoded, in offset order: [(partition, offset, event)]."""
    out = []
    for r in read_topic(st, "instances"):
        if r["value"] is None or r["key"] != inst.encode():
            continue
        name, ev = avro.decode(r["value"])
        if name == "InstanceEvent":
            out.append((r["partition"], r["offset"], ev))
    return sorted(out, key=lambda x: x[1])


def ready_of(st, avro, inst, newer_than=0):
    """(partition, offset, event) of inst's first READY of an agent incarnation above newer_than,
    or None."""
    for rec in instance_records(st, avro, inst):
        if rec[2]["kind"] == "READY" and rec[2].get("incarnation", 0) > newer_than:
            return rec
    return None


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


def wait_scaled_in(st, ce, timeout=180, every=2.0, reason=None):
    """Waits until no instance of ce is alive (and, with reason, a decision of that reason was
    made); returns (instance events, peak vCPUs, instances launched), or None."""
    def done():
        events = st.instance_events(ce)
        peak, live, n = live_capacity(events)
        if live or (reason and not any(d["reason"] == reason for d in st.decisions(ce))):
            return None
        return events, peak, n
    return st.wait(f"{ce} to scale in to 0", done, timeout=timeout, every=every)


# retried when the instance is lost (the lost-host reason), else not
RETRY_ON_LOST_HOST = {"attempts": 3, "evaluateOnExit": [{"onStatusReason": "Host EC2*", "action": "RETRY"},
                                                        {"onReason": "*", "action": "EXIT"}]}


def prov_setup(st, ce, resources, *prov_args, sched_args=()):
    """Starts a scheduler (sched_args) and a provisioner (prov_args) on st and creates the MANAGED
    compute environment ce (computeResources resources) and the job queue q-<ce> over it."""
    st.init()
    st.scheduler(*sched_args)
    st.provisioner(*prov_args)
    st.create_ce(ce, resources)
    st.create_queue("q-" + ce, [ce])


def run_prov_test(name, body, ce, resources, *prov_args, sched_args=()):
    """run_test of body(st) after prov_setup(st, ce, resources, *prov_args, sched_args); last, the
    check that the scheduler and the provisioner are still running."""
    def whole(st):
        prov_setup(st, ce, resources, *prov_args, sched_args=sched_args)
        body(st)
        ok(st.alive("scheduler") and st.alive("provisioner"), "services still running")
    run_test(name, whole)
