#!/usr/bin/env python3
"""tcp_relay.py LISTEN_HOST:PORT TARGET_HOST:PORT: forwards every connection accepted on the
listening address to the target, both ways, until either side closes. Prints "ready" once it
listens. test_agent_partition.py runs one inside a network namespace (the agent's 127.0.0.1:PORT
to the host's veth address) and one on the host (that address to the broker), so that cutting
the veth cuts the agent off from Kafka. Not a test itself (no test_ prefix).

Imported, it gives the tests an in-process relay (Relay) whose requests a subclass may hold or
drop: test_container_signal_stall.StallRelay and test_agent_register_stop.ProduceHold."""
import socket
import sys
import threading


def close_both(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def pipe(src, dst, forward=None):
    """Copies src to dst until either closes, then closes both. forward(data) may return the
    bytes to pass on instead (b"" passes nothing), or sleep to hold them."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if forward is not None:
                data = forward(data)
            if data:
                dst.sendall(data)
    except OSError:
        pass
    close_both(src, dst)


def serve(client, target):
    try:
        upstream = socket.create_connection(target, timeout=5)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


class Relay:
    """An in-process relay: every connection accepted on listen (a unix socket path, or a
    (host, port) pair) is joined to target (the same kinds), both ways, on daemon threads. A
    subclass overrides request(data) (client to target) to hold or filter what passes; one
    instance serves every connection, so request() keeps per-connection state only through
    new_connection()."""

    def __init__(self, listen, target):
        self.target = target
        unix = isinstance(listen, str)
        self.srv = socket.socket(socket.AF_UNIX if unix else socket.AF_INET, socket.SOCK_STREAM)
        if not unix:
            self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(listen)
        self.srv.listen(64)
        self.port = None if unix else self.srv.getsockname()[1]  # the port bound (listen may say 0)
        threading.Thread(target=self.accept, daemon=True).start()

    def connect(self):
        if isinstance(self.target, str):
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self.target)
            return up
        up = socket.create_connection(self.target, timeout=5)
        up.settimeout(None)
        return up

    def accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            if not self.admit(c):
                continue
            try:
                up = self.connect()
            except OSError:
                c.close()
                continue
            threading.Thread(target=pipe, args=(c, up, self.new_connection()), daemon=True).start()
            threading.Thread(target=pipe, args=(up, c), daemon=True).start()

    def admit(self, client):
        """Whether to join an accepted connection to the target now (False: the subclass keeps
        client, e.g. to leave it unanswered)."""
        return True

    def new_connection(self):
        """The forward function of one connection's requests (None: pass everything)."""
        return None

    def close(self):
        self.srv.close()


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    listen, target = addr(sys.argv[1]), addr(sys.argv[2])
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(listen)
    srv.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = srv.accept()
        serve(client, target)


if __name__ == "__main__":
    main()
