#!/usr/bin/env python3
"""test_agent_restart.py: an agent killed with SIGKILL and restarted under the same instance id
does not orphan the attempts it was running (agent incarnations, docs/architecture.md).

1. One agent runs a long job (`sleep 120`, retry attempts 2). The agent is SIGKILLed and started
   again with the same instance id. Well before the lost-after period (30 s) the attempt of the
   earlier incarnation ends with `Host EC2 (instance ...) terminated.`, its process (left behind
   by the killed agent) is gone, and attempt 2 runs on the new incarnation.
2. The scenario that lost attempts on main: `barge up --agents 3 --agent-vcpus 8`, an array of N
   short tasks (retry attempts 3) and an N_TO_N dependant array of N; the scheduler is SIGKILLed
   and, a few seconds later, one agent; `barge up` restarts both. Run twice with different kill
   times. Both arrays must complete with every child SUCCEEDED, each with exactly one terminal
   transition, no (job, attempt) STARTED twice, and at least one attempt settled as lost on the
   killed agent's instance. N is 200 here; BARGE_AGENT_RESTART_TASKS=1000 is the long form.
"""
import collections
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import ok, log  # noqa: E402

TASKS = int(os.environ.get("BARGE_AGENT_RESTART_TASKS", "200"))


def pid_from_log(path):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("pid "):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def single_agent_restart():
    log("-- one agent SIGKILLed and restarted while its job runs")

    def body(st):
        st.init_queue("q1", "local", priority=10)
        st.register("long", ["sh", "-c", "echo pid $$; exec sleep 120"])
        st.scheduler()
        inst = "i-0a6e000000000000a"
        st.agent(inst, name="agent", vcpus=2)
        job = st.submit("long", "q1", "long", "--retry-strategy", "attempts=2")
        common.wait_for(lambda: st.describe(job).get(job, {}).get("status") == "RUNNING", 60, "the job RUNNING")
        logpath = os.path.join(st.home, "logs", job, "1.log")
        pid = common.wait_for(lambda: pid_from_log(logpath), 20, "the job's pid in its log")
        ok(common.pid_alive(pid), f"attempt 1 runs as pid {pid}")
        st.kill("agent", signal.SIGKILL)
        time.sleep(1)
        ok(common.pid_alive(pid), "the killed agent left its attempt's process running")
        t0 = time.monotonic()
        st.agent(inst, name="agent", vcpus=2)

        def attempt2_running():
            d = st.describe(job).get(job, {})
            return d if d["status"] == "RUNNING" and len(d.get("attempts", [])) == 1 else None
        d = common.wait_for(attempt2_running, 25, "attempt 2 RUNNING on the restarted agent")
        took = time.monotonic() - t0
        ok(took < 25, f"attempt 1 settled and attempt 2 running {took:.1f} s after the restart (lost-after is 30 s)")
        ok(d["attempts"][0].get("statusReason") == f"Host EC2 (instance {inst}) terminated.",
           "attempt 1 ended with the Host EC2 reason", d["attempts"][0])
        common.wait_for(lambda: not common.pid_alive(pid), 10, "the orphaned process to be stopped")
        ok(not common.pid_alive(pid), "the restarted agent stopped the process its earlier incarnation left")
        ok("left by an earlier incarnation" in st.log_text("agent"), "the agent says so in its log")
        st.run("terminate-job", "--job-id", job, "--reason", "test done")
        jobs = st.wait_terminal([job], 60)
        ok(jobs[job]["status"] == "FAILED" and len(jobs[job]["attempts"]) == 2,
           "terminated after its second attempt", (jobs[job]["status"], len(jobs[job]["attempts"])))
        started = collections.Counter()
        incs = collections.defaultdict(set)
        avro = common.Avro()
        for rec in common.read_topic(st, "executions"):
            _, ex = avro.decode(rec["value"])
            if ex["jobId"] == job and common.says_started(ex):
                started[ex["attempt"]] += 1
                incs[ex["attempt"]].add(ex["incarnation"])
        ok(started == {1: 1, 2: 1}, "each attempt STARTED once", dict(started))
        ok(len(incs[1]) == 1 and len(incs[2]) == 1 and min(incs[2]) > max(incs[1]) > 0,
           "attempt 2 was started by a later incarnation", dict(incs))
        common.stops_cleanly(st, "the services stop cleanly on SIGTERM")
    common.scenario("agentre", body, "the single-agent scenario")


def stack_kills(sched_kill_s, agent_kill_s):
    log(f"-- barge up, {TASKS}+{TASKS} tasks: scheduler SIGKILLed at {sched_kill_s} s, an agent at {agent_kill_s} s")

    def body(st):
        st.up("--agents", "3", "--agent-vcpus", "8", "--tick-ms", "200")
        st.create_queue("q1", "local", priority=10)
        st.register("short", ["sh", "-c", "sleep 0.3"])
        t0 = time.monotonic()
        a = st.submit("first", "q1", "short", "--array-properties", f"size={TASKS}",
                       "--retry-strategy", "attempts=3")
        b = st.submit("second", "q1", "short", "--array-properties", f"size={TASKS}",
                       "--retry-strategy", "attempts=3", "--depends-on", f"jobId={a},type=N_TO_N")
        sched = st.service_pids("scheduler")
        agents = st.service_pids("agent")
        ok(len(sched) == 1 and len(agents) == 3, "a scheduler and three agents run", (sched, agents))
        time.sleep(max(0, sched_kill_s - (time.monotonic() - t0)))
        os.kill(sched[0], signal.SIGKILL)
        victim = agents[1]
        victim_id = common.cmdline(victim).split("--instance-id ")[1].split()[0]
        time.sleep(max(0, agent_kill_s - (time.monotonic() - t0)))
        os.kill(victim, signal.SIGKILL)
        log(f"   killed scheduler {sched[0]} and agent {victim} ({victim_id})")
        common.wait_for(lambda: len(st.service_pids("agent")) == 3 and st.service_pids("scheduler"), 30,
                        "barge up to restart both")
        jobs = st.wait_terminal([a, b], 300)
        took = time.monotonic() - t0
        ok(jobs[a]["status"] == "SUCCEEDED" and jobs[b]["status"] == "SUCCEEDED",
           f"both arrays SUCCEEDED ({took:.1f} s)", (jobs[a]["status"], jobs[b]["status"]))
        for parent in (a, b):
            summary = jobs[parent].get("arrayProperties", {}).get("statusSummary", {})
            ok(summary.get("SUCCEEDED") == TASKS, f"{parent}: {TASKS} children SUCCEEDED", summary)
        avro = common.Avro()
        events = common.job_events(st, avro)
        terminal = collections.Counter(e["jobId"] for e in events if e["newStatus"] in common.TERMINAL)
        children = [f"{p}:{i}" for p in (a, b) for i in range(TASKS)]
        ok(all(terminal[c] == 1 for c in children), "every child has exactly one terminal transition",
           {c: terminal[c] for c in children if terminal[c] != 1})
        lost = [e for e in events if e.get("statusReason") == f"Host EC2 (instance {victim_id}) terminated."]
        ok(lost, f"attempts on the killed agent were settled as lost ({len(lost)})")
        started = collections.Counter()
        for rec in common.read_topic(st, "executions"):
            _, ex = avro.decode(rec["value"])
            if common.says_started(ex):
                started[(ex["jobId"], ex["attempt"])] += 1
        ok(all(n == 1 for n in started.values()), "no (job, attempt) STARTED twice",
           {k: n for k, n in started.items() if n > 1})
        log(f"   {sum(started.values())} attempts ran for {2 * TASKS} tasks")
    common.scenario("agentup", body, "the stack scenario")


def main():
    single_agent_restart()
    stack_kills(4, 7)
    stack_kills(2, 3)
    common.finish()


if __name__ == "__main__":
    main()
