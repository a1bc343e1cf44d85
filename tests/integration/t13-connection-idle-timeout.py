#!/usr/bin/env python3
"""connection_idle_timeout = 500ms: a connection with no bytes either way is
closed after that long; a connection with traffic every 200 ms stays open; the
backend itself keeps running."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", idle_timeout="1m", connection_idle_timeout="500ms")
    t.start()
    with zt.HttpConn(listen) as busy:
        pid = busy.get("/").pid
        for i in range(8):  # 1.6 s of light traffic
            time.sleep(0.2)
            zt.expect_eq(busy.get(f"/{i}").status, 200, f"busy connection, request {i}")
    with zt.HttpConn(listen) as idle:
        idle.get("/")
        t0 = time.monotonic()
        zt.expect_closed(idle.sock, within=3, what="the idle connection")
        took = time.monotonic() - t0
    zt._note(f"idle connection closed after {took:.3f}s")
    zt.expect(took >= 0.35, f"closed after {took:.3f}s, before connection_idle_timeout")
    zt.expect(zt.pid_alive(pid), "the backend stopped with the connection")
    zt.expect_eq(zt.http_get(listen).pid, pid, "same instance afterwards")


zt.run(test)
