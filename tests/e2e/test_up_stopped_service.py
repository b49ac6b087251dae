#!/usr/bin/env python3
"""test_up_stopped_service.py: a service of `barge up` stopped with SIGSTOP.

A stack (the scheduler, one agent and the audit) runs under `barge up --detach`. The scheduler is
stopped with SIGSTOP: it runs no code, so `barge status` must not call it up. It must say
`stopped` and exit 1, as for a service that is down. Then `barge down` must stop the stack
promptly: the supervisor's SIGTERM is only acted on once the process is continued, so the
supervisor sends SIGCONT with it, and the scheduler stops cleanly ("scheduler stopping" in its log).
It used to be shown `up`, and `barge down` waited the 15 s grace and SIGKILLed it. The supervisor
is SIGSTOPped too before `barge down`: status must say it is stopped (it restarts nothing) and
exit 1, and `barge down` continues it (it used to wait 60 s and fail, the stack left running).

The stack runs with --no-metrics, so before any of that `barge status` cannot tell whether a service's
start-up is over: it must say `running` (not `up`), with the footnote saying why, and exit 3, not 0
(it used to say `up` and exit 0 for a process that may still have been starting)."""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def sched_log(st):
    try:
        with open(os.path.join(st.home, "scheduler.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def main():
    st = common.Stack("upstopped")
    try:
        st.up("--no-provisioner", "--no-accounting", "--no-api", "--no-metrics", "--agents", "1")
        common.wait_for(lambda: "scheduler running" in sched_log(st), 60, "the scheduler to run")
        s = st.run("status", check=False)
        rows = re.findall(r"^(scheduler|audit|agent \S+)\s+\d+\s+(\S+)\s", s.stdout, re.M)
        ok(s.returncode == 3 and len(rows) == 3 and {h for _, h in rows} == {"running"} and
           "cannot be told without its metrics endpoint" in s.stdout,
           "without metrics, barge status says each service is running (readiness unknown), not up, and exits 3",
           (s.returncode, s.stdout))
        sched = st.service_pids("scheduler")[0]
        os.kill(sched, signal.SIGSTOP)
        s = st.run("status", check=False)
        ok(s.returncode == 1 and re.search(rf"^scheduler\s+{sched}\s+stopped\s", s.stdout, re.M) is not None,
           "barge status says the SIGSTOPped scheduler is stopped, and exits 1", (s.returncode, s.stdout))
        # and what to do about it, as for a stopped supervisor (it said nothing more)
        ok(re.search(rf"^scheduler\s+{sched}\s+stopped\s.*kill -CONT {sched}", s.stdout, re.M) is not None,
           "... and that `kill -CONT PID` continues it", s.stdout)
        sup = st.supervisor
        os.kill(sup, signal.SIGSTOP)
        s = st.run("status", check=False)
        ok(s.returncode == 1 and re.search(rf"^stack: supervisor pid {sup} \(stopped", s.stdout, re.M) is not None,
           "with the supervisor SIGSTOPped too, barge status says so", (s.returncode, s.stdout))
        t0 = time.monotonic()
        d = st.run("down", check=False, timeout=120)
        took = time.monotonic() - t0
        ok(d.returncode == 0 and took < 10, f"barge down stops the stack in {took:.1f} s (under 10 s)",
           d.stdout + d.stderr)
        ok("scheduler stopping" in sched_log(st),
           "the stopped scheduler was continued and stopped cleanly", sched_log(st)[-600:])
    finally:
        st.close()
    common.finish()


if __name__ == "__main__":
    main()
