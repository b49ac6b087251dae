#!/usr/bin/env python3
"""test_bulk_submit.py: `barge submit-job --from-jsonl FILE|-` against the real broker.

Checked:
  - a file of 40 requests (a blank line, an array job, a dependency on an earlier line written
    {"jobId": "line:N"}) is submitted: exit 0, stdout has "line<TAB>jobId" for every request in
    line order, stderr plain progress lines (not a terminal) and a summary; the scheduler and an
    agent then run every job to SUCCEEDED, the dependent after its dependency;
  - a file with refused lines (not JSON, an array, an unknown queue, a missing jobName, a reference to a
    refused line, a reference forward): exit 254, the accepted lines are printed and written,
    the summary names each refused line with its reason, and nothing is written for them;
  - stdin (`-`) works; on a terminal stderr shows a redrawn progress bar;
  - a line that is JSON but not an object is refused as such ("not a JSON object (an array)");
  - a line whose record is more than Kafka takes is refused saying so, and the next line is
    still submitted (the run stopped there, exit 255);
  - a refused line whose reason quotes a long name of multi-byte characters, cut in the middle
    of one, is still named in the summary (it was counted, and left out);
  - a file starting with a UTF-8 byte order mark is read as if it had none;
  - a missing file is a usage error (exit 252) with the reason (strerror).
"""
import json
import os
import pty
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def body(st):
    st.init_queue("q", "ce", maxv=4)
    st.register("quick", ["true"], memory=256)
    d = st.home

    # ---- all good ----
    lines = []
    for k in range(37):
        lines.append(json.dumps({"jobName": f"bulk-{k}", "jobQueue": "q", "jobDefinition": "quick"}))
    lines.insert(5, "")
    lines.append(json.dumps({"jobName": "bulk-array", "jobQueue": "q", "jobDefinition": "quick",
                             "arrayProperties": {"size": 3}}))
    lines.append(json.dumps({"jobName": "bulk-after", "jobQueue": "q", "jobDefinition": "quick",
                             "dependsOn": [{"jobId": "line:39"}]}))
    lines.append(json.dumps({"jobName": "bulk-last", "jobQueue": "q", "jobDefinition": "quick",
                             "tags": {"k": "v"}}))
    good = os.path.join(d, "good.jsonl")
    with open(good, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = st.run("submit-job", "--from-jsonl", good, "--batch-size", "16", check=False)
    log(r.stderr[-1500:])
    out = [x.split("\t") for x in r.stdout.splitlines()]
    ok(r.returncode == 0, f"all accepted: exit 0 (got {r.returncode})")
    ok(len(out) == 40 and [int(x[0]) for x in out] == [n for n in range(1, 42) if n != 6],
       "stdout has line<TAB>jobId for the 40 requests, in line order, the blank line skipped")
    ok("progress: " in r.stderr and "40 requests, 40 submitted, 0 rejected" in r.stderr,
       "plain progress lines and a summary on stderr")
    ids = {int(n): j for n, j in out}
    reqs = [json.loads(x)["event"] for x in st.run("replay", "print", "--topic", "requests").stdout.splitlines()]
    subs = {x["body"]["SubmitJob"]["jobId"]: x["body"]["SubmitJob"] for x in reqs if "SubmitJob" in x["body"]}
    ok(set(ids.values()) <= set(subs), "every printed id is on barge.requests")
    ok(subs[ids[40]]["dependsOn"] == [{"jobId": ids[39]}], "line:39 became the job id of line 39")

    # ---- refused lines ----
    bad_lines = [
        json.dumps({"jobName": "ok-1", "jobQueue": "q", "jobDefinition": "quick"}),
        "{not json",
        json.dumps({"jobName": "no-queue", "jobQueue": "nope", "jobDefinition": "quick"}),
        json.dumps({"jobQueue": "q", "jobDefinition": "quick"}),
        json.dumps({"jobName": "dep-on-refused", "jobQueue": "q", "jobDefinition": "quick",
                    "dependsOn": [{"jobId": "line:3"}]}),
        json.dumps({"jobName": "forward", "jobQueue": "q", "jobDefinition": "quick",
                    "dependsOn": [{"jobId": "line:9"}]}),
        json.dumps({"jobName": "ok-2", "jobQueue": "q", "jobDefinition": "quick",
                    "dependsOn": [{"jobId": "line:1"}]}),
        "[1,2]",  # valid JSON, not an object: said so, without the bogus "(column -1)"
    ]
    bad = os.path.join(d, "bad.jsonl")
    with open(bad, "w") as f:
        f.write("\n".join(bad_lines) + "\n")
    r = st.run("submit-job", "--from-jsonl", bad, check=False)
    log(r.stderr)
    acc = [x.split("\t") for x in r.stdout.splitlines()]
    ok(r.returncode == 254, f"some refused: exit 254 (got {r.returncode})")
    ok([int(x[0]) for x in acc] == [1, 7], "only lines 1 and 7 were accepted")
    ok("8 requests, 2 submitted, 6 rejected" in r.stderr, "the summary counts them")
    ok("line 2: not a JSON object" in r.stderr and "line 3: job queue nope does not exist" in r.stderr and
       "line 4: jobName is required" in r.stderr and "line 5: dependsOn[0].jobId line:3: line 3 was not submitted" in r.stderr
       and "line 6: dependsOn[0].jobId line:9: a line reference must name an earlier line" in r.stderr
       and "line 8: not a JSON object (an array)" in r.stderr and "column -1" not in r.stderr,
       "each refused line is named with its reason")

    # ---- reasons quoting long names of multi-byte characters, cut in the middle of one ----
    # (jansson refused such a reason: the line was counted as rejected but left out of the summary)
    long_name = "a" + "\u00e9" * 600
    cut_lines = [json.dumps({"jobName": "x", "jobQueue": "q", "jobDefinition": long_name}, ensure_ascii=False),
                 json.dumps({"jobName": "x", "jobQueue": "q", "jobDefinition": "quick",
                             "containerOverrides": {long_name: 1}}, ensure_ascii=False)]
    cut = os.path.join(d, "cut.jsonl")
    with open(cut, "w", encoding="utf-8") as f:
        f.write("\n".join(cut_lines) + "\n")
    r = st.run("submit-job", "--from-jsonl", cut, check=False)
    ok(r.returncode == 254 and "2 requests, 0 submitted, 2 rejected" in r.stderr
       and "\n  line 1: " in r.stderr and "\n  line 2: " in r.stderr,
       "a reason cut in the middle of a character: the line is still named with it", r.stderr[-600:])

    # ---- a line under 1 MiB whose record is more than Kafka takes: refused, the rest goes on ----
    # (it stopped the run, exit 255, the lines after it not attempted)
    huge_lines = [json.dumps({"jobName": "before-huge", "jobQueue": "q", "jobDefinition": "quick"}),
                  json.dumps({"jobName": "huge", "jobQueue": "q", "jobDefinition": "quick",
                              "parameters": {"p": "x" * 1040000}}),
                  json.dumps({"jobName": "after-huge", "jobQueue": "q", "jobDefinition": "quick"})]
    huge = os.path.join(d, "huge.jsonl")
    with open(huge, "w") as f:
        f.write("\n".join(huge_lines) + "\n")
    r = st.run("submit-job", "--from-jsonl", huge, check=False)
    ok(r.returncode == 254 and [x.split("\t")[0] for x in r.stdout.splitlines()] == ["1", "3"]
       and "3 requests, 2 submitted, 1 rejected" in r.stderr and "line 2: not written:" in r.stderr
       and "more than Kafka takes" in r.stderr,
       "a record too large for Kafka: that line refused, saying so, the next one submitted", (r.returncode, r.stderr[-400:]))

    # ---- a file starting with a UTF-8 byte order mark (Notepad, PowerShell): skipped ----
    bom = os.path.join(d, "bom.jsonl")
    with open(bom, "w", encoding="utf-8-sig") as f:
        f.write(lines[0] + "\n" + lines[1] + "\n")
    r = st.run("submit-job", "--from-jsonl", bom, check=False)
    ok(r.returncode == 0 and [x.split("\t")[0] for x in r.stdout.splitlines()] == ["1", "2"]
       and "2/2 lines" in r.stderr and "2 requests, 2 submitted, 0 rejected" in r.stderr,
       "a file starting with a byte order mark: every line submitted", r.stderr)
    reqs = st.run("replay", "print", "--topic", "requests").stdout
    ok("no-queue" not in reqs and "dep-on-refused" not in reqs and "ok-2" in reqs, "refused lines were not written")

    # ---- stdin, and a terminal ----
    r = st.run("submit-job", "--from-jsonl", "-", input=lines[0] + "\n" + lines[1] + "\n", check=False)
    ok(r.returncode == 0 and len(r.stdout.splitlines()) == 2, "stdin works")
    master, slave = pty.openpty()
    p = subprocess.Popen([common.BARGE, "submit-job", "--from-jsonl", good], env=st.env, stdout=subprocess.PIPE,
                         stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    so, _ = p.communicate(timeout=120)
    os.close(master)
    tty = b"".join(chunks).decode(errors="replace")
    ok(p.returncode == 0 and "\r[" in tty and "40/40 lines" in tty and "#" in tty,
       "on a terminal: a redrawn progress bar")
    r = st.run("submit-job", "--from-jsonl", os.path.join(d, "missing.jsonl"), check=False)
    ok(r.returncode == 252 and "missing.jsonl: No such file or directory" in r.stderr,
       "a missing file: exit 252, saying why", r.stderr)

    # ---- the jobs run ----
    st.scheduler(tick_ms=500)
    st.agent("i-0000000000000ee01", "ce", memory=4096, instance_type="m5.large", kill_grace_ms=2000)
    jobs = st.wait_terminal(list(ids.values()), timeout=400)
    ok(all(j["status"] == "SUCCEEDED" for j in jobs.values()), "every bulk-submitted job SUCCEEDED")
    ok(jobs[ids[40]]["startedAt"] >= jobs[ids[39]]["stoppedAt"], "the dependent ran after its dependency")


if __name__ == "__main__":
    common.run_test("bulk", body)
