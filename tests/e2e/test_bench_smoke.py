"""test_bench_smoke.py: every benchmark under bench/ still runs, at its smallest size, and prints
the figures it is meant to print (docs/benchmarks.md, at its start).

The benchmarks are run on demand, never timed in the suite: one whose option was renamed, whose
command's output changed or whose library call changed would otherwise go unnoticed until someone
needs its figures. Each one here runs once, as small as its options allow, and must exit 0 and
print each of its figure lines: the line's words with a number where the figure goes. The values
are never checked (this machine is shared and noisy), only counts the run fixes itself (the jobs
it was given, zero errors).

- the C benchmarks (build/bench/): bench_sched, bench_sched_instances, bench_provisioner, bench_audit, bench_stream_index,
  bench_containers (the process runtime; the podman one too through bench/bench_containers.sh
  when podman can run, as for the container tests), bench_api_reads and bench_api_submit (on the
  fixture broker; the second against a `barge api` of this test), throughput_driver's latency
  mode (a scheduler and an agent of this test);
- bench/throughput.sh --no-slurm --trace on 20 tasks (its own broker and a stack of every
  service but the API, the broker logging every request), which runs throughput_driver's array
  mode, throughput_topics.py, proc_cpu.py and throughput_hops.py --logs; then
  bench/kafka_requests.py on that run;
- bench/bench_latency.py and bench/bench_million.py on the fixture broker, bench/broker_txn.py
  (its own broker);
- bench/chaos.sh --help only: its workload is tests/e2e/test_chaos.py, which the suite runs.
Not run: throughput.sh's Slurm side (root, apt, minutes), chaos.sh's long form.

About 40 s on a 2-vCPU machine (throughput.sh runs beside the others). Also: a C benchmark given
an unknown option or a size that is not one refuses it (exit 2, its usage); bench_million.py with
too few jobs to restart with says so at once. Plain build only (the benchmarks' figures mean
nothing under the sanitizers, and their C paths are the services' own, tested there):
barge-test: plain-only.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import BARGE, BUILD, SOURCE_DIR, Stack, brokers, finish, log, ok  # noqa: E402
from api_common import ADMIN, start_api  # noqa: E402

BENCH_BIN = os.path.join(BUILD, "bench")
BENCH_SRC = os.path.join(SOURCE_DIR, "bench")
N = r"[0-9]+(?:\.[0-9]+)?"  # a figure: digits, maybe a fraction (never "nan")
took = {}


class Run:
    """A benchmark started in a session of its own (all of it is stopped on a timeout)."""

    def __init__(self, name, argv, env=None):
        self.name, self.argv, self.t0, self.t1 = name, argv, time.monotonic(), None
        self.out, self.err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=self.err, text=True, env=env,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        threading.Thread(target=self._ended, daemon=True).start()

    def _ended(self):
        self.p.wait()
        self.t1 = time.monotonic()

    def _output(self):
        for f in (self.out, self.err):
            f.seek(0)
        return self.out.read(), self.err.read()

    def check(self, figures, timeout=120, stderr_figures=(), status=0):
        """Waits for the end; checks that it exits with status within timeout s of its start and
        that each regex of figures matches a line of its output (stderr_figures: of its stderr).
        Returns the output."""
        name, p = self.name, self.p
        try:
            p.wait(timeout=max(1.0, self.t0 + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGTERM)  # the scripts stop what they started on SIGTERM
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            out, err = self._output()
            took[name] = time.monotonic() - self.t0
            ok(False, f"{name} ends within {timeout} s", f"{out[-3000:]}\n{err[-3000:]}")
            return out
        while self.t1 is None:
            time.sleep(0.01)
        out, err = self._output()
        took[name] = self.t1 - self.t0
        log(f"-- {name} ({took[name]:.1f} s): {' '.join(self.argv)}")
        if not ok(p.returncode == status, f"{name} exits {status}",
                  f"exit {p.returncode}\n{out[-3000:]}\n{err[-3000:]}"):
            return out
        for what, text in ((figures, out), (stderr_figures, err)):
            for rx in what:
                if not ok(re.search(rx, text, re.M), f"{name} prints /{rx}/"):
                    log(text[-3000:])
        return out


def bench(name, argv, figures, timeout=120, env=None, stderr_figures=(), status=0):
    """Runs argv to its end and checks it (Run.check)."""
    return Run(name, argv, env).check(figures, timeout, stderr_figures, status)


def c_benches():
    b = brokers()
    bench("bench_sched", [f"{BENCH_BIN}/bench_sched", "2000", "20", "16"], [
        r"^machine: .*\d+ CPUs",
        rf"^queued 2000 jobs in {N} s \({N} submissions/s",
        rf"^memory per queued job: {N} bytes RSS growth, {N} bytes by the core's own count$",
        rf"^first wave: {N} placements onto 20 instances in {N} s: {N} placements/s",
        rf"^steady state: {N} completions -> {N} placements in {N} s of core time: {N} placements/s$"])
    bench("bench_sched_instances", [f"{BENCH_BIN}/bench_sched_instances", "200"], [
        r"^machine: .*\d+ CPUs",
        rf"^ +200 instances: +{N} us per READY, +{N} us per DRAIN_REQUESTED/TERMINATED, +{N} us per READY after churn$",
        rf"^ +200 gone instances, 10 live: +{N} us per Tick$",
        rf"^ +200 jobs running on {N} instances: +{N} us per READY placing 4, +{N} us per TERMINATED of an instance "
        r"with 4$"])
    bench("bench_provisioner", [f"{BENCH_BIN}/bench_provisioner", "--iterations", "1", "--churn", "200"], [
        r"^machine: nproc \d+, CPU ",
        rf"^  median {N} us, p99 {N} us, max {N} us \(plus the configured batching window, {N} ms\)$",
        rf"^  plan: {N} instances in {N} ms; launch results recorded in {N} ms;$",
        rf"^  same demand against the launching fleet: 0 more launched, {N} ms;$",
        rf"^  {N} READY events in {N} ms \({N} us each\); scale-down pass draining {N} instances: {N} ms$",
        rf"^churn, a CE of 200 instances: {N} us per READY; {N} TERMINATED: {N} us each \({N} left\)$"])
    bench("bench_audit", [f"{BENCH_BIN}/bench_audit", "200", "1"], [
        r"^bench_audit: 200 records per round .*best of 1 rounds",
        rf"^\| decode to JSON text \| {N} \| {N} \| {N}x \|$",
        rf"^\| whole audit line \(audit_append\) \| {N} \| {N} \| {N}x \|$"])
    bench("bench_stream_index", [f"{BENCH_BIN}/bench_stream_index", "1000"], [
        rf"^streams 1000: table of {N} entries \({N}% full\), {N} MiB, {N} bytes a stream$",
        rf"^put +{N} ns a stream",
        rf"^lookup +{N} ns a stream found.*\(1000 of 1000, {N} slots probed each\)$",
        rf"^lookup +{N} ns a name not held \(1000 of 1000 not found\)$"])
    bench("bench_containers", [f"{BENCH_BIN}/bench_containers", "--runtime", "process", "--jobs", "10"], [
        r"^bench_containers: 10 trivial jobs",
        rf"^process +10 jobs in {N} ms \({N} jobs/s\); the runtime's CPU {N} ms/job",
        rf"^process +place->STARTED +n=10 median {N} ms +p90 {N} ms +p99 {N} ms +max {N} ms$",
        rf"^process +place->EXITED +n=10 median {N} ms +p90 {N} ms +p99 {N} ms +max {N} ms$"])
    # as the container tests (container_image.podman_or_skip): podman, root, busybox-static
    if shutil.which("podman") and os.geteuid() == 0 and os.path.exists("/bin/busybox"):
        bench("bench_containers.sh (podman)", [f"{BENCH_SRC}/bench_containers.sh", "--runtime", "podman", "--jobs", "2"], [
            rf"^podman +2 jobs in {N} ms \({N} jobs/s\); the runtime's CPU {N} ms/job",
            rf"^podman +place->EXITED +n=2 median {N} ms"], env=dict(os.environ, BARGE_BUILD_DIR=BUILD))
    else:
        log("-- bench_containers.sh (podman): not run, it needs podman and busybox-static (scripts/setup.sh "
            "installs them) and root")
    # a renamed option, or a size that is not one, is refused with the usage (exit 2): never run
    # with 0 or a default, printing nan figures with exit 0
    for argv in (["bench_sched", "--jobs", "10"], ["bench_audit", "0"], ["bench_stream_index", "x"],
                 ["bench_provisioner", "--iters", "1"], ["bench_provisioner", "--churn", "0"],
                 ["bench_containers", "--job", "3"],
                 ["bench_containers", "--runtime", "proc"], ["bench_api_reads", "--jobs", "0"]):
        bench(" ".join(argv), [f"{BENCH_BIN}/{argv[0]}", *argv[1:]], [], timeout=30, status=2, stderr_figures=[
            rf"^{argv[0]}: (unknown option or missing value: \S+|.* wants .*\(got '[^']*'\))$",
            rf"^usage: {argv[0]} \["])
    stat = lambda s: rf"^  {s} +n=\d+ +p50 +{N} ms +p99 +{N} ms +max +{N} ms +mean +{N} ms$"  # noqa: E731
    out = bench("bench_api_reads", [f"{BENCH_BIN}/bench_api_reads", "--jobs", "1000", "--requests", "20",
                              "--brokers", b, "--barge", BARGE], [
        r"^filled barge.jobs: 1000 JobRecords",
        rf"^view loaded: {N} s after the API started; API resident memory {N} MiB",
        stat(r"DescribeJobs, 1 id"), stat(r"DescribeJobs, 100 ids"),
        stat(r"ListJobs page of 100, RUNNING \(50 items\)"), stat(r"ListJobs page of 100, SUCCEEDED \(900 items\)"),
        stat(r"first page, all jobs, newest first \(\d+ rows, \d+ visited\)"),
        stat(r"search 'needle' \(1 job\), walked to the end \(1 rows, \d+ visited\)"),
        stat(r"per-queue counts \(overview\) \(0 rows, 0 visited\)"),
        r"^the same requests as the API timed them",
        stat(r"ListJobs page of 100 \(both walks\)")])
    m = re.search(r"\(pid \d+, log (/tmp/bench-api-reads-\d+\.log)\)", out or "")
    if m and os.path.exists(m.group(1)):  # the API's log, which the bench keeps for reading; not needed here
        os.unlink(m.group(1))

    st = Stack("benchsmoke")
    try:
        # throughput_driver's latency mode (bench/throughput.sh --latency) on a scheduler and an agent
        st.init_queue("q", "local")
        st.register("t", ["true"], settle=True)
        st.scheduler()
        st.agent("i-0be4c500000000001", vcpus=2)
        bench("throughput_driver latency", [f"{BENCH_BIN}/throughput_driver", "--brokers", st.brokers,
                                            "--topic-prefix", st.prefix, "--job-queue", "q",
                                            "--job-definition", "t", "latency", "3"], [
            rf"^submit acknowledged \(durable write\) +p50 +{N} ms +p90 +{N} ms +p99 +{N} ms +max +{N} ms +\(n=3\)$",
            rf"^submit -> RUNNING, events \(startedAt-createdAt\) +p50 +{N} ms .*\(n=3\)$",
            rf"^submit -> RUNNING, client-observed +p50 +{N} ms .*\(n=3\)$"])
        host, port = start_api(st)
        argv = [f"{BENCH_BIN}/bench_api_submit", "--endpoint", f"{host}:{port}", "--access-key", ADMIN[0],
                "--secret", ADMIN[1], "--connections", "2", "--count", "50", "--api-pid", str(st.procs["api"].pid)]
        kafka_pid = os.path.join(os.environ.get("BARGE_KAFKA_DIR", ""), "pid")
        if os.path.exists(kafka_pid):
            argv += ["--broker-pid", open(kafka_pid).read().strip()]
        bench("bench_api_submit", argv, [
            rf"^SubmitJob: 50 requests in {N} s over 2 connections: {N} SubmitJob/s$",
            rf"^latency: p50 {N} ms, p99 {N} ms, max {N} ms$",
            r"^errors: 0 \(2xx 50, 4xx 0, 5xx 0, other 0\)$",
            rf"^cpu: api {N} s \({N}% of one core\)$",
            rf"^cpu: load generator {N} s"])
    finally:
        st.close()


ROW = lambda *cells: r"^\| " + r" \| ".join(cells) + r" \|$"  # noqa: E731


def throughput_start(work):
    """bench/throughput.sh on 20 tasks, its broker logging every request (for kafka_requests.py):
    started first, it runs its own broker and stack while the others run on the fixture's."""
    env = dict(os.environ, BARGE_KAFKA_LOG4J=os.path.join(SOURCE_DIR, "scripts", "kafka", "log4j2-requests.properties"))
    env.pop("BARGE_BROKERS", None)
    return Run("throughput.sh", [f"{BENCH_SRC}/throughput.sh", "--no-slurm", "--trace", "--tasks", "20", "--warmup",
                                 "2", "--build", BUILD, "--work", work, "--out", os.path.join(work, "out.md")], env)


def throughput_check(run, work):
    hop = lambda s, n: rf"^ +{s} +n={n} +p10 +{N} ms +p50 +{N} ms +p90 +{N} ms +max +{N} ms$"  # noqa: E731
    run.check([
        r"^Machine: \d+ vCPUs",
        ROW("20", rf"{N} s", "—", "—"),
        ROW("barge.jobs", N, N, N, N, N), ROW("barge.placements", N, N, N, N, N),
        ROW(r"\*\*all topics\*\*", N, N, N, N, N),
        rf"^Transactions completed \(from __transaction_state\): {N} committed \({N} per job\), {N} aborted",
        rf"^__consumer_offsets records per job, by consumer group: .*barge-scheduler {N}",
        ROW("broker", "1", N, N), ROW("scheduler", "1", N, N), ROW("agent", "4", N, N),
        rf"^\| \*\*all, with the jobs' processes\*\* \| +\| {N} \| {N} \|$",
        r"^The broker's CPU ms/job by thread: ",
        r"^ +20 children of [0-9a-f-]{36} in .*, 20 with every hop$",
        hop(r"report produced -> placement produced", 20), hop(r"placement produced -> started", 20),
        hop(r"report produced -> terminal produced", 20),
        hop(r"  placement produced -> committed", r"\d+"), hop(r"  committed -> read by the agent", r"\d+"),
        rf"^ +vfork until the child's exec +p10 +{N} us +p50 +{N} us",
        rf"^ +parent's submission -> first child's placement produced: {N} ms$"],
        timeout=180,
        stderr_figures=[rf"^bench:   tasks=20 job_id=[0-9a-f-]{{36}} status=SUCCEEDED submit_ack_ms={N} "
                        rf"observed_ms={N} events_ms={N}$"])
    ok(os.path.exists(os.path.join(work, "out.md")), "throughput.sh --out writes the report")
    bench("kafka_requests.py", [sys.executable, f"{BENCH_SRC}/kafka_requests.py", os.path.join(work, "barge-20"), "20"], [
        rf"^{N} s window, 20 jobs: requests per job by client and API$",
        ROW("barge-scheduler", "PRODUCE", N, N), ROW("barge-scheduler", "END_TXN", N, N),
        rf"^All: {N} requests/job$"])


def scripts():
    b = brokers()
    bench("bench_latency.py", [sys.executable, f"{BENCH_SRC}/bench_latency.py", "--jobs", "1", "--brokers", b,
                               "--barge", BARGE], [
        r"^submit -> RUNNING on idle capacity, 1 single jobs one by one",
        rf"^events +p50 +{N} +p90 +{N} +p99 +{N} +max +{N} ms +\(n=1\)$",
        rf"^client +p50 +{N} +p90 +{N} +p99 +{N} +max +{N} ms +\(n=1\)$"])
    # no job to measure: refused with the usage (it crashed dividing by the empty sample)
    bench("bench_latency.py --jobs 0", [sys.executable, f"{BENCH_SRC}/bench_latency.py", "--jobs", "0"], [],
          timeout=30, status=2, stderr_figures=[r"^bench_latency.py: error: --jobs wants a number of jobs, 1 or more"])
    bench("bench_million.py", [sys.executable, f"{BENCH_SRC}/bench_million.py", "--jobs", "2000", "--restarts", "1",
                               "--brokers", b, "--barge", BARGE], [
        rf"^2000 jobs queued \(1 arrays submitted in {N} s\); the scheduler took them in within {N} s",
        rf"^barge.jobs: {N} records$",
        rf"^scheduler memory: VmRSS {N} MiB, VmHWM {N} MiB$",
        rf"^restart 1 after SIGKILL: state rebuilt in {N} s, placing again after {N} s .*; VmRSS then {N} MiB"])
    # too few jobs to restart with (the agent ran them all): said at once, not a 600 s wait
    bench("bench_million.py, too few jobs", [sys.executable, f"{BENCH_SRC}/bench_million.py", "--jobs", "20",
                                             "--brokers", b, "--barge", BARGE], [], timeout=60, status=1,
          stderr_figures=[r"^bench_million: before restart 1 the agent had been given every one of the 20 jobs: "
                          r"nothing is left .*; give more --jobs"])
    bench("broker_txn.py", [sys.executable, f"{BENCH_SRC}/broker_txn.py", "--txns", "5", "--records", "3",
                            "--followers", "1", "--settle", "0.5"], [
        rf"^5 transactions x 3 records, positions by offsets, 1 followers, 3 topics of 1 partition\(s\): "
        rf"{N} s \({N}/s\); broker CPU {N} s = {N} ms per transaction",
        r"^  busiest threads \(ms per transaction\): \S"])
    bench("chaos.sh --help", ["bash", f"{BENCH_SRC}/chaos.sh", "--help"], [r"^# .*--chaos-seconds"])


t0 = time.monotonic()
work = tempfile.mkdtemp(prefix="barge-benchsmoke-")
try:
    tp = throughput_start(work)
    try:
        for part in (c_benches, scripts):
            try:
                part()
            except Exception as e:  # a step that could not even run its benchmark
                ok(False, f"{part.__name__} ran to its end", repr(e))
    finally:
        throughput_check(tp, work)
finally:
    shutil.rmtree(work, ignore_errors=True)
log("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()) + f"; all {time.monotonic() - t0:.1f} s")
finish()
