#!/usr/bin/env python3
"""test_dashboard_json.py: the dashboard's JSON (docs/dashboard.md, "The JSON it reads") as an
HTTP client reads it, without a browser.

A scheduler and `barge api` on the fixture broker, no agent: 2 jobs wait RUNNABLE in queue
`kept`, 3 in queue `gone`, which is then disabled and deleted (its jobs end FAILED,
docs/job-model.md §7.4). The job table with no queue filter still lists the 3 FAILED jobs of the
deleted queue, and its `total` must count what it lists: 5 jobs, 3 of them FAILED (it counted
only the queues still configured, so the page said "2 jobs; showing 1-5", and "0 jobs" above the
3 FAILED rows); so must the overview's totals by status, as its `jobs` does.

A `barge api --allow-anonymous` without a credentials file says in its banner that an empty login
is an anonymous session (it said to log in with a key of the credentials file it does not have)."""
import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402
from api_common import ADMIN, start_api  # noqa: E402


class Dash:
    """A logged-in dashboard session (the cookie of POST /dashboard/api/login)."""

    def __init__(self, addr):
        self.addr = addr
        status, body, headers = self.call("POST", "login", {"accessKey": ADMIN[0], "secretKey": ADMIN[1]})
        if status != 200:
            raise RuntimeError(f"dashboard login: {status} {body}")
        self.cookie = headers["set-cookie"].split(";")[0]

    def call(self, method, route, body=None):
        c = http.client.HTTPConnection(*self.addr, timeout=30)
        headers = {"Content-Type": "application/json"}
        if getattr(self, "cookie", None):
            headers["Cookie"] = self.cookie
        c.request(method, "/dashboard/api/" + route, body=json.dumps(body) if body is not None else None,
                  headers=headers)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        return r.status, json.loads(data) if data else None, hdrs

    def get(self, route):
        status, body, _ = self.call("GET", route)
        if status != 200:
            raise RuntimeError(f"GET {route}: {status} {body}")
        return body


def body(st):
    st.init()
    st.create_ce("none")  # no agent serves it: the jobs wait RUNNABLE
    st.create_queue("kept", "none")
    st.create_queue("gone", "none")
    st.register("t", ["true"], settle=True)
    st.scheduler()
    addr = start_api(st)
    kept = [st.submit(f"k{i}", "kept", "t") for i in range(2)]
    gone = [st.submit(f"g{i}", "gone", "t") for i in range(3)]
    st.wait("the 5 jobs RUNNABLE", lambda: all(j["status"] == "RUNNABLE" for j in st.describe(*kept, *gone).values())
            and len(st.describe(*kept, *gone)) == 5, timeout=60)
    st.run("update-job-queue", "--job-queue", "gone", "--state", "DISABLED")
    st.wait("the queue DISABLED", lambda: st.json("describe-job-queues", "--job-queues", "gone")["jobQueues"][0]
            ["state"] == "DISABLED", timeout=30)
    st.run("delete-job-queue", "--job-queue", "gone")
    st.wait_terminal(gone, 60)

    d = Dash(addr)

    def table(query):
        r = d.get("jobs?" + query)
        return r if len(r["jobs"]) == {"limit=100": 5, "limit=100&status=FAILED": 3}.get(query, -1) else None
    none = {"jobs": [], "total": None, "next": None}
    every = st.wait("the table to list the 5 jobs", lambda: table("limit=100"), timeout=30) or none
    log(f"  every job: {len(every['jobs'])} rows, total {every['total']}")
    ok(every["total"] == 5, "the table's total counts the 5 jobs it lists (the deleted queue's included)",
       (every["total"], sorted(j["queue"] for j in every["jobs"])))
    failed = st.wait("the table to list the 3 FAILED jobs", lambda: table("limit=100&status=FAILED"), timeout=30) or none
    ok(failed["total"] == 3 and {j["id"] for j in failed["jobs"]} == set(gone),
       "status FAILED: the 3 jobs of the deleted queue, total 3", (failed["total"], len(failed["jobs"])))
    page = d.get("jobs?limit=2")
    ok(page["total"] == 5 and len(page["jobs"]) == 2 and page["next"], "a page of 2 of the 5, with a cursor",
       (page["total"], len(page["jobs"]), page["next"]))
    ov = d.get("overview")
    ok(ov["totals"]["FAILED"] == 3 and ov["totals"]["RUNNABLE"] == 2 and sum(ov["totals"].values()) == ov["jobs"] == 5,
       "the overview's totals by status count every job, as its jobs does (the deleted queue's included)",
       (ov["totals"], ov["jobs"]))
    ok([q["name"] for q in ov["queues"]] == ["kept"], "its queues: kept only", [q["name"] for q in ov["queues"]])
    kept_only = d.get("jobs?queue=kept&limit=100")
    ok(kept_only["total"] == 2 and {j["id"] for j in kept_only["jobs"]} == set(kept), "queue kept: its 2 jobs",
       kept_only["total"])

    # without a credentials file there is no key to log in with: the banner says how to log in
    st.start("anon", "api", "--listen", "127.0.0.1:0", "--allow-anonymous", "--brokers", st.brokers,
             "--topic-prefix", st.prefix)
    banner = common.wait_for(lambda: "dashboard:" in st.log_text("anon") and st.log_text("anon"), 60,
                             "the anonymous barge api's banner")
    line = next(x for x in banner.splitlines() if "dashboard:" in x)
    ok("an empty login is an anonymous session" in line and "credentials file" not in line,
       "barge api --allow-anonymous without a credentials file: the banner says an empty login is "
       "an anonymous session, not to log in with a key of a credentials file", line)


if __name__ == "__main__":
    common.run_test("dashjson", body)
