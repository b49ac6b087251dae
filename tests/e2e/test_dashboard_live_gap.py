"""test_dashboard_live_gap.py: the web dashboard (docs/dashboard.md, "Live updates") misses no job
that the API's view applies between the page's first load of the table and the moment its live
stream opens. The stream starts at the changes of its own opening: a change applied in that gap was
in neither (a user who logged in while the scheduler committed a batch saw "0 jobs" until some
other change came, which for jobs that wait RUNNABLE is never). The gap is made certain: the page's
EventSource is held back until the view has applied 3 new jobs (as a loaded machine may deliver the
stream's request late), then let through; the table must then list the 3 jobs by itself.
A browser test: barge-test: plain-only (the sanitizer build leaves it out).
Skips (exit 77) when Chromium, its driver or Selenium are missing and cannot be installed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, start_api  # noqa: E402
from common import finish, ok, wait_for  # noqa: E402
from test_dashboard_browser import browser_scenario  # noqa: E402
from test_dashboard_json import Dash  # noqa: E402

# The page's EventSource, held until window.__releaseStream() is called: the same object to
# app.js (onopen, onerror, readyState, addEventListener, close, EventSource.CLOSED), the real
# stream opened only at the release.
HOLD_STREAM = """
const Real = window.EventSource;
let release;
const gate = new Promise((r) => { release = r; });
window.__releaseStream = () => release();
window.__streamsAsked = 0;
class Held {
  constructor(url) {
    window.__streamsAsked++;
    this.readyState = Real.CONNECTING;
    this.onopen = null; this.onerror = null;
    this.listeners = [];
    this.es = null; this.closed = false;
    gate.then(() => {
      if (this.closed) return;
      const es = new Real(url);
      this.es = es;
      es.onopen = (e) => { this.readyState = es.readyState; if (this.onopen) this.onopen(e); };
      es.onerror = (e) => { this.readyState = es.readyState; if (this.onerror) this.onerror(e); };
      for (const [t, f] of this.listeners) es.addEventListener(t, f);
    });
  }
  addEventListener(t, f) { this.listeners.push([t, f]); if (this.es) this.es.addEventListener(t, f); }
  close() { this.closed = true; this.readyState = Real.CLOSED; if (this.es) this.es.close(); }
}
Held.CONNECTING = Real.CONNECTING; Held.OPEN = Real.OPEN; Held.CLOSED = Real.CLOSED;
window.EventSource = Held;
"""


def setup(st):
    st.init_queue("q-idle", "idle")  # no agent: its jobs stay RUNNABLE, no later change shows them
    st.register("wait", ["sleep", "600"], settle=True)
    st.scheduler()
    return start_api(st)


def body(p, st, addr):
    p.d.get(p.base + "/dashboard/")
    p.until(lambda: p.id("login-view").is_displayed(), "the login form")
    p.js(HOLD_STREAM)
    p.id("access-key").send_keys(ADMIN[0])
    p.id("secret-key").send_keys(ADMIN[1])
    p.id("login-btn").click()
    p.until(lambda: p.id("jobs-view").is_displayed() and p.id("table-info").text.startswith("0 jobs"),
            "the empty job table after login")
    ok(p.js("return window.__streamsAsked") == 1 and p.js("return window.bargeDash.mode") != "sse",
       "the page asked for its live stream, held back", p.js("return window.bargeDash.mode"))
    ids = [st.submit(f"gap-{i}", "q-idle", "wait") for i in range(3)]
    dash = Dash(addr)  # a session of its own, read without the page
    wait_for(lambda: dash.get("jobs?limit=10")["total"] == 3, 60,
             "the API's view to hold the 3 jobs")
    p.js("window.__releaseStream()")
    p.until(lambda: p.js("return window.bargeDash.mode") == "sse", "the live stream to open")
    try:
        p.until(lambda: sorted(r["id"] for r in p.rows()) == sorted(ids), "the 3 jobs in the table", timeout=15)
    except TimeoutError:
        pass
    rows = p.rows()
    p.shot("after-stream-open")
    ok(sorted(r["id"] for r in rows) == sorted(ids),
       "the jobs the view applied before the live stream opened show in the table, without a reload",
       (rows, p.id("table-info").text))
    counts = p.js("const b = document.querySelector('#overview tr[data-queue=\"q-idle\"] td:last-child');"
                  "return b && b.textContent")
    ok(counts == "3", "the queue's counts show them too", counts)


def main():
    browser_scenario("dashgap", "live-gap", setup, body)
    finish()


if __name__ == "__main__":
    main()
