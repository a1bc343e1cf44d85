#!/usr/bin/env python3
"""Clients that reset their connection (SO_LINGER 0, so an RST) mid-transfer,
many times: 40 downloads reset while the daemon writes to them (HTTP
/bytes/100M), 40 uploads reset while the daemon still has bytes to push to the
backend (echo, 4 MiB sent and nothing read), 40 resets with bytes in flight in
both directions, and 20 resets of connections still pending during a cold start.
The daemon stays up (no SIGPIPE), connections_active and connections_pending
return to 0, the backends are the same instances and keep serving."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

ROUNDS = 40


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def read_some(s, n):
    got = 0
    while got < n:
        d = s.recv(65536)
        zt.expect(d, f"EOF after {got} bytes of a download")
        got += len(d)


def push(s, n, deadline=2.0):
    """Send up to n bytes without reading, until the socket would block."""
    s.setblocking(False)
    sent, chunk, end = 0, b"\xa5" * 65536, time.monotonic() + deadline
    while sent < n and time.monotonic() < end:
        try:
            sent += s.send(chunk[:n - sent])
        except BlockingIOError:
            time.sleep(0.002)
    return sent


def quiet(t, names):
    for name in names:
        st = t.service_status(name)
        if st["connections_active"] or st["connections_pending"]:
            return False
    return True


def test(t):
    web = t.testd_service("web", idle_timeout="1m")
    echo = t.testd_service("echo", args=["--mode", "echo"], idle_timeout="1m")
    slow = t.testd_service("slow", args=["--start-delay", "400"], idle_timeout="1m",
                           start_timeout="10s")
    t.start()
    zt.expect_eq(zt.http_get(web).status, 200, "web cold start")
    zt.expect_eq(zt.echo_roundtrip(echo, b"hello"), b"hello", "echo cold start")
    pids = {n: t.service_status(n)["pid"] for n in ("web", "echo")}

    for i in range(ROUNDS):  # down: the daemon is writing to the client
        s = zt.connect(web)
        s.sendall(b"GET /bytes/100000000 HTTP/1.1\r\nHost: zptest\r\nConnection: close\r\n\r\n")
        read_some(s, 256 * 1024)
        reset(s)
    for i in range(ROUNDS):  # up: the daemon is writing to the backend
        s = zt.connect(echo)
        zt.expect(push(s, 4 << 20) > 0, "upload: nothing sent")
        reset(s)
    for i in range(ROUNDS):  # both ways at once
        s = zt.connect(echo)
        push(s, 512 * 1024, deadline=0.2)
        s.setblocking(True)
        s.settimeout(5)
        zt.expect(s.recv(65536), "echo: nothing came back")
        push(s, 256 * 1024, deadline=0.1)
        reset(s)
    pending = []
    for i in range(20):  # pending during a cold start
        s = zt.connect(slow)
        s.sendall(b"GET / HTTP/1.1\r\nHost: zptest\r\n\r\n")
        pending.append(s)
    zt.wait_until(lambda: t.service_status("slow")["connections_pending"] == 20, 2,
                  what="20 pending connections")
    for s in pending:
        reset(s)

    zt.expect(t.daemon_alive(), "daemon alive after the resets")
    zt.wait_until(lambda: quiet(t, ("web", "echo", "slow")), 5, interval=0.05,
                  what="connections_active and connections_pending back to 0")
    for name, pid in pids.items():
        zt.expect_eq(t.service_status(name)["pid"], pid, f"{name}: the same backend instance")
    zt.expect_eq(zt.http_get(web, "/bytes/1000000").body,
                 bytes(i % 251 for i in range(1000000)), "web serves after the resets")
    data = os.urandom(1 << 20)
    zt.expect(zt.echo_roundtrip(echo, data) == data, "echo serves 1 MiB after the resets")
    zt.expect_eq(zt.http_get(slow).status, 200, "slow serves after its pending clients reset")
    st = t.service_status("web")
    zt.expect(st["connections_total"] >= ROUNDS + 2,
              f"web connections_total {st['connections_total']}")


zt.run(test)
