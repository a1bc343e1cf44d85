#!/usr/bin/env python3
"""wake_on = data: 20 connections that connect and close without a byte (a
port scanner, a TCP health check) start nothing, in tcp mode and in http
mode, and are counted in connections_ignored (status, /metrics, kept across
a restart of zeroproxy); the next real connection (an echo round trip, a GET)
starts the backend. A tcp connection that stays silent past
connection_idle_timeout is closed, ignored too. While the backend runs, a
wake_on = data connection is relayed at once (it is active before it sends a
byte). The control: the same connect-and-close against wake_on = connect
starts the backend."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

N = 20


def knock(addr, n):
    """n connections that connect and close at once, each after the other;
    every other one with a FIN first (shutdown), the rest with a reset."""
    for i in range(n):
        s = zt.connect(addr)
        if i % 2:
            s.shutdown(socket.SHUT_WR)
        else:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.close()


def test(t):
    maddr = f"127.0.0.1:{t.port()}"
    t.write_global(metrics_listen=maddr)
    echo = t.testd_service("echo", args=["--mode", "echo"], wake_on="data", idle_timeout="1h",
                           connection_idle_timeout="1s")
    web = t.testd_service("web", protocol="http", wake_on="data", idle_timeout="1h")
    eager = t.testd_service("eager", args=["--mode", "echo"], idle_timeout="1h")
    t.start()

    knock(echo, N)
    knock(web, N)
    zt.wait_until(lambda: t.service_status("echo")["connections_ignored"] == N and
                  t.service_status("web")["connections_ignored"] == N, 5,
                  what=f"{N} ignored connections on echo and web")
    time.sleep(0.3)
    for name in ("echo", "web"):
        t.expect_log_count(zt.re_starting(name), 0, f"starts of {name} by empty connections")
        s = t.service_status(name)
        zt.expect_eq((s["state"], s["cold_starts"], s["connections_total"],
                      s["connections_refused"], s["connections_active"]),
                     ("stopped", 0, N, 0, 0), f"{name} after {N} empty connections")

    # Silent past connection_idle_timeout: closed, ignored.
    s = zt.connect(echo)
    took = zt.expect_closed(s, within=4.0, what="the silent connection")
    zt.expect(took >= 0.8, f"the silent connection closed after {took:.2f}s")
    s.close()
    zt.wait_until(lambda: t.service_status("echo")["connections_ignored"] == N + 1, 3,
                  what="the silent connection counted ignored")
    t.expect_log_count(zt.re_starting("echo"), 0, "starts of echo by a silent connection")

    # The control: wake_on = connect starts at the accept.
    knock(eager, 1)
    t.wait_log(zt.re_starting("eager"))

    # The next real connection starts the backend and is served.
    zt.expect_eq(zt.echo_roundtrip(echo, b"hello wake_on = data\n" * 100),
                 b"hello wake_on = data\n" * 100, "the echo after the empty connections")
    t.wait_log(zt.re_starting("echo"))
    r = zt.http_get(web, "/after")
    zt.expect_eq(r.status, 200, "the GET after the empty connections")
    t.expect_log_count(zt.re_starting("web"), 1, "starts of web")

    # Running: relayed at once, before its first byte.
    with zt.connect(echo) as s:
        zt.wait_until(lambda: t.service_status("echo")["connections_active"] == 1, 3,
                      what="a silent connection relayed at once while running")
        s.sendall(b"ping\n")
        zt.expect_eq(s.recv(100), b"ping\n", "echo while running")

    m = zt.metrics_text(maddr)
    for name, n in (("echo", N + 1), ("web", N), ("eager", 0)):
        zt.expect(re.search(rf'^zeroproxy_connections_ignored_total{{service="{name}"}} {n}$',
                            m, re.M), f"zeroproxy_connections_ignored_total of {name} is {n}")

    # Kept across a restart (the usage file).
    zt.expect_eq(t.stop(), 0, "zeroproxy's exit status on SIGTERM")
    t.daemon = None
    t.start(wait_ready=False)
    t.wait_ready(count=2)
    zt.expect_eq((t.service_status("echo")["connections_ignored"],
                  t.service_status("web")["connections_ignored"]), (N + 1, N),
                 "connections_ignored after a restart")


zt.run(test)
