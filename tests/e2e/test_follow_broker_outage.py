#!/usr/bin/env python3
"""test_follow_broker_outage.py: `barge watch` and `barge logs --follow` through a broker outage
(docs/operations.md, "Following through a broker outage").

A broker of the test's own has two listeners: one the stack's services and the test use, and one
advertised as a relay (CutRelay) that the two followers reach it through. Cutting the relay (its
connections closed, its port refusing) is an outage for the followers only: the scheduler and
the agent go on, so events are written while the followers cannot read them.

watch (of the queue) and logs --follow (of a job printing a line a second) are started, then the
relay is cut while the job runs. Within a few seconds each must say once on stderr that no broker
at the relay's address can be reached and that it waits (Ctrl-C to stop); logs goes on printing
the job's file meanwhile. The job ends and a second job runs from start to end during the outage.
Once the relay is back each says that the broker answers again; watch then prints every
transition the topic holds for the two jobs, exactly once and in order, and logs --follow prints
every line of the job once and exits 0 when it learns the job ended. stdout carries nothing
else. Then with --broker-timeout 4, both give up during another outage with exit status 1 and a
line saying so (--broker-timeout 0, or logs' without --follow, is bad usage: exit 2). Before the
change they printed librdkafka's "all brokers are down" only and waited in silence;
--broker-timeout did not exist.

The relay also cuts itself at the first request that names barge.jobs: logs --follow's first read
of the job's record. logs must say the outage within a few seconds, in the same words, and once
the relay is back print the job's lines and exit 0; with --broker-timeout 3, give up (exit 1);
at Ctrl-C, exit 130.
It waited 10 s in silence, then failed with exit 1.

The relay also holds every Metadata request for 3 s while a job runs under watch and
logs --follow: neither may say the broker cannot be reached (each question left unanswered for
2 s was "unreachable", then "answers again"), and both print the job to its end."""
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import own_kafka  # noqa: E402
import tcp_relay  # noqa: E402
from common import log, ok  # noqa: E402

INST = "i-0f0110e0000000a1"
LINES = 14


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CutRelay(tcp_relay.Relay):
    """A relay whose cut() closes every connection and stops listening (connections refused),
    and resume() listens again on the same port. It reads the Kafka requests that pass (each a
    4-byte size and the request, whose first two bytes are its API key): cut_on(name) cuts it as
    soon as a request naming name arrives (that request is not passed on), and metadata_delay
    (seconds) holds each Metadata request (API key 3) that long before it passes, the other
    requests going on meanwhile: a broker that answers metadata slowly."""

    def __init__(self, port, target_port):
        self.clients, self.lock, self.listen_port = [], threading.Lock(), port
        self.trigger, self.cut_at, self.metadata_delay, self.delayed = None, None, 0.0, 0
        super().__init__(("127.0.0.1", port), ("127.0.0.1", target_port))

    def cut_on(self, name):
        self.trigger, self.cut_at = name, None

    def connect(self):
        # accept() asks connect() and then new_connection() for each connection, one at a time
        self.up = super().connect()
        return self.up

    def new_connection(self):
        up, buf, send_lock = self.up, bytearray(), threading.Lock()

        def send(frame):
            with send_lock:
                try:
                    up.sendall(frame)
                except OSError:
                    pass

        def forward(data):
            buf.extend(data)
            while len(buf) >= 6 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                n = 4 + int.from_bytes(buf[:4], "big")
                frame = bytes(buf[:n])
                del buf[:n]
                if self.trigger and self.trigger in frame:
                    self.trigger, self.cut_at = None, time.monotonic()
                    self.cut()
                    return b""
                if int.from_bytes(frame[4:6], "big") == 3 and self.metadata_delay:
                    self.delayed += 1
                    threading.Timer(self.metadata_delay, send, (frame,)).start()
                else:
                    send(frame)
            return b""  # sent here, under send_lock, not by pipe()

        return forward

    def admit(self, client):
        with self.lock:
            self.clients.append(client)
        return True

    def cut(self):
        try:
            self.srv.shutdown(socket.SHUT_RDWR)  # wakes the accept thread, which then ends
        except OSError:
            pass
        self.srv.close()
        with self.lock:
            clients, self.clients = self.clients, []
        tcp_relay.close_both(*clients)

    def resume(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.listen_port))
        srv.listen(64)
        self.srv = srv
        threading.Thread(target=self.accept, daemon=True).start()


class Follower:
    """A barge command with stdout and stderr in files, read as they grow."""

    def __init__(self, st, name, args, env):
        self.out_path = os.path.join(st.home, f"{name}.out")
        self.err_path = os.path.join(st.home, f"{name}.err")
        with open(self.out_path, "w") as o, open(self.err_path, "w") as e:
            self.p = subprocess.Popen([common.BARGE, *args], env=env, stdout=o, stderr=e, stdin=subprocess.DEVNULL)

    def out(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def err(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def until(what, fn, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = fn()
        if v:
            return time.monotonic() - t0
        time.sleep(0.2)
    log(f"    gave up waiting for {what} after {timeout} s")
    return None


def transitions(text):
    """(jobId, status) of each "Batch Job State Change" line of watch's stdout, in order, and the
    lines that are not one."""
    got, other = [], []
    for line in text.splitlines():
        try:
            ev = json.loads(line)
            if ev.get("detail-type") != "Batch Job State Change":
                raise ValueError
            got.append((ev["detail"]["jobId"], ev["detail"]["status"]))
        except (ValueError, KeyError, TypeError):
            other.append(line)
    return got, other


def body(relay, relay_addr):
    st = common.Stack("follow")
    followers = []
    try:
        # bad usage, said before any broker is asked: exit 2
        p = st.run("logs", "some-job", "--broker-timeout", "3", check=False)
        ok(p.returncode == 2 and "give --follow too" in p.stderr, "logs --broker-timeout without --follow: exit 2",
           (p.returncode, p.stderr))
        p = st.run("watch", "--broker-timeout", "0", check=False)
        ok(p.returncode == 2 and "--broker-timeout" in p.stderr, "watch --broker-timeout 0: exit 2, naming the option",
           (p.returncode, p.stderr))
        st.init_queue("q", "local")
        st.scheduler()
        st.agent(INST)
        st.register("ticker", ["sh", "-c", f"for i in $(seq 1 {LINES}); do echo line $i; sleep 1; done"], settle=True)
        st.register("quick", ["echo", "quick"], settle=True)
        fenv = dict(st.env, BARGE_BROKERS=relay_addr)  # the followers reach the broker through the relay

        watch = Follower(st, "watch", ["watch", "--job-queue", "q"], fenv)
        followers.append(watch)
        time.sleep(3)  # watch positioned at the end before the first job is submitted
        job1 = st.submit("ticker-1", "q", "ticker")
        logs = Follower(st, "logs", ["logs", job1, "--follow"], fenv)
        followers.append(logs)
        ok(until("line 2 from logs --follow", lambda: "line 2\n" in logs.out(), 90) is not None,
           "logs --follow prints the running job's lines", (logs.out()[-300:], logs.err()[-500:]))
        ok(until("RUNNING from watch", lambda: (job1, "RUNNING") in transitions(watch.out())[0], 30) is not None,
           "watch prints the job's transitions up to RUNNING", (watch.out()[-500:], watch.err()[-500:]))

        # ---- the outage: the followers' relay is cut; the job goes on and a second job runs ----
        relay.cut()
        t_cut = time.monotonic()
        said = f"no Kafka broker at {relay_addr} can be reached"
        for f, name in ((watch, "watch"), (logs, "logs")):
            took = until(f"{name}'s outage message", lambda f=f: said in f.err(), 20)
            ok(took is not None and took < 15 and "still waiting" in f.err() and "Ctrl-C" in f.err(),
               f"{name}: says within a few seconds on stderr that no broker at {relay_addr} can be reached, that it "
               f"waits, and how to stop", (took, f.err()[-600:]))
            ok("brokers are down" not in f.err(), f"{name}: in Barge's words, not librdkafka's", f.err()[-600:])
        out_at_cut = watch.out()
        detail = st.wait_terminal([job1], 60)
        ok(detail[job1]["status"] == "SUCCEEDED", "the job ends during the outage", detail[job1]["status"])
        job2 = st.submit("quick-1", "q", "quick")
        st.wait_terminal([job2], 60)
        ok(f"line {LINES}\n" in logs.out() and logs.p.poll() is None,
           "logs --follow printed the job's file to its end during the outage, and still waits for the job's end",
           (logs.p.poll(), logs.out()[-200:]))
        ok(watch.out() == out_at_cut, "watch printed nothing during the outage", watch.out()[len(out_at_cut):][:300])
        time.sleep(max(0.0, 12 - (time.monotonic() - t_cut)))  # an outage of some length
        for f, name in ((watch, "watch"), (logs, "logs")):
            ok(f.err().count(said) == 1, f"{name}: the outage is said once", f.err()[-800:])

        relay.resume()
        back = f"a Kafka broker at {relay_addr} answers again"
        for f, name in ((watch, "watch"), (logs, "logs")):
            took = until(f"{name}'s recovery message", lambda f=f: back in f.err(), 40)
            ok(took is not None and "going on from where it stopped" in f.err(),
               f"{name}: says on stderr that the broker answers again ({took} s after the relay came back)",
               f.err()[-600:])

        for f, name in ((watch, "watch"), (logs, "logs")):
            log(f"    {name}'s stderr:\n      " + f.err().strip().replace("\n", "\n      "))

        # watch: every transition of the two jobs on barge.job-events, once each, in order
        events = common.job_events(st, common.Avro())
        want = [(e["jobId"], e["newStatus"]) for e in events if e["jobId"] in (job1, job2)]
        ok(until("watch to print job 2's end", lambda: (job2, "SUCCEEDED") in transitions(watch.out())[0], 40)
           is not None, "watch prints what was written during the outage", watch.out()[-600:])
        time.sleep(4)  # anything repeated would come now
        got, other = transitions(watch.out())
        counts = collections.Counter(got)
        ok(got == want, "watch printed exactly the transitions of barge.job-events, in order, none skipped",
           {"got": got, "want": want})
        ok(all(n == 1 for n in counts.values()), "watch printed each transition once",
           [k for k, n in counts.items() if n > 1])
        ok(not other, "watch's stdout carries only the events", other[:3])
        ok(watch.p.poll() is None, "watch still runs", watch.err()[-300:])
        watch.p.send_signal(signal.SIGINT)
        ok(watch.wait(15) == 130, "Ctrl-C then stops watch, exit 130", watch.p.returncode)

        # logs --follow: every line once, then the end of the job ends it
        rc = logs.wait(40)
        want_lines = "".join(f"line {i}\n" for i in range(1, LINES + 1))
        ok(rc == 0, "logs --follow learns after the outage that the job ended and exits 0", (rc, logs.err()[-600:]))
        ok(logs.out() == want_lines, "logs --follow printed every line of the job once, and nothing else",
           logs.out()[-400:])

        # ---- the outage begins while logs --follow reads the job's record ----
        relay.cut_on(st.topic("jobs").encode())  # at the record's first request
        l3 = Follower(st, "logs3", ["logs", job1, "--follow"], fenv)
        followers.append(l3)
        ok(until("logs' read of the record to cut the relay", lambda: relay.cut_at is not None, 60) is not None,
           "the relay is cut as logs --follow reads the job's record", l3.err()[-400:])
        took = until("logs' outage message during the record's read", lambda: said in l3.err(), 20)
        took = None if took is None else time.monotonic() - relay.cut_at
        ok(took is not None and took < 7 and "still waiting" in l3.err(),
           f"logs --follow: an outage while the job's record is read is said as any other, within a few seconds "
           f"({took} s after the cut)", (l3.p.poll(), l3.err()[-600:]))
        time.sleep(max(0.0, 9 - (time.monotonic() - relay.cut_at)))
        relay.resume()
        rc = l3.wait(60)
        ok(rc == 0 and l3.out() == want_lines, "logs --follow: once the broker answers, reads the record and prints "
           "the job's lines, once each, and exits 0", (rc, l3.out()[-300:], l3.err()[-600:]))
        ok(l3.err().count(said) == 1 and back in l3.err() and "brokers are down" not in l3.err(),
           "logs --follow: says the outage once and its end, in Barge's words", l3.err()[-800:])
        log("    logs --follow (cut during the record's read)'s stderr:\n      "
            + l3.err().strip().replace("\n", "\n      "))

        # with --broker-timeout, that wait is bounded as well
        relay.cut_on(st.topic("jobs").encode())
        l4 = Follower(st, "logs4", ["logs", job1, "--follow", "--broker-timeout", "3"], fenv)
        followers.append(l4)
        ok(until("logs' read of the record to cut the relay", lambda: relay.cut_at is not None, 60) is not None,
           "the relay is cut again as logs --follow --broker-timeout 3 reads the job's record", l4.err()[-400:])
        rc = l4.wait(40)
        took = time.monotonic() - relay.cut_at
        ok(rc == 1 and 3 <= took < 15 and "has answered for" in l4.err() and "--broker-timeout 3" in l4.err()
           and "giving up" in l4.err() and l4.out() == "",
           f"logs --follow --broker-timeout 3: gives up during the record's read, exit 1, saying why ({took:.1f} s "
           f"after the cut)", (rc, l4.err()[-600:]))
        relay.resume()

        # and Ctrl-C ends it, as it ends the rest of --follow
        relay.cut_on(st.topic("jobs").encode())
        l6 = Follower(st, "logs6", ["logs", job1, "--follow"], fenv)
        followers.append(l6)
        ok(until("logs' outage message during the record's read", lambda: said in l6.err(), 60) is not None,
           "logs --follow says the outage during the record's read again", l6.err()[-400:])
        l6.p.send_signal(signal.SIGINT)
        rc = l6.wait(10)
        ok(rc == 130 and l6.out() == "", "Ctrl-C during that wait stops logs --follow, exit 130", (rc, l6.err()[-400:]))
        relay.resume()

        # ---- a broker that answers metadata in 3 s is slow, not gone ----
        w5 = Follower(st, "watch5", ["watch", "--job-queue", "q"], fenv)
        followers.append(w5)
        time.sleep(3)  # watch positioned at the end before the job is submitted
        job4 = st.submit("ticker-3", "q", "ticker")
        l5 = Follower(st, "logs5", ["logs", job4, "--follow"], fenv)
        followers.append(l5)
        ok(until("logs5 to print line 1", lambda: "line 1\n" in l5.out(), 60) is not None
           and until("watch5 to print RUNNING", lambda: (job4, "RUNNING") in transitions(w5.out())[0], 30)
           is not None, "watch and logs --follow follow a third job", (l5.err()[-400:], w5.err()[-400:]))
        relay.metadata_delay = 3.0
        rc = l5.wait(90)
        ok(rc == 0 and l5.out() == want_lines, "logs --follow through a slow broker: every line once, exit 0",
           (rc, l5.out()[-300:], l5.err()[-600:]))
        ok(until("watch5 to print SUCCEEDED", lambda: (job4, "SUCCEEDED") in transitions(w5.out())[0], 40)
           is not None, "watch through a slow broker prints the job's end", w5.out()[-400:])
        ok(relay.delayed > 0, f"the relay held Metadata requests 3 s ({relay.delayed} of them)", relay.delayed)
        for f, name in ((w5, "watch"), (l5, "logs --follow")):
            ok(said not in f.err() and "answers again" not in f.err(),
               f"{name}: a broker whose metadata takes 3 s is not said to be unreachable", f.err()[-600:])
        w5.p.send_signal(signal.SIGINT)
        ok(w5.wait(15) == 130, "Ctrl-C then stops watch, exit 130", w5.p.returncode)
        relay.metadata_delay = 0.0

        # ---- --broker-timeout: the wait is bounded ----
        job3 = st.submit("ticker-2", "q", "ticker")
        w2 = Follower(st, "watch2", ["watch", "--job-queue", "q", "--broker-timeout", "4"], fenv)
        l2 = Follower(st, "logs2", ["logs", job3, "--follow", "--broker-timeout", "4"], fenv)
        followers += [w2, l2]
        ok(until("logs2 to print line 1", lambda: "line 1\n" in l2.out(), 60) is not None,
           "logs --follow --broker-timeout 4 follows the second job", (l2.out(), l2.err()[-400:]))
        time.sleep(2)
        relay.cut()
        t0 = time.monotonic()
        for f, name in ((w2, "watch"), (l2, "logs --follow")):
            rc = f.wait(max(1.0, 30 - (time.monotonic() - t0)))
            took = time.monotonic() - t0
            # from the question that went unanswered, which may have been sent just before the cut
            ok(rc == 1 and 3.5 <= took < 20, f"{name} --broker-timeout 4: exits 1 once no broker answered for 4 s "
               f"({took:.1f} s after the cut)", (rc, f.err()[-600:]))
            ok("has answered for" in f.err() and "--broker-timeout 4" in f.err() and "giving up" in f.err(),
               f"{name} --broker-timeout 4: says why it gives up", f.err()[-600:])
        ok(not transitions(w2.out())[1], "watch --broker-timeout: stdout carries only events", w2.out()[-300:])
        log("    watch --broker-timeout 4's stderr:\n      " + w2.err().strip().replace("\n", "\n      "))
        relay.resume()
    finally:
        for f in followers:
            f.stop()
        st.close()


def main():
    direct, internal, controller, relay_port = free_port(), free_port(), free_port(), free_port()
    relay_addr = f"127.0.0.1:{relay_port}"
    relay = CutRelay(relay_port, internal)
    try:
        own_kafka.run("follow", "a broker with a listener behind a relay",
                      ["--port", str(direct), "--controller-port", str(controller),
                       "--set", f"listeners=PLAINTEXT://127.0.0.1:{direct},RELAYED://127.0.0.1:{internal},"
                                f"CONTROLLER://127.0.0.1:{controller}",
                       # PLAINTEXT last: kafka.sh reads the broker's own port from the end of this line
                       "--set", f"advertised.listeners=RELAYED://{relay_addr},PLAINTEXT://127.0.0.1:{direct}",
                       "--set", "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                                "RELAYED:PLAINTEXT"],
                      lambda kdir, bootstrap: body(relay, relay_addr))
    finally:
        relay.close()


if __name__ == "__main__":
    main()
