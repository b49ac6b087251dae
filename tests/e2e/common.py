"""common.py: shared helpers for Barge's end-to-end tests (tests/e2e/test_*.py).

The tests drive the real `barge` binary ($BARGE_BIN) against the real Kafka broker of the CTest
fixture ($BARGE_KAFKA_DIR/bootstrap), each under its own topic prefix and BARGE_HOME so tests can
run in parallel on one broker. Run by hand with BARGE_BROKERS=HOST:PORT (and BARGE_BIN) set.

- Env: the private prefix/home and `run`/`json` to call barge commands.
- Stack: `barge up --detach --brokers ...` on that Env, stopped by `barge down` (and by PID if
  that fails).
- Services: the scheduler and agents as direct child processes, for tests that kill them.
- Topics: raw reads (read_committed), end offsets and raw produce through confluent_kafka.
- Avro: Barge's schemas loaded with fastavro; single-object frames decoded and encoded.
- Checks: `ok(cond, what)` records a result; `finish()` prints "N passed, N failed" and exits.
"""
import copy
import glob
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("BARGE_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
BARGE = os.environ.get("BARGE_BIN") or os.path.join(SOURCE_DIR, "build", "barge")
TERMINAL = ("SUCCEEDED", "FAILED")

# topic base name -> Avro type of its values (lib/bus.c's table)
TOPIC_TYPES = {
    "requests": "JobRequest", "config": "ConfigRecord", "job-events": "JobStateChange",
    "executions": "ExecutionReport", "jobs": "JobRecord", "placements": "AgentCommand",
    "capacity": "CapacityDemand", "instances": "InstanceEvent", "scaling": "ScalingDecision",
    "usage": "UsageRecord", "dead-letter": "DeadLetter",
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


# --------------------------------------------------------------------------------------- env --
class Env:
    """A private topic prefix and BARGE_HOME on the fixture broker."""

    def __init__(self, name):
        self.brokers = brokers()
        self.prefix = f"t{name}{random.randrange(1 << 30):x}."
        self.home = tempfile.mkdtemp(prefix=f"barge-{name}-")
        self.env = dict(os.environ)
        self.env.update(BARGE_HOME=self.home, BARGE_TOPIC_PREFIX=self.prefix,
                        BARGE_BROKERS=self.brokers)
        self.env.pop("BARGE_KAFKA_SCRIPT", None)

    def topic(self, base):
        return self.prefix + base

    def run(self, *args, check=True, timeout=90, input=None):
        p = subprocess.run([BARGE, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise RuntimeError(f"barge {' '.join(args)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
        return p

    def json(self, *args, timeout=90):
        return json.loads(self.run(*args, timeout=timeout).stdout)

    def init(self):
        self.run("init", "--brokers", self.brokers, "--topic-prefix", self.prefix)

    # -- common resources
    def setup_queue(self, queue="q1", ce="local", create_ce=False):
        if create_ce:
            self.run("create-compute-environment", "--compute-environment-name", ce,
                     "--type", "UNMANAGED")
        self.run("create-job-queue", "--job-queue-name", queue, "--priority", "10",
                 "--compute-environment-order", f"order=1,computeEnvironment={ce}")

    def register(self, name, command, vcpus=1, memory=64, **extra):
        props = {"image": "busybox", "command": command,
                 "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)},
                                          {"type": "MEMORY", "value": str(memory)}]}
        args = ["register-job-definition", "--job-definition-name", name, "--type", "container",
                "--container-properties", json.dumps(props)]
        for k, v in extra.items():
            args += ["--" + k.replace("_", "-"), v if isinstance(v, str) else json.dumps(v)]
        return self.json(*args)

    def submit(self, name, queue="q1", jd="hello", *more):
        return self.run("submit-job", "--job-name", name, "--job-queue", queue,
                        "--job-definition", jd, *more, "--query", "jobId",
                        "--output", "text").stdout.strip()

    def describe(self, *ids):
        jobs = []
        ids = list(ids)
        for i in range(0, len(ids), 100):
            jobs += self.json("describe-jobs", "--jobs", *ids[i:i + 100])["jobs"]
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

    def cleanup(self):
        shutil.rmtree(self.home, ignore_errors=True)


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
    """`barge up --detach --brokers <fixture>` under an Env; `stop()` always cleans up."""

    def __init__(self, env, *up_args):
        self.env = env
        self.supervisor = None
        self.kids = []
        try:
            p = env.run("up", "--detach", "--brokers", env.brokers, *up_args, timeout=120)
            self.up_output = p.stdout
            self.supervisor = int(self.stack_value("supervisor"))
            self.kids = wait_for(lambda: len(_children(self.supervisor)) >= 1 and _children(self.supervisor),
                                 30, "the stack's services")
        except BaseException:
            self.stop()  # whatever did start
            raise

    def stack_value(self, key):
        try:
            with open(os.path.join(self.env.home, "stack")) as f:
                for line in f:
                    k, _, v = line.rstrip("\n").partition("=")
                    if k == key:
                        return v
        except OSError:
            pass
        return None

    def service_pids(self, word):
        return [p for p in _children(self.supervisor) if f" {word} " in cmdline(p) + " "]

    def stop(self):
        if not self.supervisor and (self.stack_value("supervisor") or "").isdigit():
            self.supervisor = int(self.stack_value("supervisor"))
        if not self.supervisor:
            return
        kids = set(self.kids) | set(_children(self.supervisor))
        try:
            self.env.run("down", check=False, timeout=90)
        except subprocess.TimeoutExpired:
            pass
        for pid in [self.supervisor, *kids]:
            if pid_alive(pid) and ("barge" in cmdline(pid)):
                os.kill(pid, signal.SIGKILL)
        self.supervisor = None


class Services:
    """Scheduler and agents as direct children of the test, each killable by PID."""

    def __init__(self, env):
        self.env = env
        self.procs = {}  # name -> Popen
        self.logs = {}

    def start(self, name, *args):
        path = os.path.join(self.env.home, f"{name}.log")
        self.logs[name] = path
        f = open(path, "ab")
        p = subprocess.Popen([BARGE, *args], env=self.env.env, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        f.close()
        self.procs[name] = p
        return p

    def scheduler(self, name="scheduler", tick_ms=200, lost_after_ms=30000):
        return self.start(name, "scheduler", "--brokers", self.env.brokers, "--topic-prefix",
                          self.env.prefix, "--transactional-id", f"sched-{self.env.prefix}",
                          "--tick-ms", str(tick_ms), "--lost-after-ms", str(lost_after_ms))

    def agent(self, name, instance_id, ce="local", vcpus=2, memory=2048, heartbeat_ms=1000):
        return self.start(name, "agent", "--brokers", self.env.brokers, "--topic-prefix",
                          self.env.prefix, "--compute-environment", ce, "--instance-id",
                          instance_id, "--vcpus", str(vcpus), "--memory", str(memory),
                          "--heartbeat-ms", str(heartbeat_ms), "--log-dir",
                          os.path.join(self.env.home, "logs"))

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs.get(name)
        if p and p.poll() is None:
            p.send_signal(sig)
            p.wait(timeout=30)

    def log_text(self, name):
        try:
            with open(self.logs[name], errors="replace") as f:
                return f.read()
        except (OSError, KeyError):
            return ""

    def log_tail(self, name, n=30):
        try:
            with open(self.logs[name], errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except (OSError, KeyError):
            return ""

    def stop(self):
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
        return status


# ------------------------------------------------------------------------------------- kafka --
def _kafka():
    import confluent_kafka
    return confluent_kafka


def consumer(env, read_committed=True):
    ck = _kafka()
    return ck.Consumer({"bootstrap.servers": env.brokers,
                        "group.id": f"e2e-{random.randrange(1 << 40):x}",
                        "enable.auto.commit": False, "enable.partition.eof": True,
                        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
                        "auto.offset.reset": "earliest"})


def partitions(env, base):
    ck = _kafka()
    c = consumer(env)
    try:
        md = c.list_topics(env.topic(base), timeout=15)
        t = md.topics[env.topic(base)]
        if t.error:
            raise RuntimeError(f"topic {env.topic(base)}: {t.error}")
        return sorted(t.partitions)
    finally:
        c.close()
    del ck


def end_offsets(env, base):
    """{partition: high watermark} of a topic."""
    c = consumer(env)
    try:
        out = {}
        for p in partitions(env, base):
            ck = _kafka()
            lo, hi = c.get_watermark_offsets(ck.TopicPartition(env.topic(base), p), timeout=15)
            out[p] = hi
        return out
    finally:
        c.close()


def read_topic(env, base, timeout=30, read_committed=True):
    """Every record of a topic from the beginning to its end as of the call (read_committed by
    default): a list of dicts {partition, offset, key (bytes), value (bytes or None)}.
    A partition is done at its end-of-partition event or once the position passes the high
    watermark taken at the start (a topic written all the time, such as barge.requests with its
    scheduler's ticks, may never show an end-of-partition event to a read_committed reader)."""
    ck = _kafka()
    c = consumer(env, read_committed)
    name = env.topic(base)
    try:
        ps = partitions(env, base)
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


def produce_raw(env, base, key, value, partition=None):
    ck = _kafka()
    p = ck.Producer({"bootstrap.servers": env.brokers, "enable.idempotence": True, "acks": "all"})
    delivered = []
    kw = {} if partition is None else {"partition": partition}
    p.produce(env.topic(base), key=key, value=value,
              on_delivery=lambda err, msg: delivered.append((err, msg)), **kw)
    p.flush(30)
    if not delivered or delivered[0][0] is not None:
        raise RuntimeError(f"producing to {env.topic(base)}: {delivered}")
    m = delivered[0][1]
    return m.partition(), m.offset()


# -------------------------------------------------------------------------------------- avro --
def _strip_logical(s):
    if isinstance(s, list):
        return [_strip_logical(b) for b in s]
    if isinstance(s, dict):
        return {k: _strip_logical(v) for k, v in s.items() if k != "logicalType"}
    return s


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
            parsed = parse_schema(_strip_logical(standalone))
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


def job_events(env, avro, timeout=30):
    """Decoded barge.job-events (read_committed) in partition/offset order: a list of dicts."""
    out = []
    for r in read_topic(env, "job-events", timeout=timeout):
        name, ev = avro.decode(r["value"])
        if name != "JobStateChange":
            raise ValueError(f"a {name} on job-events")
        ev["_partition"], ev["_offset"] = r["partition"], r["offset"]
        out.append(ev)
    return out
