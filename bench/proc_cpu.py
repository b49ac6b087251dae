#!/usr/bin/env python3
"""proc_cpu.py: CPU seconds per process of one benchmark stack, between two snapshots.

    proc_cpu.py snapshot --match STR [--match STR ...] --out FILE
    proc_cpu.py report --before FILE --after FILE --jobs N

A snapshot holds user + system time (from /proc/PID/stat) of every process whose command line
contains one of the --match strings (the stack's bootstrap address, the broker's directory), by
role: the broker (a java process), then each `barge <service>` by its service name (agents
counted together). The report prints a Markdown table: CPU seconds during the run per role, and
milliseconds per job. Processes that ended or started in between are counted from what is
there (a process missing from the first snapshot counts from zero). The jobs' own processes
(exec, run and exit of each attempt's command) are not in those rows: a row below adds what the
agents' reaped children used (cutime + cstime), and a total with them.

Below the table, the broker's CPU per job by thread (the kernel's 15-character thread names,
digits folded: "data-plane-kafk" are the network threads and request handlers together), and
what threads that ended during the run had used (the JIT's compiler threads come and go)."""
import argparse
import json
import os
import re
import sys

TICK = os.sysconf("SC_CLK_TCK")


def role(args):
    if args and os.path.basename(args[0]) == "java":
        return "broker"
    for i, a in enumerate(args[:-1]):
        if os.path.basename(a) == "barge":
            return args[i + 1]
    return os.path.basename(args[0]) if args else "?"


def snapshot(matches):
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        line = " ".join(args)
        if not any(m in line for m in matches) or pid == str(os.getpid()):
            continue
        fields = st[st.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)
        out[pid] = {"role": role(args), "cpu": cpu}
        if out[pid]["role"] == "agent":  # the jobs' processes it has reaped (cutime, cstime)
            out[pid]["children"] = (int(fields[13]) + int(fields[14])) / TICK
        if out[pid]["role"] == "broker":
            out[pid]["threads"] = threads(pid)
    return out


def threads(pid):
    """CPU seconds of each of a process's live threads, by name with digits folded."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                st = f.read()
        except OSError:
            continue
        name = re.sub(r"\d+", "#", st[st.index("(") + 1:st.rindex(")")])
        fields = st[st.rindex(")") + 2:].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def broker_threads(before, after, jobs):
    """The broker's CPU per job by thread; what is left of the process's is threads that ended."""
    for pid, p in after.items():
        if p["role"] != "broker" or "threads" not in p:
            continue
        b = before.get(pid, {"cpu": 0, "threads": {}})
        d = {k: v - b.get("threads", {}).get(k, 0.0) for k, v in p["threads"].items()}
        gone = (p["cpu"] - b["cpu"]) - sum(d.values())
        top = sorted(((v, k) for k, v in d.items() if v * 1000 / jobs >= 0.0005), reverse=True)
        print()
        print("The broker's CPU ms/job by thread: " + ", ".join(f"{k} {v * 1000 / jobs:.3f}" for v, k in top) +
              f"; threads that ended during the run {max(gone, 0.0) * 1000 / jobs:.3f}.")


def report(before, after, jobs):
    by_role = {}
    for pid, p in after.items():
        d = p["cpu"] - before.get(pid, {"cpu": 0})["cpu"]
        r = by_role.setdefault(p["role"], [0.0, 0])
        r[0] += d
        r[1] += 1
    print("| process | count | CPU s during the run | CPU ms/job |")
    print("|---|---:|---:|---:|")
    total = 0.0
    for name in sorted(by_role, key=lambda k: -by_role[k][0]):
        s, n = by_role[name]
        total += s
        print(f"| {name} | {n} | {s:.2f} | {s * 1000 / jobs:.3f} |")
    print(f"| **all** | | {total:.2f} | {total * 1000 / jobs:.3f} |")
    kids = sum(p["children"] - before.get(pid, {}).get("children", 0.0)
               for pid, p in after.items() if "children" in p)
    if kids > 0:
        print(f"| the jobs' own processes (reaped by the agents) | | {kids:.2f} | {kids * 1000 / jobs:.3f} |")
        print(f"| **all, with the jobs' processes** | | {total + kids:.2f} | {(total + kids) * 1000 / jobs:.3f} |")
    broker_threads(before, after, jobs)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("--match", action="append", required=True)
    s.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--before", required=True)
    r.add_argument("--after", required=True)
    r.add_argument("--jobs", type=int, required=True)
    a = ap.parse_args()
    if a.cmd == "snapshot":
        with open(a.out, "w") as f:
            json.dump(snapshot(a.match), f)
        return 0
    with open(a.before) as f:
        before = json.load(f)
    with open(a.after) as f:
        after = json.load(f)
    report(before, after, a.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
