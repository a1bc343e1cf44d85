#!/usr/bin/env python3
"""Idle stop: the backend runs while a connection is open, however long; once the
last connection closes it is stopped after idle_timeout (its pid disappears),
and the next request starts a new instance with a new pid."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

IDLE = 0.5


def test(t):
    listen = t.testd_service("web", idle_timeout="500ms")
    t.start()
    with zt.HttpConn(listen) as c:
        pid1 = c.get("/").pid
        time.sleep(IDLE * 2.5)
        zt.expect(zt.pid_alive(pid1), "backend stopped while a connection was open")
        zt.expect_eq(c.get("/still").pid, pid1, "same instance on the open connection")
    closed = time.monotonic()
    time.sleep(IDLE * 0.5)
    zt.expect(zt.pid_alive(pid1), "backend stopped before idle_timeout")
    zt.wait_until(lambda: not zt.pid_alive(pid1), 5, what="the idle backend to stop")
    took = time.monotonic() - closed
    zt._note(f"stopped {took:.3f}s after the last connection closed (idle_timeout {IDLE}s)")
    zt.expect(took >= IDLE * 0.8, f"stopped after {took:.3f}s, before idle_timeout")
    t.wait_log(zt.re_idle_stop("web"))
    t.wait_log(zt.re_exited("web", 0))
    zt.expect_eq(t.children(), [], "children after the idle stop")
    pid2 = zt.http_get(listen).pid
    zt.expect(pid2 != pid1, f"the next request got the old pid {pid1}")
    t.expect_log_count(zt.re_starting("web", "stopped"), 2, "starts from stopped")


zt.run(test)
