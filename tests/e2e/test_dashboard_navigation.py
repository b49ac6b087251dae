"""test_dashboard_navigation.py: the web dashboard (docs/dashboard.md) as a user moves through it in
headless Chromium (the same browser and driver as test_dashboard_browser.py), against `barge api`
on the fixture broker with jobs that stay RUNNABLE (their compute environment has no agent).
A browser test: barge-test: plain-only (the sanitizer build leaves it out).

- a job's page opened after another job's shows nothing of the first: an unknown job id says so,
  with no fields, attempts or Cancel / Terminate buttons left from the job shown before (those
  buttons would act on that other job);
- the keyboard alone reaches everything: Tab from the search box comes to each job of the table
  as a link, Enter opens its page; there Tab reaches Cancel job, Enter opens the confirmation as
  a dialog with the focus in it, Escape closes it without acting and gives the focus back;
- a queue's count buttons say what they count and do ("3 RUNNABLE jobs in q-idle: show them"), and
  the table's messages (counts, errors) are a status region that screen readers announce;
- an array of 130 children lists them all: the first 100, then "Show more" the other 30;
- Terminate filtered... on a filter that selects no job says so in words ("can be terminated");
- once the API has stopped, the next request says the API cannot be reached, not the browser's
  bare "Failed to fetch".
Skips (exit 77) when Chromium, its driver or Selenium are missing and cannot be installed."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, start_api  # noqa: E402
from common import finish, ok, wait_for  # noqa: E402
from test_dashboard_browser import browser_scenario  # noqa: E402


def login(p):
    p.d.get(p.base + "/dashboard/")
    p.until(lambda: p.id("login-view").is_displayed(), "the login form")
    p.id("access-key").send_keys(ADMIN[0])
    p.id("secret-key").send_keys(ADMIN[1])
    p.id("login-btn").click()
    p.until(lambda: p.id("jobs-view").is_displayed() and len(p.rows()) >= 3, "the job table after login")


def open_job(p, job_id):
    p.js("location.hash = arguments[0]", "#/job/" + job_id)
    p.until(lambda: p.id("job-view").is_displayed() and job_id in p.id("job-fields").text, f"job {job_id}'s page")


def check_unknown_job(p, ids):
    open_job(p, ids[0])
    p.until(lambda: p.d.find_elements(p.By.ID, "job-cancel"), "the Cancel button of a RUNNABLE job")
    p.js("location.hash = '#/job/no-such-job'")
    p.until(lambda: "no-such-job" in p.id("job-title").text, "the unknown job's page")
    time.sleep(0.5)  # anything still loading for the page before has arrived by now
    fields, title = p.id("job-fields").text, p.id("job-title").text
    buttons = p.d.find_elements(p.By.CSS_SELECTOR, "#job-actions button")
    attempts = p.js("return document.querySelectorAll('#attempts tbody tr').length")
    p.shot("unknown-job")
    ok(ids[0] not in fields and not fields.strip(), "an unknown job's page shows none of the job shown before", fields)
    ok(not buttons, "an unknown job's page has no Cancel or Terminate button (they would act on the job before)",
       [b.text for b in buttons])
    ok(attempts == 0, "an unknown job's page lists no attempts", attempts)
    ok("no-such-job" in title, "the page says the job is unknown", title)


def active(p):
    return p.js("const a = document.activeElement; return a ? {tag: a.tagName, id: a.id, href: a.getAttribute('href'), "
                "inJobs: !!a.closest('#jobs tbody'), inDialog: !!a.closest('#confirm'), text: a.textContent} : null")


def tab_until(p, pred, most=40):
    from selenium.webdriver.common.keys import Keys
    for _ in range(most):
        p.d.switch_to.active_element.send_keys(Keys.TAB)
        a = active(p)
        if a and pred(a):
            return a
    return None


def check_keyboard(p, ids):
    from selenium.webdriver.common.keys import Keys
    p.js("location.hash = '#/'")
    p.until(lambda: p.id("jobs-view").is_displayed() and len(p.rows()) >= 3, "the job table")
    p.id("f-search").click()
    a = tab_until(p, lambda a: a["inJobs"])
    first = p.rows()[0]["id"]
    ok(a is not None and a["tag"] == "A" and a["href"] == "#/job/" + first,
       "Tab from the search box reaches the table's first job as a link to its page", a)
    if not a:
        return
    p.d.switch_to.active_element.send_keys(Keys.ENTER)
    p.until(lambda: p.id("job-view").is_displayed() and first in p.id("job-fields").text, "the job's page by Enter")
    ok(True, "Enter on a job's link opens its page")
    a = tab_until(p, lambda a: a["id"] == "job-cancel")
    ok(a is not None, "Tab reaches the job's Cancel job button", a)
    if not a:
        return
    p.d.switch_to.active_element.send_keys(Keys.ENTER)
    p.until(lambda: p.id("confirm").is_displayed(), "the confirmation")
    time.sleep(0.2)
    a = active(p)
    role = p.id("confirm").get_attribute("role"), p.id("confirm").get_attribute("aria-modal")
    p.shot("confirm-dialog")
    ok(a and a["inDialog"], "the confirmation takes the focus", a)
    ok(role == ("dialog", "true"), "the confirmation is a modal dialog (role, aria-modal)", role)
    p.d.switch_to.active_element.send_keys(Keys.ESCAPE)
    time.sleep(0.3)
    ok(not p.id("confirm").is_displayed(), "Escape closes the confirmation")
    ok(active(p)["id"] == "job-cancel", "the focus is back on Cancel job", active(p))
    time.sleep(1)
    ok(p.id("job-fields").text.count("RUNNABLE") and p.d.find_elements(p.By.ID, "job-cancel"),
       "Escape cancelled nothing: the job is still RUNNABLE")


def check_labels(p):
    p.js("location.hash = '#/'")
    label = p.until(lambda: p.js("const b = document.querySelector('#overview tr[data-queue=\"q-idle\"] td[data-status=\"RUNNABLE\"] button');"
                                 "return b && b.textContent !== '0' ? b.getAttribute('aria-label') || '-' : null"), "q-idle's RUNNABLE count")
    ok(label.endswith("RUNNABLE jobs in q-idle: show them"), "a count button says what it counts and does", label)
    ok(p.id("table-info").get_attribute("role") == "status", "the table's messages are a status region",
       p.id("table-info").get_attribute("role"))


def check_array_children(p, array_id):
    open_job(p, array_id)
    p.until(lambda: p.js("return document.querySelectorAll('#job-children tbody tr').length") == 100,
            "the first 100 children")
    more = p.d.find_elements(p.By.ID, "children-more")
    ok(more and more[0].is_displayed() and "100 of 130" in more[0].text,
       "an array of 130: 100 children listed and a Show more button says so", more and more[0].text)
    if not (more and more[0].is_displayed()):
        return
    more[0].click()
    n = p.until(lambda: (lambda k: k if k == 130 else None)(p.js("return document.querySelectorAll('#job-children tbody tr').length")),
                "all 130 children")
    idx = p.js("return [...document.querySelectorAll('#job-children tbody tr td:first-child')].map(t => Number(t.textContent))")
    ok(n == 130 and idx == list(range(130)) and not p.id("children-more").is_displayed(),
       "Show more lists the other 30 (indexes 0-129 in order) and goes away", (n, idx[-3:]))


def check_bulk_none(p):
    p.js("location.hash = '#/'")
    p.until(lambda: p.id("jobs-view").is_displayed(), "the job table")
    p.set_filters(status="SUCCEEDED")
    p.id("bulk-terminate").click()
    p.until(lambda: p.id("confirm").is_displayed(), "the answer to Terminate filtered")
    text = p.id("confirm-text").text
    ok(text == "No job of this filter can be terminated.", "Terminate filtered on no job says so in words", text)
    p.id("confirm-no").click()


def check_api_stopped(p, st):
    import signal
    st.kill("api", signal.SIGTERM)
    p.id("f-apply").click()
    text = p.until(lambda: p.id("table-info").text if "ms)" not in p.id("table-info").text else None,
                   "the table's answer with the API stopped")
    p.shot("api-stopped")
    ok("Cannot reach the Barge API" in text and "barge api" in text,
       "with the API stopped the table says it cannot reach the API", text)
    return st.procs["api"].returncode


def setup(st, jobs):
    st.init_queue("q-idle", "idle")  # no agent: its jobs stay RUNNABLE
    st.register("wait", ["sleep", "600"])
    st.scheduler()
    addr = start_api(st)
    array_id = st.submit("nav-array", "q-idle", "wait", size=130)
    ids = [st.submit(f"nav-{i}", "q-idle", "wait") for i in range(3)]
    # describe-jobs answers nothing for a job the scheduler has not committed yet (its first
    # commit comes a second or so after the submissions): each job must be there, as all() of
    # none is true, or the browser logs in before the jobs exist
    def runnable():
        d = st.describe(array_id, *ids)
        return set(d) == {array_id, *ids} and all(d[i]["status"] == "RUNNABLE" for i in ids)
    wait_for(runnable, 60, "the jobs RUNNABLE")
    jobs.update(array=array_id, ids=ids)
    return addr


def body(p, st, jobs):
    array_id, ids = jobs["array"], jobs["ids"]
    login(p)
    check_unknown_job(p, ids)
    check_keyboard(p, ids)
    check_labels(p)
    check_array_children(p, array_id)
    check_bulk_none(p)
    return check_api_stopped(p, st)


def main():
    jobs = {}
    api_status, status = browser_scenario("dashnav", "dashboard navigation", lambda st: setup(st, jobs),
                                          lambda p, st, addr: body(p, st, jobs))
    ok((api_status if api_status is not None else status.get("api")) == 0, "barge api stops cleanly on SIGTERM",
       (api_status, status.get("api")))
    finish()


if __name__ == "__main__":
    main()
