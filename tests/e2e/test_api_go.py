"""test_api_go.py: `barge api` driven by a second SDK, the Go SDK v2
(github.com/aws/aws-sdk-go-v2/service/batch, tests/e2e/go_sdk/, its modules fetched from the Go
module proxy by scripts/setup.sh). The Go program, with its credentials and BaseEndpoint set in
code, describes the queue, submits a job and describes it until it is SUCCEEDED, and decodes
Barge's errors (a wrong secret, an operation's ClientException) as AWS errors.

Without a `go` toolchain the test is skipped (exit 77, CTest's SKIP_RETURN_CODE) with the reason
printed. The build uses only Go's module cache (GOPROXY=off): a missing module is a failure that
names scripts/setup.sh, not a download at test time."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_common import ADMIN, api_test  # noqa: E402
from common import BUILD, HERE, log, ok  # noqa: E402

SKIP = 77
GO_DIR = os.path.join(HERE, "go_sdk")


def go_binary():
    return shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)


def build(go):
    """Builds the Go program into the build tree; returns (path or None, seconds, output)."""
    out = os.path.join(BUILD, "go_sdk", "go_sdk_batch")
    env = dict(os.environ, GOPROXY="off", GOFLAGS="-mod=readonly", GOTOOLCHAIN="local")
    t0 = time.monotonic()
    p = subprocess.run([go, "build", "-o", out, "."], cwd=GO_DIR, env=env, capture_output=True, text=True,
                       timeout=540)
    return (out if p.returncode == 0 else None), time.monotonic() - t0, p.stdout + p.stderr


def body_with(program):
    def body(st, addr):
        st.scheduler(tick_ms=200)
        st.agent("i-0000000000000g001", vcpus=2, memory=2048)
        st.create_ce("local")
        st.create_queue("q", "local")
        st.register("hello", ["sh", "-c", "echo hello from the go sdk"], settle=True)
        p = subprocess.run([program, "-endpoint", f"http://{addr[0]}:{addr[1]}", "-access-key", ADMIN[0],
                            "-secret", ADMIN[1], "-queue", "q", "-job-definition", "hello", "-wait", "180s"],
                           capture_output=True, text=True, timeout=300)
        log(f"  go program exited {p.returncode}: {p.stdout.strip()} {p.stderr.strip()}")
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            r = {}
        ok(p.returncode == 0 and "error" not in r, "the Go program ran to its end", r.get("error"))
        ok(r.get("queues") == ["q"], "Go SDK: DescribeJobQueues", r.get("queues"))
        sub = r.get("submit", {})
        ok(sub.get("jobId") and sub.get("jobName") == "go-sdk-1" and sub.get("jobArn"),
           "Go SDK: SubmitJob answers jobId, jobName, jobArn", sub)
        final = r.get("final", {})
        ok(final.get("jobId") == sub.get("jobId") and final.get("status") == "SUCCEEDED"
           and final.get("exitCode") == 0 and final.get("stoppedAt", 0) >= final.get("createdAt", 1) > 0,
           "Go SDK: DescribeJobs polled to SUCCEEDED, exit code 0, timestamps decoded", (final, r.get("seen")))
        cli = st.describe(sub.get("jobId", "none")).get(sub.get("jobId"), {})
        ok(cli.get("status") == "SUCCEEDED" and cli.get("jobArn") == sub.get("jobArn"),
           "the barge CLI sees the Go SDK's job", cli.get("status"))
        e = r.get("tooManyIds") or {}
        ok(e.get("code") == "ClientException" and e.get("message"),
           "Go SDK decodes an operation's ClientException (101 ids)", e)
        e = r.get("wrongSecret") or {}
        ok(e.get("code") == "InvalidSignatureException", "Go SDK decodes InvalidSignatureException (wrong secret)", e)
    return body


def main():
    go = go_binary()
    if not go:
        log("SKIP test_api_go: no `go` toolchain on PATH nor at /usr/local/go/bin/go; "
            "the Go SDK test did not run")
        log("0 passed, 0 failed, 1 skipped")
        sys.exit(SKIP)
    version = subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()
    program, secs, output = build(go)
    log(f"go build of tests/e2e/go_sdk ({version}): {secs:.1f} s")
    if not program:
        log(output)
        ok(False, "the Go SDK program builds from Go's module cache (run scripts/setup.sh to fetch its modules)",
           output.strip().splitlines()[-1:] if output.strip() else None)
        log("0 passed, 1 failed")
        sys.exit(1)
    api_test("apigo", body_with(program))


if __name__ == "__main__":
    main()
