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
- the compute environments page lists both environments; logout returns to the login form.
Screenshots of each step are kept in a directory the test prints (barge-dashboard-shots-*) under
the system's temp dir. barge api must stop cleanly on SIGTERM while the browser still holds its
live stream open.

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
from common import log, ok, wait_for  # noqa: E402

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


def props(command):
    return {"image": "busybox", "command": ["sh", "-c", command],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "64"}]}


def setup_jobs(st, batch):
    st.scheduler(tick_ms=200)
    st.agent("i-0000000000000d001", ce="run")
    for ce in ("run", "idle"):  # `idle` has no agent: its jobs stay RUNNABLE
        batch.create_compute_environment(computeEnvironmentName=ce, type="UNMANAGED")
        batch.create_job_queue(jobQueueName=f"q-{ce}", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])
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


def check_job_pages(p, ids):
    p.set_filters(q="dash-hello-1")
    p.d.find_element(p.By.CSS_SELECTOR, "#jobs tbody tr").click()
    p.until(lambda: p.id("job-view").is_displayed() and ids["dash-hello-1"] in p.id("job-fields").text, "the job's page")
    log_text = p.until(lambda: "second line" in p.id("log").text and p.id("log").text, "the job's log")
    ok(log_text.split("\n")[:2] == ["hello from barge", "second line"], "the job's page shows its log lines", log_text)
    exits = p.js("return [...document.querySelectorAll('#attempts td.exit')].map(t => t.textContent)")
    ok(exits == ["0"], "one attempt, exit code 0", exits)
    p.shot("job-succeeded")
    open_job(p, ids["dash-fail"])
    p.until(lambda: "about to fail" in p.id("log").text, "the failing job's log")
    exits = p.js("return [...document.querySelectorAll('#attempts td.exit')].map(t => t.textContent)")
    fields = p.js("return Object.fromEntries([...document.querySelectorAll('#job-fields dt')]"
                  ".map(dt => [dt.textContent, dt.nextElementSibling.textContent]))")
    ok(exits == ["3"] and fields.get("Exit code") == "3" and fields.get("Status") == "FAILED",
       "the failing job: FAILED, exit code 3 on the job and its attempt", (exits, fields))
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


def check_rest(p, batch, ids):
    jobs = {j["jobName"]: j for j in batch.describe_jobs(jobs=[ids[f"dash-wait-{i}"] for i in (1, 2, 3)])["jobs"]}
    ok(all(j["status"] == "FAILED" and "dashboard by admin" in j.get("statusReason", "") for j in jobs.values()),
       "describe_jobs agrees: FAILED, the reason naming the dashboard and the profile",
       {n: (j["status"], j.get("statusReason")) for n, j in jobs.items()})
    go(p, "#/ces")
    names = p.until(lambda: p.js("return [...document.querySelectorAll('#ces tbody tr')].map(r => r.dataset.ce)"),
                    "the compute environments")
    ok(sorted(names) == ["idle", "run"], "the compute environments page lists both", names)
    p.shot("ces")
    p.id("logout").click()
    p.until(lambda: p.id("login-view").is_displayed(), "the login form after logout")
    ok(True, "logout returns to the login form")
    p.id("access-key").clear()
    p.id("access-key").send_keys(ADMIN[0])
    p.id("secret-key").send_keys(ADMIN[1])
    p.id("login-btn").click()
    p.until(lambda: p.js("return window.bargeDash.mode") == "sse", "the live stream again")


def main():
    chromium, driver = ensure_browser()
    shots = tempfile.mkdtemp(prefix="barge-dashboard-shots-")
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
            check_job_pages(p, ids)
            check_live(p, ids)
            check_rest(p, batch, ids)
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
