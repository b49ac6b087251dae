#!/usr/bin/env python3
"""test_kafka_cluster.py: Barge on a 3-broker KRaft cluster loses nothing when the broker leading
its busiest partitions is killed mid-run and restarted later (docs/operations.md, "A cluster").
CI: plain build only (a cluster of its own, three JVMs).

- `scripts/kafka.sh start --brokers 3` starts the cluster; `barge up` (scheduler, two agents,
  accounting, audit) runs on it; every Barge topic has 3 replicas and min.insync.replicas 2, as
  have the internal topics (consumer offsets, transaction state).
- A workload (an array, an N_TO_N dependant array, a retried job, plain jobs) runs; once jobs
  run, the leader of barge.requests (every submission and scheduler tick) is SIGKILLed; more jobs
  are submitted while it is down, and leadership has moved; it is restarted with
  `kafka.sh start --node K` and rejoins the in-sync replicas of every partition.
- Every job reaches exactly one terminal state (its status, and exactly one SUCCEEDED/FAILED
  event in barge.job-events); `barge check --require-terminal` finds 0 violations and `barge
  replay rebuild` no difference.
- A `barge check` started at the kill (reading every partition of the log, a third of them led
  by the dead broker in the metadata it got) ends within 60 s.
- Submissions sent while the broker is down (the first at once, before the cluster noticed) each
  end within 60 s: a client whose metadata still names the dead leader asks again instead of
  waiting on it (lib/bus.c, watermarks; docs/operations.md, "A cluster").
Bounded to about two minutes on a 2-core machine. barge-test: plain-only."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import own_kafka  # noqa: E402
from common import ok, log  # noqa: E402
from own_kafka import kafka_sh  # noqa: E402

TOPICS = ("requests", "config", "job-events", "executions", "jobs", "placements", "instances")


def admin(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})  # (quiet: a broker is down)


def topic_metadata(bootstrap, names):
    """{topic: {partition: (leader, replicas, isrs)}} of the named topics."""
    md = admin(bootstrap).list_topics(timeout=15)
    out = {}
    for n in names:
        t = md.topics.get(n)
        if t is None or t.error:
            raise RuntimeError(f"topic {n}: {t.error if t else 'missing'}")
        out[n] = {p: (pm.leader, list(pm.replicas), list(pm.isrs)) for p, pm in t.partitions.items()}
    return out


def min_isr(bootstrap, names):
    from confluent_kafka.admin import ConfigResource
    a = admin(bootstrap)
    fs = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, n) for n in names])
    return {r.name: c["min.insync.replicas"].value for r, f in fs.items() for c in [f.result(timeout=15)]}


def terminal_events(st):
    """{jobId: number of SUCCEEDED/FAILED events} in barge.job-events."""
    avro, count = common.Avro(), {}
    for ev in common.job_events(st, avro, timeout=60):
        if ev.get("newStatus") in common.TERMINAL:
            count[ev["jobId"]] = count.get(ev["jobId"], 0) + 1
    return count


def body(st, kdir, bootstrap):
    names = [st.topic(t) for t in TOPICS]
    st.init()
    st.up("--agents", "2", "--agent-vcpus", "4", "--no-api", "--no-provisioner", "--tick-ms", "200",
          "--heartbeat-ms", "1000")
    md = topic_metadata(bootstrap, names + ["__consumer_offsets"])
    ok(all(len(r) == 3 for t in names for (_, r, _) in md[t].values()), "every Barge topic has 3 replicas")
    ok(all(len(r) == 3 for (_, r, _) in md["__consumer_offsets"].values()), "consumer offsets have 3 replicas")
    isr = min_isr(bootstrap, names)
    ok(set(isr.values()) == {"2"}, "every Barge topic has min.insync.replicas 2", isr)

    st.create_queue("q", "local")
    st.register("ok", ["sh", "-c", "sleep 0.3"], memory=128)
    st.register("flaky", ["sh", "-c", 'test "$AWS_BATCH_JOB_ATTEMPT" -ge 2'], memory=128,
                retry_strategy={"attempts": 2}, settle=True)
    ids = []
    arr = st.submit_json(jobName="arr", jobQueue="q", jobDefinition="ok", arrayProperties={"size": 30})
    dep = st.submit_json(jobName="dep", jobQueue="q", jobDefinition="ok", arrayProperties={"size": 30},
                         dependsOn=[{"jobId": arr, "type": "N_TO_N"}])
    ids += [arr, dep, st.submit_json(jobName="flaky", jobQueue="q", jobDefinition="flaky")]
    ids += [st.submit_json(jobName=f"a{k}", jobQueue="q", jobDefinition="ok") for k in range(5)]
    # (list-jobs without --job-status lists RUNNING jobs only: short children may all be done
    # between two looks)
    common.wait_for(lambda: st.children(arr) or st.children(arr, "SUCCEEDED"), 120, "the array to run")

    # the busiest partition: barge.requests (every submission, every scheduler tick)
    md = topic_metadata(bootstrap, names)
    victim = md[st.topic("requests")][0][0]
    led = sum(1 for t in names for (leader, _, _) in md[t].values() if leader == victim)
    node = os.path.join(kdir, f"node{victim}")
    with open(os.path.join(node, "pid")) as f:
        pid = int(f.read().strip())
    log(f"  killing broker {victim} (pid {pid}), leader of barge.requests and {led} of {sum(len(md[t]) for t in names)} partitions")
    t_kill = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    # at once, before the cluster noticed: a reader of every partition of the log, whose metadata
    # names the dead broker as the leader of a third of them (librdkafka 2.0's watermark query
    # waited for ever there)
    early_log = os.path.join(st.home, "check-at-kill.log")
    with open(early_log, "wb") as f:  # (not st.start: st.wait stops at a process of its own that ended)
        early = subprocess.Popen([common.BARGE, "check", "--json"], env=st.env, stdout=f, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)

    # while it is down: writes go on (2 in-sync replicas left), leadership moves
    took = []
    for k in range(5):
        t = time.monotonic()
        p = st.run("submit-job", "--job-name", f"b{k}", "--job-queue", "q", "--job-definition", "ok",
                   "--query", "jobId", "--output", "text", timeout=120)
        ids.append(p.stdout.strip())
        took.append(time.monotonic() - t)
        log(f"  submission b{k} took {took[-1]:.1f} s")
    ok(max(took) < 60, f"each submission with the broker down ended within 60 s (longest {max(took):.1f} s)")
    ok(all(ids[-5:]), f"5 submissions accepted with broker {victim} down ({time.monotonic() - t_kill:.1f} s after the kill)")
    try:
        early.wait(timeout=max(1, 60 - (time.monotonic() - t_kill)))
    except Exception:  # noqa: BLE001 (subprocess.TimeoutExpired)
        early.kill()
    out = open(early_log, errors="replace").read()
    log("  barge check at the kill: " + " | ".join(x.strip()[:160] for x in out.splitlines()
                                                  if x.startswith("barge") or '"kind"' in x)[-1500:])
    ok(early.returncode is not None and early.returncode >= 0,
       f"barge check started at the kill read the whole log within 60 s (exit {early.returncode}, "
       f"{time.monotonic() - t_kill:.1f} s after the kill)", open(early_log, errors="replace").read()[-1500:])

    def moved():
        m = topic_metadata(bootstrap, names)
        return all(leader not in (victim, -1) for t in names for (leader, _, _) in m[t].values())
    ok(st.wait("leadership to leave the dead broker", moved, timeout=60, every=1),
       "every partition has a live leader with the broker down")
    time.sleep(3)

    r = kafka_sh("start", "--dir", kdir, "--node", str(victim))
    ok(r.returncode == 0, f"broker {victim} restarted (kafka.sh start --node {victim})", r.stderr)

    def rejoined():
        m = topic_metadata(bootstrap, names + ["__consumer_offsets", "__transaction_state"])
        return all(len(isrs) == 3 for t in m for (_, _, isrs) in m[t].values())
    ok(st.wait("the restarted broker to rejoin every ISR", rejoined, timeout=90, every=1),
       f"broker {victim} is back in the in-sync replicas of every partition")
    ids += [st.submit_json(jobName=f"c{k}", jobQueue="q", jobDefinition="ok") for k in range(3)]

    jobs = st.wait_terminal(ids, timeout=240)
    status = {k: v["status"] for k, v in jobs.items()}
    ok(all(s == "SUCCEEDED" for s in status.values()), "every job SUCCEEDED",
       {k: v for k, v in status.items() if v != "SUCCEEDED"})
    ok(len(jobs[ids[2]]["attempts"]) == 2, "the flaky job succeeded on its second attempt")
    children = st.children(arr, "SUCCEEDED") + st.children(dep, "SUCCEEDED")
    ok(len(children) == 60 and all(c["status"] == "SUCCEEDED" for c in children), "all 60 array children SUCCEEDED")

    every = set(ids) | {c["jobId"] for c in children}
    time.sleep(1)
    counts = terminal_events(st)
    ok(all(counts.get(j) == 1 for j in every), f"each of the {len(every)} jobs has exactly one terminal event",
       {j: counts.get(j) for j in every if counts.get(j) != 1})

    r = st.run("check", "--require-terminal", "--json", check=False, timeout=300)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        rep = {}
    ok(r.returncode == 0 and rep.get("ok") and not rep.get("violations"), "barge check: 0 violations over the whole log",
       r.stdout[-1500:] + r.stderr[-1500:])
    r = st.run("replay", "rebuild", check=False, timeout=300)
    last = (r.stdout.strip().splitlines() or [""])[-1]
    log("  " + last)
    ok(r.returncode == 0 and f"{len(every)} jobs checked, 0 differences" in last,
       "replay rebuild finds no difference", r.stdout[-1500:] + r.stderr[-1500:])
    st.down()


def main():
    t0 = time.monotonic()

    def cluster(kdir, bootstrap):
        ok(len(bootstrap.split(",")) == 3, f"bootstrap lists 3 brokers ({bootstrap})")
        st = kafka_sh("status", "--dir", kdir)
        ok(st.returncode == 0 and st.stdout.count("running at") == 3, "kafka.sh status: 3 brokers running")
        common.scenario("kcluster", lambda s: body(s, kdir, bootstrap), what="the cluster test")
        log(f"  took {time.monotonic() - t0:.0f} s")
    own_kafka.run("cluster", "a 3-broker cluster", ["--brokers", "3"], cluster)


if __name__ == "__main__":
    main()
