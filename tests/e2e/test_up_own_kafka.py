#!/usr/bin/env python3
"""test_up_own_kafka.py: `barge up` with the Kafka it starts itself (no --brokers), across stops
and crashes, as an operator lives with it (docs/operations.md, "The local stack"):

- `barge down` stops the audit after the other services, so its file holds all their events;
- what a run created survives `barge down` and `barge up`: the queue, the job, its SUCCEEDED
  status; a job of the second run succeeds and the audit log goes on recording it;
- its Kafka stopped and started again (unreachable for over 15 s) while a job runs: the job
  SUCCEEDS in its one attempt and no agent fences itself (`kafka.sh stop` removes the pid file:
  barge up leaves a Kafka stopped on purpose stopped);
- its Kafka killed with SIGKILL while a job runs: barge up starts it again on the same address,
  says so in up.log, and the job SUCCEEDS in its one attempt; a SubmitJob through the API meanwhile
  is answered ServerException in about 20 s (not after 60 s, botocore's own read timeout),
  saying nothing was written, and no job comes of it;
- `barge up` holds the API's address itself: with `barge api` killed, nobody else can bind the
  port, and the restarted API answers on it;
- a supervisor killed with SIGKILL takes its services with it, and `barge down` then stops the
  Kafka it left and clears the record;
- `barge up --fresh` starts empty: the old job is gone, and the last run's audit log is moved
  aside, still verifying;
- a `barge up` killed while starting, before it recorded its stack, leaves its Kafka running:
  `barge down` finds it in $BARGE_HOME/kafka and stops it;
- bad options exit 2 before anything starts."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log, ok, pid_alive, wait_for  # noqa: E402

UP = ("up", "--detach", "--agents", "1", "--no-provisioner", "--no-accounting", "--api-listen", "127.0.0.1:0")


def services(st):
    """name -> pid of $BARGE_HOME/services."""
    out = {}
    with open(os.path.join(st.home, "services")) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[1].isdigit():
                out[parts[0]] = int(parts[1])
    return out


def api_client(st):
    """boto3's batch client on the stack's API, with its credentials; no retries, and a read
    timeout past the 60 s the API once took."""
    import boto3
    from botocore.config import Config
    creds = {}
    with open(os.path.join(st.home, "api-credentials")) as f:
        for line in f:
            if "=" in line:
                k, v = line.split("=", 1)
                creds[k.strip()] = v.strip()
    return boto3.client("batch", endpoint_url=st.stack_value("api_endpoint"), region_name="us-east-1",
                        aws_access_key_id=creds["aws_access_key_id"],
                        aws_secret_access_key=creds["aws_secret_access_key"],
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=90,
                                      connect_timeout=10))


def status_of(st, job):
    jobs = json.loads(st.run("describe-jobs", "--jobs", job).stdout)["jobs"]
    return jobs[0]["status"] if jobs else None


def kafka_pid(st):
    try:
        with open(os.path.join(st.home, "kafka", "pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def body(st):
    for k in ("BARGE_BROKERS",):  # `barge up` starts its own Kafka in $BARGE_HOME/kafka
        st.env.pop(k, None)

    log("-- bad options exit 2 before anything starts")
    for bad in (["--runtime", "bogus"], ["--agents", "-1"], ["--api-listen", "nonsense"],
                ["--fresh", "--brokers", "127.0.0.1:1"]):
        p = st.run("up", "--detach", *bad, check=False)
        ok(p.returncode == 2 and p.stderr.strip(), f"barge up {' '.join(bad)}: exit 2 with a reason",
           (p.returncode, p.stderr.strip()))
    ok(not os.path.exists(os.path.join(st.home, "kafka")), "... and no Kafka was started")

    log("-- first run")
    out = st.run(*UP, timeout=240).stdout
    st.supervisor = int(st.stack_value("supervisor"))
    log("  " + out.strip().replace("\n", "\n  "))
    st.run("create-job-queue", "--job-queue-name", "q1", "--priority", "1",
           "--compute-environment-order", "order=1,computeEnvironment=local")
    st.run("register-job-definition", "--job-definition-name", "jd1", "--type", "container", "--container-properties",
           json.dumps({"command": ["echo", "kept"], "resourceRequirements": [
               {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}))
    j1 = json.loads(st.run("submit-job", "--job-name", "one", "--job-queue", "q1", "--job-definition", "jd1").stdout)["jobId"]
    wait_for(lambda: status_of(st, j1) == "SUCCEEDED", 90, "the first job")
    ok(True, "the first run's job SUCCEEDED")

    log("-- barge up holds the API's address while `barge api` restarts")
    port = int(st.stack_value("api_endpoint").rsplit(":", 1)[1])
    api = services(st)["api"]
    os.kill(api, signal.SIGKILL)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        held = False
    except OSError:
        held = True
    finally:
        s.close()
    ok(held, f"with the API killed, port {port} cannot be bound by anyone else")
    st.env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(st.home, "api-credentials")

    def api_answers():
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=2)
            c.sendall(b"GET /dashboard/ HTTP/1.0\r\n\r\n")
            c.settimeout(2)
            got = c.recv(12)
            c.close()
            return got.startswith(b"HTTP/1.")
        except OSError:
            return False
    ok(wait_for(api_answers, 30, "the restarted API"), "the restarted API answers on the same port")
    ok(services(st)["api"] != api, "... as a new process")

    log("-- barge down, barge up: the state is kept")
    st.run("down", timeout=120)
    ok(kafka_pid(st) is None or not pid_alive(kafka_pid(st)), "barge down stopped its Kafka")
    # the audit stopped after the others: its file holds every event of the run (check on the
    # kept Kafka, started alone)
    kdir = os.path.join(st.home, "kafka")
    subprocess.run([os.path.join(common.SOURCE_DIR, "scripts", "kafka.sh"), "start", "--keep", "--dir", kdir],
                   check=True, capture_output=True, timeout=180)
    with open(os.path.join(kdir, "bootstrap")) as f:
        boot = f.read().strip()
    c = st.run("check", "--brokers", boot, "--audit", os.path.join(st.home, "audit", "events.jsonl"),
               "--audit-key", os.path.join(st.home, "audit", "hmac.key"), "--audit-grace-ms", "0", "--json",
               check=False)
    try:
        rep = json.loads(c.stdout)
    except ValueError:
        rep = {}
    ok(c.returncode == 0 and rep.get("audit", {}).get("current") is True,
       "after barge down the audit file holds every event of the run (barge check: current)",
       (c.returncode, rep.get("audit"), c.stderr[-400:]))
    subprocess.run([os.path.join(common.SOURCE_DIR, "scripts", "kafka.sh"), "stop", "--dir", kdir],
                   capture_output=True, timeout=120)
    out = st.run(*UP, timeout=240).stdout
    st.supervisor = int(st.stack_value("supervisor"))
    ok(status_of(st, j1) == "SUCCEEDED", "the first run's job is still there, SUCCEEDED")
    queues = json.loads(st.run("describe-job-queues").stdout)["jobQueues"]
    ok([q["jobQueueName"] for q in queues] == ["q1"], "the queue is still there", queues)
    j2 = json.loads(st.run("submit-job", "--job-name", "two", "--job-queue", "q1", "--job-definition", "jd1").stdout)["jobId"]
    wait_for(lambda: status_of(st, j2) == "SUCCEEDED", 90, "the second run's job")
    ok(True, "a job of the second run SUCCEEDED")
    audit = os.path.join(st.home, "audit", "events.jsonl")
    key = os.path.join(st.home, "audit", "hmac.key")

    def audited():
        with open(audit) as f:
            return j2 in f.read()
    ok(wait_for(audited, 30, "the audit log to record the second job"), "the audit log recorded the second run's job")

    log("-- its Kafka stopped and started again while a job runs: the job carries on and SUCCEEDS")
    # an outage longer than the 13 s agents fenced themselves after when barge up's lost-after was
    # 15 s: every running job then failed (docs/operations.md, "Failures")
    st.run("register-job-definition", "--job-definition-name", "jd-sleep", "--type", "container",
           "--container-properties", json.dumps({"command": ["sleep", "6"], "resourceRequirements": [
               {"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}))
    j3 = json.loads(st.run("submit-job", "--job-name", "through-outage", "--job-queue", "q1",
                           "--job-definition", "jd-sleep").stdout)["jobId"]
    wait_for(lambda: status_of(st, j3) == "RUNNING", 60, "the job to run")
    agents = {k: v for k, v in services(st).items() if k.startswith("agent")}
    kafka_sh = os.path.join(common.SOURCE_DIR, "scripts", "kafka.sh")
    batch = api_client(st)
    down_at = time.monotonic()
    subprocess.run([kafka_sh, "stop", "--dir", kdir], check=True, capture_output=True, timeout=120)
    # SubmitJob through the API meanwhile: it waited librdkafka's 60 s message timeout, as long as
    # botocore's read timeout, so clients timed out blind and retried. Now a 500 in about 20 s,
    # saying that nothing was written (so a retry makes no second job).
    t0 = time.monotonic()
    try:
        batch.submit_job(jobName="during-outage", jobQueue="q1", jobDefinition="jd1")
        answer = ("200", "")
    except Exception as e:  # botocore's ClientError, or its read timeout
        answer = (getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__), str(e))
    took = time.monotonic() - t0
    ok(answer[0] == "ServerException" and "nothing was written" in answer[1] and took < 40,
       f"SubmitJob through the API with Kafka down: a ServerException in {took:.1f} s, saying nothing was written",
       answer)
    # barge status said only "no Kafka broker answers", as if the operator had to find out why: it
    # names the stack's Kafka as stopped on purpose, and how to start it again
    p = st.run("status", check=False, timeout=60)
    ok(p.returncode == 1 and f"the stack's Kafka in {kdir} was stopped" in p.stderr
       and f"kafka.sh start --keep --dir {kdir}" in p.stderr and "barge down" in p.stderr,
       "barge status with the stack's Kafka stopped: says it was stopped, and how to start it again",
       (p.returncode, p.stderr))
    time.sleep(max(0.0, 15 - (time.monotonic() - down_at)))
    subprocess.run([kafka_sh, "start", "--keep", "--dir", kdir], check=True, capture_output=True, timeout=180)
    log(f"  Kafka was unreachable for {time.monotonic() - down_at:.1f} s")
    final = wait_for(lambda: status_of(st, j3) if status_of(st, j3) in ("SUCCEEDED", "FAILED") else None, 120,
                     "the job to end")
    detail = json.loads(st.run("describe-jobs", "--jobs", j3).stdout)["jobs"][0]
    ok(final == "SUCCEEDED" and len(detail.get("attempts", [])) == 1,
       "a job running through a Kafka outage of over 15 s SUCCEEDED in its one attempt",
       (final, detail.get("statusReason"), len(detail.get("attempts", []))))
    after = {k: v for k, v in services(st).items() if k.startswith("agent")}
    ok(agents and after == agents, "no agent fenced itself and restarted", (agents, after))
    listed = wait_for(lambda: batch.list_jobs(jobQueue="q1", filters=[{"name": "JOB_NAME", "values": ["*"]}]),
                      60, "ListJobs through the API")
    names = [j["jobName"] for j in (listed or {}).get("jobSummaryList", [])]
    ok(listed and "through-outage" in names and "during-outage" not in names,
       "the SubmitJob answered 500 made no job", names)

    log("-- its Kafka killed (SIGKILL): barge up starts it again, and a running job SUCCEEDS")
    # before, the supervisor did not watch the Kafka it started (kafka.sh runs it detached): the
    # stack stayed without Kafka for good, and the agents fenced themselves after 58 s
    j4 = json.loads(st.run("submit-job", "--job-name", "through-crash", "--job-queue", "q1",
                           "--job-definition", "jd-sleep").stdout)["jobId"]
    wait_for(lambda: status_of(st, j4) == "RUNNING", 60, "the job to run")
    agents = {k: v for k, v in services(st).items() if k.startswith("agent")}
    dead = kafka_pid(st)
    os.kill(dead, signal.SIGKILL)
    killed_at = time.monotonic()
    # barge status meanwhile says the supervisor starts it again (it said only "no Kafka broker
    # answers"; the operator could not tell a Kafka being restarted from one left dead)
    p = st.run("status", check=False, timeout=60)
    ok(p.returncode == 1 and "no Kafka broker answers" in p.stderr and "barge up starts it again" in p.stderr
       and "up.log" in p.stderr,
       "barge status with the stack's Kafka killed: says barge up starts it again, see up.log", (p.returncode, p.stderr))
    def uplog():
        with open(os.path.join(st.home, "up.log")) as f:
            return f.read()
    back = wait_for(lambda: "Kafka runs again" in uplog() and kafka_pid(st) not in (None, dead)
                    and pid_alive(kafka_pid(st)), 90, "barge up to start its Kafka again")
    ok(back, f"barge up started its killed Kafka again ({time.monotonic() - killed_at:.1f} s after the kill)")
    text = uplog()
    ok(f"Kafka (pid {dead}" in text and "died" in text and f"Kafka runs again at {st.stack_value('brokers')}" in text,
       "up.log says Kafka died, and that it runs again on the address the services were given", text[-800:])
    final = wait_for(lambda: status_of(st, j4) if status_of(st, j4) in ("SUCCEEDED", "FAILED") else None, 120,
                     "the job to end")
    detail = json.loads(st.run("describe-jobs", "--jobs", j4).stdout)["jobs"][0]
    ok(final == "SUCCEEDED" and len(detail.get("attempts", [])) == 1,
       "a job running while Kafka was killed SUCCEEDED in its one attempt",
       (final, detail.get("statusReason"), len(detail.get("attempts", []))))
    after = {k: v for k, v in services(st).items() if k.startswith("agent")}
    ok(agents and after == agents, "no agent fenced itself and restarted", (agents, after))

    log("-- the supervisor killed: its services go with it, barge down stops the Kafka it left")
    kids = services(st)
    kpid = kafka_pid(st)
    os.kill(st.supervisor, signal.SIGKILL)
    gone = wait_for(lambda: not any(pid_alive(p) and "barge" in common.cmdline(p) for p in kids.values()) or None,
                    30, "the services to stop")
    ok(gone, "every service stopped with its supervisor", kids)
    ok(kpid and pid_alive(kpid), "the Kafka it started still runs")
    p = st.run("status", check=False)
    ok(p.returncode == 1 and "is gone" in p.stderr and "barge down" in p.stderr and not p.stdout,
       "barge status says on stderr that the supervisor is gone and what to do", (p.returncode, p.stdout, p.stderr))
    p = st.run("down", timeout=120)
    ok("was gone" in p.stdout and "cleared its record" in p.stdout, "barge down says the supervisor was gone", p.stdout)
    ok(not pid_alive(kpid), "barge down stopped the Kafka it left")
    ok(st.stack_value("supervisor") is None, "and cleared the stack's record")
    # the services file of the gone supervisor was left behind (docs/operations.md: removed when the
    # stack stops)
    ok(not os.path.exists(os.path.join(st.home, "services")), "and removed its services file")
    st.supervisor = None

    log("-- barge up --fresh: empty, the audit log moved aside")
    p = st.run(*UP, "--fresh", timeout=240)
    st.supervisor = int(st.stack_value("supervisor"))
    ok(status_of(st, j1) is None and status_of(st, j2) is None, "--fresh: the earlier jobs are gone")
    moved = [n for n in os.listdir(os.path.join(st.home, "audit")) if n.startswith("events.2") and n.endswith(".jsonl")]
    ok(len(moved) == 1 and moved[0] in p.stderr, "the last run's audit log was moved aside, saying where", p.stderr)
    if moved:
        v = st.run("audit", "verify", os.path.join(st.home, "audit", moved[0]), "--hmac-key-file", key, check=False)
        ok(v.returncode == 0 and "intact" in v.stdout, "... and it still verifies", v.stdout + v.stderr)
        with open(os.path.join(st.home, "audit", moved[0])) as f:
            ok(j2 in f.read(), "... holding the jobs of the runs before")
    st.run("down", timeout=120)
    st.supervisor = None
    ok(kafka_pid(st) is None or not pid_alive(kafka_pid(st)), "barge down stopped Kafka")

    log("-- barge up killed while starting, before it recorded its stack: barge down stops its Kafka")
    up = subprocess.Popen([common.BARGE, *[a for a in UP if a != "--detach"]], env=st.env, start_new_session=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kafka.sh writes the pid file as soon as it forks `nohup setsid java ...`; the broker leaves
    # up's session only once setsid has run. Killing up's process group before that takes the
    # broker too, so wait until the pid leads its own session (a cmdline holding "java" is not
    # enough: nohup's own cmdline does).
    def own_session(pid):
        try:
            return os.getsid(pid) == pid
        except OSError:
            return False
    started = wait_for(lambda: kafka_pid(st) if kafka_pid(st) and pid_alive(kafka_pid(st))
                       and own_session(kafka_pid(st)) else None, 120,
                       "barge up to start its Kafka", interval=0.05)
    os.killpg(up.pid, signal.SIGKILL)
    up.wait()
    ok(started and pid_alive(started) and st.stack_value("supervisor") is None,
       "barge up killed before recording its stack: its Kafka runs on, unrecorded", started)
    # barge status said "no stack is running (start one with `barge up`)", and nothing of the Kafka
    # running there
    p = st.run("status", check=False, timeout=60)
    ok(p.returncode == 1 and f"pid {started}" in p.stderr and "did not finish starting" in p.stderr
       and "barge down" in p.stderr, "barge status names that Kafka, and that `barge down` stops it",
       (p.returncode, p.stderr))
    p = st.run("down", timeout=120)
    ok("did not finish starting" in p.stdout and started and not pid_alive(started),
       "barge down stops that Kafka, saying so", p.stdout)
    p = st.run("down", timeout=120)
    ok(p.stdout.strip() == "barge down: no stack is running", "a second barge down: nothing left", p.stdout)


def close_kafka(st):
    pid = kafka_pid(st)
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    def whole(st):
        try:
            body(st)
        finally:
            st.down(check=False)
            close_kafka(st)
    common.scenario("up-own-kafka", whole)
    common.finish()
