#!/usr/bin/env python3
"""test_agent_options.py: `barge agent` refuses bad option values before it asks any broker,
exiting 2 at once with one line naming the option and what it takes, where they used to be taken
silently (the agent then waited for the broker, and ran with them):
- a negative --max-jobs (and 0, which meant the default), a negative --max-log-mib, and
  --start-threads beyond the 16 its help promises (or below 0), --placement-memory-ms 0 or less
  (taken as the default);
- --fence-after-ms not above --heartbeat-ms (the agent fenced itself between two heartbeats);
- --log-retention-hours negative (refused only once a broker answered), NaN or infinite;
- a capacity above the 2^30 the scheduler accepts (its events were dead-lettered: the agent was
  never given a job);
- an --instance-id that cannot name its state folder ("../../x" led out of --log-dir);
- an --address that is not an IPv4 address (the nodes of a multi-node job were handed it).
The values at the bounds are accepted: such an agent goes on to wait for the broker (127.0.0.1:1
here, where none answers) and is stopped with SIGTERM."""
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok  # noqa: E402


def agent(home, *args, timeout=10):
    """barge agent with args and no broker to answer: (exit status or None when still running after
    timeout s, stderr)."""
    env = dict(os.environ, BARGE_HOME=home)
    env.pop("BARGE_BROKERS", None)
    p = subprocess.Popen([common.BARGE, "agent", "--brokers", "127.0.0.1:1", "--compute-environment", "ce",
                          "--runtime", "process", "--log-dir", os.path.join(home, "logs"), *args],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        return None, err


def main():
    home = tempfile.mkdtemp(prefix="barge-agent-options-")
    bad = [
        (["--max-jobs", "-1"], "--max-jobs", "1 to 1000000"),
        (["--max-jobs", "0"], "--max-jobs", "1 to 1000000"),
        (["--max-log-mib", "-5"], "--max-log-mib", "0 to"),
        (["--start-threads", "100"], "--start-threads", "0 to 16"),
        (["--start-threads", "-1"], "--start-threads", "0 to 16"),
        # 0 or less was taken as the default (10 minutes)
        (["--placement-memory-ms", "-1"], "--placement-memory-ms", "at least 1"),
        (["--placement-memory-ms", "0"], "--placement-memory-ms", "at least 1"),
        # a fence within one heartbeat period: the agent cut itself off between two heartbeats
        (["--heartbeat-ms", "2000", "--fence-after-ms", "1000"], "--fence-after-ms", "--heartbeat-ms 2000"),
        (["--fence-after-ms", "-5"], "--fence-after-ms", "more than --heartbeat-ms"),
        # checked only once a broker answered (a negative value); NaN kept every log, inf overflowed
        (["--log-retention-hours", "-1"], "--log-retention-hours", "up to 1000000"),
        (["--log-retention-hours", "nan"], "--log-retention-hours", "up to 1000000"),
        (["--log-retention-hours", "inf"], "--log-retention-hours", "up to 1000000"),
        # handed to a multi-node job's nodes as AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS
        (["--address", "localhost"], "--address", "IPv4 address"),
        (["--address", "10.0.3"], "--address", "IPv4 address"),
        # above 2^30 the scheduler dead-letters the instance's events: never given a job
        (["--vcpus", "2000000000"], "--vcpus", "1073741824"),
        (["--memory", "9999999999999"], "--memory", "1073741824"),
        # the id names the state folder under --log-dir: a '/' or ".." led out of it
        (["--instance-id", "../../x"], "--instance-id", "letters, digits"),
        (["--instance-id", "a/b"], "--instance-id", "letters, digits"),
        (["--instance-id", ""], "--instance-id", "letters, digits"),
    ]
    for args, name, says in bad:
        rc, err = agent(home, *args)
        ok(rc == 2 and name in err and says in err and len(err.strip().splitlines()) == 1,
           f"barge agent {' '.join(args)}: exit 2 at once, naming the option and what it takes", (rc, err[-400:]))
    # the bounds themselves are taken: the agent goes on to wait for the broker
    rc, err = agent(home, "--max-jobs", "1", "--max-log-mib", "0", "--start-threads", "16", "--vcpus", "1073741824",
                    "--instance-id", "worker-01.example_com", "--address", "10.0.3.7", timeout=3)
    ok(rc in (None, 0) and "expects" not in err and "must be" not in err,
       "--max-jobs 1 --max-log-mib 0 --start-threads 16 --vcpus 2^30 --instance-id worker-01.example_com --address 10.0.3.7 are accepted",
       (rc, err[-400:]))
    subprocess.run(["rm", "-rf", home])
    common.finish()


if __name__ == "__main__":
    main()
