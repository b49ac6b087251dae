#!/usr/bin/env python3
"""test_registry_crosslang.py: the schema registry client against a real Apicurio Registry, and
a producer in another language that knows only the registered schema.

A real Apicurio Registry 3.3.3 (scripts/registry.sh, the archive from Maven Central, cached) and
the fixture broker. Every Barge process gets BARGE_SCHEMA_REGISTRY_URL. Checked:
  - the first Barge producer registers every topic's schema under its TopicNameStrategy subject
    (<prefix><topic>-value), and what the registry returns by id has the canonical form of
    Barge's schema;
  - Barge's records on Kafka use the Confluent framing (00, the registered id);
  - a process that never registered (replay print) decodes them by fetching the id; without the
    registry the same bytes are refused as an unknown schema id;
  - Python's confluent-kafka with its AvroSerializer, configured only with the registry and the
    subject (auto.register.schemas off, use.latest.version on), publishes a SubmitJob (a UUID
    job id it chose, queue and job definition by name) that a real scheduler and agent run to
    SUCCEEDED; an AvroDeserializer reads the job's state changes back from barge.job-events;
  - the C example program (barge-example-submit, the client library) submits and follows a job
    with the registry configured;
  - an unreachable registry makes a producer fail with a message naming the registry, and a
    reader (replay print) give each record that error, trying the registry once, not per record;
    barge watch says it skips what it cannot decode, and why;
  - a request framed with a schema id new to the scheduler (a pipeline's own copy of the schema
    under its own subject) while the scheduler cannot reach the registry is not dead-lettered
    (it was, and the job was lost): the scheduler stops saying why, and once the registry is
    back a new scheduler runs the job to SUCCEEDED;
  - a barge.jobs record framed with an id the restarted scheduler cannot fetch now (the registry
    answers 503 for it) stops the scheduler's rebuild, rather than the job being skipped and
    forgotten; with the registry answering, the next start rebuilds every record.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def http_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def start_registry(d):
    script = os.path.join(common.SOURCE_DIR, "scripts", "registry.sh")
    r = subprocess.run([script, "start", "--dir", d], capture_output=True, text=True, timeout=900)
    log(r.stdout + r.stderr)
    if r.returncode != 0:
        raise RuntimeError("the registry did not start")
    with open(os.path.join(d, "url")) as f:
        return f.read().strip()


def stop_registry(d):
    subprocess.run([os.path.join(common.SOURCE_DIR, "scripts", "registry.sh"), "stop", "--dir", d],
                   capture_output=True, text=True, timeout=120)


def start_relay(port, target_url):
    """tcp_relay.py from 127.0.0.1:port to the registry's port; waits for its "ready"."""
    target = target_url.split("/")[2]
    p = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tcp_relay.py"),
                          f"127.0.0.1:{port}", target], stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("the relay did not start")
    return p


class RefusingProxy:
    """An HTTP proxy to the registry that answers 503 to GET of one path (the registry cannot
    serve that schema now) and forwards every other request."""

    def __init__(self, target_url, refused):
        import http.server
        import threading
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def relay(self):
                if self.path.split("?")[0].endswith(refused):
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    proxy.refused += 1
                    return
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                base = target_url.split("/apis")[0] if "/apis" in target_url else target_url
                req = urllib.request.Request(base + self.path, data=body, method=self.command,
                                             headers={k: v for k, v in self.headers.items()
                                                      if k.lower() in ("content-type", "accept")})
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        code, data, ctype = r.status, r.read(), r.headers.get("Content-Type")
                except urllib.error.HTTPError as e:
                    code, data, ctype = e.code, e.read(), e.headers.get("Content-Type")
                self.send_response(code)
                self.send_header("Content-Type", ctype or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = relay

        self.refused = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        host = target_url.split("/")[2]
        self.url = target_url.replace(host, f"127.0.0.1:{self.server.server_address[1]}")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def start_refusing_proxy(target_url, refused):
    return RefusingProxy(target_url, refused)


def main():
    regdir = tempfile.mkdtemp(prefix="barge-registry-")
    st = None
    relay = None
    try:
        url = start_registry(regdir)
        st = common.Stack("registry", {"BARGE_SCHEMA_REGISTRY_URL": url})
        st.init()
        st.managed_ce("ce", 4)
        st.create_queue("q", "ce")
        st.register("hello", ["sh", "-c", "echo hello from the pipeline"], memory=256)

        # ---- registration under TopicNameStrategy subjects ----
        subjects = http_json(url + "/subjects")
        topics = ["requests", "config", "job-events", "executions", "jobs", "placements", "capacity",
                  "instances", "scaling", "usage", "dead-letter"]
        ok(all(f"{st.prefix}{t}-value" in subjects for t in topics),
           f"all {len(topics)} subjects registered under {st.prefix}<topic>-value")
        latest = http_json(f"{url}/subjects/{st.prefix}requests-value/versions/latest")
        by_id = http_json(f"{url}/schemas/ids/{latest['id']}")
        from fastavro import parse_schema
        from fastavro.schema import to_parsing_canonical_form
        ours = to_parsing_canonical_form(common.Avro().parsed["JobRequest"])
        theirs = to_parsing_canonical_form(parse_schema(json.loads(by_id["schema"]), _write_hint=False))
        ok(ours == theirs, f"GET /schemas/ids/{latest['id']} is Barge's JobRequest schema (same canonical form)")

        # ---- Confluent framing on Kafka ----
        from confluent_kafka import Consumer, TopicPartition
        cfg_id = http_json(f"{url}/subjects/{st.prefix}config-value/versions/latest")["id"]
        c = Consumer({"bootstrap.servers": st.brokers, "group.id": "t-" + uuid.uuid4().hex,
                      "enable.auto.commit": False, "isolation.level": "read_committed"})
        c.assign([TopicPartition(st.prefix + "config", 0, 0)])
        m = None
        deadline = time.time() + 60
        while time.time() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                break
        c.close()
        raw = m.value() if m is not None and not m.error() else b""
        ok(raw[:1] == b"\x00" and int.from_bytes(raw[1:5], "big") == cfg_id,
           f"barge.config records are Confluent-framed with id {cfg_id}")

        # ---- a reader that never registered fetches the id ----
        env_noreg = dict(st.env)
        env_noreg["BARGE_SCHEMA_REGISTRY_URL"] = ""
        pr = st.run("replay", "print", "--topic", "config")
        lines = [json.loads(x) for x in pr.stdout.splitlines()]
        ok(lines and all(x["event"] for x in lines), "replay print decodes them through the registry")
        r = subprocess.run([common.BARGE, "replay", "print", "--topic", "config"], env=env_noreg,
                           capture_output=True, text=True, timeout=120)
        ok("unknown schema id" in r.stdout, "without the registry the same bytes are an unknown schema id")

        # ---- the services; the scheduler reaches the registry through a relay the test can cut ----
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            relay_port = s.getsockname()[1]
        relay = start_relay(relay_port, url)
        relay_url = url.replace(url.split("/")[2], f"127.0.0.1:{relay_port}")
        st.env["BARGE_SCHEMA_REGISTRY_URL"] = relay_url
        st.scheduler(tick_ms=500)
        st.env["BARGE_SCHEMA_REGISTRY_URL"] = url
        st.agent("i-0000000000000cc01", "ce", memory=4096, instance_type="m5.large", kill_grace_ms=2000)

        # ---- the Python producer: knows only the registry and the subject ----
        from confluent_kafka import Producer
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext
        # without a timeout httpx would wait forever on a registry that stalls (a CI run once hung in
        # this part of the test for its whole 600 s): 30 s per request, then the client's retries
        src = SchemaRegistryClient({"url": url, "timeout": 30})
        subject = f"{st.prefix}requests-value"
        registered = src.get_latest_version(subject)
        ser = AvroSerializer(src, registered.schema.schema_str,
                             conf={"auto.register.schemas": False, "use.latest.version": True})
        job_id = str(uuid.uuid4())
        now = int(time.time() * 1000)
        request = {
            "header": {"event_id": str(uuid.uuid4()), "event_time": now,
                       "source": "python-pipeline/test", "request_id": job_id},
            "principal": "pipeline",
            "body": ("barge.SubmitJob", {"jobId": job_id, "jobName": "from-python", "jobQueue": "q",
                                         "jobDefinition": "hello",
                                         "tags": {"origin": "confluent-kafka"}}),
        }
        topic = st.prefix + "requests"
        value = ser(request, SerializationContext(topic, MessageField.VALUE))
        ok(value[:1] == b"\x00" and int.from_bytes(value[1:5], "big") == registered.schema_id,
           f"the Python serializer frames with the registered id {registered.schema_id}")
        delivered = []
        p = Producer({"bootstrap.servers": st.brokers, "enable.idempotence": True})
        p.produce(topic, key=job_id.encode(), value=value, on_delivery=lambda e, m: delivered.append(e))
        p.flush(30)
        ok(delivered == [None], "the Python producer's delivery report confirms the write")
        jobs = st.wait_terminal([job_id], timeout=240)
        job = jobs[job_id]
        ok(job["status"] == "SUCCEEDED", f"Barge ran the Python-submitted job to {job['status']}")
        ok(job["jobName"] == "from-python" and job["tags"].get("origin") == "confluent-kafka",
           "with the name and tags the pipeline gave")

        # ---- reading Barge's events with the standard deserializer ----
        des = AvroDeserializer(src)
        c = Consumer({"bootstrap.servers": st.brokers, "group.id": "t-" + uuid.uuid4().hex,
                      "enable.auto.commit": False, "isolation.level": "read_committed",
                      "auto.offset.reset": "earliest"})
        c.subscribe([st.prefix + "job-events"])
        seen = []
        deadline = time.time() + 60
        while time.time() < deadline and "SUCCEEDED" not in seen:
            m = c.poll(1.0)
            if m is None or m.error():
                continue
            ev = des(m.value(), SerializationContext(m.topic(), MessageField.VALUE))
            if ev["jobId"] == job_id:
                seen.append(ev["newStatus"])
        c.close()
        ok(seen[-1:] == ["SUCCEEDED"] and "RUNNING" in seen,
           f"AvroDeserializer reads the job's state changes from barge.job-events: {seen}")

        # ---- the C example program with the registry ----
        example = os.path.join(common.BUILD, "barge-example-submit")
        r = subprocess.run([example, "--timeout-ms", "240000",
                            json.dumps({"jobName": "from-c", "jobQueue": "q", "jobDefinition": "hello"})],
                           env=st.env, capture_output=True, text=True, timeout=300)
        log(r.stdout[:600] + r.stderr[-600:])
        ok(r.returncode == 0 and " SUCCEEDED " in r.stdout, "the C example program's job SUCCEEDED with the registry")

        # ---- the submitted request as a Barge reader sees it ----
        reqs = [json.loads(x) for x in st.run("replay", "print", "--topic", "requests", "--key", job_id).stdout.splitlines()]
        ok(reqs and reqs[0]["event"]["body"]["SubmitJob"]["jobId"] == job_id and
           reqs[0]["event"]["header"]["source"] == "python-pipeline/test",
           "barge replay print shows the Python-produced request")

        # ---- a schema id new to the scheduler while it cannot reach the registry ----
        from confluent_kafka.schema_registry import Schema
        variant = json.loads(registered.schema.schema_str)
        variant["doc"] = "the pipeline's own copy"
        vid = src.register_schema(f"{st.prefix}pipeline-requests-value", Schema(json.dumps(variant), "AVRO"))
        ok(vid != registered.schema_id, f"the pipeline's copy has an id of its own ({vid})")
        relay.kill()
        relay.wait()
        late_id = str(uuid.uuid4())
        request["header"]["event_id"] = str(uuid.uuid4())
        request["header"]["event_time"] = int(time.time() * 1000)
        request["body"][1]["jobId"] = late_id
        body = ser(request, SerializationContext(topic, MessageField.VALUE))[5:]
        p.produce(topic, key=late_id.encode(), value=b"\x00" + vid.to_bytes(4, "big") + body)
        p.flush(30)
        sched = st.procs["scheduler"]
        try:
            sched.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        with open(st.logs["scheduler"]) as f:
            slog = f.read()
        ok(sched.poll() not in (None, 0) and "not dead-lettered" in slog and f"schema id {vid}" in slog,
           "the scheduler stops on the request it cannot decode now, saying why", (sched.poll(), slog[-800:]))
        dead = [r for r in common.read_topic(st, "dead-letter") if r["key"] == late_id.encode()]
        ok(not dead, "the request is not dead-lettered", dead)
        relay = start_relay(relay_port, url)
        st.env["BARGE_SCHEMA_REGISTRY_URL"] = relay_url
        st.scheduler(tick_ms=500)
        st.env["BARGE_SCHEMA_REGISTRY_URL"] = url
        late = st.wait_terminal([late_id], timeout=120)[late_id]
        ok(late["status"] == "SUCCEEDED", f"with the registry back, the request's job ran: {late['status']}")

        # ---- a barge.jobs record the restarted scheduler cannot decode now ----
        # (a record of an older schema version after an upgrade, say). The rebuild skipped it and
        # the scheduler ran on without the job; it must stop instead, and rebuild whole later.
        jlatest = src.get_latest_version(f"{st.prefix}jobs-value")
        jvariant = json.loads(jlatest.schema.schema_str)
        jvariant["doc"] = "an older writer's copy"
        # posted as Barge registers (lib/registry.c): Apicurio rewrites a string default "{}" into
        # an object before parsing, and then refuses the schema (422); "\u007b}" is the same string
        text = json.dumps(jvariant).replace('"{}"', '"\\u007b}"')
        reg = urllib.request.Request(f"{url}/subjects/{st.prefix}old-jobs-value/versions", method="POST",
                                     data=json.dumps({"schema": text, "schemaType": "AVRO"}).encode(),
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        with urllib.request.urlopen(reg, timeout=30) as r:
            jvid = json.loads(r.read())["id"]
        mine = [r for r in common.read_topic(st, "jobs") if r["key"] == job_id.encode() and r["value"]]
        ok(mine and jvid != jlatest.schema_id, f"the job's record, and an id of its own for the copy ({jvid})")
        if mine:
            p.produce(st.prefix + "jobs", key=job_id.encode(), partition=mine[-1]["partition"],
                      value=b"\x00" + jvid.to_bytes(4, "big") + mine[-1]["value"][5:])
            p.flush(30)
        refuse = start_refusing_proxy(url, f"/schemas/ids/{jvid}")
        st.kill("scheduler", signal.SIGTERM)
        before = len(st.log_text("scheduler"))  # this run's lines come after
        st.env["BARGE_SCHEMA_REGISTRY_URL"] = refuse.url
        sched = st.scheduler(tick_ms=500)
        st.env["BARGE_SCHEMA_REGISTRY_URL"] = url
        try:
            sched.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pass
        tail = st.log_text("scheduler")[before:]
        ok(sched.poll() not in (None, 0) and "cannot be decoded now" in tail and f"schema id {jvid}" in tail
           and "jobs restored" not in tail,
           "the restarted scheduler stops on the table record it cannot decode now, before running", (sched.poll(), tail[-800:]))
        refuse.close()
        st.stopped.add("scheduler")
        before = len(st.log_text("scheduler"))
        st.scheduler(tick_ms=500)
        restored = st.wait("the scheduler's rebuild", lambda: "jobs restored" in st.log_text("scheduler")[before:],
                           timeout=120)
        tail = st.log_text("scheduler")[before:]
        ok(restored and "skipped" not in tail, "with the registry answering, it rebuilds every record", tail[-600:])

        # ---- an unreachable registry ----
        env_bad = dict(st.env)
        env_bad["BARGE_SCHEMA_REGISTRY_URL"] = "http://127.0.0.1:9/apis/ccompat/v7"
        r = subprocess.run([common.BARGE, "create-compute-environment", "--compute-environment-name",
                            "x", "--type", "UNMANAGED"], env=env_bad, capture_output=True, text=True, timeout=120)
        ok(r.returncode == 255 and "schema registry" in r.stderr, "an unreachable registry is reported as such")
        # a reader: every record says so, and after the first fetch's tries the others fail at once
        # (each record spent three tries and their backoff, 0.6 s a record: minutes for a topic)
        t0 = time.monotonic()
        r = subprocess.run([common.BARGE, "replay", "print", "--topic", "requests"], env=env_bad,
                           capture_output=True, text=True, timeout=600)
        took = time.monotonic() - t0
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        ok(r.returncode == 0 and len(lines) >= 10 and
           all(x["event"] is None and "schema registry" in x.get("error", "") for x in lines),
           f"replay print with the registry unreachable: each of the {len(lines)} records names it", r.stderr[-300:])
        ok(took < 2 + 0.15 * len(lines), f"and it does not retry for every record ({took:.1f} s for {len(lines)} records)")
        # barge watch cannot show those changes either: it says why (it printed nothing, not a word)
        w = subprocess.Popen([common.BARGE, "watch", "--from-beginning"], env=env_bad, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(5)
        w.send_signal(signal.SIGINT)
        out, err = w.communicate(timeout=30)
        ok(not out and "skipped" in err and "schema registry" in err and len(err.splitlines()) <= 10,
           "barge watch with the registry unreachable says the changes are skipped and why, in a few lines", err[-600:])
    except Exception as ex:
        ok(False, f"exception: {ex!r}")
    finally:
        if st:
            st.close()
        if relay:
            relay.kill()
            relay.wait()
        stop_registry(regdir)
    common.finish()


if __name__ == "__main__":
    main()
