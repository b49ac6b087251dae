#!/usr/bin/env python3
"""test_registry_restart.py: a schema registry that keeps its schemas in Kafka answers the same
ids after a restart, so the records already written stay readable.

Barge's records carry the registry's schema id (the Confluent framing), not the schema. A registry
that keeps its schemas in memory (Apicurio's default, and what docker-compose.yml ran until
2026-12-06) forgets them when it restarts: every record written before could then not be decoded
by a process that had not fetched its id before (a reader, a restarted service rebuilding its
state), until some producer happened to register the same schemas again in the same order.

A real Apicurio Registry 3.3.3 (scripts/registry.sh start --kafka, its kafkasql storage) on the
fixture broker. Checked:
  - Barge registers its schemas; resources are created (barge.config records framed with those ids);
  - the registry is stopped and started again (another port, nothing in memory);
  - before any Barge process registers anything again, the registry answers the old id with the
    same schema, `barge replay print` decodes every barge.config record, and
    `describe-compute-environments` / `describe-job-queues` (reading the topics) show what was
    created;
  - a producer started against the restarted registry registers nothing new (the subject's latest
    version and id are unchanged), and a job still runs to SUCCEEDED through a scheduler and an
    agent started against it.
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

SCRIPT = os.path.join(common.SOURCE_DIR, "scripts", "registry.sh")


def http_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def start_registry(d, brokers):
    r = subprocess.run([SCRIPT, "start", "--dir", d, "--kafka", brokers], capture_output=True, text=True,
                       timeout=900)
    log(r.stdout + r.stderr)
    if r.returncode != 0:
        raise RuntimeError("the registry did not start: " + (r.stdout + r.stderr)[-500:])
    with open(os.path.join(d, "url")) as f:
        return f.read().strip()


def stop_registry(d):
    r = subprocess.run([SCRIPT, "stop", "--dir", d], capture_output=True, text=True, timeout=120)
    log(r.stdout + r.stderr)


def main():
    regdir = tempfile.mkdtemp(prefix="barge-registry-restart-")
    st = None
    try:
        bad = subprocess.run([SCRIPT, "start", "--dir", regdir, "--kafka", "no port"], capture_output=True,
                             text=True, timeout=60)
        ok(bad.returncode != 0 and "--kafka" in bad.stderr, "registry.sh refuses a --kafka that is not HOST:PORT",
           bad.stderr)
        url = start_registry(regdir, common.brokers())
        st = common.Stack("regrestart", {"BARGE_SCHEMA_REGISTRY_URL": url})
        st.init()
        st.create_ce("ce")
        st.create_queue("q", "ce")
        st.register("hello", ["sh", "-c", "echo hello"], memory=64)
        subject = f"{st.prefix}config-value"
        before = http_json(f"{url}/subjects/{subject}/versions/latest")
        schema_before = http_json(f"{url}/schemas/ids/{before['id']}")["schema"]

        stop_registry(regdir)
        url2 = start_registry(regdir, common.brokers())
        log(f"the registry started again: {url2}")
        st.env["BARGE_SCHEMA_REGISTRY_URL"] = url2

        # nothing has registered anything since the restart: what the registry answers is what it kept
        try:
            again = http_json(f"{url2}/schemas/ids/{before['id']}")["schema"]
        except Exception as ex:  # 404: the id is gone
            again = repr(ex)
        ok(again == schema_before, f"the restarted registry answers id {before['id']} with the same schema", again[:200])
        r = st.run("replay", "print", "--topic", "config", "--brokers", st.brokers, "--topic-prefix", st.prefix,
                   check=False)
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        ok(r.returncode == 0 and len(lines) >= 3 and all(x.get("event") is not None for x in lines),
           f"replay print decodes all {len(lines)} barge.config records written before the restart",
           (r.returncode, r.stdout[-600:], r.stderr[-600:]))
        ces = st.json("describe-compute-environments")
        qs = st.json("describe-job-queues")
        ok([c["computeEnvironmentName"] for c in ces.get("computeEnvironments", [])] == ["ce"]
           and [q["jobQueueName"] for q in qs.get("jobQueues", [])] == ["q"],
           "describe-compute-environments and describe-job-queues show what was created before the restart",
           (ces, qs))

        # a producer against the restarted registry finds its schemas there: no new version or id
        st.run("tag-resource", "--resource-arn", ces["computeEnvironments"][0]["computeEnvironmentArn"],
               "--tags", "after=restart")
        after = http_json(f"{url2}/subjects/{subject}/versions/latest")
        ok(after["id"] == before["id"] and after["version"] == before["version"],
           f"a producer after the restart registers nothing new (id {after['id']}, version {after['version']})",
           (before["id"], before["version"], after))

        # the services rebuild from records framed before the restart and run a job
        st.scheduler()
        st.agent("i-0000000000000f001", ce="ce")
        job = st.submit("j", "q", "hello")
        status = st.wait_terminal([job], 120)[job]["status"]
        ok(status == "SUCCEEDED", f"a job runs to SUCCEEDED with the restarted registry ({status})")
    except Exception as ex:
        ok(False, f"exception: {ex!r}")
    finally:
        if st:
            st.close()
        stop_registry(regdir)
    common.finish()


if __name__ == "__main__":
    main()
