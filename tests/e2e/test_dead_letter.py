#!/usr/bin/st python3
"""test_dead_letter.py: records a service cannot decode or validate go to barge.dead-letter with
their reason, and the service carries on.

With a scheduler and an agent running (direct children, own prefix), it produces to the topics
they consume - barge.requests, barge.executions, barge.instances (scheduler) and barge.placements
keyed by the agent's instance id (agent) - garbage bytes, a valid Avro single-object frame of the
wrong event type, a truncated frame of the right type, and (requests) a tombstone and a
well-formed SubmitJob that fails validation (no jobId; a jobId that is a path, "../escaped").
Each must appear in barge.dead-letter (decoded with
fastavro, independently of Barge's codec) with the source topic, partition and offset, the raw
bytes, the original key, the consumer and a non-empty reason. So must an ExecutionReport and an
InstanceEvent timed in microseconds (fed to the scheduler, they moved its clock 50,000 years on),
a JobQueue record keyed other than by its ARN (after the queue's deletion, a tombstone under
its ARN, that copy brought it back), and a SubmitJob whose job id of multi-byte characters the
reason quotes cut in the middle of one (the dead letter could not be encoded: the scheduler
stopped on it at every restart).
Then both services are still alive, and a job submitted afterwards (after a restart of the
scheduler) still SUCCEEDS. Garbage on barge.jobs and barge.config
(tables the CLI reads) must not break describe-jobs or submit-job either. A flood of heartbeats of
an unknown compute environment is dead-lettered whole, but logged in at most a line a minute. A placement with the
job id "../escaped" (as if a scheduler had let it through) is refused by the agent,
FAILED_TO_START, and nothing is written outside its log dir."""
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

GARBAGE = b"\x00\xffthis is not avro\x01\x02"


def body(st):
    avro = common.Avro()
    agent_id = "i-0dead1e77e4000001"
    st.init_queue("q1", "local", priority=10)
    st.register("hello", ["sh", "-c", "echo hello $AWS_BATCH_JOB_ID"])
    st.register("slow", ["sh", "-c", "sleep 10"])
    st.scheduler()
    st.agent(agent_id, name="agent")
    # warm-up: both services work end to end
    first = st.submit("warmup", "q1", "hello")
    jobs = st.wait_terminal([first], 45)
    ok(jobs[first]["status"] == "SUCCEEDED", "warm-up job SUCCEEDED", jobs[first]["status"])

    # real frames to truncate and to use as "wrong type"
    def first_frame(base):
        for r in common.read_topic(st, base):
            if r["value"]:
                return r
        raise AssertionError(f"no record on {base}")
    real = {b: first_frame(b) for b in ("requests", "executions", "instances", "placements")}
    for b, r in real.items():
        ok(avro.decode(r["value"])[0] == common.TOPIC_TYPES[b], f"the real {b} frame decodes with fastavro")
    wrong = avro.encode("JobStateChange", {
        "header": common.header(), "jobId": "not-a-request", "jobName": "", "jobQueue": "",
        "parentJobId": None, "attempt": 0, "oldStatus": "RUNNING", "newStatus": "SUCCEEDED",
        "statusReason": None, "instanceId": None, "computeEnvironment": None, "exitCode": None,
        "shareIdentifier": None, "vcpus": 0, "memoryMib": 0, "gpus": 0, "at": int(time.time() * 1000)})
    invalid_submit = avro.encode("JobRequest", {
        "header": common.header(), "principal": "e2e",
        "body": ("barge.SubmitJob", {"jobId": "", "jobName": "x", "jobQueue": "q1",
                                     "jobDefinition": "hello", "arrayProperties": None, "dependsOn": [],
                                     "parameters": {}, "containerOverrides": None, "retryStrategy": None,
                                     "timeout": None, "propagateTags": None,
                                     "schedulingPriorityOverride": None, "shareIdentifier": None,
                                     "tags": {}})})
    ok(avro.decode(invalid_submit)[0] == "JobRequest", "the invalid SubmitJob is a well-formed JobRequest")
    escape = os.path.join(st.home, "escaped")  # where a job id of ../escaped would put its log folder
    _, req = avro.decode(invalid_submit)
    req["body"] = ("barge.SubmitJob", dict(req["body"][1] if isinstance(req["body"], tuple) else req["body"],
                                           jobId="../escaped"))
    path_submit = avro.encode("JobRequest", req)
    # a job id of multi-byte characters: the reason quotes its first 60 bytes, which end in half
    # a character; the dead letter (its error an Avro string, UTF-8) could not be encoded and the
    # scheduler stopped on that record at every restart
    req["body"] = ("barge.SubmitJob", dict(req["body"][1], jobId="a" + "\u00e9" * 40))
    utf8_submit = avro.encode("JobRequest", req)

    # (label, topic, key, value, who dead-letters it)
    bad = []
    for base, who in (("requests", "scheduler"), ("executions", "scheduler"), ("instances", "scheduler"),
                      ("placements", "agent")):
        key = (agent_id if base == "placements" else f"dl-{base}").encode()
        trunc = real[base]["value"][: max(11, len(real[base]["value"]) // 2)]
        bad += [(f"garbage on {base}", base, key + b"-g" if base != "placements" else key, GARBAGE, who),
                (f"a JobStateChange frame on {base}", base, key + b"-w" if base != "placements" else key, wrong, who),
                (f"a truncated {common.TOPIC_TYPES[base]} on {base}", base,
                 key + b"-t" if base != "placements" else key, trunc, who)]
    # well-formed, but timed in microseconds: fed to the scheduler, one moved its clock 50,000
    # years on (every instance lost, every running job failed), even for an unknown job
    micros = int(time.time() * 1000) * 1000
    _, rep = avro.decode(real["executions"]["value"])
    rep = dict(rep, header=dict(common.header(), event_time=micros), jobId="dl-unknown-job", at=micros)
    _, ie = avro.decode(real["instances"]["value"])
    ie = dict(ie, header=common.header(), instanceId="i-0dead1e77e40000ff", kind="HEARTBEAT", at=micros)
    bad[:0] = [("an ExecutionReport timed in microseconds", "executions", b"dl-unknown-job",
                avro.encode("ExecutionReport", rep), "scheduler"),
               ("an InstanceEvent whose at is in microseconds", "instances", b"i-0dead1e77e40000ff",
                avro.encode("InstanceEvent", ie), "scheduler")]
    # a queue's record under a key other than its ARN: its deletion (a tombstone under the ARN)
    # left that copy standing, and every reader found the queue again
    st.create_queue("q9", "local", priority=3)
    q9 = [r for r in common.read_topic(st, "config") if r["value"] and r["key"].endswith(b":job-queue/q9")][0]
    _, q9rec = avro.decode(q9["value"])
    q9rec = dict(q9rec, header=common.header(), body=("barge.JobQueue", q9rec["body"]))
    bad += [("a JobQueue record keyed other than by its ARN", "config", b"dl-config-k",
             avro.encode("ConfigRecord", q9rec), "scheduler")]
    # keys are bytes: one with a NUL and a byte that is not UTF-8 (the dead letter's key was cut
    # at the NUL), and one of 70,000 bytes (cut, silently, at 511; now at 65536, saying so)
    bad += [("garbage keyed by binary bytes", "requests", b"dl-\x00bin\xff", GARBAGE, "scheduler"),
            ("garbage keyed by 70000 bytes", "requests", b"k" * 70000, GARBAGE, "scheduler")]
    bad += [("a tombstone on requests", "requests", b"dl-requests-n", None, "scheduler"),
            ("a SubmitJob without a jobId on requests", "requests", b"dl-requests-v", invalid_submit, "scheduler"),
            ("a SubmitJob whose jobId is a path (../escaped)", "requests", b"dl-requests-p", path_submit, "scheduler"),
            ("a SubmitJob whose jobId is 40 multi-byte characters", "requests", b"dl-requests-u", utf8_submit,
             "scheduler")]
    # a job running while the bad records arrive: a time in microseconds failed it as lost
    during = st.submit("during", "q1", "slow")
    st.wait("the job 'during' RUNNING", lambda: st.describe(during).get(during, {}).get("status") == "RUNNING", 45)
    produced = []
    for label, base, key, value, who in bad:
        part, off = common.produce_raw(st, base, key, value)
        produced.append((label, st.topic(base), part, off, key, value, who))

    def letters():
        out = {}
        for r in common.read_topic(st, "dead-letter"):
            name, dl = avro.decode(r["value"])
            if name == "DeadLetter":
                out[(dl["topic"], dl["partition"], dl["offset"])] = (r["key"], dl)
        return out
    try:
        common.wait_for(lambda: all((t, p, o) in letters() for _, t, p, o, *_ in produced), 45,
                        "every bad record in barge.dead-letter", interval=1)
    except TimeoutError as e:
        log(f"  ({e})")
    got = letters()
    for label, topic, part, off, key, value, who in produced:
        entry = got.get((topic, part, off))
        if not ok(entry is not None, f"{label}: dead-lettered with its topic, partition and offset",
                  f"{topic}[{part}]@{off} not in {sorted(got)}"):
            continue
        dkey, dl = entry
        ok(dl["error"].strip() != "", f"{label}: with a reason ({dl['error']})")
        ok(dkey == key[:65536], f"{label}: keyed by the original key (its first 65536 bytes)", (dkey[:40], key[:40]))
        ok((len(key) > 65536) == ("key cut to its first 65536 of" in dl["error"]),
           f"{label}: the reason says whether the key was cut", dl["error"][-80:])
        payload = dl.get("payload")
        if isinstance(payload, str):  # fastavro gives bytes; be lenient about base64 text
            payload = base64.b64decode(payload)
        ok(payload == value, f"{label}: carries the raw bytes", (payload, value))
        ok(dl.get("consumer", "").startswith(who), f"{label}: names the consumer ({dl.get('consumer')})")
        ok(dl["header"]["event_id"] and dl["header"]["source"], f"{label}: has an event header")
    wrong_type = [got.get((t, p, o)) for lbl, t, p, o, *_ in produced if "JobStateChange frame" in lbl]
    ok(all(w and "JobStateChange" in w[1]["error"] for w in wrong_type),
       "wrong-type reasons name the type found", [w and w[1]["error"] for w in wrong_type])
    ok(len([k for k in got if k[0].startswith(st.prefix)]) == len(produced),
       "nothing else was dead-lettered", sorted(got))
    timed = [got.get((t, p, o)) for lbl, t, p, o, *_ in produced if "microseconds" in lbl]
    ok(all(w and "epoch milliseconds" in w[1]["error"] for w in timed),
       "a time in microseconds: the reason says times are epoch milliseconds", [w and w[1]["error"] for w in timed])
    keyed = [got.get((t, p, o)) for lbl, t, p, o, *_ in produced if "keyed other" in lbl]
    ok(keyed and keyed[0] and "keyed by the resource's ARN" in keyed[0][1]["error"],
       "a record keyed other than by its ARN: the reason says how barge.config is keyed",
       keyed and keyed[0] and keyed[0][1]["error"])
    st.run("update-job-queue", "--job-queue", "q9", "--state", "DISABLED")
    st.run("delete-job-queue", "--job-queue", "q9")
    path_dl = [got.get((t, p, o)) for lbl, t, p, o, *_ in produced if "is a path" in lbl]
    ok(path_dl and path_dl[0] and "job id is 1 to 40 of" in path_dl[0][1]["error"],
       "a job id that is a path: the reason says what a job id may be", path_dl and path_dl[0] and path_dl[0][1]["error"])

    # a placement (as if from a scheduler that let it through) with such a job id: the agent
    # refuses it, FAILED_TO_START, and writes nothing outside its log dir
    _, pl = avro.decode(real["placements"]["value"])
    body_name, body_val = pl["body"] if isinstance(pl["body"], tuple) else (None, pl["body"])
    if body_val.get("jobId") is not None:
        body_val = dict(body_val, jobId="../escaped", attempt=1)
        pl = dict(pl, header=common.header(), body=(body_name or "barge.Placement", body_val))
        common.produce_raw(st, "placements", agent_id.encode(), avro.encode("AgentCommand", pl))

        def refused():
            for r in common.read_topic(st, "executions"):
                try:
                    name, rep = avro.decode(r["value"])
                except (ValueError, EOFError, KeyError, IndexError):  # the bad records produced above
                    continue
                if name == "ExecutionReport" and rep.get("jobId") == "../escaped":
                    return rep
            return None
        rep = common.wait_for(refused, 30, "the agent's report of the ../escaped placement")
        ok(rep["kind"] == "FAILED_TO_START" and "cannot name a log folder" in (rep.get("reason") or ""),
           "the agent refuses a placement whose job id is a path: FAILED_TO_START, saying why", rep)
    else:
        ok(False, "the placements frame has a jobId to change", pl)
    ok(not os.path.exists(escape) and not os.path.exists(os.path.join(st.home, "logs", "..", "escaped")),
       "nothing was written outside the log dir", sorted(os.listdir(st.home)))

    # a flood of heartbeats from an instance of a compute environment that does not exist (an
    # agent started with a misspelt --compute-environment): each is dead-lettered, and the
    # scheduler goes on placing. It asked the broker for barge.config's end for every one (about
    # 1 s each): 300 of them held every job back for about five minutes.
    flood = 300
    ck = common._kafka()
    fp = ck.Producer({"bootstrap.servers": st.brokers, "enable.idempotence": True, "acks": "all", "linger.ms": 20})
    for i in range(flood):
        now_ms = int(time.time() * 1000)
        hb = dict(ie, header=dict(common.header(), event_time=now_ms), instanceId="i-0dead1e77e40000ee",
                  computeEnvironment="dl-no-such-ce", kind="HEARTBEAT", at=now_ms)
        fp.produce(st.topic("instances"), key=b"i-0dead1e77e40000ee", value=avro.encode("InstanceEvent", hb))
    ok(fp.flush(30) == 0, f"{flood} heartbeats of an unknown compute environment produced")
    t0 = time.monotonic()
    behind = st.submit("behind-flood", "q1", "hello")
    jobs = st.wait_terminal([behind], 60)
    ok(jobs[behind]["status"] == "SUCCEEDED", "a job submitted behind the flood SUCCEEDED",
       (jobs[behind]["status"], round(time.monotonic() - t0, 1)))
    log(f"  the job behind {flood} unknown-CE heartbeats ended after {time.monotonic() - t0:.1f} s")

    def flood_letters():
        n = 0
        for r in common.read_topic(st, "dead-letter", timeout=10):
            if r["key"] == b"i-0dead1e77e40000ee":
                n += 1
        return n if n >= flood else None
    n = st.wait("every heartbeat of the flood dead-lettered", flood_letters, timeout=60, every=2)
    ok(n == flood, f"all {flood} heartbeats of the unknown compute environment dead-lettered", n)
    # each was logged as a warning too: one line a second per such agent, for ever. Now the first,
    # then at most one a minute with the count of the others (the flood takes seconds).
    lines = [ln for ln in st.log_text("scheduler").splitlines() if "i-0dead1e77e40000ee" in ln]
    ok(1 <= len(lines) <= 2, f"the {flood} dead-lettered heartbeats make at most 2 warning lines in the scheduler log",
       (len(lines), lines[:3]))

    # garbage in the tables the CLI reads
    common.produce_raw(st, "jobs", b"dl-jobs-g", GARBAGE)
    common.produce_raw(st, "config", b"dl-config-g", GARBAGE)

    # the services carry on, the scheduler after a restart too (its rebuild reads barge.instances,
    # the InstanceEvent in microseconds included)
    ok(st.alive("scheduler"), "the scheduler is still running", st.log_tail("scheduler"))
    st.kill("scheduler")
    st.scheduler()
    ok(st.alive("agent"), "the agent is still running", st.log_tail("agent"))
    jobs = st.wait_terminal([during], 45)
    ok(jobs[during]["status"] == "SUCCEEDED", "the job running meanwhile SUCCEEDED",
       (jobs[during]["status"], jobs[during].get("statusReason")))
    after = st.submit("after", "q1", "hello")
    jobs = st.wait_terminal([after], 45)
    ok(jobs[after]["status"] == "SUCCEEDED", "a job submitted afterwards SUCCEEDED", jobs[after]["status"])
    ok(f"hello {after}" in st.run("logs", after).stdout, "and its log is there")
    ok(first in st.describe(first, after), "describe-jobs still reads barge.jobs")
    queues = st.run("describe-job-queues", "--query", "jobQueues[].jobQueueName", "--output", "text").stdout.split()
    ok("q9" not in queues, "the deleted queue stays deleted, its copy under another key notwithstanding", queues)
    r = st.run("submit-job", "--job-name", "x", "--job-queue", "q9", "--job-definition", "hello", check=False)
    ok(r.returncode != 0 and "does not exist" in r.stderr, "and takes no job", (r.returncode, r.stdout, r.stderr))
    ok(st.alive("scheduler") and st.alive("agent"), "both services still running at the end")
    # barge check leaves out what the scheduler dead-lettered: the report in microseconds for a
    # job that does not exist was an unknown-job violation, though no service acted on it
    c = st.run("check", "--no-audit", "--json", check=False)
    subjects = [v["subject"] for v in json.loads(c.stdout)["violations"]]
    ok("dl-unknown-job" not in subjects, "barge check leaves out the reports the scheduler dead-lettered", subjects)


if __name__ == "__main__":
    common.run_test("dlq", body, clean_stop=True)
