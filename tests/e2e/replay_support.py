"""replay_support.py: helpers for the replay and publishing end-to-end tests (test_replay_*,
test_client_*, test_bulk_submit_*, test_registry_*): a private topic prefix and BARGE_HOME on the
CTest Kafka fixture, the real `barge` binary for configuration, a scheduler and agents as child
processes (stopped by their own PIDs), and waits that tolerate a slow shared 2-core machine.

Not a test itself (the name does not start with test_)."""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BARGE = os.environ.get("BARGE_BIN", "barge")
SOURCE = os.environ.get("BARGE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BARGE_BUILD_DIR", os.path.dirname(BARGE))
TERMINAL = ("SUCCEEDED", "FAILED")


def log(*a):
    print(*a, flush=True)


class Check:
    """Counts checks and prints `N passed, N failed` at the end (STYLE.md)."""

    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
            log("ok   " + what)
        else:
            self.failed += 1
            log("FAIL " + what)
        return cond

    def done(self):
        log(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def brokers():
    kdir = os.environ.get("BARGE_KAFKA_DIR")
    if not kdir:
        sys.exit("BARGE_KAFKA_DIR is not set (run through ctest: the kafka fixture)")
    with open(os.path.join(kdir, "bootstrap")) as f:
        return f.read().strip()


class Stack:
    """A private Barge installation on the shared broker: its own topic prefix and BARGE_HOME."""

    def __init__(self, name, extra_env=None):
        self.prefix = f"t{secrets.token_hex(4)}."
        self.home = tempfile.mkdtemp(prefix=f"barge-{name}-")
        self.brokers = brokers()
        self.env = dict(os.environ)
        self.env.update({"BARGE_BROKERS": self.brokers, "BARGE_TOPIC_PREFIX": self.prefix,
                         "BARGE_HOME": self.home, "AWS_PAGER": ""})
        if extra_env:
            self.env.update(extra_env)
        self.procs = []
        log(f"stack: brokers {self.brokers}, prefix {self.prefix}, home {self.home}")

    # ---- commands ----
    def run(self, *args, check=True, input=None, timeout=180):
        r = subprocess.run([BARGE, *args], env=self.env, capture_output=True, text=True,
                           input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"barge {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def json(self, *args):
        return json.loads(self.run(*args).stdout)

    def init(self):
        self.run("init", "--brokers", self.brokers, "--topic-prefix", self.prefix)

    def managed_ce(self, name, maxv, instance_types=("m5.large",)):
        self.run("create-compute-environment", "--compute-environment-name", name, "--type", "MANAGED",
                 "--compute-resources", json.dumps({"type": "EC2", "minvCpus": 0, "maxvCpus": maxv,
                                                    "instanceTypes": list(instance_types),
                                                    "subnets": ["subnet-1"],
                                                    "instanceRole": "ecsInstanceRole"}))

    def queue(self, name, ce, priority=1):
        self.run("create-job-queue", "--job-queue-name", name, "--priority", str(priority),
                 "--compute-environment-order", json.dumps([{"order": 1, "computeEnvironment": ce}]))

    def job_definition(self, name, command, vcpus=1, memory=256, extra=None):
        props = {"image": "none", "command": command,
                 "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)},
                                          {"type": "MEMORY", "value": str(memory)}]}
        args = ["register-job-definition", "--job-definition-name", name, "--type", "container",
                "--container-properties", json.dumps(props)]
        if extra:
            for k, v in extra.items():
                args += [k, v]
        self.run(*args)

    def submit(self, **req):
        args = ["submit-job", "--cli-input-json", json.dumps(req)]
        return self.json(*args)["jobId"]

    def describe(self, ids):
        out = {}
        for i in range(0, len(ids), 100):
            r = self.json("describe-jobs", "--jobs", *ids[i:i + 100])
            for j in r.get("jobs", []):
                out[j["jobId"]] = j
        return out

    def wait_terminal(self, ids, timeout=300):
        deadline = time.time() + timeout
        jobs = {}
        while time.time() < deadline:
            jobs = self.describe(ids)
            if len(jobs) == len(ids) and all(j["status"] in TERMINAL for j in jobs.values()):
                return jobs
            time.sleep(1)
        raise RuntimeError("jobs not terminal in time: " +
                           json.dumps({i: jobs.get(i, {}).get("status") for i in ids}))

    # ---- services ----
    def start(self, *args, name):
        logf = open(os.path.join(self.home, f"{name}.log"), "w")
        p = subprocess.Popen([BARGE, *args], env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append((p, name, logf))
        return p

    def scheduler(self, record=None):
        args = ["scheduler", "--brokers", self.brokers, "--topic-prefix", self.prefix,
                "--transactional-id", f"sched-{self.prefix}", "--tick-ms", "500"]
        if record:
            args += ["--record", record]
        return self.start(*args, name="scheduler")

    def agent(self, ce, instance_id, vcpus=2, memory=4096, instance_type="m5.large"):
        return self.start("agent", "--brokers", self.brokers, "--topic-prefix", self.prefix,
                          "--compute-environment", ce, "--instance-id", instance_id,
                          "--instance-type", instance_type, "--vcpus", str(vcpus),
                          "--memory", str(memory), "--heartbeat-ms", "1000",
                          "--kill-grace-ms", "2000",
                          "--log-dir", os.path.join(self.home, "logs"), name=f"agent-{instance_id}")

    def stop_services(self):
        for p, name, logf in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            logf.close()
        self.procs = []

    def dump_logs(self):
        for f in sorted(os.listdir(self.home)):
            if f.endswith(".log"):
                log(f"---- {f} (last lines)")
                with open(os.path.join(self.home, f), errors="replace") as h:
                    for line in h.readlines()[-30:]:
                        log("  " + line.rstrip())

    def close(self, keep=False):
        self.stop_services()
        if not keep:
            shutil.rmtree(self.home, ignore_errors=True)


def wait_until(pred, timeout, what, step=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError(f"timed out waiting for {what}")


# ---- Avro from the schemas folder (for forging records in tests) ----
def avro_schemas():
    """Every schemas/*.avsc parsed by fastavro as a self-contained schema (the named parts it
    uses inlined at their first use, as Barge embeds them), by full name."""
    import glob
    import fastavro
    texts = {}
    for path in sorted(glob.glob(os.path.join(SOURCE, "schemas", "*.avsc"))):
        with open(path) as f:
            s = json.load(f)
        texts[s.get("namespace", "barge") + "." + s["name"]] = s

    def inline(s, ns, seen):
        if isinstance(s, str):
            full = s if "." in s else (ns + "." + s if ns else s)
            if full in texts and full not in seen:
                seen.add(full)
                d = texts[full]
                return inline(d, d.get("namespace", full.rpartition(".")[0]), seen)
            return s
        if isinstance(s, list):
            return [inline(b, ns, seen) for b in s]
        if isinstance(s, dict):
            out = dict(s)
            t = s.get("type")
            if t in ("record", "enum", "fixed"):
                own = s.get("namespace", ns)
                full = s["name"] if "." in s["name"] else (own + "." + s["name"] if own else s["name"])
                seen.add(full)
                ns = full.rpartition(".")[0]
            if t == "record":
                out["fields"] = [dict(f, type=inline(f["type"], ns, seen)) for f in s["fields"]]
            elif t == "array":
                out["items"] = inline(s["items"], ns, seen)
            elif t == "map":
                out["values"] = inline(s["values"], ns, seen)
            elif isinstance(t, (dict, list)) or (isinstance(t, str) and t not in (
                    "record", "enum", "fixed", "array", "map", "null", "boolean", "int", "long",
                    "float", "double", "bytes", "string")):
                out["type"] = inline(t, ns, seen)
            return out
        return s

    parsed = {}
    for name, s in texts.items():
        if s.get("barge_kind") == "part":
            continue
        parsed[name] = fastavro.parse_schema(inline(s, s.get("namespace", "barge"), set()),
                                             _write_hint=False)
    return parsed


def single_object(parsed, value):
    """The Avro single-object encoding of value (C3 01, CRC-64-AVRO fingerprint, body)."""
    import io
    import fastavro
    from fastavro.schema import fingerprint, to_parsing_canonical_form
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, value)
    return b"\xc3\x01" + fp + buf.getvalue()


def produce_raw(stack, topic_base, key, value_bytes):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": stack.brokers, "enable.idempotence": True})
    err = []
    p.produce(stack.prefix + topic_base, key=key, value=value_bytes,
              on_delivery=lambda e, m: err.append(e))
    p.flush(30)
    if not err or err[0] is not None:
        raise RuntimeError(f"produce failed: {err}")
