"""test_multinode.py: multi-node parallel jobs (issue 10, item 4) through the real binary, the real
broker and three real agents (process runtime).

- a gang of 3 nodes runs on 3 agents, one node per agent: each node sees its index, the number
  of nodes and the main node's index, the workers get the main node's address and connect to it
  over TCP (the main node listens on a port derived from the job id) and send their index; the
  main node exits after hearing from all of them;
- the main node's exit code decides the job (0: SUCCEEDED; 3: FAILED with exit code 3);
- a gang that cannot fit whole (one agent busy) waits RUNNABLE without holding the two free
  agents: a smaller job submitted after it runs and ends meanwhile;
- describe-jobs shows nodeProperties (parent) and nodeDetails (nodes); list-jobs
  --multi-node-job-id lists the nodes;
- bad input refused with a one-line error naming the member, nothing written: numNodes 0, more
  nodes than the compute environment can ever hold, mainNode out of range, a node in no range or
  in two, a range container without VCPU, an array of a multi-node job, nodeOverrides.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Stack, finish, log, ok, run_test, wait_for  # noqa: E402

PORT = 'port = 20000 + int(os.environ["AWS_BATCH_JOB_ID"].split("#")[0][:4], 16) % 10000\n'  # below the ephemeral ports
MAIN = ('import os, socket, sys\n' + PORT +
        'n = int(os.environ["AWS_BATCH_JOB_NUM_NODES"])\n'
        'me = os.environ["AWS_BATCH_JOB_NODE_INDEX"]\n'
        'assert me == os.environ["AWS_BATCH_JOB_MAIN_NODE_INDEX"], me\n'
        's = socket.socket()\n'
        's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n'
        's.bind(("0.0.0.0", port))\n'
        's.listen(8)\n'
        's.settimeout(40)\n'
        'got = set()\n'
        'while len(got) < n - 1:\n'
        '    c, _ = s.accept()\n'
        '    got.add(int(c.recv(16).decode()))\n'
        '    c.close()\n'
        'print("main node", me, "of", n, "heard from", sorted(got), flush=True)\n'
        'sys.exit(int(sys.argv[1]) if sorted(got) == list(range(1, n)) else 9)\n')
WORKER = ('import os, socket, time\n' + PORT +
          'addr = os.environ["AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"]\n'
          'for _ in range(300):\n'
          '    try:\n'
          '        c = socket.create_connection((addr, port), timeout=2)\n'
          '        break\n'
          '    except OSError:\n'
          '        time.sleep(0.1)\n'
          'c.sendall(os.environ["AWS_BATCH_JOB_NODE_INDEX"].encode())\n'
          'c.close()\n'
          'print("worker", os.environ["AWS_BATCH_JOB_NODE_INDEX"], "of", os.environ["AWS_BATCH_JOB_NUM_NODES"], '
          '"sent to", addr, port, os.environ.get("GREETING", ""), flush=True)\n')
INSTANCES = ["i-0000000000000mnp1", "i-0000000000000mnp2", "i-0000000000000mnp3"]


def container(command, vcpus=1):
    return {"image": "busybox", "command": command,
            "resourceRequirements": [{"type": "VCPU", "value": str(vcpus)}, {"type": "MEMORY", "value": "64"}]}


def node_props(num=3, main=0, ranges=None):
    if ranges is None:
        ranges = [{"targetNodes": "0", "container": container(["python3", "-c", MAIN, "Ref::code"])},
                  {"targetNodes": "1:", "container": container(["python3", "-c", WORKER])}]
    return {"numNodes": num, "mainNode": main, "nodeRangeProperties": ranges}


def register(st, name, props, check=True):
    return st.run("register-job-definition", "--job-definition-name", name, "--type", "multinode",
                  "--parameters", json.dumps({"code": "0"}), "--node-properties", json.dumps(props), check=check)


def refused(st, what, p, member, jd_name=None):
    err = p.stderr.strip()
    ok(p.returncode == 254 and member in err and len(err.splitlines()) == 1,
       f"{what}: refused with one line naming {member}", err)
    if jd_name:
        jds = st.json("describe-job-definitions", "--job-definition-name", jd_name)["jobDefinitions"]
        ok(jds == [], f"{what}: nothing written", jds)


def bad_input(st):
    log("-- bad input: one-line errors naming the member, nothing written")
    refused(st, "numNodes 0", register(st, "bad0", node_props(num=0), check=False), "nodeProperties.numNodes", "bad0")
    refused(st, "numNodes beyond any CE", register(st, "bad1", node_props(num=4), check=False),
            "nodeProperties.numNodes 4", "bad1")
    refused(st, "mainNode out of range", register(st, "bad2", node_props(main=3), check=False),
            "nodeProperties.mainNode", "bad2")
    gap = [{"targetNodes": "0:1", "container": container(["true"])}]
    refused(st, "a node in no range", register(st, "bad3", node_props(ranges=gap), check=False),
            "nodeProperties.nodeRangeProperties: node 2 is in no range", "bad3")
    twice = [{"targetNodes": "0:1", "container": container(["true"])},
             {"targetNodes": "1:", "container": container(["true"])}]
    refused(st, "a node in two ranges", register(st, "bad4", node_props(ranges=twice), check=False),
            "nodeProperties.nodeRangeProperties[1].targetNodes", "bad4")
    novcpu = [{"targetNodes": "0:", "container": {"image": "busybox", "command": ["true"],
                                                   "resourceRequirements": [{"type": "MEMORY", "value": "64"}]}}]
    refused(st, "a container without VCPU", register(st, "bad5", node_props(ranges=novcpu), check=False),
            "nodeProperties.nodeRangeProperties[0].container needs a VCPU", "bad5")
    p = st.run("register-job-definition", "--job-definition-name", "bad6", "--type", "multinode",
               "--container-properties", json.dumps(container(["true"])), "--node-properties",
               json.dumps(node_props()), check=False)
    refused(st, "containerProperties with multinode", p, "containerProperties", "bad6")
    p = st.run("submit-job", "--job-name", "arr", "--job-queue", "q", "--job-definition", "mpi",
               "--array-properties", "size=2", check=False)
    refused(st, "an array of a multi-node job", p, "arrayProperties")
    for what, ov, member in [
            ("nodeOverrides.numNodes 0", {"numNodes": 0}, "nodeOverrides.numNodes"),
            ("nodeOverrides.numNodes beyond the queue's CEs", {"numNodes": 4}, "nodeOverrides.numNodes 4: no compute environment of job queue q"),
            ("nodeOverrides.numNodes below the main node", {"numNodes": 1},
             "nodeOverrides.numNodes 1 leaves node range 1: of the job definition without nodes"),
            ("a reserved variable in nodeOverrides", {"nodePropertyOverrides": [
                {"targetNodes": "1:", "containerOverrides": {"environment": [{"name": "AWS_BATCH_X", "value": "1"}]}}]},
             "nodeOverrides.nodePropertyOverrides[0].containerOverrides.environment[0].name")]:
        p = st.run("submit-job", "--job-name", "ov", "--job-queue", "q", "--job-definition", "mpi",
                   "--node-overrides", json.dumps(ov), check=False)
        refused(st, what, p, member)
    p = st.run("submit-job", "--job-name", "ov", "--job-queue", "q", "--job-definition", "small",
               "--node-overrides", json.dumps({"numNodes": 2}), check=False)
    refused(st, "nodeOverrides on a container job definition", p, "nodeOverrides is for multi-node job definitions")


def node_ids(job):
    return [f"{job}#{i}" for i in range(3)]


def body(st):
    st.init()
    st.scheduler(tick_ms=200)
    for i in INSTANCES:
        st.agent(i, vcpus=1, memory=1024, heartbeat_ms=500)
    st.json("create-compute-environment", "--compute-environment-name", "local", "--type", "UNMANAGED",
            "--unmanagedv-cpus", "3")
    st.create_queue("q", "local")
    st.register("sleep", ["sleep", "5"])
    st.register("small", ["true"])
    r = json.loads(register(st, "mpi", node_props()).stdout)
    ok(r.get("revision") == 1, "a multinode job definition registers", r)
    jd = st.json("describe-job-definitions", "--job-definition-name", "mpi")["jobDefinitions"][0]
    ok(jd["type"] == "multinode" and jd["nodeProperties"]["numNodes"] == 3 and "containerProperties" not in jd
       and jd["nodeProperties"]["nodeRangeProperties"][1]["targetNodes"] == "1:",
       "describe-job-definitions shows nodeProperties, no containerProperties", jd)
    bad_input(st)

    def agents_ready():
        c = st.json("describe-compute-environments", "--compute-environments", "local")["computeEnvironments"]
        return len(c[0].get("instances", [])) == 3
    wait_for(agents_ready, 30, "three agents registered")

    log("-- a gang that cannot fit whole waits without holding capacity; a smaller job runs meanwhile")
    blocker = st.submit("blocker", "q", "sleep")
    wait_for(lambda: st.describe(blocker).get(blocker, {}).get("status") == "RUNNING", 30, "the blocker running")
    gang = st.submit("gang", "q", "mpi")
    small = st.submit("small", "q", "small")
    s_done = st.wait_terminal([small], 30)[small]
    g = st.describe(gang)[gang]
    ok(s_done["status"] == "SUCCEEDED" and g["status"] == "RUNNABLE",
       "the small job ran and ended while the gang waited RUNNABLE", (s_done["status"], g["status"]))
    nodes = st.describe(*node_ids(gang))
    ok(all(n["status"] == "PENDING" for n in nodes.values()) and len(nodes) == 3,
       "the waiting gang's nodes are PENDING, none placed", {k: v["status"] for k, v in nodes.items()})

    log("-- the gang runs whole once the blocker ends: one node per agent, TCP to the main node")
    done = st.wait_terminal([blocker, gang], 60)
    g = done[gang]
    ok(g["status"] == "SUCCEEDED", "the gang SUCCEEDED (its main node exited 0)", g.get("statusReason"))
    ok(g.get("nodeProperties") == {"numNodes": 3, "mainNode": 0} and "container" not in g,
       "the parent shows nodeProperties and no container", g.get("nodeProperties"))
    ok(g["startedAt"] >= done[blocker]["stoppedAt"] and s_done["stoppedAt"] <= g["startedAt"],
       "the gang started after the small job ended and once the blocker freed its agent",
       (s_done["stoppedAt"], done[blocker]["stoppedAt"], g["startedAt"]))
    nodes = st.wait_terminal(node_ids(gang), 30)  # a worker still running when the main node ended is stopped
    where = {k: n["container"].get("containerInstanceArn", "").rsplit("/", 1)[-1] for k, n in nodes.items()}
    ok(sorted(where.values()) == sorted(INSTANCES), "one node per agent", where)
    ok(all(nodes[f"{gang}#{i}"]["nodeDetails"] == {"nodeIndex": i, "isMainNode": i == 0} for i in range(3)),
       "nodeDetails: each node's index, the main node marked", {k: n.get("nodeDetails") for k, n in nodes.items()})
    main_log = open(os.path.join(st.home, "logs", f"{gang}#0", "1.log")).read()
    ok("main node 0 of 3 heard from [1, 2]" in main_log, "the main node heard from both workers over TCP", main_log)
    w_log = open(os.path.join(st.home, "logs", f"{gang}#2", "1.log")).read()
    ok("worker 2 of 3 sent to 127.0.0.1" in w_log, "a worker had its index and the main node's address", w_log)
    # the parent has no log of its own: `barge logs` names its nodes' (it said the job "never ran")
    p = st.run("logs", gang, check=False)
    ok(p.returncode == 1 and f"barge logs {gang}#N (N 0..2)" in p.stderr and "never ran" not in p.stderr
       and not p.stdout, "barge logs on the parent points at its nodes' logs, exit 1", (p.returncode, p.stderr))
    ok(st.run("logs", f"{gang}#2").stdout == w_log, "barge logs PARENT#2 prints the worker's log")
    listed = st.json("list-jobs", "--multi-node-job-id", gang, "--job-status", "SUCCEEDED")["jobSummaryList"]
    listed += st.json("list-jobs", "--multi-node-job-id", gang, "--job-status", "FAILED")["jobSummaryList"]
    ok(sorted(j["jobId"] for j in listed) == node_ids(gang), "list-jobs --multi-node-job-id lists the nodes",
       [j["jobId"] for j in listed])
    top = st.json("list-jobs", "--job-queue", "q", "--job-status", "SUCCEEDED")["jobSummaryList"]
    ok(not any("#" in j["jobId"] for j in top), "queue listings show the parent, not its nodes")

    log("-- nodeOverrides: 2 nodes instead of 3, an environment variable for the workers")
    two = st.submit("gang2", "q", "mpi", "--node-overrides", json.dumps(
        {"numNodes": 2, "nodePropertyOverrides": [
            {"targetNodes": "1:", "containerOverrides": {"environment": [{"name": "GREETING", "value": "hello-node"}]}}]}))
    t = st.wait_terminal([two], 60)[two]
    ok(t["status"] == "SUCCEEDED" and t["nodeProperties"]["numNodes"] == 2, "a gang of 2 by nodeOverrides SUCCEEDED",
       (t["status"], t.get("nodeProperties")))
    main_log = open(os.path.join(st.home, "logs", f"{two}#0", "1.log")).read()
    w_log = open(os.path.join(st.home, "logs", f"{two}#1", "1.log")).read()
    ok("main node 0 of 2 heard from [1]" in main_log and "worker 1 of 2" in w_log and "hello-node" in w_log,
       "its nodes saw 2 nodes, the worker its overridden environment", (main_log, w_log))
    ok(not st.describe(f"{two}#2"), "no third node")

    log("-- the main node's exit code decides")
    bad = st.submit("gang3", "q", "mpi", "--parameters", "code=3")
    b = st.wait_terminal([bad], 60)[bad]
    main = st.describe(f"{bad}#0")[f"{bad}#0"]
    ok(b["status"] == "FAILED" and main["container"].get("exitCode") == 3,
       "main node exit 3: the job FAILED, the main node's exit code 3", (b["status"], main["container"]))

    log("-- barge check: the gangs break no invariant (their nodes were reported as never submitted)")
    r = st.run("check", "--json", check=False, timeout=300)
    try:
        rep = json.loads(r.stdout)
    except json.JSONDecodeError:
        rep = {}
    ok(r.returncode == 0 and rep.get("ok") is True, "barge check passes over multi-node jobs",
       (r.returncode, rep.get("violations"), r.stderr[-500:]))


if __name__ == "__main__":
    run_test("multinode", body)
