#!/usr/bin/env python3
"""The one-line STATUS= summary zeroproxy sends systemd follows the
connections, not only state changes: a keep-alive connection held open shows
as "1 connection" within about a second (updates are rate-limited to one a
second), and the summary is back at 0 connections after the idle stop."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def statuses(t):
    with t.notify.cond:
        return [f["STATUS"] for _, f, _ in t.notify.messages if "STATUS" in f]


def test(t):
    listen = t.testd_service("web", idle_timeout="500ms")
    t.start()
    # READY=1 and the first STATUS= are two datagrams: wait for the second.
    zt.wait_until(lambda: statuses(t), 3, what="a STATUS= after READY=1")
    zt.expect_eq(statuses(t)[-1], "1 service, 0 running, 0 connections", "summary at start")
    with zt.HttpConn(listen) as c:
        zt.expect_eq(c.get("/").status, 200, "first request")
        t0 = time.monotonic()
        zt.wait_until(lambda: statuses(t)[-1] == "1 service, 1 running, 1 connection", 3,
                      what="STATUS= to show the open connection")
        zt._note(f"open connection in STATUS= after {time.monotonic() - t0:.2f}s")
        for _ in range(20):  # more traffic on it: no flood of datagrams
            c.get("/")
    n = len(statuses(t))
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, what="idle stop")
    zt.wait_until(lambda: statuses(t)[-1] == "1 service, 0 running, 0 connections", 3,
                  what="STATUS= back to nothing running after the idle stop")
    zt.expect(len(statuses(t)) - n <= 6,
              f"a handful of STATUS= updates for one connection and a stop, got {statuses(t)[n:]}")


zt.run(test)
