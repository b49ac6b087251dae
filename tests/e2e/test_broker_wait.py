#!/usr/bin/env python3
"""test_broker_wait.py: services and `barge init` waiting for a broker that does not answer.

Each of init, scheduler, agent, provisioner, accounting and audit is started with
--brokers 127.0.0.1:1 (nothing listens there). Within a few seconds each must say once on stderr
that it waits for a Kafka broker at 127.0.0.1:1; a SIGINT must then stop it within 3 s with the
documented exit status (services 0, as at any stop; `barge init` 1: it created nothing) and a
line saying it stopped while waiting. `barge init` is run a second time with SIGINT ignored, as a
shell's background job inherits it: the SIGINT must still stop the wait (it used to run its 60 s
and ignore Ctrl-C). No Kafka is needed."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

WAITING = "waiting for a Kafka broker at 127.0.0.1:1"


def main():
    home = tempfile.mkdtemp(prefix="barge-brokerwait-")
    key = os.path.join(home, "audit.key")
    with open(key, "w") as f:
        f.write("k" * 64 + "\n")
    env = dict(os.environ, BARGE_HOME=home)
    env.pop("BARGE_BROKERS", None)
    cases = [  # name, args, exit status after SIGINT, SIGINT ignored on entry
        ("init", ["init"], 1, False),
        ("init (SIGINT inherited ignored)", ["init"], 1, True),
        ("scheduler", ["scheduler"], 0, False),
        ("agent", ["agent", "--compute-environment", "ce", "--runtime", "process",
                   "--log-dir", os.path.join(home, "logs")], 0, False),
        ("provisioner", ["provisioner"], 0, False),
        ("accounting", ["accounting"], 0, False),
        ("audit", ["audit", "--out", os.path.join(home, "audit.jsonl"), "--hmac-key-file", key], 0, False),
    ]
    procs = []
    for name, args, want, ignore in cases:
        errf = open(os.path.join(home, f"{name.split()[0]}{'-ign' if ignore else ''}.err"), "w+")
        pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore else None
        p = subprocess.Popen([common.BARGE, *args, "--brokers", "127.0.0.1:1"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=errf, preexec_fn=pre)
        procs.append((name, want, p, errf))

    def text(errf):
        errf.seek(0)
        return errf.read()

    deadline = time.time() + 15
    for name, want, p, errf in procs:
        while time.time() < deadline and WAITING not in text(errf) and p.poll() is None:
            time.sleep(0.1)
        ok(WAITING in text(errf) and p.poll() is None, f"{name}: says on stderr that it waits for the broker",
           (p.poll(), text(errf)[-500:]))
    for name, want, p, errf in procs:
        p.send_signal(signal.SIGINT)
    for name, want, p, errf in procs:
        t0 = time.time()
        try:
            rc = p.wait(timeout=3 + 1)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            ok(False, f"{name}: SIGINT stops it within 3 s (it ran on)", text(errf)[-500:])
            continue
        err = text(errf)
        ok(rc == want and "stopped while waiting for a Kafka broker at 127.0.0.1:1" in err,
           f"{name}: SIGINT stops it within {time.time() - t0:.1f} s, exit {want}, saying so", (rc, err[-500:]))
        ok(err.count(": " + WAITING) == 1 and "kafka" not in err.replace("Kafka broker", ""),
           f"{name}: the wait is said once, without librdkafka's own lines", err[-500:])
        errf.close()
    if not common._results["fail"]:
        subprocess.run(["rm", "-rf", home])
    else:
        log(f"kept {home}")
    common.finish()


if __name__ == "__main__":
    main()
