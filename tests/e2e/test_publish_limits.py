#!/usr/bin/env python3
"""test_publish_limits.py: one oversized job cannot stop the scheduler (docs/publishing.md).

Every record about a job (its Placement, its JobRecord) carries its container with the
parameters substituted, its parameters, tags and name, and Kafka refuses a record above about
1 MB. Before, such a job made the scheduler's transaction fail: the scheduler exited, and exited
again at every restart on the same request, and no job of anyone was scheduled any more.

With a scheduler and an agent running (direct children, own prefix):
  - `barge submit-job` (the validated path) of a job definition whose command holds Ref::x 60
    times, with a 20 KB parameter x: the job is FAILED with a ClientException naming its size and
    the limit;
  - a SubmitJob written straight to barge.requests (as a pipeline would) with a 999,000-byte
    jobName: FAILED, its record's name cut to 128 bytes;
  - a SubmitJob written straight to barge.requests with 21 dependsOn entries: FAILED;
  - 1,040,000 bytes that are not a Barge event, written by a producer whose message.max.bytes is
    raised to the broker's 1 MiB (the broker takes it): dead-lettered with its first 512 KiB and
    a reason that says the payload was cut (its whole dead letter, with every byte, did not fit
    in a record: the scheduler exited on it, at every restart);
  - while a job of another user RUNS, a SubmitJob whose header.event_time is in microseconds (a
    pipeline's mistake: docs/publishing.md asks for epoch milliseconds): dead-lettered with a
    reason naming event_time. Before, the scheduler's clock (event times) jumped 50,000 years
    ahead: every instance was declared lost and the running job FAILED "Host EC2 ... terminated";
  - `barge check --require-terminal` counts none of the dead-lettered SubmitJobs (the microsecond
    one, one with the job id "../escaped") as a job that never ended;
  - the scheduler is still running, never restarted, and a job submitted afterwards SUCCEEDS.
"""
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402


def dead_letter_of(st, avro, at):
    """The dead letter of the record at (topic, partition, offset), or None while there is none."""
    for r in common.read_topic(st, "dead-letter"):
        _, dl = avro.decode(r["value"])
        if (dl["topic"], dl["partition"], dl["offset"]) == at:
            return dl
    return None

def body(st):
    avro = common.Avro()
    st.init_queue("q", "local", priority=10)
    st.register("hello", ["sh", "-c", "echo hello"])
    cp = {"image": "busybox", "command": ["echo"] + ["Ref::x"] * 60,
          "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}
    st.run("register-job-definition", "--job-definition-name", "amp", "--type", "container",
           "--container-properties", json.dumps(cp), "--parameters", "x=small")
    st.scheduler()
    st.agent("i-0b16b16b16b160001", name="agent")
    sched_pid = st.procs["scheduler"].pid

    big = st.run("submit-job", "--job-name", "amp", "--job-queue", "q", "--job-definition", "amp",
                 "--parameters", "x=" + "a" * 20000, "--query", "jobId", "--output", "text").stdout.strip()

    def submit(jid, name, **kw):
        b = {"jobId": jid, "jobName": name, "jobQueue": "q", "jobDefinition": "hello", "arrayProperties": None,
             "dependsOn": [], "parameters": {}, "containerOverrides": None, "retryStrategy": None,
             "timeout": None, "propagateTags": None, "schedulingPriorityOverride": None,
             "shareIdentifier": None, "tags": {}}
        b.update(kw)
        return avro.encode("JobRequest", {"header": common.header(), "principal": "pipeline",
                                          "body": ("barge.SubmitJob", b)})
    long_name = str(uuid.uuid4())
    common.produce_raw(st, "requests", long_name.encode(), submit(long_name, "n" * 999000))
    first = st.submit("first", "q", "hello")
    many = str(uuid.uuid4())
    common.produce_raw(st, "requests", many.encode(),
                       submit(many, "many", dependsOn=[{"jobId": first, "type": None}] * 21))

    ck = common._kafka()
    prod = ck.Producer({"bootstrap.servers": st.brokers, "message.max.bytes": 1048576})
    huge = b"\xc3\x01" + bytes(range(256)) * 4062 + b"\x00" * 126  # 1,040,000 bytes
    res = []
    prod.produce(st.topic("requests"), key=b"huge", value=huge, on_delivery=lambda e, m: res.append((e, m)))
    prod.flush(30)
    ok(len(res) == 1 and res[0][0] is None, "the broker took the 1,040,000-byte record", res)
    huge_at = (st.topic("requests"), res[0][1].partition(), res[0][1].offset())

    jobs = st.wait_terminal([big, long_name, many], 60)
    j = jobs[big]
    ok(j["status"] == "FAILED" and j["statusReason"].startswith("ClientException: ")
       and "at most 262144" in j["statusReason"],
       "the job of 1.2 MB once its parameters are substituted: FAILED, saying its size and the limit",
       (j["status"], j.get("statusReason")))
    j = jobs[long_name]
    ok(j["status"] == "FAILED" and "at most 262144" in j.get("statusReason", ""),
       "the direct SubmitJob with a 999,000-byte jobName: FAILED", (j["status"], j.get("statusReason")))
    ok(len(j["jobName"]) == 128, "its record's name is cut to 128 bytes", len(j["jobName"]))
    j = jobs[many]
    ok(j["status"] == "FAILED" and "dependsOn takes at most 20 jobs" in j.get("statusReason", ""),
       "the direct SubmitJob with 21 dependsOn entries: FAILED", (j["status"], j.get("statusReason")))

    dl = common.wait_for(lambda: dead_letter_of(st, avro, huge_at), 30, "the 1,040,000-byte record in barge.dead-letter",
                         interval=1)
    ok(dl["payload"] == huge[:524288], "its dead letter carries its first 524288 bytes", len(dl["payload"] or b""))
    ok("payload cut to its first 524288 of 1040000 bytes" in dl["error"], "and says the payload was cut", dl["error"])

    # ---- a header time in microseconds, while a job runs ----
    st.register("slow", ["sleep", "8"])
    slow = st.submit("slow", "q", "slow")
    common.wait_for(lambda: st.describe(slow).get(slow, {}).get("status") == "RUNNING", 45, "the slow job RUNNING")
    micro = str(uuid.uuid4())
    req = avro.decode(submit(micro, "micro"))[1]
    req["header"]["event_time"] = int(time.time() * 1_000_000)
    _, micro_off = common.produce_raw(st, "requests", micro.encode(), avro.encode("JobRequest", req))
    micro_at = (st.topic("requests"), 0, micro_off)

    dl = common.wait_for(lambda: dead_letter_of(st, avro, micro_at), 30, "the microsecond SubmitJob in barge.dead-letter",
                         interval=1)
    ok("event_time" in dl["error"] and "milliseconds" in dl["error"], "its reason names event_time", dl["error"])
    jobs = st.wait_terminal([slow], 60)
    ok(jobs[slow]["status"] == "SUCCEEDED", "the job running meanwhile SUCCEEDED",
       (jobs[slow]["status"], jobs[slow].get("statusReason")))
    ok(jobs[slow]["stoppedAt"] < (time.time() + 3600) * 1000, "its stoppedAt is not in the future", jobs[slow]["stoppedAt"])
    ok(micro not in st.describe(micro), "no job was made of the microsecond request")
    rb = st.run("replay", "rebuild", "--strict", check=False)
    ok(rb.returncode == 0 and " 0 differences" in rb.stdout,
       "replay rebuild --strict agrees: it leaves the microsecond request out as the scheduler did", rb.stdout[-600:])
    sim = json.loads(st.run("replay", "simulate", "--json").stdout)
    ok(sim["range"]["submissions"] == sim["recorded"]["jobs"] and sim["simulated"]["jobs"] == sim["recorded"]["jobs"]
       and sim["agreement"]["sameFinalStatus"] == sim["recorded"]["jobs"],
       "replay simulate leaves it out too, and agrees with the recording", (sim["range"], sim["agreement"]))

    # a dead-lettered SubmitJob is no job: barge check must not wait for it to end
    bad_id = avro.decode(submit("x", "bad-id"))[1]
    bad_id["body"] = ("barge.SubmitJob", dict(bad_id["body"] if isinstance(bad_id["body"], dict) else bad_id["body"][1],
                                              jobId="../escaped"))
    _, bad_off = common.produce_raw(st, "requests", b"bad-id", avro.encode("JobRequest", bad_id))
    bad_at = (st.topic("requests"), 0, bad_off)

    def bad_letter():
        return any((dl["topic"], dl["partition"], dl["offset"]) == bad_at
                   for dl in (avro.decode(r["value"])[1] for r in common.read_topic(st, "dead-letter")))
    common.wait_for(bad_letter, 30, "the SubmitJob with job id ../escaped in barge.dead-letter", interval=1)
    chk = st.run("check", "--no-audit", "--require-terminal", check=False)
    ok(chk.returncode == 0 and "violations: 0" in chk.stdout and "not yet seen" not in chk.stdout,
       "barge check --require-terminal: the dead-lettered SubmitJobs are no live jobs", chk.stdout[-1200:])
    ok("dead-lettered" in chk.stderr, "and it says it left them out", chk.stderr[-800:])
    rb = st.run("replay", "rebuild", "--strict", check=False)
    ok(rb.returncode == 0 and " 0 differences" in rb.stdout,
       "replay rebuild --strict leaves the ../escaped request out too", rb.stdout[-600:])
    sim = st.run("replay", "simulate", "--json", check=False)
    ok(sim.returncode == 0 and json.loads(sim.stdout)["agreement"]["sameFinalStatus"] == json.loads(sim.stdout)["recorded"]["jobs"],
       "replay simulate still agrees with the recording", (sim.returncode, sim.stderr[-300:], sim.stdout[-1500:]))

    ok(st.alive("scheduler") and st.procs["scheduler"].pid == sched_pid, "the scheduler is still running",
       st.log_tail("scheduler"))
    ok("fatal" not in st.log_text("scheduler"), "the scheduler logged nothing fatal", st.log_tail("scheduler"))
    after = st.submit("after", "q", "hello")
    jobs = st.wait_terminal([first, after], 45)
    ok(jobs[after]["status"] == "SUCCEEDED", "a job submitted afterwards SUCCEEDED", jobs[after]["status"])


if __name__ == "__main__":
    common.run_test("publim", body, clean_stop=True)
