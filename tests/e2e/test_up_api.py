#!/usr/bin/env python3
"""test_up_api.py: `barge up` starts the AWS Batch API (`barge api`) with the rest of the stack.

As a user sees it: BARGE_HOME is ~/.barge of a HOME of the test's own, so the report names
~/.barge/api-credentials. `barge up --detach` prints the endpoint and an aws command; the command,
run literally by a shell (the real aws CLI), answers {"jobQueues": []}; the credentials file is
0600 with an AKIA access key; the stack file records the endpoint; an unsigned request is refused;
the report names the web dashboard, which the generated key logs in to; `barge down` stops the
API with the rest. A second `barge up`, asked for a port that is taken,
says so and serves on another one, with the same credentials file. `barge up --no-api` starts
no API."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log, ok, pid_alive, wait_for  # noqa: E402

API_LINE = re.compile(r"^  API: +(http://127\.0\.0\.1:(\d+)) \((.*)\)$", re.M)


def api_report(out):
    """(endpoint, port, the parenthesis, the aws command line) of up's report, or Nones."""
    m = API_LINE.search(out)
    cmd = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("AWS_SHARED_CREDENTIALS_FILE=")]
    if not m:
        return None, None, None, cmd[0] if cmd else None
    return m.group(1), int(m.group(2)), m.group(3), cmd[0] if cmd else None


def run_literally(st, line):
    """The printed command, by a shell, in the user's environment (HOME, no AWS_* of ours but
    AWS_PAGER): its stdout as JSON, or the failure."""
    p = subprocess.run(["bash", "-c", line], env=st.env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return ("exit", p.returncode, p.stderr.strip())
    try:
        return json.loads(p.stdout)
    except ValueError:
        return ("not JSON", p.stdout)


def unsigned_status(endpoint):
    """An unsigned DescribeJobQueues: (status, x-amzn-ErrorType)."""
    req = urllib.request.Request(endpoint + "/v1/describejobqueues", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, None
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("x-amzn-ErrorType")


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except OSError:
        return False


def creds_file(st):
    path = os.path.join(st.home, "api-credentials")
    with open(path) as f:
        text = f.read()
    return path, text, stat.S_IMODE(os.stat(path).st_mode)


def check_dashboard(out, endpoint, key, secret):
    """The report names the dashboard; the generated key logs in to it (docs/dashboard.md)."""
    ok(f"dashboard: {endpoint}/dashboard/" in out, "the report names the web dashboard's address")
    with urllib.request.urlopen(endpoint + "/dashboard/", timeout=30) as r:
        ok(r.status == 200 and b"<!doctype html>" in r.read(), "the dashboard's page is served")
    req = urllib.request.Request(endpoint + "/dashboard/api/login", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps({"accessKey": key, "secretKey": secret}).encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        cookie = r.headers.get("Set-Cookie", "").split(";")[0]
        ok(r.status == 200 and json.loads(r.read()).get("profile") == "barge" and cookie.startswith("barge_dash="),
           "the generated key logs in to the dashboard")
    req = urllib.request.Request(endpoint + "/dashboard/api/overview", headers={"Cookie": cookie})
    with urllib.request.urlopen(req, timeout=30) as r:
        ok(r.status == 200 and "queues" in json.loads(r.read()), "... and reads the per-queue counts")


def body(st):
    # a user's layout: BARGE_HOME = ~/.barge of a HOME of our own (st.home stays the BARGE_HOME)
    user_home = st.home
    st.home = os.path.join(user_home, ".barge")
    os.mkdir(st.home)
    for k in [k for k in st.env if k.startswith("AWS_") and k != "AWS_PAGER"]:
        del st.env[k]
    st.env.update(HOME=user_home, BARGE_HOME=st.home)
    st.user_home = user_home

    log("-- barge up --detach: the API with the rest")
    out = st.up("--agents", "1")
    log("  " + out.strip().replace("\n", "\n  "))
    endpoint, port, paren, cmd = api_report(out)
    ok(endpoint and (port == 8780 or "127.0.0.1:8780 was in use" in paren),
       "the report's API line: 127.0.0.1:8780, or another port saying 8780 was in use", out)
    ok(paren and paren.endswith("SigV4; credentials in ~/.barge/api-credentials, profile barge"),
       "it names the credentials file under ~ and the profile", paren)
    want_cmd = (f"AWS_SHARED_CREDENTIALS_FILE=~/.barge/api-credentials aws batch --profile barge "
                f"--endpoint-url {endpoint} --region us-east-1 describe-job-queues")
    ok(cmd == want_cmd, "it prints the aws command", cmd)
    ok(st.stack_value("api_endpoint") == endpoint, "the stack file records the endpoint",
       st.stack_value("api_endpoint"))
    path, text, mode = creds_file(st)
    ok(st.stack_value("api_credentials") == path, "the stack file records the credentials file")
    ok(mode == 0o600, f"the credentials file is 0600 ({oct(mode)})")
    keys = re.findall(r"^aws_access_key_id = (AKIA[A-Z2-7]{16})$", text, re.M)
    secrets = re.findall(r"^aws_secret_access_key = (\S{40})$", text, re.M)
    ok(re.search(r"^\[barge\]$", text, re.M) and len(keys) == 1 and len(secrets) == 1,
       "one profile [barge] with an AKIA access key and a 40-character secret", text.replace(secrets[0], "…")
       if secrets else text)
    ok(all("retention" not in common.cmdline(p) for p in st.service_pids("agent")),
       "without --agent-log-retention-hours the agents keep every log (no retention passed)")
    api = st.service_pids("api")
    ok(len(api) == 1, "one `barge api` among the stack's services", api)
    token = os.path.join(st.home, "log.token")
    tmode = stat.S_IMODE(os.stat(token).st_mode) if os.path.exists(token) else None
    ok(tmode == 0o600 and len(open(token).read().strip()) == 64 and st.stack_value("log_token") == token,
       "barge up made the log servers' token (64 hex digits, 0600), recorded in the stack file", tmode)
    argv = common.cmdline(api[0]).split() if api else []
    ok("--log-token-file" in argv and argv[argv.index("--log-token-file") + 1] == token,
       "the stack's API signs its log fetches with it (--log-token-file)", argv)
    got = run_literally(st, cmd) if cmd else None
    ok(got == {"jobQueues": []}, "the printed command, run literally, answers {\"jobQueues\": []}", got)
    ok(unsigned_status(endpoint) == (403, "MissingAuthenticationTokenException"), "an unsigned request is refused",
       unsigned_status(endpoint))
    check_dashboard(out, endpoint, keys[0] if keys else "", secrets[0] if secrets else "")
    st.down()
    ok(api and not pid_alive(api[0]), "barge down stopped the API")
    ok(not listening(port), f"nothing listens on {port} any more")
    ok(st.stack_value("api_endpoint") is None, "the stack file is gone")

    log("-- barge up again, asked for a port that is taken: another port, the same credentials")
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    try:
        out = st.up("--agents", "1", "--api-listen", f"127.0.0.1:{taken}")
        log("  " + out.strip().replace("\n", "\n  "))
        endpoint2, port2, paren2, cmd2 = api_report(out)
        ok(port2 and port2 != taken and paren2.startswith(f"127.0.0.1:{taken} was in use; SigV4;"),
           f"127.0.0.1:{taken} was taken: the report says so and names the port it chose", paren2)
        ok(st.stack_value("api_endpoint") == endpoint2, "the stack file records that port")
        _, text2, mode2 = creds_file(st)
        ok(text2 == text and mode2 == 0o600, "the credentials file is reused as it was (0600)")
        got = run_literally(st, cmd2) if cmd2 else None
        ok(got == {"jobQueues": []}, "the printed command works on that port", got)
        st.down()
    finally:
        holder.close()

    log("-- barge up --no-api --agent-log-retention-hours 2.5")
    out = st.up("--agents", "1", "--no-api", "--agent-log-retention-hours", "2.5")
    ok("API" not in out and "aws batch" not in out, "no API in the report", out)
    ok(st.stack_value("api_endpoint") is None, "no endpoint in the stack file")
    wait_for(lambda: st.service_pids("agent") and st.service_pids("scheduler"), 30, "the scheduler and the agent")
    ok(not st.service_pids("api"), "no `barge api` among the stack's services")
    # the fixed agent runs with it, and the provisioner passes it to the agents it starts
    agent = " ".join(common.cmdline(p) for p in st.service_pids("agent"))
    prov = " ".join(common.cmdline(p) for p in st.service_pids("provisioner"))
    ok(" --log-retention-hours 2.5 " in agent + " ", "the fixed agent got --log-retention-hours 2.5", agent)
    ok(" --agent-log-retention-hours 2.5 " in prov + " ", "the provisioner got --agent-log-retention-hours 2.5", prov)
    st.down()

    # a secret of BARGE_HOME that exists but cannot be used (empty: a crash or a full disk between
    # its creation and its write; too short) was taken as it was: barge up said the stack ran, and
    # the audit (or every agent and the API) exited 2 and was restarted for ever. Now barge up stops
    # at once, naming the file and what to do.
    log("-- an audit key or log token that cannot be used stops barge up at once")
    for path, text, says in ((os.path.join(st.home, "audit", "hmac.key"), "", "is empty"),
                             (os.path.join(st.home, "log.token"), "short\n", "it needs at least 16")):
        with open(path) as f:
            saved = f.read()
        with open(path, "w") as f:
            f.write(text)
        try:
            p = st.run("up", "--detach", "--agents", "1", check=False, timeout=120)
            started = st.stack_value("supervisor") is not None
            if started:
                st.down()
        finally:
            with open(path, "w") as f:
                f.write(saved)
        name = os.path.basename(path)
        ok(p.returncode == 1 and not started and path in p.stderr and says in p.stderr and "remove it" in p.stderr,
           f"{name} {says}: barge up exits 1 before starting anything, naming the file and what to do",
           (p.returncode, started, p.stderr.strip()))
    # a secret whose write failed (a full disk; here RLIMIT_FSIZE 0, SIGXFSZ ignored, so that write()
    # fails with EFBIG) was left empty, and every later barge up stopped on it: it is removed, so
    # that the next barge up, with room again, just generates it
    key = os.path.join(st.home, "audit", "hmac.key")
    os.rename(key, key + ".saved")
    try:
        def no_room():
            import resource
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        p = subprocess.run([common.BARGE, "up", "--detach", "--agents", "1", "--no-api"], env=st.env,
                           capture_output=True, text=True, timeout=120, preexec_fn=no_room)
        if st.stack_value("supervisor") is not None:
            st.down()
        ok(p.returncode == 1 and f"cannot write {key}" in p.stderr and not os.path.exists(key),
           "a write of the audit key that failed: barge up exits 1 saying so, and leaves no empty key behind",
           (p.returncode, p.stderr.strip(), os.path.exists(key) and os.path.getsize(key)))
    finally:
        os.replace(key + ".saved", key)
    # the stack file that cannot be written (a full disk again): the supervisor ran on unrecorded,
    # out of reach of every command (barge status: "no stack is running"; barge down waited 120 s
    # for it, then gave up) while `barge up --detach` said "stack running in the background". Now
    # the supervisor stops what it started, and barge up says the stack did not start, exit 1.
    t0 = time.monotonic()
    p = subprocess.run([common.BARGE, "up", "--detach", "--agents", "1", "--no-api", "--no-audit"], env=st.env,
                       capture_output=True, text=True, timeout=120, preexec_fn=no_room)
    took = time.monotonic() - t0
    sup = st.stack_value("supervisor")
    pid = re.search(r"pid (\d+)", p.stdout + p.stderr)
    pid = int(pid.group(1)) if pid else None
    deadline = time.monotonic() + 30
    while pid and pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.25)
    left = bool(pid and pid_alive(pid))
    if left:
        os.kill(pid, signal.SIGTERM)  # (its services go with it)
        time.sleep(3)
    ok(p.returncode == 1 and "stack running" not in p.stdout and "did not start" in p.stderr and sup is None
       and not left and took < 60,
       f"the stack file cannot be written: barge up exits 1 in {took:.0f} s saying the stack did not start, and its "
       "supervisor stops", (p.returncode, p.stdout.strip()[:300], p.stderr.strip(), sup, pid, left))
    p = st.run("down", timeout=60)
    ok(p.returncode == 0 and "no stack is running" in p.stdout, "barge down then finds nothing to stop", p.stdout)


def main():
    homes = []

    def whole(st):
        homes.append(st.home)
        body(st)
    common.scenario("up-api", whole)
    # close() removed ~/.barge (st.home) unless a check failed; the user HOME around it is ours
    if homes and not common._results["fail"] and not os.environ.get("BARGE_KEEP"):
        shutil.rmtree(homes[0], ignore_errors=True)
    common.finish()


if __name__ == "__main__":
    main()
