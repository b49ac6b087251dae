"""test_dashboard_poll.py: the web dashboard (docs/dashboard.md, "Live updates") without its live
stream polls from the position of what it shows, so only newer changes come in. The page's stream
is refused (its EventSource asks for a URL the API answers 404, as a page past the API's stream
limit is answered 503), so the page polls /dashboard/api/changes; 3 jobs are submitted before the
page loads, 2 after:
- the table lists the 3 old jobs, then the 2 new ones as they come;
- the Live changes list shows the 2 new jobs' changes and none of the old ones' (polling from
  since=0 replayed every change the API keeps into the list, and loaded each row again);
- a poll that fails (the test makes the page's fetch of the changes fail once) says "offline",
  and the next one that is answered says "polling" again (it stayed "offline" for good);
- a job's page opened first (the page then has no position of a load: it takes the API's current
  one) shows in the list the job's cancel that comes after, nothing from before, and the job as
  cancelled.
A browser test: barge-test: plain-only (the sanitizer build leaves it out).
Skips (exit 77) when Chromium, its driver or Selenium are missing and cannot be installed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, start_api  # noqa: E402
from common import finish, ok, wait_for  # noqa: E402
from test_dashboard_browser import browser_scenario  # noqa: E402
from test_dashboard_json import Dash  # noqa: E402

# In every document, before the page's script: an EventSource whose request the API refuses (an
# unknown route, 404), so the browser closes it and the page falls back to polling.
REFUSE_STREAM = """
window.__streamsAsked = 0;
window.__failPolls = 0; // that many of the next polls of the changes fail, as with the API away
const realFetch = window.fetch;
window.fetch = function (url, opts) {
  if (String(url).includes('/changes?') && window.__failPolls > 0) {
    window.__failPolls--;
    return Promise.reject(new TypeError('the test failed this poll'));
  }
  return realFetch.call(this, url, opts);
};
const Real = window.EventSource;
window.EventSource = class extends Real {
  constructor(url) { window.__streamsAsked++; super(url + '-refused'); }
};
"""


def feed(p):
    return p.js("return [...document.querySelectorAll('#live-feed li')].map(li => "
                "({id: li.dataset.id, status: li.dataset.status}))")


def setup(st, jobs):
    st.init_queue("q-idle", "idle")  # no agent: its jobs stay RUNNABLE
    st.register("wait", ["sleep", "600"], settle=True)
    st.scheduler()
    addr = start_api(st)
    old = [st.submit(f"old-{i}", "q-idle", "wait") for i in range(3)]
    dash = Dash(addr)  # a session of its own, read without the page

    def runnable():
        r = dash.get("jobs?limit=10")
        return r["total"] == 3 and all(j["status"] == "RUNNABLE" for j in r["jobs"])
    wait_for(runnable, 60, "the API's view to hold the 3 old jobs RUNNABLE")
    kept = {e["id"] for e in dash.get("changes?since=0")["events"]}
    ok(set(old) <= kept, "the API keeps the old jobs' changes (a poll from 0 would bring them)", kept)
    jobs.update(old=old, dash=dash)
    return addr


def check_jobs_view(p, st, jobs):
    old = jobs["old"]
    p.d.get(p.base + "/dashboard/")
    p.until(lambda: p.id("login-view").is_displayed(), "the login form")
    p.id("access-key").send_keys(ADMIN[0])
    p.id("secret-key").send_keys(ADMIN[1])
    p.id("login-btn").click()
    p.until(lambda: p.js("return window.bargeDash.mode") == "poll", "the page to poll (its stream refused)")
    ok(p.js("return window.__streamsAsked") >= 1, "the page asked for its live stream, refused")
    p.until(lambda: sorted(r["id"] for r in p.rows()) == sorted(old), "the 3 old jobs in the table")
    new = [st.submit(f"new-{i}", "q-idle", "wait") for i in range(2)]
    try:
        p.until(lambda: set(new) <= {e["id"] for e in feed(p)} and len(p.rows()) == 5,
                "the 2 new jobs in the live changes and the table", timeout=30)
    except TimeoutError:
        pass
    got, rows = feed(p), p.rows()
    p.shot("polled")
    ok(sorted(r["id"] for r in rows) == sorted(old + new), "the table lists the old jobs and the new ones",
       (rows, p.id("table-info").text))
    ok(set(new) <= {e["id"] for e in got}, "the live changes show the new jobs' changes", got)
    ok(not [e for e in got if e["id"] in old], "the live changes show none of the old jobs' changes", got)
    jobs["new"] = new
    status = lambda: p.id("live-status").text  # noqa: E731
    p.js("window.__failPolls = 1")
    p.until(lambda: status() == "offline", "the page to say offline after a failed poll", timeout=15)
    try:
        p.until(lambda: status() == "polling", "the page to say polling again", timeout=15)
    except TimeoutError:
        pass
    ok(status() == "polling" and p.js("return window.__failPolls") == 0,
       "after a failed poll the next answered one says polling again", status())


def check_job_page(p, st, jobs):
    victim = jobs["old"][0]

    def settled():  # no change of the jobs is still to come but the cancel
        r = jobs["dash"].get("jobs?limit=10")
        return r["total"] == 5 and all(j["status"] == "RUNNABLE" for j in r["jobs"])
    wait_for(settled, 60, "the API's view to hold the 5 jobs RUNNABLE")
    p.d.get("about:blank")  # else only the hash changes, in the same page
    p.d.get(p.base + "/dashboard/#/job/" + victim)  # a new page, logged in by its cookie
    ok(not feed(p), "a new page, with nothing in its live changes yet", feed(p))
    p.until(lambda: p.id("job-view").is_displayed() and victim in p.id("job-fields").text, "the job's page")
    p.until(lambda: p.js("return window.bargeDash.mode") == "poll", "the job's page to poll")
    p.until(lambda: p.js("return window.bargeDash.polls") >= 1, "the page's first poll", timeout=15)
    st.run("cancel-job", "--job-id", victim, "--reason", "cancelled by test_dashboard_poll")
    try:
        p.until(lambda: any(e["status"] == "FAILED" for e in feed(p)) and "FAILED" in p.id("job-title").text,
                "the cancel in the live changes and on the job's page", timeout=30)
    except TimeoutError:
        pass
    got = feed(p)
    p.shot("job-page")
    ok(got == [{"id": victim, "status": "FAILED"}],
       "a job's page opened first shows the job's cancel in the live changes, and nothing from before", got)
    ok("FAILED" in p.id("job-title").text, "the job's page shows it FAILED", p.id("job-title").text)


def main():
    jobs = {}
    browser_scenario("dashpoll", "dashboard polling", lambda st: setup(st, jobs),
                     lambda p, st, addr: (check_jobs_view(p, st, jobs), check_job_page(p, st, jobs)),
                     scripts=[REFUSE_STREAM])
    finish()


if __name__ == "__main__":
    main()
