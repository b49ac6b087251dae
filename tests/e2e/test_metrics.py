#!/usr/bin/env python3
"""test_metrics.py: every service serves Prometheus metrics (--metrics-port), and the values match a
known workload (docs/metrics.md).

Services as direct children on the fixture broker, each with --metrics-port 0 (a free port, which
the service logs) except the API, given a port the test chose: the scheduler, an agent serving the
UNMANAGED compute environment `local`, the provisioner (sim driver) scaling the MANAGED `m1`,
accounting, audit and the API. Workload: N jobs on q1 (the agent) and M on q2 (the sim fleet of
m1), plus K undecodable records on barge.requests (the scheduler dead-letters them) and J on the
agent's partition of barge.placements (the agent does). Each endpoint is read with Prometheus's own
text parser (prometheus_client), so a format error fails the test, and checked against the
workload and against what the topics and describe-jobs say:

- scheduler: barge_jobs{queue, state} SUCCEEDED == N and M and nothing else for the two queues;
  barge_placements_total == N and M; the submit->RUNNING histogram's count, buckets and sum equal
  those computed from describe-jobs' createdAt and startedAt; dead letters == K; lag 0 on its inputs;
  transactions committed, none aborted;
- agent: STARTED and EXITED executions == N, nothing running, dead letters == J, lag 0;
- provisioner: scaling decisions per reason == the decisions on barge.scaling; desired vCPUs == the
  last decision's; actual vCPUs and instance count == what `barge instances` lists; launches == the
  decisions' launches;
- accounting: usage records written == the records on barge.usage, lag 0;
- audit: undecodable records == K + J;
- every one: barge_service_info and the process basics; 404 off /metrics.

Then the agents the provisioner's local driver starts (docs/metrics.md "Agents of the local
driver"): `barge up --driver local` (scheduler and provisioner only) and P jobs on its MANAGED
compute environment; `barge status` lists each agent the driver runs with its own metrics URL, which
serves barge_service_info{service="agent"}, and the agents' executions add up to P STARTED and P
EXITED; the driver's list ($BARGE_HOME/local-agents) and its log line name the same endpoints. The
provisioner is then killed with SIGKILL: once `barge up` has started it again, `barge status` lists
none of the agents that died with it."""
import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402
from common import metrics_endpoint as endpoint, metrics_scrape as scrape  # noqa: E402

N, M, K, J = 10, 3, 3, 2
P = 3  # jobs on the local driver's agents
AGENT = "i-0ae7c5000000000a1"
GARBAGE = b"\x00\xffnot avro at all"


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def series(samples, name):
    """{frozenset of label items: value} of every sample called name."""
    return {frozenset(k[1]): v for k, v in samples.items() if k[0] == name}


def settle(what, url, check, timeout=60):
    """Scrapes url until check(samples) returns True; ok() on the last result."""
    deadline, samples, good = time.monotonic() + timeout, {}, False
    while time.monotonic() < deadline:
        try:
            samples = scrape(url)
            good = bool(check(samples))
        except (OSError, ValueError, RuntimeError) as e:
            log(f"  (retrying {url}: {str(e)[:200]})")
        if good:
            break
        time.sleep(0.5)
    return ok(good, what), samples


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_services(st, api_port):
    st.init()
    st.create_ce("local")
    st.create_queue("q1", "local")
    st.managed_ce("m1", 8)
    st.create_queue("q2", "m1")
    st.register("quick", ["true"], vcpus=1, memory=64)
    st.register("sim", ["true"], vcpus=1, memory=64, env={"BARGE_SIM_DURATION_MS": "300"}, settle=True)
    metrics = ("--metrics-port", "0")
    st.scheduler(*metrics, tick_ms=500)
    st.agent(AGENT, name="agent", metrics_port=0)
    st.provisioner("--driver", "sim", "--sim-boot-ms", "200", "--sim-heartbeat-ms", "1000", *metrics)
    kafka = ("--brokers", st.brokers, "--topic-prefix", st.prefix)
    st.start("accounting", "accounting", *kafka, "--settle-lag-ms", "300", "--publish-ms", "300",
             "--transactional-id", f"acct-{st.prefix}", *metrics)
    key = os.path.join(st.home, "audit.key")
    with open(key, "w") as f:
        f.write("a" * 64 + "\n")
    st.start("audit", "audit", *kafka, "--out", os.path.join(st.home, "audit.jsonl"), "--hmac-key-file", key,
             "--group", f"audit-{st.prefix}", *metrics)
    st.start("api", "api", *kafka, "--listen", "127.0.0.1:0", "--allow-anonymous", "--metrics-port", str(api_port))


def check_scheduler(st, url, q1, q2):
    def settled(s):
        jobs = series(s, "barge_jobs")
        mine = {k: v for k, v in jobs.items() if dict(k)["queue"] in ("q1", "q2") and v}
        lag = series(s, "barge_consumer_lag")
        return mine == {frozenset({("queue", "q1"), ("state", "SUCCEEDED")}): N,
                        frozenset({("queue", "q2"), ("state", "SUCCEEDED")}): M} and \
            val(s, "barge_dead_letters_total", topic="requests") == K and \
            len(lag) == 3 and not any(lag.values())
    good, s = settle(f"scheduler: barge_jobs SUCCEEDED == {N} (q1) and {M} (q2), nothing else; "
                     f"{K} dead letters; lag 0 on its 3 inputs", url, settled)
    if not good:
        log(f"  jobs {series(s, 'barge_jobs')}\n  lag {series(s, 'barge_consumer_lag')}\n"
            f"  dead {series(s, 'barge_dead_letters_total')}")
    ok(val(s, "barge_placements_total", queue="q1") == N and val(s, "barge_placements_total", queue="q2") == M,
       "scheduler: barge_placements_total == N and M", series(s, "barge_placements_total"))
    ok(val(s, "barge_transactions_total") > 0 and val(s, "barge_transaction_aborts_total") == 0,
       "scheduler: transactions committed, none aborted")
    # the histogram against describe-jobs: submit (createdAt) to the first RUNNING (startedAt)
    waits = [(j["startedAt"] - j["createdAt"]) / 1000 for j in st.describe(*q1).values()]
    h = series(s, "barge_submit_to_running_seconds_bucket")
    buckets = sorted(((float(dict(k)["le"]), v) for k, v in h.items() if dict(k)["queue"] == "q1"))
    want = [(le, float(sum(1 for w in waits if w <= le))) for le, _ in buckets]
    ok(buckets and buckets == want, "scheduler: the q1 submit->RUNNING buckets (cumulative) match describe-jobs",
       f"{buckets} vs {want}")
    ok(val(s, "barge_submit_to_running_seconds_count", queue="q1") == N, "scheduler: histogram count == N")
    total = val(s, "barge_submit_to_running_seconds_sum", queue="q1") or -1
    ok(abs(total - sum(waits)) < 0.001 * N + 1e-6, f"scheduler: histogram sum {total:.3f} s == describe-jobs' {sum(waits):.3f} s")
    ok(val(s, "barge_submit_to_running_seconds_count", queue="q2") == M, "scheduler: q2 histogram count == M")


def check_agent(url):
    good, s = settle(f"agent: {N} STARTED and {N} EXITED, none running, {J} dead letters, lag 0", url,
                     lambda s: val(s, "barge_agent_executions_total", kind="STARTED") == N and
                     val(s, "barge_agent_executions_total", kind="EXITED") == N and
                     val(s, "barge_agent_running_attempts") == 0 and
                     val(s, "barge_dead_letters_total", topic="placements") == J and
                     val(s, "barge_consumer_lag", topic="placements") == 0)
    if not good:
        log(f"  {series(s, 'barge_agent_executions_total')} {series(s, 'barge_dead_letters_total')} "
            f"{series(s, 'barge_consumer_lag')}")


def check_provisioner(st, url):
    def settled(s):
        decisions = [d for d in st.decisions("m1") if d["reason"] != "HEARTBEAT"]
        counts = {}
        for d in decisions:
            counts[d["reason"]] = counts.get(d["reason"], 0) + 1
        got = {dict(k)["reason"]: v for k, v in series(s, "barge_scaling_decisions_total").items()
               if dict(k)["compute_environment"] == "m1"}
        insts = st.instances("m1")
        launched = sum(x["count"] for d in decisions for x in d.get("launches", []))
        checks = {
            "decisions per reason": (got, counts),
            "desired vCPUs": (val(s, "barge_ce_desired_vcpus", compute_environment="m1"),
                              decisions[-1]["toDesiredvCpus"] if decisions else None),
            "actual vCPUs": (val(s, "barge_ce_actual_vcpus", compute_environment="m1"), sum(i["vcpus"] for i in insts)),
            "instances": (val(s, "barge_ce_instances", compute_environment="m1"), len(insts)),
            "launched": (val(s, "barge_instances_launched_total", compute_environment="m1"), launched),
        }
        settled.last = checks
        return decisions and all(a == b for a, b in checks.values())
    settled.last = {}
    good, _ = settle("provisioner: decisions per reason, desired and actual vCPUs, instances and launches of m1 "
                     "match barge.scaling and `barge instances`", url, settled)
    for what, (got, want) in settled.last.items():
        log(f"  {what}: metric {got}, expected {want}")
    # the per-CE gauges are a MANAGED compute environment's (docs/metrics.md): the UNMANAGED
    # `local`, whose agents run q1's jobs, used to show desired 0, actual 0 and 0 instances
    s = scrape(url)
    unmanaged = [(n, dict(k)) for n in ("barge_ce_desired_vcpus", "barge_ce_actual_vcpus", "barge_ce_instances")
                 for k in series(s, n) if dict(k).get("compute_environment") == "local"]
    ok(not unmanaged, "provisioner: no barge_ce_* series for the UNMANAGED compute environment local", unmanaged)


def check_accounting(st, url):
    def settled(s):
        before = val(s, "barge_usage_records_total")
        on_topic = sum(1 for r in common.read_topic(st, "usage") if r["value"])
        after = val(scrape(url), "barge_usage_records_total")
        settled.last = (before, on_topic, after)
        return before and before <= on_topic <= after and val(s, "barge_consumer_lag", topic="job-events") == 0
    settled.last = None
    settle("accounting: barge_usage_records_total == the records on barge.usage; lag 0 on job-events", url, settled)
    log(f"  usage records: metric before {settled.last[0]}, topic {settled.last[1]}, metric after {settled.last[2]}"
        if settled.last else "  no scrape")


def body(st):
    api_port = free_port()
    start_services(st, api_port)
    urls = {n: endpoint(st, n) for n in ("scheduler", "agent", "provisioner", "accounting", "audit")}
    urls["api"] = f"http://127.0.0.1:{api_port}/metrics"
    ok(all(urls.values()), "every service logged its metrics endpoint (--metrics-port 0)", urls)
    if not all(urls.values()):
        return
    for i in range(K):
        common.produce_raw(st, "requests", f"bad-{i}".encode(), GARBAGE)
    for i in range(J):
        common.produce_raw(st, "placements", AGENT.encode(), GARBAGE)
    q1 = [st.submit(f"m{i}", "q1", "quick") for i in range(N)]
    q2 = [st.submit(f"s{i}", "q2", "sim") for i in range(M)]
    done = st.wait_terminal(q1 + q2, 120)
    ok(all(j["status"] == "SUCCEEDED" for j in done.values()), f"the {N + M} jobs SUCCEEDED")

    check_scheduler(st, urls["scheduler"], q1, q2)
    check_agent(urls["agent"])
    check_provisioner(st, urls["provisioner"])
    check_accounting(st, urls["accounting"])
    settle(f"audit: {K + J} undecodable records", urls["audit"],
           lambda s: val(s, "barge_audit_records_total", type="undecodable") == K + J)
    for name, url in urls.items():
        s = scrape(url)
        ok(val(s, "barge_service_info", service=name) == 1 and val(s, "process_resident_memory_bytes") > 0 and
           val(s, "process_cpu_seconds_total") is not None and val(s, "process_open_fds") > 0,
           f"{name}: barge_service_info and the process basics")
        try:
            urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=5)
            ok(False, f"{name}: GET /other is 404")
        except urllib.error.HTTPError as e:
            ok(e.code == 404, f"{name}: GET /other is 404", e.code)
    ok(all(st.alive(n) for n in urls), "every service still running")


def local_agents(st):
    """The local driver's agents get a metrics endpoint, listed by `barge status`."""
    st.init()
    st.up("--driver", "local", "--max-vcpus", "4", "--no-api", "--no-accounting", "--no-audit", "--tick-ms", "200")
    st.create_queue("ql", "local-managed")
    st.register("nap", ["sh", "-c", "sleep 2"], vcpus=1, memory=64, settle=True)
    jobs = [st.submit(f"l{i}", "ql", "nap") for i in range(P)]

    def agent_lines():
        out = st.run("status", check=False).stdout
        lines = [x.split() for x in out.splitlines() if x.startswith("agent i-")]
        return (out, lines) if lines and all(x[-1].startswith("http://") for x in lines) else None
    got = st.wait("barge status to list the local driver's agents with their metrics", agent_lines, timeout=90, every=1)
    ok(got, "barge status lists the agents the local driver runs, each with a metrics URL", got and got[1])
    if not got:
        return
    log("  " + got[0].strip().replace("\n", "\n  "))
    urls = {x[1]: x[-1] for x in got[1]}
    done = st.wait_terminal(jobs, 120)
    ok(all(j["status"] == "SUCCEEDED" for j in done.values()), f"the {P} jobs SUCCEEDED on local-driver agents")
    instances = {j["container"]["containerInstanceArn"].rsplit("/", 1)[-1] for j in done.values()}
    ok(instances <= set(urls), "every instance that ran a job is one barge status lists", (instances, list(urls)))

    def executions():
        total = {"STARTED": 0, "EXITED": 0}
        for url in urls.values():
            s = scrape(url)
            if val(s, "barge_service_info", service="agent") != 1:
                return None
            for k in total:
                total[k] += val(s, "barge_agent_executions_total", kind=k) or 0
        executions.last = total
        return total == {"STARTED": P, "EXITED": P}
    executions.last = None
    ok(st.wait("the agents' metrics to count the jobs", executions, timeout=60, every=1),
       f"the local agents' endpoints serve barge_service_info{{service=\"agent\"}} and count {P} STARTED and {P} EXITED",
       executions.last)
    with open(os.path.join(st.home, "local-agents")) as f:
        listed = f.read()
    ok(all(f"agent {i}\t" in listed and u in listed for i, u in urls.items()),
       "the driver's list ($BARGE_HOME/local-agents) names the same agents and endpoints", listed)
    with open(os.path.join(st.home, "services")) as f:
        prov = [x.split("\t") for x in f.read().splitlines() if x.startswith("provisioner\t")]
    text = open(prov[0][3], errors="replace").read() if prov and os.path.exists(prov[0][3]) else ""
    ok(all(f"metrics at {u}" in text for u in urls.values()), "the provisioner's log names each agent's endpoint",
       prov and prov[0][3])

    # A provisioner killed with SIGKILL takes its agents with it (docs/provisioner.md); the one
    # `barge up` starts again must not leave them listed: they used to stay in local-agents, and
    # in `barge status` as "down", until the provisioner next stopped cleanly.
    old = st.service_pids("provisioner")
    os.kill(old[0], signal.SIGKILL)
    ok(st.wait("barge up to start the provisioner again",
               lambda: [p for p in st.service_pids("provisioner") if p not in old], timeout=60, every=0.5),
       "barge up started the provisioner again after a SIGKILL")

    def no_dead_agents():
        out = st.run("status", check=False).stdout
        lines = [x for x in out.splitlines() if x.startswith("agent i-")]
        no_dead_agents.last = lines
        return not any(x.split()[3] == "down" for x in lines)
    no_dead_agents.last = None
    ok(st.wait("barge status to drop the killed provisioner's agents", no_dead_agents, timeout=30, every=1),
       "after the provisioner's restart barge status lists none of its predecessor's (dead) agents",
       no_dead_agents.last)
    st.down()


if __name__ == "__main__":
    common.scenario("metrics", body, clean_stop=True)
    common.scenario("metricslocal", local_agents, what="the local driver's agents scenario")
    common.finish()
