#!/usr/bin/env python3
"""protocol = http counts requests, not connections: a pre-connect (connect,
send nothing) starts nothing; 10 requests on one keep-alive connection count
10; pipelined requests are answered in order, each counted; requests_active
shows a request in flight and drops back to 0 once it is answered."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def svc(t):
    return t.status_json("web")["services"][0]


def test(t):
    listen = t.testd_service("web", protocol="http", idle_timeout="1h")
    t.start()

    # A speculative pre-connect wakes nothing.
    pre = zt.connect(listen)
    time.sleep(0.5)
    st = svc(t)
    zt.expect_eq(st["state"], "stopped", "state after a pre-connect")
    zt.expect_eq(t.children(), [], "children after a pre-connect")
    zt.expect_eq(st["cold_starts"], 0, "cold starts after a pre-connect")
    zt.expect_eq(st["requests_total"], 0, "requests after a pre-connect")
    # Its first request does.
    pre.sendall(b"GET /first HTTP/1.1\r\nHost: zptest\r\n\r\n")
    r, rest = zt._read_response(pre, b"")
    zt.expect_eq(r.status, 200, "the pre-connected socket's first request")
    zt.expect_eq(r.kv.get("path"), "/first", "its path")
    pre.close()
    zt.wait_until(lambda: svc(t)["requests_total"] == 1, 5, what="the first request counted")

    # Ten requests on one keep-alive connection count ten.
    with zt.HttpConn(listen) as c:
        pids = {c.get(f"/ka/{i}").pid for i in range(10)}
    zt.expect_eq(len(pids), 1, "one backend for the keep-alive requests")
    zt.wait_until(lambda: svc(t)["requests_total"] == 11, 5, what="11 requests counted")
    st = svc(t)
    zt.expect_eq(st["connections_total"], 2, "connections_total")
    zt.expect_eq(st["responses"]["2xx"], 11, "2xx responses")

    # Pipelined: five requests in one write, five answers in order.
    s = zt.connect(listen)
    s.sendall(b"".join(f"GET /p/{i} HTTP/1.1\r\nHost: zptest\r\n\r\n".encode()
                       for i in range(5)))
    buf = b""
    for i in range(5):
        r, buf = zt._read_response(s, buf)
        zt.expect_eq(r.kv.get("path"), f"/p/{i}", f"pipelined answer {i}")
    zt.wait_until(lambda: svc(t)["requests_total"] == 16, 5, what="16 requests counted")
    # More than the tracker keeps in flight (16): the rest wait in the
    # socket and go on as answers come.
    s.sendall(b"".join(f"GET /q/{i} HTTP/1.1\r\nHost: zptest\r\n\r\n".encode()
                       for i in range(40)))
    for i in range(40):
        r, buf = zt._read_response(s, buf)
        zt.expect_eq(r.kv.get("path"), f"/q/{i}", f"deep-pipelined answer {i}")
    zt.wait_until(lambda: svc(t)["requests_total"] == 56, 5, what="56 requests counted")

    # In flight while it waits for its answer, and not after.
    s.sendall(b"GET /sleep/800 HTTP/1.1\r\nHost: zptest\r\n\r\n")
    zt.wait_until(lambda: svc(t)["requests_active"] == 1, 5, what="requests_active 1")
    r, buf = zt._read_response(s, buf)
    zt.expect_eq(r.status, 200, "the slow answer")
    zt.wait_until(lambda: svc(t)["requests_active"] == 0, 5, what="requests_active back to 0")
    zt.expect_eq(svc(t)["connections_active"], 1, "the keep-alive connection stays open")
    s.close()
    zt.wait_until(lambda: svc(t)["connections_active"] == 0, 5, what="the connection closed")
    zt.expect_eq(svc(t)["requests_total"], 57, "requests_total at the end")


zt.run(test)
