#!/usr/bin/env python3
"""test_replay_simulate.py: `barge replay simulate` on a real, queue-bound run.

A real scheduler and two real agents (2 vCPUs each, type m5.large) serve a MANAGED compute
environment with maxvCpus 4 (no provisioner: the two agents are the whole fleet). The workload
is queue-bound: 24 one-vCPU jobs of about a second (an array of 4 among them, a dependent job, a
job that fails and one retried once), queued by two bulk submissions 0.3 s apart, wait for 4
vCPUs. Then:
  - the recorded run's own configuration reproduces the recorded outcome: every job's final
    status and number of attempts agree, the makespan and the p50 queue wait are within 10%
    (+ 0.5 s) of the recorded ones, the peak vCPUs equal (the simulation feeds each submission
    at the time the real scheduler handled it and runs each attempt for its recorded duration,
    so on this run the figures agree to the millisecond; the tolerance absorbs ties);
  - doubling maxvCpus (ALT: {"computeEnvironments": {"ce": {"maxvCpus": 8}}}) shortens the
    makespan and the p95 queue wait, and the peak vCPUs reach 8 (the provisioner core scales the
    fleet; also with --capacity-model replay);
  - a warm fleet of 20,000 instances (minvCpus 40,000) simulates, the peak vCPUs 40,000 and the
    outcome unchanged (in about a second);
  - the same input gives the same output, byte for byte;
  - --from/--until select the submissions replayed (the first bulk, the second); a bad ALT is a usage error (exit 2).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def near(a, b, rel, abs_ms):
    return a is not None and b is not None and abs(a - b) <= rel * b + abs_ms


def body(st):
    st.init_queue("q", "ce", maxv=4)
    st.register("work", ["sleep", "1"], memory=256)
    st.register("flaky", ["sh", "-c", 'sleep 1; test "$AWS_BATCH_JOB_ATTEMPT" -ge 2'], memory=256,
                retry_strategy={"attempts": 2})
    st.register("fail", ["sh", "-c", "sleep 1; exit 2"], memory=256)
    st.scheduler(tick_ms=500)
    st.agent("i-0000000000000bb01", "ce", memory=4096, instance_type="m5.large", kill_grace_ms=2000)
    st.agent("i-0000000000000bb02", "ce", memory=4096, instance_type="m5.large", kill_grace_ms=2000)
    # both agents registered before the workload: the recorded fleet is warm from the start
    def registered():
        out = st.run("replay", "print", "--topic", "instances").stdout.splitlines()
        return len({json.loads(x)["event"]["instanceId"] for x in out
                    if json.loads(x)["event"]["kind"] == "READY"}) == 2
    common.wait_for(registered, 120, "both agents READY")
    time.sleep(1)
    # two bulk submissions (one process, one producer each), 0.3 s apart: the whole workload is
    # queued within a moment, so the run is bound by the 4 vCPUs and not by how fast submissions
    # arrive (22 `submit-job` processes took 6 s under the sanitizers, and the last arrivals then
    # set the makespan whatever the capacity); the pause gives --from/--until a boundary
    def bulk(reqs):
        out = st.run("submit-job", "--from-jsonl", "-", "--quiet", input="".join(json.dumps(r) + "\n" for r in reqs))
        got = [line.split("\t")[1] for line in out.stdout.splitlines() if "\t" in line]
        ok(len(got) == len(reqs), f"{len(reqs)} requests submitted in one bulk submission", out.stderr)
        return got
    ids = bulk([{"jobName": f"w{k}", "jobQueue": "q", "jobDefinition": "work"} for k in range(18)])
    time.sleep(0.3)
    ids += bulk([{"jobName": "arr", "jobQueue": "q", "jobDefinition": "work", "arrayProperties": {"size": 4}},
                 {"jobName": "after", "jobQueue": "q", "jobDefinition": "work", "dependsOn": [{"jobId": "line:1"}]},
                 {"jobName": "flaky", "jobQueue": "q", "jobDefinition": "flaky"},
                 {"jobName": "fail", "jobQueue": "q", "jobDefinition": "fail"}])
    jobs = st.wait_terminal(ids, timeout=400)
    ok(sum(j["status"] == "FAILED" for j in jobs.values()) == 1, "one job failed, as planned")
    st.stop_services()

    def simulate(*extra, check=True):
        r = st.run("replay", "simulate", *extra, check=False)
        if check and r.returncode != 0:
            raise RuntimeError(f"simulate {extra} -> {r.returncode}: {r.stderr}")
        return r

    # ---- the recorded configuration ----
    text = simulate()
    log(text.stdout)
    rep = json.loads(simulate("--json").stdout)
    rec, sim, ag = rep["recorded"], rep["simulated"], rep["agreement"]
    ok(rec["jobs"] == len(ids) and sim["jobs"] == len(ids), f"{len(ids)} submissions replayed")
    ok(ag["sameFinalStatus"] == ag["jobs"], f"final status agrees for every job ({ag['sameFinalStatus']}/{ag['jobs']})")
    ok(ag["sameAttempts"] == ag["units"], f"attempts agree for every job ({ag['sameAttempts']}/{ag['units']})")
    ok(near(sim["makespanMs"], rec["makespanMs"], 0.10, 500),
       f"makespan reproduced within 10% + 0.5 s: recorded {rec['makespanMs']} ms, simulated {sim['makespanMs']} ms")
    ok(near(sim["queueWaitP50Ms"], rec["queueWaitP50Ms"], 0.10, 500),
       f"p50 queue wait within 10% + 0.5 s: recorded {rec['queueWaitP50Ms']}, simulated {sim['queueWaitP50Ms']}")
    ok(sim["peakVcpusInstances"] == rec["peakVcpusInstances"] == 4, "peak vCPUs (instances) 4 on both sides")
    ok(sim["peakVcpusJobs"] == rec["peakVcpusJobs"] == 4, "peak vCPUs (jobs) 4 on both sides: queue-bound")
    ok("makespan" in text.stdout and "recorded" in text.stdout and "simulated" in text.stdout,
       "the text report is side by side")

    # ---- determinism ----
    again = simulate()
    ok(again.stdout == text.stdout, "the same input gives the same output")

    # ---- doubling maxvCpus ----
    alt = os.path.join(st.home, "alt.json")
    with open(alt, "w") as f:
        json.dump({"computeEnvironments": {"ce": {"maxvCpus": 8}}}, f)
    r2 = simulate("--config", alt)
    log(r2.stdout)
    dbl = json.loads(simulate("--config", alt, "--json").stdout)["simulated"]
    ok(dbl["makespanMs"] < sim["makespanMs"],
       f"doubling maxvCpus shortens the makespan: {sim['makespanMs']} -> {dbl['makespanMs']} ms")
    ok(dbl["queueWaitP95Ms"] < sim["queueWaitP95Ms"], "and the p95 queue wait")
    ok(dbl["peakVcpusInstances"] == 8 and dbl["instancesLaunched"] == 2, "the fleet grows to 8 vCPUs (2 launches)")
    ok(json.loads(simulate("--config", alt, "--json").stdout)["agreement"]["sameFinalStatus"] == len(ids),
       "the outcome of every job is unchanged")
    own = json.loads(simulate("--config", alt, "--json", "--capacity-model", "replay").stdout)["simulated"]
    ok(own["makespanMs"] < sim["makespanMs"] and own["peakVcpusInstances"] == 8,
       f"the same with replay's own fleet model: {own['makespanMs']} ms, 8 vCPUs")

    # ---- a large warm fleet: minvCpus 40,000, 20,000 instances of 2 vCPUs ----
    # every instance event once rebuilt its compute environment's books over all its instances
    # (O(N^2) for N joining); they now change by what the one instance brings or takes
    # (docs/architecture.md, "The scheduler"), so this takes about a second (2 s under the
    # sanitizers, where replay's instance table, grown one by one, was copied whole at each
    # launch: 30 s)
    with open(alt, "w") as f:
        json.dump({"computeEnvironments": {"ce": {"maxvCpus": 40000, "minvCpus": 40000}}}, f)
    t0 = time.monotonic()
    big = json.loads(simulate("--config", alt, "--json").stdout)
    log(f"simulate with minvCpus 40,000: {time.monotonic() - t0:.1f} s, {big['simulated']['instancesLaunched']} launches")
    ok(big["simulated"]["peakVcpusInstances"] == 40000, "minvCpus 40,000: the fleet holds 40,000 vCPUs",
       big["simulated"])
    ok(big["agreement"]["sameFinalStatus"] == len(ids), "and the outcome of every job is unchanged", big["agreement"])

    # ---- range ----
    reqs = [json.loads(x) for x in st.run("replay", "print", "--topic", "requests").stdout.splitlines()]
    times = sorted(x["event"]["header"]["event_time"] for x in reqs if "SubmitJob" in x["event"]["body"])
    ok(len(times) == len(ids) and times[17] < times[18], "the two bulk submissions apart in time", times)
    part = json.loads(simulate("--until", str(times[17]), "--json").stdout)
    ok(part["range"]["submissions"] == 18, f"--until selects the first 18 submissions ({part['range']['submissions']})")
    part2 = json.loads(simulate("--from", str(times[18]), "--json").stdout)
    ok(part2["range"]["submissions"] == len(ids) - 18, f"--from selects the rest ({part2['range']['submissions']})")

    # ---- bad input ----
    with open(alt, "w") as f:
        json.dump({"computeEnvironments": {"no-such-ce": {"maxvCpus": 8}}}, f)
    bad = simulate("--config", alt, check=False)
    ok(bad.returncode == 2 and "no-such-ce" in bad.stderr, "an ALT naming an unknown CE is refused (exit 2)")
    with open(alt, "w") as f:
        f.write("{not json")
    ok(simulate("--config", alt, check=False).returncode == 2, "an ALT that is not JSON is refused (exit 2)")


if __name__ == "__main__":
    common.run_test("simulate", body)
