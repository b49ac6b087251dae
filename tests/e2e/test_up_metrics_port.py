#!/usr/bin/env python3
"""test_up_metrics_port.py: the metrics port `barge up` gives a service stays the service's.

A stack (the scheduler and one agent) runs under `barge up --detach`, each service with a metrics
endpoint on a free port of 127.0.0.1 chosen by the supervisor. The scheduler is killed; while it
waits to be restarted, another program tries to listen on its metrics port. It must not get it:
the supervisor holds each port's listening socket for its whole life and the service serves on it
(--metrics-fd). The scheduler then comes back and serves its metrics at the same address. The
supervisor used to let the port go once chosen: the other program got it, and the scheduler failed
at every restart ("cannot serve metrics ... port in use?") for as long as the port was held.

Then the restarted scheduler is stopped gracefully (SIGTERM) and must come back once more, serving
at the same address: a service's metrics server, stopping, used to shut the shared socket down
(shutdown(2) acts on the socket, not on the service's copy of the descriptor), so every later
start failed ("descriptor N is not an inherited listening TCP socket") for the stack's life."""
import os
import re
import signal
import socket
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def main():
    st = common.Stack("upmetrics")
    taker = None
    try:
        st.up("--no-provisioner", "--no-accounting", "--no-audit", "--no-api", "--agents", "1")
        with open(os.path.join(st.home, "services")) as f:
            line = next(x for x in f if x.startswith("scheduler\t"))
        url = line.rstrip("\n").split("\t")[4]
        port = int(re.search(r":(\d+)/metrics$", url).group(1))
        first = common.wait_for(lambda: (st.service_pids("scheduler") or [None])[0], 30, "the scheduler")
        os.kill(first, signal.SIGKILL)
        taker = socket.socket()
        taker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            taker.bind(("127.0.0.1", port))
            taker.listen(1)
            took = True
        except OSError as e:
            took = False
            log(f"binding {port}: {e}")
        ok(not took, f"while the scheduler is down another program cannot take its metrics port {port}")

        def serves(gone=()):
            pids = [p for p in st.service_pids("scheduler") if p != first and p not in gone]
            if not pids:
                return None
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                return None
            return 'barge_service_info{service="scheduler"} 1' in body
        try:
            back = common.wait_for(serves, 30, "the restarted scheduler to serve its metrics")
        except TimeoutError:
            back = False
        ok(back, f"the restarted scheduler serves its metrics at the same address ({url})",
           open(os.path.join(st.home, "scheduler.log"), errors="replace").read()[-600:])

        second = [p for p in st.service_pids("scheduler") if p != first]
        if back and second:
            os.kill(second[0], signal.SIGTERM)
            try:
                again = common.wait_for(lambda: serves((second[0],)), 45,
                                        "the scheduler stopped with SIGTERM to serve its metrics again")
            except TimeoutError:
                again = False
            ok(again, f"after a SIGTERM the scheduler is restarted and serves its metrics at {url} again",
               open(os.path.join(st.home, "scheduler.log"), errors="replace").read()[-600:])
    finally:
        if taker:
            taker.close()
        st.close()
    common.finish()


if __name__ == "__main__":
    main()
