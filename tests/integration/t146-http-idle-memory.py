#!/usr/bin/env python3
"""protocol = http: many idle keep-alive connections (one request each, then
held) cost bounded memory in zeroproxy (VmRSS growth per connection under
48 KiB: the relay's buffers are touched only as far as bytes went, the
tracker is a few KiB), count as open connections but not as requests, and
are all closed at the idle stop, each with a clean EOF."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

N = 400
LIMIT_KIB = 48


def svc(t):
    return t.status_json("web")["services"][0]


def test(t):
    listen = t.testd_service("web", protocol="http", idle_timeout="3s", max_connections=1000)
    t.start()
    zt.http_get(listen)  # warm up: the backend runs, the first buffers exist
    asan = t.uses_asan()
    base = t.rss_kib()
    conns = []
    for i in range(N):
        c = zt.HttpConn(listen)
        zt.expect_eq(c.get(f"/bytes/{2000 + i}").status, 200, f"request {i}")
        conns.append(c)
    zt.wait_until(lambda: svc(t)["requests_active"] == 0, 5, what="nothing in flight")
    st = svc(t)
    zt.expect_eq(st["connections_active"], N, "open keep-alive connections")
    if not asan:
        per = (t.rss_kib() - base) / N
        zt._note(f"{per:.1f} KiB of zeroproxy's RSS per idle keep-alive connection ({N})")
        zt.expect(per < LIMIT_KIB, f"{per:.1f} KiB per idle keep-alive connection")
    t.wait_log(zt.re_idle_stop("web"), timeout=10)
    t.wait_log(rf"web: closed {N} keep-alive connections between requests")
    for c in conns:
        zt.expect_closed(c.sock, within=5.0, what="an idle keep-alive connection")
        c.close()
    zt.wait_until(lambda: svc(t)["state"] == "stopped", 10, what="the backend stopped")
    zt.expect_eq(svc(t)["connections_active"], 0, "connections after the idle stop")


zt.run(test)
