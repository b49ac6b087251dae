#!/usr/bin/env python3
"""test_kafka_sasl_ssl.py: Barge over TLS and SASL/SCRAM to Kafka (docs/operations.md, "TLS and
SASL"). CI: plain build only (a broker of its own).

- `scripts/kafka.sh start --security sasl_ssl` starts a broker whose only client listener is
  SASL_SSL (a certificate of a CA the script made with OpenSSL; SCRAM-SHA-512 and PLAIN logins)
  and writes the client settings to DIR/kafka-props (PLAIN) and DIR/kafka-props.scram.
- SCRAM-SHA-512: a client on librdkafka >= 2.6.1 (confluent-kafka's) logs in with the right
  password and is refused with a wrong one; Barge's librdkafka, when older than 2.6.1 (Debian's
  2.0.2 sends a SCRAM proof Kafka 4 rejects), says so in its one-line error.
- `barge up --kafka-props ...` runs every service (scheduler, agent, accounting, audit, API) over
  it; a job submitted with the same settings SUCCEEDS.
- Per-service principals (docs/operations.md, "Per-service principals"): `kafka.sh acl --service
  all` grants scheduler, agent, provisioner, accounting, audit, api and cli their ACLs;
  `barge up --kafka-props-dir DIR` starts each service under its own; jobs submitted by the
  command line (cli) and through the API (api) SUCCEED, no service log shows a refusal. Kafka
  refuses each principal writes it must not make (the agent: jobs, config, requests; accounting:
  requests; the API: executions, jobs; ...), and Barge's commands run under a service's settings
  stop within seconds with one line naming the refused topic.
- Refused, each with one clear line on stderr, within seconds (never a hang), exit 255 for an AWS
  command: a wrong password, a certificate signed by another CA, and plaintext to the TLS port;
  `barge init` with a wrong password gives up as fast with the same reason."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import own_kafka  # noqa: E402
from common import ok, log  # noqa: E402
from own_kafka import kafka_sh  # noqa: E402

def cli(st, *args):
    """barge ARGS (raises on failure), again when the broker did not answer the command's 3 s probe
    in time (a loaded machine: TLS and SASL handshakes with a busy JVM); nothing was sent then."""
    for _ in range(4):
        p = st.run(*args, check=False)
        if not (p.returncode == 255 and "no Kafka broker answers" in p.stderr and "Timed out" in p.stderr):
            break
        log(f"  (retrying {args[0]}: the broker did not answer the probe in time)")
    if p.returncode != 0:
        raise RuntimeError(f"barge {' '.join(args)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p


def run_job(st, props, queue, what):
    """Submits a job of the definition hello to queue; its JobDetail once it ended (None if not)."""
    job = cli(st, "submit-job", "--job-name", "h", "--job-queue", queue, "--job-definition", "hello",
              "--kafka-props", props, "--query", "jobId", "--output", "text").stdout.strip()

    def done():
        j = json.loads(cli(st, "describe-jobs", "--jobs", job, "--kafka-props", props).stdout)["jobs"]
        return j[0] if j and j[0]["status"] in common.TERMINAL else None
    return st.wait(what, done, timeout=120, every=1)


def with_prop(props, key, value):
    """props (k=v,...) with key set to value (removed when value is None)."""
    kv = [x for x in props.split(",") if not x.startswith(key + "=")]
    return ",".join(kv + ([f"{key}={value}"] if value is not None else []))


def other_ca(home):
    """A CA certificate that did not sign the broker's."""
    key, pem = os.path.join(home, "other-ca.key"), os.path.join(home, "other-ca.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=Not the Barge CA", "-keyout", key, "-out", pem], check=True, capture_output=True)
    return pem


def refused(st, name, want, args, props, rc=255):
    """Runs barge ARGS --kafka-props PROPS: exits rc within 15 s with one line naming want."""
    t0 = time.monotonic()
    p = st.run(*args, "--kafka-props", props, check=False, timeout=60)
    took = time.monotonic() - t0
    lines = p.stderr.strip().splitlines()
    log(f"  {name}: exit {p.returncode} after {took:.1f} s: {p.stderr.strip()}")
    ok(p.returncode == rc, f"{name}: exit {rc} (got {p.returncode})")
    ok(took < 15, f"{name}: gives up within 15 s ({took:.1f} s)")
    ok(len(lines) == 1 and want in lines[0], f"{name}: one line saying '{want}'", p.stderr)


def produce_as(props, topic):
    """The error of producing one record to topic with these client settings (None: written)."""
    from confluent_kafka import Producer
    conf = dict(kv.split("=", 1) for kv in props.split(","))
    p = Producer({"bootstrap.servers": os.environ["BARGE_BROKERS"], "message.timeout.ms": 10000, **conf})
    got = []
    p.produce(topic, key=b"k", value=b"not an event", on_delivery=lambda err, msg: got.append(err))
    p.flush(20)
    return got[0] if got else "no delivery report"


# What each principal must never write (docs/operations.md, "Per-service principals")
FORBIDDEN = {"scheduler": ["config", "executions"], "provisioner": ["requests", "jobs"],
             "agent": ["jobs", "config", "requests"], "accounting": ["requests", "jobs"],
             "audit": ["requests", "usage"], "api": ["executions", "jobs"], "cli": ["jobs", "executions"]}
SERVICES = ("scheduler", "agent", "provisioner", "accounting", "audit", "api")


def api_submit(st, queue):
    """SubmitJob through the stack's API (signed with the key of its credentials file); the job id."""
    import configparser
    import api_common
    cp = configparser.ConfigParser()
    cp.read(st.stack_value("api_credentials"))
    sec = cp["barge"] if "barge" in cp else cp["profile barge"]
    host, port = st.stack_value("api_endpoint").rsplit("/", 1)[1].rsplit(":", 1)
    body = json.dumps({"jobName": "viaapi", "jobQueue": queue, "jobDefinition": "hello"}).encode()
    status, _, out = api_common.signed_request((host, int(port)), "POST", "/v1/submitjob", body,
                                               key=(sec["aws_access_key_id"], sec["aws_secret_access_key"]))
    ok(status == 200, "SubmitJob through the API (its principal writes barge.requests)", out)
    return json.loads(out)["jobId"] if status == 200 else None


def principals(st, kdir):
    """The whole stack, each service under its own principal allowed only its topics: jobs submitted
    by the command line and through the API SUCCEED; each principal is refused what it must not write."""
    r = kafka_sh("acl", "--dir", kdir, "--service", "all", "--prefix", st.prefix)
    ok(r.returncode == 0 and r.stdout.count("kafka: user ") == 7, "kafka.sh acl --service all: 7 principals", r.stderr)
    sp = {}
    for s in SERVICES + ("cli",):
        with open(os.path.join(kdir, f"kafka-props.{s}")) as f:
            sp[s] = f.read().strip()
    ok(all(f"sasl.username={s}," in sp[s] + "," for s in sp), "DIR/kafka-props.NAME names each principal")
    out = st.up("--agents", "1", "--tick-ms", "300", "--kafka-props", sp["cli"], "--kafka-props-dir", kdir)
    log("  " + out.strip().replace("\n", "\n  "))
    kids = [common.cmdline(p) for p in common._children(st.supervisor)]
    own = {s: [c for c in kids if f"barge {s} " in c] for s in SERVICES}
    ok(all(own[s] for s in SERVICES) and
       all(f"sasl.username={s}," in c for s in SERVICES for c in own[s]),
       f"barge up --kafka-props-dir starts each of its {len(kids)} services under its own principal",
       {s: [c[:80] for c in own[s]] for s in SERVICES})
    cli(st, "create-job-queue", "--job-queue-name", "qp", "--priority", "1", "--compute-environment-order",
        "order=1,computeEnvironment=local", "--kafka-props", sp["cli"])
    time.sleep(2)
    j = run_job(st, sp["cli"], "qp", "a job submitted as the cli principal")
    ok(j and j["status"] == "SUCCEEDED", "a job submitted by the command line (principal cli) SUCCEEDED",
       j and j.get("statusReason"))
    via_api = api_submit(st, "qp")

    def done():
        d = json.loads(cli(st, "describe-jobs", "--jobs", via_api, "--kafka-props", sp["cli"]).stdout)["jobs"]
        return d[0] if d and d[0]["status"] in common.TERMINAL else None
    j = via_api and st.wait("the job submitted through the API", done, timeout=120, every=1)
    ok(j and j["status"] == "SUCCEEDED", "a job submitted through the API (principal api) SUCCEEDED", j)
    for s in SERVICES:  # nothing a service does is refused
        text = "".join(open(os.path.join(st.home, f)).read() for f in os.listdir(st.home)
                       if f.endswith(".log") and f.startswith(s))
        ok("authoriz" not in text.lower(), f"the {s} log has no authorization error",
           [x for x in text.splitlines() if "authoriz" in x.lower()][:3])

    for s, topics in FORBIDDEN.items():
        for base in topics:
            err = produce_as(sp[s], st.topic(base))
            name = err.name() if hasattr(err, "name") else str(err)
            ok(name == "TOPIC_AUTHORIZATION_FAILED", f"Kafka refuses the {s} principal a write to {base}: {err}")
    # Barge's own commands under a service's principal: one line naming the refusal
    st.env["BARGE_CLI_DIRECT"] = "1"
    submit = ["submit-job", "--job-name", "no", "--job-queue", "qp", "--job-definition", "hello"]
    refused(st, "accounting submits", f"may not write {st.topic('requests')}", submit, sp["accounting"])
    refused(st, "the provisioner submits", f"may not write {st.topic('requests')}", submit, sp["provisioner"])
    refused(st, "audit submits", "refused: the Kafka principal of --kafka-props may not produce", submit, sp["audit"])
    refused(st, "the scheduler creates a queue", f"may not write {st.topic('config')}",
            ["create-job-queue", "--job-queue-name", "no", "--priority", "1", "--compute-environment-order",
             "order=1,computeEnvironment=local"], sp["scheduler"])
    refused(st, "the agent submits", f"may not write {st.topic('requests')}", submit, sp["agent"])
    del st.env["BARGE_CLI_DIRECT"]
    ok(all(st.service_pids(s) for s in SERVICES), "every service still runs")
    st.down()


def scram(st, kdir):
    """SCRAM-SHA-512 logins: confluent-kafka's librdkafka (>= 2.6.1) in and out; Barge's."""
    from confluent_kafka import libversion
    from confluent_kafka.admin import AdminClient
    with open(os.path.join(kdir, "kafka-props.scram")) as f:
        sprops = f.read().strip()

    def login(props):
        a = AdminClient({"bootstrap.servers": os.environ["BARGE_BROKERS"], "log_level": 0,
                         **dict(kv.split("=", 1) for kv in props.split(","))})
        try:
            return st.topic("jobs") in a.list_topics(timeout=6).topics
        except Exception as e:  # noqa: BLE001 (a refused login times out here)
            log(f"    login refused: {e}")
            return False
    ok("sasl.mechanisms=SCRAM-SHA-512" in sprops, "DIR/kafka-props.scram holds SCRAM-SHA-512 settings")
    ok(login(sprops), f"a SCRAM-SHA-512 login with librdkafka {libversion()[0]} is accepted")
    ok(not login(with_prop(sprops, "sasl.password", "wrong")), "a SCRAM-SHA-512 login with a wrong password is refused")
    p = st.run("init", "--kafka-props", sprops, check=False, timeout=60)
    log(f"  barge init over SCRAM: exit {p.returncode}: {p.stderr.strip()}")
    ok(p.returncode == 0 or (p.returncode == 1 and "older than 2.6.1" in p.stderr and len(p.stderr.strip().splitlines()) == 1),
       "barge over SCRAM-SHA-512 works, or says in one line that its librdkafka is too old for Kafka 4's SCRAM")


def body(st, kdir, props):
    st.run("init", "--kafka-props", props)
    scram(st, kdir)
    out = st.up("--agents", "1", "--no-provisioner", "--tick-ms", "300", "--kafka-props", props)
    log("  " + out.strip().replace("\n", "\n  "))
    kids = [common.cmdline(p) for p in common._children(st.supervisor)]
    ok(len(kids) >= 5 and all("--kafka-props" in c for c in kids),
       f"barge up passes --kafka-props to all its {len(kids)} services")
    cli(st, "create-job-queue", "--job-queue-name", "q", "--priority", "1", "--compute-environment-order",
           "order=1,computeEnvironment=local", "--kafka-props", props)
    cli(st, "register-job-definition", "--job-definition-name", "hello", "--type", "container",
           "--container-properties", '{"image":"busybox","command":["sh","-c","echo over TLS"],'
           '"resourceRequirements":[{"type":"VCPU","value":"1"},{"type":"MEMORY","value":"128"}]}',
           "--kafka-props", props)
    time.sleep(2)
    j = run_job(st, props, "q", "the job over SASL_SSL")
    job = (j or {}).get("jobId", "none")
    ok(j and j["status"] == "SUCCEEDED", "a job submitted over SASL_SSL SUCCEEDED", j and j.get("statusReason"))
    st.down()
    principals(st, kdir)

    # ---- refusals (with BARGE_CLI_DIRECT, the command goes to Kafka itself, not to an API) ----
    st.env["BARGE_CLI_DIRECT"] = "1"
    refused(st, "a wrong password", "the broker refused the login", ["describe-jobs", "--jobs", job],
            with_prop(props, "sasl.password", "not-the-password"))
    refused(st, "another CA", "certificate verify failed", ["describe-jobs", "--jobs", job],
            with_prop(props, "ssl.ca.location", other_ca(st.home)))
    refused(st, "plaintext to the TLS port", "security.protocol", ["describe-jobs", "--jobs", job],
            "client.id=plain")
    refused(st, "barge init with a wrong password", "the broker refused the login", ["init"],
            with_prop(props, "sasl.password", "not-the-password"), rc=1)


def main():
    def sasl(kdir, bootstrap):
        with open(os.path.join(kdir, "kafka-props")) as f:
            props = f.read().strip()
        with open(os.path.join(kdir, "server.properties")) as f:
            pmap = [x for x in f.read().splitlines() if x.startswith("listener.security.protocol.map=")][-1]
        ok("PLAINTEXT" not in pmap, "the broker has no plaintext listener", pmap)
        ok("security.protocol=SASL_SSL" in props and "sasl.mechanisms=PLAIN" in props and
           "ssl.ca.location=" in props, "DIR/kafka-props holds the client settings")
        ok(os.stat(os.path.join(kdir, "kafka-props")).st_mode & 0o077 == 0, "DIR/kafka-props is private (0600)")
        common.scenario("ksasl", lambda s: body(s, kdir, props), what="the SASL_SSL test")
    own_kafka.run("sasl", "a SASL_SSL broker", ["--security", "sasl_ssl"], sasl)


if __name__ == "__main__":
    main()
