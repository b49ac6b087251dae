#!/usr/bin/st python3
"""test_usage_report.py: accounting end to end, with synthetic events on the real broker.

The known fleet of tests/unit/test_acct.c (prices, instances, jobs; every figure worked out there)
is written as real Avro JobStateChange and InstanceEvent records to barge.job-events and
barge.instances under a private prefix, one day in the past. Then:
- `barge usage` (recomputing from the events) in its three formats: json (every figure by queue,
  share, CE with idle, job), csv (parsed; the same figures), table (rows, TOTAL line); a window
  --since/--until counts only the time inside it; a re-delivered event (same event_id) changes
  nothing;
- `barge accounting` writes barge.usage: JOB records and aggregates with the same figures
  (`barge usage --source usage`), and the sum over jobs + idle equals the sum over CEs;
- the service is stopped (SIGTERM), more events arrive (10 minutes old: late, within the reopen
  horizon), it restarts, is SIGKILLed, a duplicate event arrives, it restarts again: the totals
  continue exactly (nothing lost, nothing counted twice)."""
import csv
import io
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

T0 = (int(time.time()) // 3600 - 24) * 3600 * 1000  # an hour boundary one day ago
J3_INST = 40 + 70 / 11
J4_INST = 40 / 11


def near(a, b, tol=1e-6):
    return a is not None and abs(a - b) <= tol * (1 + abs(b))


def S(sec):
    return T0 + int(sec * 1000)


class Events:
    def __init__(self, st):
        import confluent_kafka
        self.env = st
        self.avro = common.Avro()
        self.p = confluent_kafka.Producer({"bootstrap.servers": st.brokers, "enable.idempotence": True,
                                           "acks": "all"})
        self.sent = []  # (topic base, key, bytes)
        self.errors = []
        self.base = T0  # event times are seconds after this

    def send(self, base, key, typ, rec):
        data = self.avro.encode(typ, rec)
        self.send_raw(base, key, data)

    def send_raw(self, base, key, data):
        self.sent.append((base, key, data))
        self.p.produce(self.env.topic(base), key=key.encode(), value=data,
                       on_delivery=lambda err, msg: err and self.errors.append(err))

    def flush(self):
        self.p.flush(30)
        if self.errors:
            raise RuntimeError(f"produce failed: {self.errors}")

    def inst(self, iid, ce, kind, at, vcpus, mem, gpus, lc, price):
        self.send("instances", iid, "InstanceEvent", {
            "header": common.header("e2e-provisioner"), "instanceId": iid, "computeEnvironment": ce,
            "kind": kind, "instanceType": "m.test", "vcpus": vcpus, "memoryMib": mem, "gpus": gpus,
            "lifecycle": lc, "pricePerHour": price, "at": self.base + int(at * 1000)})

    def job(self, jid, q, share, attempt, olds, news, inst, ce, v, m, g, at):
        self.send("job-events", jid, "JobStateChange", {
            "header": common.header("e2e-scheduler"), "jobId": jid, "jobName": jid, "jobQueue": q,
            "attempt": attempt, "oldStatus": olds, "newStatus": news, "instanceId": inst,
            "computeEnvironment": ce, "shareIdentifier": share, "vcpus": v, "memoryMib": m, "gpus": g,
            "at": self.base + int(at * 1000)})

    def run(self, jid, q, share, attempt, inst, ce, v, m, g, start, end, fin):
        self.job(jid, q, share, attempt, "RUNNABLE", "STARTING", inst, ce, v, m, g, start)
        self.job(jid, q, share, attempt, "STARTING", "RUNNING", inst, ce, v, m, g, start + 1)
        self.job(jid, q, share, attempt, "RUNNING", fin, None, None, v, m, g, end)


def fleet(ev):
    """The fleet of tests/unit/test_acct.c."""
    ev.inst("i-1", "ce-a", "LAUNCHING", -5, 4, 8192, 0, "ON_DEMAND", 0.36)
    ev.inst("i-1", "ce-a", "READY", 0, 4, 8192, 0, "ON_DEMAND", 0.0)
    ev.inst("i-1", "ce-a", "HEARTBEAT", 45, 4, 8192, 0, "ON_DEMAND", 0.0)
    ev.inst("i-1", "ce-a", "TERMINATED", 100, 4, 8192, 0, "ON_DEMAND", 0.0)
    ev.inst("i-2", "ce-b", "READY", 10, 2, 4096, 1, "SPOT", 0.072)
    ev.inst("i-2", "ce-b", "LOST", 70, 2, 4096, 1, "SPOT", 0.0)
    ev.run("J1", "q1", "s1", 1, "i-1", "ce-a", 2, 2048, 0, 10, 50, "SUCCEEDED")
    ev.run("J2", "q1", "s2", 1, "i-1", "ce-a", 1, 2048, 0, 30, 70, "RUNNABLE")
    ev.run("J2", "q1", "s2", 2, "i-1", "ce-a", 1, 2048, 0, 80, 90, "SUCCEEDED")
    ev.run("J3", "q2", None, 1, "i-2", "ce-b", 1, 1024, 1, 20, 70, "FAILED")
    ev.run("J4", "q2", "s1", 1, "i-2", "ce-b", 1, 2048, 0, 60, 75, "FAILED")
    ev.run("J5", "q2", "s1", 1, "i-x", "ce-c", 1, 1024, 0, 0, 10, "SUCCEEDED")


# expected: name -> (vcpu-s, GiB-s, GPU-s, instance-s, cost)
QUEUES = {"q1": (130, 180, 0, 70, 0.007), "q2": (70, 80, 50, 60, 0.001)}
SHARES = {"s1": (100, 110, 0, 32 + J4_INST + 10, 0.0032 + J4_INST * 0.00002),
          "s2": (50, 100, 0, 38, 0.0038), "": (50, 50, 50, J3_INST, J3_INST * 0.00002)}
CES = {"ce-a": (130, 180, 0, 100, 0.01), "ce-b": (60, 70, 50, 60, 0.0012), "ce-c": (10, 10, 0, 10, 0)}
IDLE = {"ce-a": (30, 0.003), "ce-b": (10, 0.0002), "ce-c": (0, 0)}
JOBS = {"J1": (80, 80, 0, 32, 0.0032), "J2": (50, 100, 0, 38, 0.0038),
        "J3": (50, 50, 50, J3_INST, J3_INST * 0.00002), "J4": (10, 20, 0, J4_INST, J4_INST * 0.00002),
        "J5": (10, 10, 0, 10, 0)}
FIELDS = ("vcpuSeconds", "memoryGibSeconds", "gpuSeconds", "instanceSeconds", "cost")


def same(row, want):
    return row is not None and all(near(float(row[f]), w) for f, w in zip(FIELDS, want))


def usage(st, *args):
    return st.run("usage", "--topic-prefix", st.prefix, *args, timeout=120).stdout


def check_report_json(st, by, keyname, expect, what, *extra):
    out = json.loads(usage(st, "--by", by, "--format", "json", *extra))
    rows = {r[keyname]: r for r in out["rows"]}
    for name, want in expect.items():
        ok(same(rows.get(name), want), f"{what}: {by} {name or '(none)'} = {want}", rows.get(name))
    return out


def main():
    st = common.Stack("usage")
    try:
        st.init()
        ev = Events(st)
        fleet(ev)
        ev.flush()
        log(f"prefix {st.prefix}; {len(ev.sent)} events written, T0 {T0}")

        # ---- barge usage, recomputed from the events: json
        log("-- barge usage --format json")
        check_report_json(st, "queue", "jobQueue", QUEUES, "json")
        check_report_json(st, "share", "shareIdentifier", SHARES, "json")
        out = check_report_json(st, "ce", "computeEnvironment", CES, "json")
        rows = {r["computeEnvironment"]: r for r in out["rows"]}
        for ce, (secs, cost) in IDLE.items():
            r = rows.get(ce, {})
            ok(near(r.get("idleInstanceSeconds"), secs) and near(r.get("idleCost"), cost),
               f"json: ce {ce} idle {secs} s, {cost}", r)
        total = out["total"]
        ok(near(total["cost"], 0.0112) and near(total["instanceSeconds"], 170),
           "json: total over CEs = the instances' 170 s and 0.0112", total)
        jobs = check_report_json(st, "job", "jobId", JOBS, "json")
        jrows = {r["jobId"]: r for r in jobs["rows"]}
        ok(jrows.get("J2", {}).get("attempts") == 2 and jrows["J2"]["jobQueue"] == "q1" and
           jrows["J2"]["shareIdentifier"] == "s2" and jrows["J2"]["computeEnvironment"] == "ce-a",
           "json: J2 has 2 attempts, queue q1, share s2, CE ce-a", jrows.get("J2"))
        idle_cost = sum(c for _, c in IDLE.values())
        ok(near(jobs["total"]["cost"] + idle_cost, total["cost"]),
           "reconciliation: jobs + idle == CEs (instances)", (jobs["total"]["cost"], idle_cost, total["cost"]))

        # ---- csv
        log("-- barge usage --format csv")
        text = usage(st, "--by", "ce", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(text)))
        ok(list(rows[0].keys()) == ["computeEnvironment", "jobs", *FIELDS, "idleInstanceSeconds", "idleCost"],
           "csv: header", list(rows[0].keys()) if rows else text)
        byname = {r["computeEnvironment"]: r for r in rows}
        for ce, want in CES.items():
            ok(same(byname.get(ce), want), f"csv: ce {ce} = {want}", byname.get(ce))
        ok(byname.get("ce-a", {}).get("jobs") == "2" and near(float(byname["ce-a"]["idleCost"]), 0.003),
           "csv: ce-a has 2 jobs and 0.003 idle", byname.get("ce-a"))
        text = usage(st, "--by", "job", "--format", "csv")
        rows = {r["jobId"]: r for r in csv.DictReader(io.StringIO(text))}
        ok(same(rows.get("J4"), JOBS["J4"]) and rows["J4"]["attempts"] == "1" and rows["J4"]["running"] == "false",
           "csv: job J4", rows.get("J4"))

        # ---- table
        log("-- barge usage --format table")
        text = usage(st, "--by", "share", "--format", "table")
        log(text)
        lines = text.splitlines()
        hdr = next((ln for ln in lines if ln.startswith("SHARE")), "")
        ok(all(h in hdr for h in ("JOBS", "VCPU-S", "MEM-GIB-S", "GPU-S", "INSTANCE-S", "COST")), "table: header", hdr)
        s2 = next((ln.split() for ln in lines if ln.startswith("s2 ")), [])
        ok(s2 == ["s2", "1", "50.0", "100.0", "0.0", "38.0", "0.0038"], "table: the s2 row", s2)
        ok(any(ln.startswith("(none)") for ln in lines), "table: jobs without a share are (none)")
        tot = next((ln.split() for ln in lines if ln.startswith("TOTAL")), [])
        ok(tot[:2] == ["TOTAL", "5"] and tot[-1] == f"{0.0112 - 0.0032:.4f}",
           "table: TOTAL over shares = all jobs' cost", tot)
        text = usage(st, "--by", "ce")
        ok("IDLE-S" in text and "IDLE COST" in text and "0.0030" in text, "table: --by ce shows idle", text)

        # ---- a window: [40 s, 80 s)
        log("-- barge usage --since --until")
        check_report_json(st, "job", "jobId",
                          {"J1": (20, 20, 0, 6, 0.0006), "J2": (30, 60, 0, 24, 0.0024)},
                          "window", "--since", str(S(40)), "--until", str(S(80)))
        out = check_report_json(st, "ce", "computeEnvironment",
                                {"ce-a": (50, 80, 0, 40, 0.004), "ce-b": (40, 50, 30, 30, 0.0006)},
                                "window", "--since", str(S(40)), "--until", str(S(80)))
        ok(out["since"] == S(40) and out["until"] == S(80), "window: since and until echoed", out)

        # ---- a re-delivered event changes nothing
        base, key, data = next(s for s in ev.sent if s[0] == "job-events" and s[1] == "J1")
        ev.send_raw(base, key, data)
        ev.flush()
        check_report_json(st, "queue", "jobQueue", QUEUES, "after a duplicate")

        # ---- the service
        log("-- barge accounting")
        acct_args = ("accounting", "--brokers", st.brokers, "--topic-prefix", st.prefix,
                     "--settle-lag-ms", "1000", "--publish-ms", "300", "--group", f"acct-{st.prefix}")

        def from_usage(by, keyname):
            try:
                out = json.loads(usage(st, "--by", by, "--format", "json", "--source", "usage"))
            except (RuntimeError, ValueError):
                return {}
            return {r[keyname]: r for r in out["rows"]}

        def reached(by, keyname, expect):
            rows = from_usage(by, keyname)
            return rows if all(same(rows.get(n), w) for n, w in expect.items()) else None

        def waited(service, pred, timeout, what, passed, detail=lambda: None, interval=0.25):
            """A passed check once pred() holds; after the timeout a failed one with detail() and the
            service's log."""
            try:
                common.wait_for(pred, timeout, what, interval=interval)
                ok(True, passed)
            except TimeoutError as e:
                ok(False, str(e), detail())
                log(st.log_tail(service))

        st.start("acct1", *acct_args)
        waited("acct1", lambda: reached("queue", "jobQueue", QUEUES), 90, "barge.usage queue totals",
               "barge.usage: queue totals as computed", lambda: from_usage("queue", "jobQueue"))
        jobs = from_usage("job", "jobId")
        for j, want in JOBS.items():
            ok(same(jobs.get(j), want), f"barge.usage: JOB {j} = {want}", jobs.get(j))
        # a UsageRecord holds no attempt count and no running flag: --source usage said 0 attempts
        # and not running for every job (J1 ran once), in every format
        ok(jobs and all(r.get("attempts", 0) is None and r.get("running", 0) is None for r in jobs.values()),
           "--source usage --by job, json: attempts and running are null (not in barge.usage), not 0 and false",
           jobs.get("J1"))
        rows = [x.split() for x in usage(st, "--by", "job", "--source", "usage").splitlines() if x.startswith("J1 ")]
        ok(rows and rows[0][4] == "-", "--source usage --by job, table: ATTEMPTS is '-' for J1, not 0", rows)
        rows = [x.split(",") for x in usage(st, "--by", "job", "--format", "csv", "--source", "usage").splitlines()
                if x.startswith("J1,")]
        ok(rows and rows[0][4:6] == ["", ""], "--source usage --by job, csv: attempts and running are empty for J1", rows)
        ok(reached("ce", "computeEnvironment", CES) is not None, "barge.usage: CE totals", from_usage("ce", "computeEnvironment"))
        ok(reached("share", "shareIdentifier", SHARES) is not None, "barge.usage: share totals")
        ces = from_usage("ce", "computeEnvironment")
        ok(near(sum(float(r["idleCost"]) for r in ces.values()) + sum(float(r["cost"]) for r in jobs.values()),
                sum(float(r["cost"]) for r in ces.values())),
           "barge.usage reconciles: JOB records + IDLE == CE records")
        st.kill("acct1", signal.SIGTERM)
        ok(st.procs["acct1"].returncode == 0, "SIGTERM: accounting exits 0", st.procs["acct1"].returncode)

        # ---- more events while it is down, 10 minutes old (late: older than what was settled,
        # within the reopen horizon); restart; kill -9; restart
        ev.base = (int(time.time()) - 600) * 1000
        ev.inst("i-3", "ce-a", "READY", 200, 2, 2048, 0, "ON_DEMAND", 0.36)
        ev.inst("i-3", "ce-a", "TERMINATED", 300, 2, 2048, 0, "ON_DEMAND", 0.0)
        ev.run("J6", "q1", "s2", 1, "i-3", "ce-a", 1, 1024, 0, 210, 250, "SUCCEEDED")
        ev.flush()
        q_after = dict(QUEUES, q1=(130 + 40, 180 + 40, 0, 70 + 40, 0.007 + 0.004))
        ce_after = dict(CES, **{"ce-a": (170, 220, 0, 200, 0.02)})
        st.start("acct2", *acct_args)
        waited("acct2", lambda: reached("queue", "jobQueue", q_after) and reached("ce", "computeEnvironment", ce_after),
               90, "totals after the restart",
               "restart: the totals continue (q1 +0.004, ce-a +0.01) and nothing is counted twice",
               lambda: (from_usage("queue", "jobQueue"), from_usage("ce", "computeEnvironment")))
        st.kill("acct2", signal.SIGKILL)
        ev.send_raw(*next(s for s in ev.sent if s[0] == "job-events" and s[1] == "J6"))  # a duplicate
        ev.flush()
        st.start("acct3", *acct_args)
        group = f"acct-{st.prefix}"

        def caught_up():
            """The group's committed offsets reached the end of job-events (duplicate included)."""
            import confluent_kafka as ck
            c = ck.Consumer({"bootstrap.servers": st.brokers, "group.id": group, "enable.auto.commit": False})
            try:
                ends = common.end_offsets(st, "job-events")
                got = c.committed([ck.TopicPartition(st.topic("job-events"), p) for p in ends], timeout=10)
                return all(tp.offset == ends[tp.partition] or ends[tp.partition] == 0 for tp in got)
            finally:
                c.close()
        waited("acct3", caught_up, 60, "the restarted service to commit past the duplicate",
               "the restarted service consumed (and committed) everything, the duplicate included", interval=1)
        waited("acct3", lambda: reached("queue", "jobQueue", q_after), 60, "totals after SIGKILL",
               "after SIGKILL, a restart and a duplicate event the totals are unchanged",
               lambda: from_usage("queue", "jobQueue"))
        jobs = from_usage("job", "jobId")
        ok(same(jobs.get("J6"), (40, 40, 0, 40, 0.004)) and same(jobs.get("J1"), JOBS["J1"]),
           "JOB records J1 (from the first run) and J6 (from the restarts)", (jobs.get("J1"), jobs.get("J6")))
        check_report_json(st, "queue", "jobQueue", q_after, "recomputed after the restarts")
        st.kill("acct3", signal.SIGTERM)
        ok(st.procs["acct3"].returncode == 0 and "rebuilt from" in st.log_tail("acct3", 50),
           "the last run rebuilt its state from the events before the committed offsets",
           st.log_tail("acct3", 8))

        # ---- a window reaching into the future ends now: an instance up now is not billed for
        # the time after it (it was: a day ahead gave a day of idle time)
        log("-- barge usage --until in the future")
        ev.base = int(time.time()) * 1000
        ev.inst("i-9", "ce-z", "READY", -60, 2, 2048, 0, "ON_DEMAND", 0.36)
        ev.flush()
        day_ahead = str(int(time.time()) * 1000 + 86400 * 1000)
        out = json.loads(usage(st, "--by", "ce", "--format", "json", "--until", day_ahead))
        now = int(time.time()) * 1000
        z = next((r for r in out["rows"] if r["computeEnvironment"] == "ce-z"), None)
        ok(z is not None and 60 <= z["idleInstanceSeconds"] <= 60 + 120 and out["until"] <= now + 1000,
           "--until a day ahead: counted until now (ce-z idle about 60 s), and until says now", (z, out["until"], now))
        r = st.run("usage", "--topic-prefix", st.prefix, "--since", day_ahead, "--until", str(int(day_ahead) + 1000),
                   check=False)
        ok(r.returncode == 2 and "in the future" in r.stderr, "a window wholly in the future is refused", r.stderr)
    finally:
        st.close()
    common.finish()


if __name__ == "__main__":
    main()
