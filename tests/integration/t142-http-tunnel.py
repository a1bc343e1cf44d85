#!/usr/bin/env python3
"""protocol = http: a WebSocket-style upgrade (101 Switching Protocols) is a
tunnel that counts as one request in flight until it closes: held past
idle_timeout it keeps the backend up and relays both ways; once it closes the
backend stops after idle_timeout. Bulk bytes through a tunnel (where the
relay may splice: the tracker no longer reads them) arrive exact.
connection_idle_timeout still closes a silent tunnel."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

UPGRADE = (b"GET /upgrade HTTP/1.1\r\nHost: zptest\r\nConnection: Upgrade\r\n"
           b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


def svc(t):
    return t.status_json("web")["services"][0]


def open_tunnel(listen):
    s = zt.connect(listen)
    s.sendall(UPGRADE)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            zt.fail("closed before the 101")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    zt.expect(head.startswith(b"HTTP/1.1 101 "), f"upgrade answer {head[:40]!r}")
    zt.expect_eq(rest, b"", "bytes after the 101")
    return s


def echo(s, data):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        d = s.recv(65536)
        if not d:
            zt.fail(f"tunnel closed after {len(got)} of {len(data)} echoed bytes")
        got += d
    zt.expect_eq(got, data, "bytes echoed through the tunnel")


def test(t):
    listen = t.testd_service("web", protocol="http", idle_timeout="500ms",
                             connection_idle_timeout="1500ms")
    t.start()
    s = open_tunnel(listen)
    pid = t.children()[0] if t.children() else None
    zt.expect(pid is not None, "a backend for the tunnel")
    zt.wait_until(lambda: svc(t)["requests_active"] == 1, 5, what="the tunnel in flight")
    # Held past idle_timeout, with traffic both ways now and then (within
    # connection_idle_timeout).
    for i in range(4):
        time.sleep(0.6)
        echo(s, f"frame {i} ".encode() * 1000)
        zt.expect(zt.pid_alive(pid), f"backend stopped under the open tunnel ({i})")
    zt.expect_eq(t.log_matches(zt.re_idle_stop("web")), [], "an idle stop under the tunnel")
    st = svc(t)
    zt.expect_eq(st["requests_active"], 1, "requests_active with the tunnel open")
    zt.expect_eq(st["responses"]["1xx"], 1, "the 101 counted as a 1xx response")
    # Bulk both ways through a second tunnel, sent while the echo is read.
    b = open_tunnel(listen)
    data = os.urandom(8 * 1024 * 1024)
    sender = threading.Thread(target=b.sendall, args=(data,))
    sender.start()
    got = bytearray()
    b.settimeout(20)
    while len(got) < len(data):
        d = b.recv(1 << 20)
        if not d:
            zt.fail(f"bulk tunnel closed after {len(got)} bytes")
        got += d
    sender.join()
    zt.expect(bytes(got) == data, "bulk bytes through the tunnel differ")
    b.close()
    zt.wait_until(lambda: svc(t)["requests_active"] <= 1, 5, what="the bulk tunnel closed")

    # Silent for longer than connection_idle_timeout: closed.
    took = zt.expect_closed(s, within=4.0, what="the silent tunnel")
    zt._note(f"silent tunnel closed after {took:.3f}s")
    s.close()
    t.wait_log(r"web: connection from \S+ closed after connection_idle_timeout")
    t.wait_log(zt.re_idle_stop("web"), timeout=5)
    zt.wait_until(lambda: not zt.pid_alive(pid), 5, what="the backend to stop")
    zt.expect_eq(svc(t)["requests_active"], 0, "requests_active at the end")


zt.run(test)
