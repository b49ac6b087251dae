#!/usr/bin/env python3
"""test_up_fork_retry.py: `barge up` restarts a service whose first restart could not fork.

A stack (the scheduler and one agent, nothing else) runs under `barge up --detach`. The supervisor's
RLIMIT_NPROC is lowered to 1 (prlimit), so that its fork() fails (EAGAIN); the scheduler is killed;
the supervisor must say it cannot restart it. The limit is then put back, and no other signal
reaches the supervisor: it must still start the scheduler again, within its backoff (it used to
wait for another signal, for ever, with the scheduler shown as restarting in `barge status`).
RLIMIT_NPROC does not bind root, so as root the stack runs as the user nobody (setpriv)."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

NOBODY = 65534


def nproc_soft(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max processes"):
                return line.split()[2]
    return None


def main():
    as_user = []
    if os.geteuid() == 0:
        if not shutil_which("setpriv") or not shutil_which("prlimit"):
            print("skipped: setpriv and prlimit are needed to run the stack as another user")
            sys.exit(77)
        as_user = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    elif not shutil_which("prlimit"):
        print("skipped: prlimit is needed")
        sys.exit(77)
    st = common.Stack("upfork")
    sup = None
    try:
        if as_user:
            os.chown(st.home, NOBODY, NOBODY)
        env = dict(st.env, HOME=st.home)

        def barge(*args):
            return subprocess.run(as_user + [common.BARGE, *args], env=env, capture_output=True, text=True,
                                  timeout=180)

        r = barge("up", "--detach", "--brokers", st.brokers, "--no-provisioner", "--no-accounting", "--no-audit",
                  "--no-api", "--no-metrics", "--agents", "1")
        if not ok(r.returncode == 0, "barge up --detach starts the stack", r.stdout + r.stderr):
            return
        sup = int(st.stack_value("supervisor"))

        def scheduler():
            pids = [p for p in common._children(sup) if " scheduler " in common.cmdline(p) + " "]
            return pids[0] if pids else None
        first = common.wait_for(scheduler, 30, "the scheduler")
        old = nproc_soft(sup)
        r = subprocess.run(as_user + ["prlimit", "--pid", str(sup), "--nproc=1:"], capture_output=True, text=True)
        ok(r.returncode == 0 and nproc_soft(sup) == "1", "the supervisor's RLIMIT_NPROC is lowered to 1",
           r.stderr)
        os.kill(first, signal.SIGKILL)
        up_log = os.path.join(st.home, "up.log")

        def said():
            try:
                with open(up_log) as f:
                    return re.search(r"cannot restart scheduler", f.read())
            except OSError:
                return None
        try:
            common.wait_for(said, 20, "the supervisor to fail to restart the scheduler")
        except TimeoutError as e:
            ok(False, str(e), scheduler())
        ok(scheduler() is None, "no scheduler runs while the supervisor cannot fork")
        r = subprocess.run(as_user + ["prlimit", "--pid", str(sup), f"--nproc={old}:"], capture_output=True,
                           text=True)
        ok(r.returncode == 0 and nproc_soft(sup) == old, f"the limit is put back ({old})", r.stderr)
        t0 = time.monotonic()
        try:
            again = common.wait_for(scheduler, 40, "the scheduler to be started again")
        except TimeoutError:
            again = None
        ok(again is not None and again != first,
           f"with no other signal the supervisor starts the scheduler again ({time.monotonic() - t0:.0f} s)",
           tail(up_log))
        # the stack has no metrics: `running` (its readiness unknown; docs/operations.md "barge status")
        def shown_up():
            shown_up.s = barge("status")
            return re.search(rf"^scheduler\s+{again}\s+running\s", shown_up.s.stdout, re.M)
        shown_up.s = None
        try:
            common.wait_for(shown_up, 30 if again is not None else 0, "barge status to show the new scheduler running")
        except TimeoutError:
            pass
        s = shown_up.s
        ok(again is not None and re.search(rf"^scheduler\s+{again}\s+running\s", s.stdout, re.M) is not None,
           "barge status shows the new scheduler running", s.stdout + s.stderr)
    finally:
        if sup:
            r = barge("down")
            log(f"barge down: {r.returncode} {r.stdout.strip()[-200:]}")
        st.close()
    common.finish()


def tail(path, n=800):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def shutil_which(name):
    import shutil
    return shutil.which(name)


if __name__ == "__main__":
    main()
