#!/usr/bin/env python3
"""test_watch_no_record.py: `barge watch` prints a transition whose JobRecord it has not read
(after waiting 3 s for it, or at Ctrl-C), from the JobStateChange alone, and does not crash.

A JobStateChange is written to barge.job-events with no record on barge.jobs (as when barge.jobs is
read behind barge.job-events, or the record was compacted away). Before the fix, the detail built
from the event alone had no jobArn: the event could not be built, and printing it (puts of NULL)
killed `barge watch` with SIGSEGV, 3 s after reading it or at once on Ctrl-C (seen as a flaky exit
-11 in test_watch_details)."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402


def body(st):
    st.init()
    avro = common.Avro()
    job = "norecord-1"
    ev = {"header": common.header("scheduler"), "jobId": job, "jobName": "nr", "jobQueue": "q", "parentJobId": None,
          "attempt": 0, "oldStatus": "SUBMITTED", "newStatus": "RUNNABLE", "statusReason": None, "instanceId": None,
          "computeEnvironment": None, "exitCode": None, "shareIdentifier": None, "vcpus": 1, "memoryMib": 64,
          "gpus": 0, "at": int(time.time() * 1000)}
    common.produce_raw(st, "job-events", job.encode(), avro.encode("JobStateChange", ev))

    t0 = time.monotonic()
    p = st.run("watch", "--job", job, "--from-beginning", "--count", "1", check=False, timeout=60)
    lines = p.stdout.splitlines()
    ok(p.returncode == 0 and len(lines) == 1, "watch --count 1: the transition without a record is printed, exit 0",
       (p.returncode, p.stdout[-300:], p.stderr[-300:]))
    d = json.loads(lines[0])["detail"] if p.returncode == 0 and lines else {}
    ok(d.get("jobId") == job and d.get("status") == "RUNNABLE" and d.get("jobName") == "nr",
       "from the event: job id, name and the new status", d)
    ok(time.monotonic() - t0 < 30, "within its 3 s wait for the record (and the start-up)")

    w = subprocess.Popen([common.BARGE, "watch", "--job", job, "--from-beginning"], env=st.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)  # read, still waiting for the record
    w.send_signal(signal.SIGINT)
    out, err = w.communicate(timeout=30)
    ok(w.returncode == 130 and len(out.splitlines()) == 1, "Ctrl-C while it waits for the record: printed, exit 130",
       (w.returncode, out[-300:], err[-300:]))

    # output that cannot be written (a full disk) ends the watch: exit 1, said on stderr; it went on
    # reading and losing every event until interrupted (without --count, for ever)
    with open("/dev/full", "w") as full:
        w = subprocess.Popen([common.BARGE, "watch", "--job", job, "--from-beginning"], env=st.env,
                             stdout=full, stderr=subprocess.PIPE, text=True)
        try:
            _, err = w.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()
            _, err = w.communicate()
    ok(w.returncode == 1 and "cannot write the output" in err,
       "stdout on a full disk: watch stops at its first lost event, exit 1, saying so", (w.returncode, err[-300:]))


if __name__ == "__main__":
    common.run_test("wnorec", body)
