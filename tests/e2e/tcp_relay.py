#!/usr/bin/env python3
"""tcp_relay.py LISTEN_HOST:PORT TARGET_HOST:PORT: forwards every connection accepted on the
listening address to the target, both ways, until either side closes. Prints "ready" once it
listens. test_agent_partition.py runs one inside a network namespace (the agent's 127.0.0.1:PORT
to the host's veth address) and one on the host (that address to the broker), so that cutting
the veth cuts the agent off from Kafka. Not a test itself (no test_ prefix)."""
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def serve(client, target):
    try:
        upstream = socket.create_connection(target, timeout=5)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


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
