#!/usr/bin/env python3
"""test_replay_print.py: `barge replay print` prints every record of a topic, whatever an upstream
producer wrote, as one valid JSON line each (docs/replay.md, "print").

No service runs: records are produced straight onto barge.requests as a pipeline would (Kafka
keys are bytes, and nothing makes a producer send UTF-8): a SubmitJob keyed by its job id, the
same SubmitJob under a key that is not UTF-8, a frame whose jobName is not UTF-8, garbage bytes
and a tombstone. `barge replay print --topic requests` must print one line per record, each a
JSON object naming its offset; a key that is not UTF-8 is "key": null with its bytes in
"keyBase64" (as the audit file writes it, docs/audit.md), never a line left out. Bounds that can
select nothing (a negative offset, --until before --from) are refused with exit 2, and so is a
simulate --config file that does not exist, saying so plainly.
"""
import base64
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402


def body(st):
    avro = common.Avro()
    st.init()

    def submit(jid, name):
        return avro.encode("JobRequest", {"header": common.header(), "principal": "e2e", "body": (
            "barge.SubmitJob", {"jobId": jid, "jobName": name, "jobQueue": "q", "jobDefinition": "jd",
                                "arrayProperties": None, "dependsOn": [], "parameters": {},
                                "containerOverrides": None, "retryStrategy": None, "timeout": None,
                                "propagateTags": None, "schedulingPriorityOverride": None,
                                "shareIdentifier": None, "tags": {}})})
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    bad_key = b"\xff\xfe" + b.encode()
    records = [("plain", a.encode(), submit(a, "plain")),
               ("key not UTF-8", bad_key, submit(b, "binary-key")),
               ("jobName not UTF-8", b"bad-name", submit(b, "QQQQ").replace(b"QQQQ", b"\xff\xfe\xfd\xfc")),
               ("garbage", b"garbage", b"\x00\xffnot avro"),
               ("tombstone", b"gone", None)]
    offsets = {}
    for label, key, value in records:
        _, off = common.produce_raw(st, "requests", key, value)
        offsets[off] = (label, key, value)

    p = st.run("replay", "print", "--topic", "requests", check=False)
    ok(p.returncode == 0, "replay print exits 0", p.stderr)
    lines = {}
    for raw in p.stdout.splitlines():
        try:
            o = json.loads(raw)
        except ValueError:
            ok(False, "every line is JSON", raw[:200])
            continue
        lines.setdefault(o["offset"], []).append(o)
    for off, (label, key, value) in sorted(offsets.items()):
        got = lines.get(off, [])
        if not ok(len(got) == 1, f"{label} (offset {off}): printed exactly once", p.stdout[-1500:]):
            continue
        o = got[0]
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            ok(o["key"] == text and "keyBase64" not in o, f"{label}: its key as a string", o)
        else:
            ok(o["key"] is None and base64.b64decode(o.get("keyBase64", "")) == key,
               f"{label}: key null, its bytes in keyBase64", o)
        if value is None:
            ok(o["event"] is None and "error" not in o, f"{label}: event null, no error", o)
        elif label in ("plain", "key not UTF-8"):
            ok(o["event"]["body"]["SubmitJob"]["jobName"] in ("plain", "binary-key"), f"{label}: decoded", o)
        else:
            ok(o["event"] is None and o.get("error"), f"{label}: event null with the decoding error", o)
    ok(set(lines) == set(offsets), "nothing else printed", sorted(lines))

    # --key still selects a printable key, and --from-offset/--until-offset bound the offsets
    p = st.run("replay", "print", "--topic", "requests", "--key", a)
    ok([json.loads(x)["offset"] for x in p.stdout.splitlines()] == [min(offsets)], "--key selects its record")
    bad_off = [off for off, (label, *_) in offsets.items() if label == "key not UTF-8"][0]
    p = st.run("replay", "print", "--topic", "requests", "--from-offset", str(bad_off), "--until-offset", str(bad_off))
    got = [json.loads(x) for x in p.stdout.splitlines()]
    ok(len(got) == 1 and got[0]["offset"] == bad_off, "an offset range of just the binary-keyed record prints it",
       p.stdout)
    # bounds that select nothing by mistake are refused (exit 2) saying why, not an empty print
    for args, what in ((("--from-offset", "-3"), "--from-offset"), (("--until-offset", "-1"), "--until-offset"),
                       (("--from-offset", "5", "--until-offset", "2"), "--until-offset"),
                       (("--from", "2026-12-06", "--until", "2026-12-05"), "--until")):
        p = st.run("replay", "print", "--topic", "requests", *args, check=False)
        ok(p.returncode == 2 and what in p.stderr and not p.stdout, f"print {' '.join(args)}: exit 2 naming {what}",
           (p.returncode, p.stderr, p.stdout[:200]))
    p = st.run("replay", "simulate", "--from", "2026-12-06", "--until", "2026-12-05", check=False)
    ok(p.returncode == 2 and "--until" in p.stderr, "simulate --until before --from: exit 2 naming --until",
       (p.returncode, p.stderr))
    # an ALT file that does not exist: said plainly (it ended "(line -1)")
    missing = os.path.join(st.home, "no-such-alt.json")
    p = st.run("replay", "simulate", "--config", missing, check=False)
    ok(p.returncode == 2 and p.stderr.strip() == f"barge replay simulate: --config: unable to open {missing}: "
       "No such file or directory", "simulate --config of a missing file: exit 2, what and why", p.stderr)
    log("replay print checked")


if __name__ == "__main__":
    common.run_test("rprint", body)
