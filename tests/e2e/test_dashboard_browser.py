"""test_dashboard_browser.py: the web dashboard of `barge api` (docs/dashboard.md) in a real
browser: headless Chromium (Debian's chromium and chromium-driver, installed by scripts/setup.sh)
driven by Selenium from PyPI, against a stack on the fixture broker (scheduler, one agent, the API).
A browser test: barge-test: plain-only (the sanitizer build leaves it out).

Jobs are submitted with boto3: two that print known lines and succeed, one that exits 3, an array
of 3, and 30 that wait on a queue whose compute environment has no agent (RUNNABLE for good). In
the browser:
- the page loads and asks for a login; a wrong secret is refused; a key of the credentials file
  logs in, and the session cookie is HttpOnly and SameSite=Strict; a POST without the page's CSRF
  token is refused even with that cookie;
- the per-queue counts show the jobs; the table finds them by name, filters by queue and status,
  sorts oldest first, and pages (25 a page) forward and back;
- a job's page shows its attempt and exit code (0, and 3 for the failing one) and its log lines;
  the array's page its children by status;
- a job cancelled from its page turns FAILED on that page, and three jobs cancelled in bulk (the
  filter's count confirmed in a dialog) turn FAILED in the table, each change arriving over the
  live stream, with no reload of the page;
- a job's page shows its `barge explain` timeline, entry for entry the one `barge explain --json`
  prints;
- the compute environments page lists every environment; the MANAGED one (scaled by the sim
  provisioner) has a chart whose points grow as jobs make it scale up and down, whose desired line
  is the provisioner's decisions on barge.scaling, and whose instances are listed while they run;
- the usage page shows, row for row, the vCPU-seconds and job counts `barge usage --by queue
  --format json` prints; the fair-share page each share's RUNNABLE jobs and its weight;
- logout returns to the login form;
- failed logins from one address are limited: at most 5 in a row are answered 401, then 429 with a
  clear message and Retry-After, even for the right secret.
Screenshots of each step are kept as test artifacts in $BARGE_BUILD_DIR/test-artifacts/dashboard
(emptied at the start; a barge-dashboard-shots-* directory under the system's temp dir when
BARGE_BUILD_DIR is not set), whose path the test prints. barge api must stop cleanly on SIGTERM
while the browser still holds its live stream open.

Skips (exit 77) only when Chromium, its driver or Selenium are missing and cannot be installed
(apt-get / pip as root), saying which."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, api_scenario, api_finish  # noqa: E402
from common import Stack, log, ok, wait_for  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "chromedriver")
CFG = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60)


def find(names):
    for n in names:
        p = n if os.path.isabs(n) and os.access(n, os.X_OK) else shutil.which(n)
        if p:
            return p
    return None


def selenium_ok():
    try:
        import selenium  # noqa: F401
        return True
    except ImportError:
        return False


def ensure_browser():
    """(chromium, chromedriver) paths, installing what is missing as scripts/setup.sh would; exits
    77 when that is impossible."""
    if not (find(CHROMIUM) and find(DRIVER)) and os.geteuid() == 0:
        log("chromium or chromium-driver missing: installing them (apt-get)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=600)
    if not selenium_ok():
        log("selenium missing: installing it (pip)")
        for extra in ([], ["--break-system-packages"]):
            if subprocess.run([sys.executable, "-m", "pip", "install", "-q", *extra, "selenium"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=600).returncode == 0:
                break
    chromium, driver = find(CHROMIUM), find(DRIVER)
    missing = [n for n, p in (("chromium", chromium), ("chromium-driver", driver)) if not p]
    if not selenium_ok():
        missing.append("selenium (PyPI)")
    if missing:
        log(f"SKIP: {', '.join(missing)} not installed and could not be installed here "
            "(scripts/setup.sh installs them)")
        sys.exit(77)
    return chromium, driver


def browser(chromium, driver, profile_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not go looking for downloads
    o = webdriver.ChromeOptions()
    o.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
              "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=1400,1000", f"--user-data-dir={profile_dir}"):
        o.add_argument(a)
    d = webdriver.Chrome(service=Service(executable_path=driver), options=o)
    d.set_page_load_timeout(30)
    return d


def browser_scenario(name, what, setup, body, scripts=()):
    """A browser test's frame on a Stack of its own named name: Chromium and its driver (exit 77
    without them), setup(st) -> the API's (host, port) once its services and jobs are there, then
    body(p, st, addr) on a Page of that API. Each of scripts runs in every document the browser
    loads, before the page's own. When body raises, a screenshot "failure"; when anything raises,
    ok(False, "the WHAT scenario ran to its end"). Everything is stopped at the end. Returns body's
    result (None when it did not finish) and st.stop_services()' exit statuses."""
    chromium, driver = ensure_browser()
    shots = tempfile.mkdtemp(prefix=f"barge-{name}-shots-")
    profile = tempfile.mkdtemp(prefix=f"barge-{name}-chromium-")
    st = Stack(name)
    d, result, status = None, None, {}
    try:
        addr = setup(st)
        d = browser(chromium, driver, profile)
        for s in scripts:
            d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": s})
        p = Page(d, f"http://{addr[0]}:{addr[1]}", shots)
        try:
            result = body(p, st, addr)
        except Exception:
            p.shot("failure")
            raise
    except Exception as e:
        ok(False, f"the {what} scenario ran to its end", repr(e))
    finally:
        if d:
            d.quit()
        status = st.stop_services()
        st.close()
        shutil.rmtree(profile, ignore_errors=True)
        log(f"screenshots: {shots}")
    return result, status


def props(command):
    return {"image": "busybox", "command": ["sh", "-c", command],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}


def setup_jobs(st, batch):
    st.scheduler(tick_ms=200)
    st.agent("i-0000000000000d001", ce="run")
    st.provisioner("--driver", "sim", "--sim-boot-ms", "300", "--sim-heartbeat-ms", "1000", "--idle-delay-ms", "1500")
    st.managed_ce("m1", 4)
    batch.create_job_queue(jobQueueName="q-m1", priority=1, computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "m1"}])
    batch.register_job_definition(jobDefinitionName="sim", type="container", containerProperties={
        **props("true"), "environment": [{"name": "BARGE_SIM_DURATION_MS", "value": "2500"}]})
    pol = batch.create_scheduling_policy(name="fs", fairsharePolicy={
        "shareDecaySeconds": 0, "computeReservation": 0,
        "shareDistribution": [{"shareIdentifier": "teamA", "weightFactor": 1.0},
                              {"shareIdentifier": "teamB", "weightFactor": 0.5}]})["arn"]
    for ce in ("run", "idle"):  # `idle` has no agent: its jobs stay RUNNABLE
        batch.create_compute_environment(computeEnvironmentName=ce, type="UNMANAGED")
        batch.create_job_queue(jobQueueName=f"q-{ce}", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])
    batch.create_job_queue(jobQueueName="q-fair", priority=1, schedulingPolicyArn=pol,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "idle"}])
    batch.register_job_definition(jobDefinitionName="hello", type="container",
                                  containerProperties=props("echo hello from barge; echo second line"))
    batch.register_job_definition(jobDefinitionName="fail", type="container",
                                  containerProperties=props("echo about to fail; exit 3"))
    batch.register_job_definition(jobDefinitionName="wait", type="container", containerProperties=props("sleep 600"))
    time.sleep(2)  # the scheduler's configuration consumer reads the new resources
    ids = {}
    for n in ("dash-hello-1", "dash-hello-2"):
        ids[n] = batch.submit_job(jobName=n, jobQueue="q-run", jobDefinition="hello")["jobId"]
    ids["dash-fail"] = batch.submit_job(jobName="dash-fail", jobQueue="q-run", jobDefinition="fail")["jobId"]
    ids["dash-array"] = batch.submit_job(jobName="dash-array", jobQueue="q-run", jobDefinition="hello",
                                         arrayProperties={"size": 3})["jobId"]
    for i in range(1, 4):
        ids[f"dash-wait-{i}"] = batch.submit_job(jobName=f"dash-wait-{i}", jobQueue="q-idle", jobDefinition="wait")["jobId"]
    ids["dash-single"] = batch.submit_job(jobName="dash-single", jobQueue="q-idle", jobDefinition="wait")["jobId"]
    for i in range(26):
        batch.submit_job(jobName=f"dash-page-{i:02d}", jobQueue="q-idle", jobDefinition="wait")
    for share in ("teamA", "teamA", "teamB"):
        batch.submit_job(jobName=f"dash-fair-{share}", jobQueue="q-fair", jobDefinition="wait", shareIdentifier=share)

    def settled():
        jobs = batch.describe_jobs(jobs=list(ids.values()))["jobs"]
        by = {j["jobName"]: j["status"] for j in jobs}
        done = all(by.get(n) in ("SUCCEEDED", "FAILED") for n in ("dash-hello-1", "dash-hello-2", "dash-fail", "dash-array"))
        waiting = all(by.get(n) == "RUNNABLE" for n in by if n.startswith("dash-wait") or n == "dash-single")
        return by if done and waiting and len(by) == len(ids) else None
    by = wait_for(settled, 180, "the jobs to finish or wait", interval=1.0)
    log(f"jobs: {by}")
    return ids


class Page:
    """The browser on the dashboard, with screenshots into shots."""

    def __init__(self, d, base, shots):
        self.d, self.base, self.shots, self.n = d, base, shots, 0
        from selenium.webdriver.common.by import By
        self.By = By

    def shot(self, name):
        self.n += 1
        path = os.path.join(self.shots, f"{self.n:02d}-{name}.png")
        self.d.save_screenshot(path)

    def id(self, i):
        return self.d.find_element(self.By.ID, i)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def until(self, fn, what, timeout=20):
        def attempt():
            try:
                return fn()
            except Exception:  # an element replaced while read: try again
                return None
        return wait_for(attempt, timeout, what, interval=0.2)

    def rows(self):
        return self.js("return [...document.querySelectorAll('#jobs tbody tr')].map(r => "
                       "({id: r.dataset.id, status: r.dataset.status, name: r.querySelector('.name').textContent}))")

    def set_filters(self, queue="", status="", q="", sort="newest", limit="50"):
        from selenium.webdriver.support.ui import Select
        loads = self.js("return window.bargeDash.loads")
        self.until(lambda: any(o.get_attribute("value") == queue for o in Select(self.id("f-queue")).options),
                   f"the queue {queue!r} in the filter")
        Select(self.id("f-queue")).select_by_value(queue)
        Select(self.id("f-status")).select_by_value(status)
        box = self.id("f-search")
        box.clear()
        if q:
            box.send_keys(q)
        Select(self.id("f-sort")).select_by_value(sort)
        Select(self.id("f-limit")).select_by_value(limit)
        self.id("f-apply").click()
        self.until(lambda: self.js("return window.bargeDash.loads") > loads, "the table to load")
        return self.rows()


def check_login(p, addr):
    d = p.d
    d.get(p.base + "/dashboard/")
    p.until(lambda: p.id("login-view").is_displayed(), "the login form")
    p.shot("login")
    ok(True, "the page loads from barge api and asks for a login")
    p.id("access-key").send_keys(ADMIN[0])
    p.id("secret-key").send_keys("not-the-secret")
    p.id("login-btn").click()
    err = p.until(lambda: p.id("login-error").text, "the login error")
    ok("wrong secret" in err and p.id("login-view").is_displayed(), "a wrong secret is refused on the page", err)
    p.id("secret-key").clear()
    p.id("secret-key").send_keys(ADMIN[1])
    p.id("login-btn").click()
    p.until(lambda: p.id("jobs-view").is_displayed(), "the jobs view after login")
    ok(p.id("who").text == "admin", "logged in as the key's profile", p.id("who").text)
    cookie = next((c for c in d.get_cookies() if c["name"] == "barge_dash"), None)
    ok(cookie and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict",
       "the session cookie is HttpOnly and SameSite=Strict", cookie)
    ok(p.js("return document.cookie").find("barge_dash") < 0, "the page's scripts cannot read the session cookie")
    req = urllib.request.Request(f"http://{addr[0]}:{addr[1]}/dashboard/api/action", method="POST",
                                 data=json.dumps({"action": "cancel", "jobIds": ["x"]}).encode(),
                                 headers={"Cookie": f"barge_dash={cookie['value']}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        code = 200
    except urllib.error.HTTPError as e:
        code = e.code
    ok(code == 403, "a POST with the cookie but without the CSRF token is refused (403)", code)
    p.until(lambda: p.js("return window.bargeDash.mode") == "sse", "the live stream to open")
    ok(True, "the live stream (server-sent events) is open")


def check_table(p, ids):
    counts = p.until(lambda: p.js(
        "const r = document.querySelector('#overview tr[data-queue=\"q-idle\"] td[data-status=\"RUNNABLE\"]');"
        "return r && Number(r.textContent) >= 30 ? r.textContent : null"), "q-idle's RUNNABLE count")
    run_ok = p.js("const r = document.querySelector('#overview tr[data-queue=\"q-run\"] td[data-status=\"SUCCEEDED\"]');"
                  "return r && r.textContent")
    ok(counts == "30" and run_ok and int(run_ok) >= 2, "the per-queue counts: 30 RUNNABLE in q-idle, SUCCEEDED in q-run",
       (counts, run_ok))
    p.shot("overview")
    rows = p.set_filters(q="dash-hello")
    ok(sorted(r["id"] for r in rows) == sorted([ids["dash-hello-1"], ids["dash-hello-2"]]),
       "a search by name finds the two dash-hello jobs", rows)
    rows = p.set_filters(q=ids["dash-fail"])
    ok([r["id"] for r in rows] == [ids["dash-fail"]], "a search by job id finds that job", rows)
    rows = p.set_filters(queue="q-run", status="SUCCEEDED")
    names = sorted(r["name"].split(" ")[0].split("[")[0] for r in rows)
    ok(names == ["dash-array", "dash-hello-1", "dash-hello-2"] and all(r["status"] == "SUCCEEDED" for r in rows),
       "filter q-run / SUCCEEDED: the hello jobs and the array", names)
    rows = p.set_filters(queue="q-run", status="FAILED")
    ok([r["id"] for r in rows] == [ids["dash-fail"]], "filter q-run / FAILED: the failing job", rows)
    p.shot("filtered")
    newest = p.set_filters(queue="q-idle", limit="25")
    ok(len(newest) == 25 and p.id("table-info").text.startswith("30 jobs"), "q-idle, 25 a page: 25 rows of 30",
       (len(newest), p.id("table-info").text))
    loads = p.js("return window.bargeDash.loads")
    p.id("next").click()
    p.until(lambda: p.js("return window.bargeDash.loads") > loads, "page 2")
    page2 = p.rows()
    ok(len(page2) == 5 and not {r["id"] for r in page2} & {r["id"] for r in newest} and p.id("next").get_attribute("disabled"),
       "page 2: the other 5, and no page 3", len(page2))
    loads = p.js("return window.bargeDash.loads")
    p.id("prev").click()
    p.until(lambda: p.js("return window.bargeDash.loads") > loads, "back to page 1")
    ok([r["id"] for r in p.rows()] == [r["id"] for r in newest], "back to page 1: the same 25 rows")
    oldest = p.set_filters(queue="q-idle", sort="oldest", limit="50")
    ok([r["id"] for r in oldest] == list(reversed([r["id"] for r in newest + page2])),
       "oldest first: the same 30 jobs in the reverse order")
    p.shot("paged")


def go(p, hash_):
    """Another view of the page: a change of location.hash, never a reload."""
    p.js("location.hash = arguments[0]", hash_)


def open_job(p, job_id):
    go(p, "#/job/" + job_id)
    p.until(lambda: p.id("job-view").is_displayed() and job_id in p.id("job-fields").text, f"job {job_id}'s page")


def timeline_texts(p):
    return p.js("return [...document.querySelectorAll('#timeline tbody td.text')].map(t => t.textContent)")


def check_timeline(p, st, job_id, final):
    """The job page's timeline is `barge explain --json`'s, entry for entry."""
    want = [e["text"] for e in st.json("explain", job_id, "--json")["timeline"]]
    try:
        p.until(lambda: timeline_texts(p) == want, "the job's timeline to be explain's")
    except TimeoutError:
        pass
    got = timeline_texts(p)
    ok(got == want and any(final in t for t in got),
       f"the job's page shows its explain timeline ({len(got)} entries, the same as `barge explain --json`, "
       f"ending {final})", {"page": got, "cli": want})


def check_job_pages(p, st, ids):
    p.set_filters(q="dash-hello-1")
    p.d.find_element(p.By.CSS_SELECTOR, "#jobs tbody tr").click()
    p.until(lambda: p.id("job-view").is_displayed() and ids["dash-hello-1"] in p.id("job-fields").text, "the job's page")
    log_text = p.until(lambda: "second line" in p.id("log").text and p.id("log").text, "the job's log")
    ok(log_text.split("\n")[:2] == ["hello from barge", "second line"], "the job's page shows its log lines", log_text)
    exits = p.js("return [...document.querySelectorAll('#attempts td.exit')].map(t => t.textContent)")
    ok(exits == ["0"], "one attempt, exit code 0", exits)
    check_timeline(p, st, ids["dash-hello-1"], "SUCCEEDED")
    p.shot("job-succeeded")
    open_job(p, ids["dash-fail"])
    p.until(lambda: "about to fail" in p.id("log").text, "the failing job's log")
    exits = p.js("return [...document.querySelectorAll('#attempts td.exit')].map(t => t.textContent)")
    fields = p.js("return Object.fromEntries([...document.querySelectorAll('#job-fields dt')]"
                  ".map(dt => [dt.textContent, dt.nextElementSibling.textContent]))")
    ok(exits == ["3"] and fields.get("Exit code") == "3" and fields.get("Status") == "FAILED",
       "the failing job: FAILED, exit code 3 on the job and its attempt", (exits, fields))
    check_timeline(p, st, ids["dash-fail"], "FAILED")
    p.shot("job-failed")
    open_job(p, ids["dash-array"])
    kids = p.until(lambda: p.id("children-counts").text, "the array's children")
    ok(kids == "SUCCEEDED 3", "the array's page rolls its 3 children up by status", kids)
    p.shot("array")


def check_live(p, ids):
    p.js("window.__noReload = 'still here'")
    events = p.js("return window.bargeDash.events")
    open_job(p, ids["dash-single"])
    p.until(lambda: p.id("job-cancel").is_displayed(), "the cancel button")
    p.id("job-cancel").click()
    p.until(lambda: p.id("confirm").is_displayed(), "the confirmation")
    p.id("confirm-yes").click()
    p.until(lambda: "FAILED" in p.id("job-title").text, "the job's page to show FAILED", timeout=30)
    ok(p.js("return window.bargeDash.events") > events, "the job turned FAILED on its page through a live event")
    p.shot("job-cancelled")
    go(p, "#/")
    p.until(lambda: p.id("jobs-view").is_displayed(), "the jobs view")
    rows = p.set_filters(queue="q-idle", q="dash-wait")
    ok(len(rows) == 3 and all(r["status"] == "RUNNABLE" for r in rows), "the three dash-wait jobs, RUNNABLE", rows)
    loads = p.js("return window.bargeDash.loads")
    p.id("bulk-cancel").click()
    text = p.until(lambda: p.id("confirm").is_displayed() and p.id("confirm-text").text, "the bulk confirmation")
    ok(text.startswith("Cancel 3 jobs"), "the confirmation names the filter's 3 jobs", text)
    p.shot("bulk-confirm")
    p.id("confirm-yes").click()
    p.until(lambda: all(r["status"] == "FAILED" for r in p.rows()), "the rows to turn FAILED", timeout=30)
    ok(p.js("return window.bargeDash.loads") == loads,
       "the three rows turned FAILED from live events, without reloading the table")
    ok(p.js("return window.__noReload") == "still here", "... and without reloading the page")
    reasons = p.until(lambda: (lambda r: r if r and all("dashboard by admin" in x for x in r) else None)(
        p.js("return [...document.querySelectorAll('#jobs tbody tr')].map(r => r.lastChild.textContent)")),
        "the rows' reasons")
    ok(len(reasons) == 3, "each row then shows the cancel's reason (the row fetched again by job id)", reasons)
    feed = p.js("return document.getElementById('live-feed').textContent")
    ok(all(f"dash-wait-{i}  RUNNABLE → FAILED" in feed for i in (1, 2, 3)) and "dash-single  RUNNABLE → FAILED" in feed,
       "the live feed lists each change", feed[:400])
    p.shot("bulk-cancelled")


def chart_points(p, kind=None):
    """(at, vCPUs) of m1's chart's points (of one line, or both)."""
    sel = "svg.chart[data-ce=\"m1\"] circle" + (f".{kind}" if kind else "")
    return p.js(f"return [...document.querySelectorAll('{sel}')].map(c => [Number(c.dataset.at), Number(c.dataset.v)])")


def check_ces(p, st, batch):
    go(p, "#/ces")
    names = p.until(lambda: p.js("return [...document.querySelectorAll('#ces tbody tr')].map(r => r.dataset.ce)"),
                    "the compute environments")
    ok(sorted(names) == ["idle", "m1", "run"], "the compute environments page lists every one", names)
    before = p.until(lambda: chart_points(p) or None, "m1's chart")
    ok(all(v == 0 for _, v in before), f"m1's chart before any job: {len(before)} point(s) at 0 vCPUs", before)
    p.shot("ces-before")
    sims = [batch.submit_job(jobName=f"dash-sim-{i}", jobQueue="q-m1", jobDefinition="sim")["jobId"] for i in range(2)]
    up = p.until(lambda: (lambda d, a: (d, a) if d and a and max(v for _, v in d) >= 2 and max(v for _, v in a) >= 2
                          else None)(chart_points(p, "desired"), chart_points(p, "actual")),
                 "m1's chart to show the scale-up", timeout=60)
    ok(up and len(up[0]) + len(up[1]) > len(before),
       f"the chart's points grow as m1 scales up ({len(before)} -> {len(up[0]) + len(up[1]) if up else 0}), "
       "desired and actual reaching 2 vCPUs", up)
    insts = p.until(lambda: p.js("return [...document.querySelectorAll('#ce-instances tbody tr[data-ce=\"m1\"]')]"
                                 ".map(r => r.dataset.instance)") or None, "m1's instances in the table", timeout=30)
    ok(insts and all(i.startswith("i-") for i in insts), "m1's instances are listed while it runs", insts)
    p.shot("ces-scaled-up")
    wait_for(lambda: all(j["status"] == "SUCCEEDED" for j in batch.describe_jobs(jobs=sims)["jobs"]), 90,
             "the sim jobs to succeed", interval=1.0)

    def settled():
        # the decisions (`barge instances --decisions` leaves the heartbeats out) where the figure
        # changed, after the heartbeats' 0 the chart started from
        want, cur = [], before[0][1]
        for d in st.decisions("m1"):
            if d["toDesiredvCpus"] != cur:
                cur = d["toDesiredvCpus"]
                want.append([d["at"], cur])
        got = chart_points(p, "desired")
        settled.last = (got, want)
        return got[1:] == want and want[-1][1] == 0 and [v for _, v in chart_points(p, "actual")][-1:] == [0]
    settled.last = None
    try:
        p.until(settled, "m1's chart to match barge.scaling and come back to 0", timeout=60)
    except TimeoutError:
        pass
    ok(settled.last and settled.last[0][1:] == settled.last[1] and settled.last[1] and settled.last[1][-1][1] == 0,
       "the desired line's points are the provisioner's decisions on barge.scaling (time and vCPUs), up and back "
       "down to 0", settled.last)
    after = chart_points(p)
    ok(len(after) > len(up[0]) + len(up[1]) if up else False, f"... and the points grew again with the scale-down "
       f"({len(after)})")
    p.shot("ces-scaled-down")


def check_usage(p, st):
    go(p, "#/usage")
    rows = p.until(lambda: p.js("return [...document.querySelectorAll('#usage tbody tr')].map(r => "
                                "[r.dataset.key, r.children[1].textContent, r.querySelector('td[data-k=vcpuSeconds]').textContent])")
                   or None, "the usage report", timeout=60)
    cli = st.json("usage", "--by", "queue", "--format", "json")
    want = [[r["jobQueue"], str(r["jobs"]), r["vcpuSeconds"]] for r in cli["rows"]]
    same = len(rows) == len(want) and all(a[:2] == b[:2] and abs(float(a[2]) - b[2]) <= 0.051 for a, b in zip(rows, want))
    ok(same and any(r[0] == "q-run" and float(r[2]) > 0 for r in rows),
       "the usage page shows, row for row, the jobs and vCPU-seconds `barge usage --by queue --format json` prints",
       {"page": rows, "cli": want})
    p.shot("usage")


def check_shares(p):
    go(p, "#/shares")
    shares = p.until(lambda: p.js("return Object.fromEntries([...document.querySelectorAll('#shares "
                                  "div[data-queue=\"q-fair\"] tbody tr')].map(r => [r.dataset.share, "
                                  "[...r.children].slice(1, 3).map(c => c.textContent)]))") or None,
                     "the fair-share page", timeout=30)
    ok(shares == {"teamA": ["1", "2"], "teamB": ["0.5", "1"]},
       "the fair-share page: teamA 2 RUNNABLE at weight 1, teamB 1 at weight 0.5", shares)
    p.shot("shares")


def check_login_limit(addr):
    """Failed logins from 127.0.0.1 are limited (the page's wrong secret at the start was one)."""
    def login(secret):
        req = urllib.request.Request(f"http://{addr[0]}:{addr[1]}/dashboard/api/login", method="POST",
                                     data=json.dumps({"accessKey": ADMIN[0], "secretKey": secret}).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, {}, r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}"), e.headers
    codes = []
    for _ in range(7):
        code, body, headers = login("guess")
        codes.append(code)
        if code == 429:
            break
    ok(codes[-1] == 429 and 1 <= codes.count(401) <= 5 and set(codes[:-1]) == {401},
       "failed logins from one address: at most 5 answered 401, then 429", codes)
    msg = body.get("error", "")
    ok("too many failed logins from 127.0.0.1" in msg and "try again in" in msg and int(headers.get("Retry-After", 0)) > 0,
       "the 429 says why and when to try again (Retry-After)", (msg, headers.get("Retry-After")))
    code, _, _ = login(ADMIN[1])
    ok(code == 429, "while limited, even the right secret is refused", code)


def check_rest(p, st, batch, ids):
    jobs = {j["jobName"]: j for j in batch.describe_jobs(jobs=[ids[f"dash-wait-{i}"] for i in (1, 2, 3)])["jobs"]}
    ok(all(j["status"] == "FAILED" and "dashboard by admin" in j.get("statusReason", "") for j in jobs.values()),
       "describe_jobs agrees: FAILED, the reason naming the dashboard and the profile",
       {n: (j["status"], j.get("statusReason")) for n, j in jobs.items()})
    check_ces(p, st, batch)
    check_usage(p, st)
    check_shares(p)
    p.id("logout").click()
    p.until(lambda: p.id("login-view").is_displayed(), "the login form after logout")
    ok(True, "logout returns to the login form")
    p.id("access-key").clear()
    p.id("access-key").send_keys(ADMIN[0])
    p.id("secret-key").send_keys(ADMIN[1])
    p.id("login-btn").click()
    p.until(lambda: p.js("return window.bargeDash.mode") == "sse", "the live stream again")


def shots_dir():
    """Where the screenshots are kept: the build tree's test-artifacts/dashboard (emptied first), or a
    new directory under the system's temp dir."""
    build = os.environ.get("BARGE_BUILD_DIR")
    if not build:
        return tempfile.mkdtemp(prefix="barge-dashboard-shots-")
    path = os.path.join(build, "test-artifacts", "dashboard")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def main():
    chromium, driver = ensure_browser()
    shots = shots_dir()
    profile = tempfile.mkdtemp(prefix="barge-dashboard-chromium-")
    state = {}

    def body(st, addr):
        url = f"http://{addr[0]}:{addr[1]}"
        s = boto3.session.Session(aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1], region_name="us-east-1")
        batch = s.client("batch", endpoint_url=url, config=CFG)
        ids = setup_jobs(st, batch)
        state["d"] = browser(chromium, driver, profile)
        p = Page(state["d"], url, shots)
        try:
            check_login(p, addr)
            check_table(p, ids)
            check_job_pages(p, st, ids)
            check_live(p, ids)
            check_rest(p, st, batch, ids)
            check_login_limit(addr)
        except Exception:
            p.shot("failure")
            raise
        # the browser keeps its live stream open while the scenario stops barge api
    try:
        api_scenario("dashboard", body)
    finally:
        if state.get("d"):
            state["d"].quit()
        shutil.rmtree(profile, ignore_errors=True)
        log(f"screenshots: {shots} ({len(os.listdir(shots))} files)")
    api_finish()


if __name__ == "__main__":
    main()
