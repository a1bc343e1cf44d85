#!/usr/bin/env python3
"""A connection that arrives while the backend is stopping (it ignores SIGTERM,
stop_timeout = 1s) waits, and is served by a fresh instance once the old one
is gone: never refused, never handed to the dying backend."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", args=["--ignore-term"], idle_timeout="300ms",
                             stop_timeout="1s")
    t.start()
    pid1 = zt.http_get(listen).pid
    t.wait_log(zt.re_idle_stop("web"), timeout=5)
    if not zt.pid_alive(pid1):
        zt.fail("the backend ignoring SIGTERM was gone at once (stop_timeout = 1s)")
    t0 = time.monotonic()
    r = zt.http_get(listen, "/during-stop", timeout=10)
    waited = time.monotonic() - t0
    zt._note(f"answered after {waited:.3f}s")
    zt.expect_eq(r.status, 200, "request during stopping")
    zt.expect(r.pid != pid1, "served by the dying instance")
    zt.expect(not zt.pid_alive(pid1), "answered while the old instance still lived")
    t.wait_log(zt.re_killed("web", "SIGKILL"))
    t.expect_log_count(zt.re_starting("web"), 2, "starts")


zt.run(test)
