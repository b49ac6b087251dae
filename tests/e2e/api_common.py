"""api_common.py: what the `barge api` end-to-end tests share: starting the server on a free
port of a common.Stack, a credentials file, and requests signed as botocore signs them."""
import datetime
import http.client
import json
import os
import re
import traceback

from common import Stack, finish, log, ok, wait_for

ADMIN = ("AKIABARGEADMIN", "admin/secret+1")
VIEWER = ("AKIABARGEVIEWER", "viewer-secret")
SESSION = ("ASIABARGESESSION", "session-secret", "session-token-1")

SERVER_CREDENTIALS = f"""# the keys `barge api` accepts
[admin]
aws_access_key_id = {ADMIN[0]}
aws_secret_access_key = {ADMIN[1]}
barge_account_id = 123456789012

[profile viewer]
aws_access_key_id = {VIEWER[0]}
aws_secret_access_key = {VIEWER[1]}
barge_role = read-only

[session]
aws_access_key_id = {SESSION[0]}
aws_secret_access_key = {SESSION[1]}
aws_session_token = {SESSION[2]}
"""


def start_api(st, *extra, log_level=None):
    """Starts `barge api` on a free port with the test's credentials (log_level: its BARGE_LOG;
    "debug" logs a line per answered request); returns (host, port)."""
    path = os.path.join(st.home, "api-credentials")
    with open(path, "w") as f:
        f.write(SERVER_CREDENTIALS)
    saved = st.env.get("BARGE_LOG")
    if log_level:
        st.env["BARGE_LOG"] = log_level
    try:
        st.start("api", "api", "--listen", "127.0.0.1:0", "--credentials-file", path, "--region", "us-east-1",
                 "--brokers", st.brokers, "--topic-prefix", st.prefix, *extra)
    finally:
        if saved is None:
            st.env.pop("BARGE_LOG", None)
        else:
            st.env["BARGE_LOG"] = saved

    def bound():
        m = re.search(r"listening on http://([0-9.]+):(\d+)", st.log_text("api"))
        return (m.group(1), int(m.group(2))) if m else None
    addr = wait_for(bound, 60, "barge api to listen")
    log(f"barge api on {addr[0]}:{addr[1]}")
    return addr


def signed_request(addr, method, path, body=b"", key=ADMIN, at=None, headers=None, sign=True):
    """One HTTP request, SigV4-signed by botocore (at: the signing time, default now).
    Returns (status, headers dict with lower-case names, body bytes)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import botocore.auth as ba
    url = f"http://{addr[0]}:{addr[1]}{path}"
    h = {"Content-Type": "application/json", **(headers or {})}
    req = AWSRequest(method=method, url=url, data=body, headers=h)
    if sign:
        saved = ba.get_current_datetime
        if at is not None:
            ba.get_current_datetime = lambda: at
        try:
            SigV4Auth(Credentials(*key), "batch", "us-east-1").add_auth(req)
        finally:
            ba.get_current_datetime = saved
    p = req.prepare()
    c = http.client.HTTPConnection(addr[0], addr[1], timeout=30)
    try:
        c.request(method, p.url.split(f"{addr[1]}", 1)[1], body=body, headers=dict(p.headers))
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def error_of(status, headers, body):
    """(x-amzn-ErrorType, __type, message) of an AWS error answer."""
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    return headers.get("x-amzn-errortype"), j.get("__type"), j.get("message", "")


def utc_minutes_ago(n):
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=n)


def api_scenario(name, body, *extra, log_level=None):
    """A `barge api` scenario: a Stack with its topics, the server started on it (with the extra
    flags), body(st, address), then barge api must stop cleanly on SIGTERM. An exception in body
    is a failed check."""
    st = Stack(name)
    try:
        st.init()
        body(st, start_api(st, *extra, log_level=log_level))
    except Exception as e:
        log(traceback.format_exc())
        ok(False, f"the {name} scenario ran to its end", repr(e))
    finally:
        status = st.stop_services()
        ok(status.get("api") == 0, "barge api stops cleanly on SIGTERM", status.get("api"))
        st.close()


def api_finish():
    """finish(): the summary line and the exit status."""
    finish()


def api_test(name, body, *extra, log_level=None):
    """A whole `barge api` test: api_scenario(name, body, *extra), then api_finish()."""
    api_scenario(name, body, *extra, log_level=log_level)
    api_finish()
