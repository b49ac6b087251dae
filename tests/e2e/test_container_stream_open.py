#!/usr/bin/env python3
"""test_container_stream_open.py: an engine whose followed log stream stays open after the
container has ended does not hold the attempt RUNNING (docs/containers.md, "The engine, driven
through its API").

podman's `GET /containers/NAME/logs?follow=1` does not always end when a short-lived container
exits; an agent that waited for the stream's end before asking `POST /wait` kept such a job
RUNNING for ever. Here a small fake Docker Engine API on a unix socket (this file) runs each
"container" for 0.3 s: its log stream sends the container's output, then stays open until the
client goes away, and its wait answers the exit code. Checked, with `barge agent --runtime docker
--engine-socket` on it:
- a job exiting 0 is SUCCEEDED within 15 s, its output in the attempt's log;
- a job exiting 3 is FAILED with the container's exitCode 3;
- the agent says it closed the stream after the container ended, and every container it
  created was removed;
- a wait that fails once is not taken for the container's end: the job's stream is followed to
  its end (5 s, well beyond the agent's 2 s drain, with the output at the end), the wait is asked
  again, and the job ends FAILED with that wait's exit code 5 and its whole output;
- a job's timeout counts from its container's start (its startedAt), not from its placement: a
  container whose start takes the engine 3 s and that runs 0.3 s SUCCEEDS under a 2 s timeout.
  It used to time out before it had run (FAILED, `Job attempt duration exceeded timeout`);
- a container that ended before its timeout is not timed out while the agent drains its stream:
  one running 0.3 s under a 1 s timeout, its stream open, SUCCEEDS. It used to end FAILED with
  the timeout's reason (the agent gives the stream 2 s after the wait has answered);
- an agent stopped (SIGTERM) while the engine starts a container (3 s here) that would run 60 s
  exits within 15 s, the container killed: it used to send its SIGKILL before the start (the
  engine refuses: not running), then wait for the container's end, 60 s; the output that another
  container, running, wrote as it was killed reaches its log (the agent used to close the log
  pipe before its worker had copied the rest of the stream);
- a TerminateJob that arrives while the engine starts a container (3 s here) that ignores
  SIGTERM gives it the whole --kill-grace-ms (2 s) from the SIGTERM sent once it has started
  before its SIGKILL: the grace used to count from the TerminateJob, so the SIGKILL followed the
  SIGTERM at once."""
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
from common import ok  # noqa: E402

INST = "i-0f5ea30000000000a"
GRACE_MS = 2000


class FakeEngine:
    """The Docker Engine API calls the agent makes, over a unix socket, one thread per connection."""

    def __init__(self, path):
        self.path = path
        self.containers = {}  # name -> {"cmd": [...], "started": t or None}
        self.removed = []
        self.open_streams = 0
        self.mu = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def read_request(f):
        line = f.readline().decode()
        if not line:
            return None
        method, target, _ = line.split(" ", 2)
        headers = {}
        while True:
            h = f.readline().decode().strip()
            if not h:
                break
            k, v = h.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        body = f.read(int(headers.get("content-length", "0")))
        return method, target, body

    @staticmethod
    def answer(c, status, obj=None):
        data = json.dumps(obj).encode() if obj is not None else b""
        c.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                  .encode() + data)

    def exit_code(self, name):
        cmd = self.containers[name]["cmd"]
        return int(cmd[1]) if len(cmd) > 1 and cmd[0] in ("exit", "waitfail") else 0

    def flaky(self, name):
        """A "waitfail" container: its first wait fails at once, it runs 5 s (well beyond the
        agent's 2 s drain), writes its output at its end, and its log stream ends then."""
        return self.containers[name]["cmd"][:1] == ["waitfail"]

    def stream_ends(self, name):
        """A "waitfail" or "slowstart" container's log stream ends with it."""
        return self.flaky(name) or self.containers[name]["cmd"][:1] == ["slowstart"]

    def end(self, name):
        c = self.containers[name]
        if "killed_at" in c:
            return c["killed_at"]
        return c["started"] + (5.0 if self.flaky(name) else 60.0 if c["cmd"][1:] in (["long"], ["stubborn"])
                               or c["cmd"] == ["lastwords"] else 0.3)

    def serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                req = self.read_request(f)
                if req is None:
                    return
                if self.handle(c, *req) == "stream":
                    return
        except (OSError, ValueError):
            pass
        finally:
            c.close()

    def handle(self, c, method, target, body):
        path = target.split("?", 1)[0]
        parts = path.strip("/").split("/")  # v1.41 containers NAME verb
        if parts[-1] == "_ping":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        elif path.endswith("/containers/json"):
            self.answer(c, 200, [])
        elif path.endswith("/containers/create"):
            name = target.split("name=", 1)[1].split("&", 1)[0]
            spec = json.loads(body or b"{}")
            with self.mu:
                self.containers[name] = {"cmd": spec.get("Cmd") or [], "started": None}
            self.answer(c, 201, {"Id": name, "Warnings": []})
        elif method == "DELETE":
            with self.mu:
                self.removed.append(parts[-1])
            self.answer(c, 204)
        elif parts[-1] == "start":
            if self.containers[parts[-2]]["cmd"][:1] == ["slowstart"]:
                self.containers[parts[-2]]["starting"] = True
                time.sleep(3)
            self.containers[parts[-2]]["started"] = time.time()
            self.answer(c, 204)
        elif parts[-1] == "wait":
            name = parts[-2]
            with self.mu:
                fail = self.flaky(name) and not self.containers[name].get("wait_failed")
                self.containers[name]["wait_failed"] = True
            if fail:
                self.answer(c, 500, {"message": "fake engine: this wait fails once"})
                return None
            while time.time() < self.end(name):
                time.sleep(0.05)
            self.answer(c, 200, {"StatusCode": self.exit_code(name)})
        elif parts[-1] == "json":
            name = parts[-2]
            ended = time.time() >= self.end(name)
            self.answer(c, 200, {"Id": name, "State": {"Pid": 0, "Running": not ended, "OOMKilled": False,
                                                       "ExitCode": self.exit_code(name)}})
        elif parts[-1] == "logs":
            name = parts[-2]
            out = f"output of {name}\n".encode()
            frame = bytes([1, 0, 0, 0]) + len(out).to_bytes(4, "big") + out
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                      b"Connection: close\r\n\r\n" + (b"" if self.stream_ends(name) else frame))
            if self.containers[name]["cmd"] == ["lastwords"]:  # a line at once (above), its last words as it is killed
                while "killed_at" not in self.containers[name]:
                    time.sleep(0.05)
                time.sleep(0.3)  # still on their way when the agent has sent its SIGKILL
                out = f"last words of {name}\n".encode()
                c.sendall(bytes([1, 0, 0, 0]) + len(out).to_bytes(4, "big") + out)
                return "stream"
            if self.stream_ends(name):  # its output at its end, then the stream ends with it
                time.sleep(max(0.0, self.end(name) - time.time()))
                c.sendall(frame)
                return "stream"
            with self.mu:
                self.open_streams += 1
            c.recv(1)  # the stream never ends from this side: only the client's close ends it
            return "stream"
        elif parts[-1] == "kill":
            name = parts[-2]
            if self.containers.get(name, {}).get("started") is None:  # as podman answers
                self.answer(c, 500, {"message": f"can only kill running containers. {name} is in state initialized"})
            else:
                sig = target.split("signal=", 1)[1].split("&", 1)[0] if "signal=" in target else "SIGKILL"
                self.containers[name].setdefault(f"{sig}_at", time.time())
                if sig != "SIGTERM" or self.containers[name]["cmd"] != ["slowstart", "stubborn"]:  # it ignores SIGTERM
                    self.containers[name].setdefault("killed_at", time.time())
                self.answer(c, 204)
        else:
            self.answer(c, 404, {"message": f"fake engine: no {method} {path}"})
        return None


def body(st):
    sock = os.path.join(st.home, "fake-engine.sock")
    eng = FakeEngine(sock)
    st.init_queue("q", "local")
    st.scheduler()
    st.agent(INST, runtime="docker", engine_socket=sock, kill_grace_ms=GRACE_MS)
    st.register("zero", ["echo", "fine"], settle=True)
    st.register("three", ["exit", "3"], settle=True)
    st.register("flaky", ["waitfail", "5"], settle=True)
    t0 = time.time()
    good = st.submit("good", "q", "zero")
    bad = st.submit("bad", "q", "three")
    jobs = st.wait_terminal([good, bad], 30)
    took = time.time() - t0
    ok(jobs[good]["status"] == "SUCCEEDED", f"the job exiting 0 is SUCCEEDED ({jobs[good]['status']}, "
       f"{jobs[good].get('statusReason', '')})")
    ok(took < 15, f"both jobs ended in {took:.1f} s (< 15 s) though the engine kept their log streams open")
    ok(jobs[bad]["status"] == "FAILED" and jobs[bad]["container"].get("exitCode") == 3,
       f"the job exiting 3 is FAILED with exitCode 3 ({jobs[bad]['status']}, {jobs[bad]['container'].get('exitCode')})")
    with open(os.path.join(st.home, "logs", good, "1.log")) as f:
        out = f.read()
    ok(f"output of barge-{good}-1" in out, f"the container's output is in the attempt's log ({out.strip()!r})")
    ok(eng.open_streams == 2, f"the engine held both log streams open ({eng.open_streams})")
    common.wait_for(lambda: len(eng.removed) >= 2, 10, "both containers removed")
    ok(sorted(eng.removed) == sorted([f"barge-{good}-1", f"barge-{bad}-1"]), f"both containers removed ({eng.removed})")
    ok("went on after the container ended" in st.log_text(f"agent-{INST}"),
       "the agent says it closed a stream that went on after its container ended")
    # a wait that fails is not taken for the end: the stream is followed to its end, and the
    # wait asked again gives the exit code
    flaky = st.submit("flaky", "q", "flaky")
    j = st.wait_terminal([flaky], 30)[flaky]
    ok(j["status"] == "FAILED" and j["container"].get("exitCode") == 5,
       f"after a failed wait, the job ends with the exit code of the second one ({j['status']}, "
       f"{j['container'].get('exitCode')})")
    with open(os.path.join(st.home, "logs", flaky, "1.log")) as f:
        out = f.read()
    ok(f"output of barge-{flaky}-1" in out, f"its output, written at its end after 5 s, is in its log ({out.strip()!r})")
    # the timeout counts from the container's start
    st.register("slowstart", ["slowstart"], timeout={"attemptDurationSeconds": 2}, settle=True)
    slow = st.submit("slowstart", "q", "slowstart")
    j = st.wait_terminal([slow], 30)[slow]
    ok(j["status"] == "SUCCEEDED", "a container started in 3 s and running 0.3 s SUCCEEDS under a 2 s timeout",
       (j["status"], j.get("statusReason")))
    # a container that has ended is not timed out while its stream drains
    st.register("quick", ["echo", "fine"], timeout={"attemptDurationSeconds": 1}, settle=True)
    quick = st.submit("quick", "q", "quick")
    j = st.wait_terminal([quick], 30)[quick]
    ok(j["status"] == "SUCCEEDED", "a container that ran 0.3 s, its stream open, SUCCEEDS under a 1 s timeout",
       (j["status"], j.get("statusReason")))
    # a TerminateJob while the container starts: the grace counts from the SIGTERM, sent at its start
    st.register("stubborn", ["slowstart", "stubborn"], settle=True)
    stub = st.submit("stubborn", "q", "stubborn")
    name = f"barge-{stub}-1"
    common.wait_for(lambda: eng.containers.get(name, {}).get("starting") or None, 30, "the stubborn slow start")
    st.run("terminate-job", "--job-id", stub, "--reason", "stop it")
    j = st.wait_terminal([stub], 30)[stub]
    c = eng.containers[name]
    ok(j["status"] == "FAILED" and "stop it" in (j.get("statusReason") or ""), "the terminated job is FAILED",
       (j["status"], j.get("statusReason")))
    gap = c.get("SIGKILL_at", 0) - c.get("SIGTERM_at", 1e18)
    ok(gap >= GRACE_MS / 1000 - 0.1, f"terminated while starting: SIGKILL {gap:.2f} s after its SIGTERM "
       f"(--kill-grace-ms {GRACE_MS})", {k: v for k, v in c.items() if k.endswith("_at") or k == "started"})
    # an agent stopped while a container starts kills it and exits; a running container's last
    # output, still in the stream when the agent killed it, reaches its log
    st.register("lastwords", ["lastwords"], settle=True)
    last = st.submit("lastwords", "q", "lastwords")
    last_log = os.path.join(st.home, "logs", last, "1.log")
    common.wait_for(lambda: os.path.exists(last_log) or None, 30, "the lastwords job's first line")
    st.register("slowlong", ["slowstart", "long"], settle=True)
    slowlong = st.submit("slowlong", "q", "slowlong")
    name = f"barge-{slowlong}-1"
    common.wait_for(lambda: eng.containers.get(name, {}).get("starting") or None, 30, "the slow start")
    agent = st.procs[f"agent-{INST}"]
    t0 = time.time()
    agent.send_signal(signal.SIGTERM)
    try:
        agent.wait(timeout=45)
    except subprocess.TimeoutExpired:
        pass
    took = time.time() - t0
    ok(agent.poll() == 0 and took < 15, f"the agent stopped while a container started exits within 15 s ({took:.1f} s)",
       agent.poll())
    ok("killed_at" in eng.containers[name], "its container was killed")
    with open(last_log) as f:
        out = f.read()
    ok(f"last words of barge-{last}-1" in out, f"a running container's last output is in its log ({out.strip()!r})")


if __name__ == "__main__":
    common.run_test("ctr-stream-open", body, extra_env={"BARGE_MIN_ATTEMPT_DURATION_SECONDS": "1"})
