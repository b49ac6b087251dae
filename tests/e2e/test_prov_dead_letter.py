#!/usr/bin/env python3
"""test_prov_dead_letter.py: records timed in microseconds go to barge.dead-letter, and neither the
provisioner's nor the scheduler's clock moves with them.

Both take their clock from event times. With a MANAGED compute environment (sim driver, idle
delay 30 s) whose instance runs a job, it produces a CapacityDemand for an unknown compute
environment and a ConfigRecord (a copy of the compute environment's), each with header.event_time
and `at` in microseconds. The CapacityDemand used to move the provisioner's clock 50,000 years on:
the instance was drained at once ("idle for at least -609349182 s", the 30 s idle delay ignored)
and every event it wrote afterwards was timed in that future. Each record must be dead-lettered
with a reason that says times are epoch milliseconds (the demand by the provisioner, the
configuration record by both); the instance must not be drained before the idle delay; and no
instance event or scaling decision may be timed in the future, after a restart of the
provisioner (its rebuild reads the compacted barge.capacity, the bad demand included, and it
ends the sim instance that died with its predecessor) too. A tombstone on barge.job-events (a log
that never deletes) is dead-lettered by accounting, which used to drop it silently."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

PROV_ARGS = ("--driver", "sim", "--idle-delay-ms", "30000", "--sim-boot-ms", "1000", "--sim-heartbeat-ms", "1000")
HOUR_MS = 3600 * 1000


def body(s):
    avro = common.Avro()
    s.start("accounting", "accounting", "--brokers", s.brokers, "--topic-prefix", s.prefix, "--group",
            f"acct-{s.prefix}", "--settle-lag-ms", "1000", "--publish-ms", "500")
    s.register("jd-dl", ["true"], vcpus=1, memory=1024, env={"BARGE_SIM_DURATION_MS": "4000"}, settle=True)
    job = s.submit("one", "q-ce-dl", "jd-dl")
    s.wait("the job RUNNING", lambda: s.describe(job).get(job, {}).get("status") == "RUNNING", 120, every=0.5)

    micros = int(time.time() * 1000) * 1000
    demand = {"header": dict(common.header(), event_time=micros), "computeEnvironment": "ce-unknown",
              "shapes": [], "busyInstances": [], "at": micros}
    cfg = None
    for r in common.read_topic(s, "config"):
        if r["value"] and b":compute-environment/ce-dl" in (r["key"] or b""):
            _, rec = avro.decode(r["value"])
            cfg = (r["key"], dict(rec, header=dict(common.header(), event_time=micros),
                                  body=("barge.ComputeEnvironment", rec["body"])))
    ok(cfg is not None, "the compute environment's ConfigRecord to copy")
    ms = "epoch milliseconds"
    produced = [("a CapacityDemand in microseconds", "capacity",
                 *common.produce_raw(s, "capacity", b"ce-unknown", avro.encode("CapacityDemand", demand)),
                 {"provisioner"}, ms),
                ("a tombstone on job-events", "job-events", *common.produce_raw(s, "job-events", job.encode(), None),
                 {"accounting"}, "tombstone")]
    if cfg:
        produced.append(("a ConfigRecord in microseconds", "config",
                         *common.produce_raw(s, "config", cfg[0], avro.encode("ConfigRecord", cfg[1])),
                         {"provisioner", "scheduler"}, ms))

    def letters():
        out = {}
        for r in common.read_topic(s, "dead-letter"):
            _, dl = avro.decode(r["value"])
            out.setdefault((dl["topic"], dl["offset"]), {})[dl["consumer"].split("/")[0]] = dl["error"]
        return out
    try:
        common.wait_for(lambda: all(who <= set(letters().get((s.topic(b), o), {})) for _, b, _, o, who, _ in produced),
                        45, "the bad records in barge.dead-letter", interval=1)
    except TimeoutError as e:
        log(f"  ({e})")
    got = letters()
    for label, base, _, off, who, says in produced:
        by = got.get((s.topic(base), off), {})
        ok(who <= set(by), f"{label}: dead-lettered by {sorted(who)}", by)
        ok(by and all(says in e for e in by.values()), f"{label}: the reason says why", by)

    jobs = s.wait_terminal([job], 60)
    ok(jobs[job]["status"] == "SUCCEEDED", "the job SUCCEEDED", jobs[job].get("statusReason"))
    time.sleep(8)  # the job ended at least 8 s ago
    stopped = jobs[job]["stoppedAt"]
    drains = [e for e in s.instance_events("ce-dl")
              if e["kind"] in ("DRAIN_REQUESTED", "TERMINATED")
              and (e["at"] < stopped + 29000 or e["at"] > time.time() * 1000 + HOUR_MS)]
    ok(not drains, "the idle instance is not drained before the idle delay (30 s)", drains)
    # the sim driver's instance dies with the provisioner: the restarted one ends it (LOST)
    s.kill("provisioner")
    s.provisioner(*PROV_ARGS)
    s.wait("the instance ended", lambda: any(e["kind"] in ("TERMINATED", "LOST") for e in s.instance_events("ce-dl")),
           60)
    later = time.time() * 1000 + HOUR_MS
    ahead = [e for e in s.instance_events("ce-dl") if e["at"] > later] + \
            [d for d in s.decisions("ce-dl") if d["at"] > later]
    ok(not ahead, "no instance event or scaling decision is timed in the future", ahead[:3])
    ok(s.alive("provisioner") and s.alive("scheduler") and s.alive("accounting"),
       "the provisioner (restarted), the scheduler and accounting still run")


if __name__ == "__main__":
    common.run_prov_test("prov-dl", body, "ce-dl", {"type": "EC2", "minvCpus": 0, "maxvCpus": 8,
                                                    "instanceTypes": ["optimal"],
                                                    "allocationStrategy": "BEST_FIT_PROGRESSIVE"},
                         *PROV_ARGS, sched_args=("--lost-after-ms", "6000"))
