#!/usr/bin/env python3
"""test_up_foreground_ready.py: a foreground `barge up` (no --detach) prints its report once the
stack is ready, as --detach does (docs/operations.md, "The local stack").

`barge up` (the scheduler and one agent) runs in the foreground, given as its broker a TCP relay to
the fixture's that holds back, for 6 s from the start, the first request of every connection but
barge up's own (client id barge-up): the services start but cannot be ready before then. The report
must come only once they are: it says "every service is ready", and a `barge status` run the moment
its last line ("Ctrl-C stops the stack.") shows says each service is up and exits 0. It used to print
the report right after starting the services, when status said `starting` and exited 1. The
scheduler is killed before the report: the supervisor restarts it meanwhile (the wait for readiness
runs beside the supervision, never in its way). Ctrl-C (SIGINT) then stops the stack, `barge up:
stopped`, exit 0. Last, a second foreground `barge up` whose services are held for 120 s is stopped
with Ctrl-C before its report: it stops at once (well before 20 s), exit 0, and prints no report."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import tcp_relay  # noqa: E402
from common import ok, log, wait_for  # noqa: E402

HOLD_S = 6


class SlowStart(tcp_relay.Relay):
    """Holds the first request of a connection whose client id is not barge-up until release."""

    def __init__(self, target, release):
        host, port = target.split(",")[0].rsplit(":", 1)
        self.release = release
        self.held = 0
        super().__init__(("127.0.0.1", 0), (host, int(port)))

    def new_connection(self):
        state = {"first": True}

        def requests(data):
            if state["first"]:
                state["first"] = False
                # request header: size(4) api_key(2) api_version(2) correlation_id(4) client_id
                n = int.from_bytes(data[12:14], "big") if len(data) >= 14 else 0
                client = data[14:14 + n].decode(errors="replace") if n > 0 else ""
                wait = self.release - time.monotonic()
                if client != "barge-up" and wait > 0:
                    self.held += 1
                    time.sleep(wait)
            return data

        return requests


def health(out):
    return dict(re.findall(r"^(scheduler|agent \S+)\s+\d+\s+(\S+)\s", out, re.M))


def start_up(st, relay, lines, done):
    up = subprocess.Popen([common.BARGE, "up", "--brokers", f"127.0.0.1:{relay.port}", "--no-provisioner",
                           "--no-accounting", "--no-audit", "--no-api", "--agents", "1"],
                          env=st.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def read():
        for line in up.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C stops the stack."):
                done.set()
    threading.Thread(target=read, daemon=True).start()
    return up


def scheduler_of(up, but=None):
    return next((p for p in common._children(up.pid) if " scheduler " in common.cmdline(p) + " " and p != but), None)


def stop(up):
    if up and up.poll() is None:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()


def main():
    st = common.Stack("upfg")
    relay = SlowStart(st.brokers, time.monotonic() + HOLD_S)
    up = None
    lines, done = [], threading.Event()
    try:
        t0 = time.monotonic()
        up = start_up(st, relay, lines, done)
        # a service that dies while the report waits is restarted meanwhile
        sched = wait_for(lambda: scheduler_of(up), 20, "the scheduler started")
        os.kill(sched, signal.SIGKILL)
        again = wait_for(lambda: scheduler_of(up, but=sched), 20, "the scheduler restarted")
        ok(again is not None and not done.is_set(),
           f"the supervisor restarts a scheduler killed before the report ({time.monotonic() - t0:.1f} s)",
           "\n".join(lines))
        ok(done.wait(90), "barge up prints its report", "\n".join(lines))
        took = time.monotonic() - t0
        s = st.run("status", check=False)
        h = health(s.stdout)
        log(f"report after {took:.1f} s; {relay.held} connections held")
        ok(relay.held > 0, "the relay held the services' first requests", relay.held)
        ok(s.returncode == 0 and len(h) == 2 and set(h.values()) == {"up"},
           "barge status, run as the report shows, says every service is up and exits 0",
           (s.returncode, s.stdout, "\n".join(lines)))
        ok("barge up: every service is ready" in lines and not [x for x in lines if "still starting" in x],
           "the report says every service is ready", "\n".join(lines))
        # the wait is said as it starts, before the report (it printed nothing for up to a minute)
        waiting = [i for i, x in enumerate(lines) if x.startswith("barge up: services started; waiting for them")]
        report = [i for i, x in enumerate(lines) if x.startswith("barge up: every service is ready")]
        ok(waiting and report and waiting[0] < report[0], "the wait is said before the report", "\n".join(lines))

        t1 = time.monotonic()
        up.send_signal(signal.SIGINT)
        rc = up.wait(60)
        took = time.monotonic() - t1
        wait_for(lambda: "barge up: stopped" in lines, 5, "the last line read")
        ok(rc == 0 and took < 20, f"Ctrl-C stops the stack ({took:.1f} s), exit 0", (rc, "\n".join(lines[-5:])))

        # Ctrl-C while the report still waits: no report, a prompt stop
        relay.close()
        relay = SlowStart(st.brokers, time.monotonic() + 120)
        lines, done = [], threading.Event()
        up = start_up(st, relay, lines, done)
        wait_for(lambda: scheduler_of(up), 20, "the scheduler started")
        time.sleep(1)
        t1 = time.monotonic()
        up.send_signal(signal.SIGINT)
        rc = up.wait(60)
        took = time.monotonic() - t1
        wait_for(lambda: "barge up: stopped" in lines, 5, "the last line read")
        ok(rc == 0 and took < 20 and not done.is_set(),
           f"Ctrl-C before the stack is ready stops it ({took:.1f} s), exit 0, without a report",
           (rc, "\n".join(lines)))
    finally:
        stop(up)
        st.close()
        relay.close()
    common.finish()


if __name__ == "__main__":
    main()
