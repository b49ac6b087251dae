#!/usr/bin/env python3
"""test_agent_register_stop.py: an agent stopped by SIGTERM while its READY waits for a broker that
does not take it stops at once (docs/operations.md, "Clients and a missing broker").

A broker of the test's own advertises a relay (ProduceHold) as its address, so that every client
talks to it through the relay; once told to, the relay holds each Produce request it sees (its
connection goes silent), while metadata, fetches and offset commits pass. An agent started then
gets through its start-up to its registration (the READY on barge.instances) and waits there for
the READY's delivery. SIGTERM after a few seconds must stop it within 5 s with exit status 0 and a
line saying it stopped while starting. The wait used to ignore the signal for its 30 s, then exit
1 ("registering: flush: Local: Timed out"), and the producer's close waited 10 s more."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import own_kafka  # noqa: E402
import tcp_relay  # noqa: E402
from common import log, ok  # noqa: E402

INST = "i-0c0a7a1e0000005c3"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ProduceHold(tcp_relay.Relay):
    """A TCP relay to a Kafka broker that reads the client's requests (4-byte size, then api_key)
    and, once hold is set, forwards nothing more of a connection from its first Produce (api_key
    0) on; its answers still pass."""

    def __init__(self, port, target_port):
        self.hold = False
        self.held = 0
        super().__init__(("127.0.0.1", port), ("127.0.0.1", target_port))

    def new_connection(self):
        state = {"buf": b"", "blocked": False}

        def requests(data):
            state["buf"] += data
            out, buf = b"", state["buf"]
            while len(buf) >= 6 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                n = 4 + int.from_bytes(buf[:4], "big")
                frame, buf = buf[:n], buf[n:]
                if self.hold and int.from_bytes(frame[4:6], "big") == 0 and not state["blocked"]:
                    state["blocked"] = True
                    self.held += 1
                    log("    relay: holding a Produce request")
                if not state["blocked"]:
                    out += frame
            state["buf"] = buf
            return out

        return requests


def body(relay):
    st = common.Stack("regstop")
    try:
        st.init()
        relay.hold = True
        name = f"agent-{INST}"
        st.agent(INST, name=name)
        st.wait("the READY held at the relay", lambda: relay.held > 0 or None, timeout=60, every=0.2)
        time.sleep(3)
        ok(st.alive(name) and "ready:" not in st.log_text(name),
           f"{name} still waits for its READY's delivery 3 s after it was held", st.log_tail(name, 5))
        p = st.procs[name]
        p.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        took = time.monotonic() - t0
        st.stopped.add(name)
        ok(p.returncode == 0 and took < 5 and "stopped while starting" in st.log_text(name),
           f"SIGTERM while registering stops the agent with exit 0 within 5 s ({took:.1f} s, status {p.returncode})",
           st.log_tail(name, 5))
    finally:
        st.close()


def main():
    broker_port, relay_port = free_port(), free_port()
    relay = ProduceHold(relay_port, broker_port)
    try:
        own_kafka.run("regstop", "a broker behind a relay",
                      ["--port", str(broker_port), "--set", f"advertised.listeners=PLAINTEXT://127.0.0.1:{relay_port}"],
                      lambda kdir, bootstrap: body(relay))
    finally:
        relay.close()


if __name__ == "__main__":
    main()
