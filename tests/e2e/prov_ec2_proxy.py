#!/usr/bin/env python3
"""prov_ec2_proxy.py: a throttling HTTP proxy in front of an EC2 endpoint (moto), for the ec2
driver test (tests/integration/test_ec2_driver.c): moto cannot throttle.

    prov_ec2_proxy.py --upstream http://127.0.0.1:PORT --fail N

answers the first N requests with HTTP 503 and EC2's RequestLimitExceeded error, then forwards
every request unchanged (headers included, so SigV4 signatures still verify upstream) and relays
the answer. Prints "ready PORT" once listening on 127.0.0.1 (an ephemeral port); stops when
stdin closes or on SIGTERM. Each request is logged to stderr."""
import argparse
import http.client
import http.server
import sys
import threading
import urllib.parse

THROTTLED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
             b'<Message>Request limit exceeded.</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000'
             b'</RequestID></Response>')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--fail", type=int, default=2)
    args = ap.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    state = {"n": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state["n"] += 1
                n = state["n"]
            if n <= args.fail:
                sys.stderr.write("request %d: throttled\n" % n)
                self.send_response(503)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(THROTTLED)))
                self.end_headers()
                self.wfile.write(THROTTLED)
                return
            sys.stderr.write("request %d: forwarded\n" % n)
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            conn.send(body)
            r = conn.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_POST = _handle
        do_GET = _handle

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("ready %d" % srv.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
    srv.shutdown()


if __name__ == "__main__":
    main()
