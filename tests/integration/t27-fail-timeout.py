#!/usr/bin/env python3
"""A backend not ready within start_timeout (500 ms; it would take 5 s to
listen) is a failed start: the waiting connection is closed then, the failure
is logged as "not ready after ...", and the backend process is stopped."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    pidfile = t.path("slow.pid")
    listen = t.testd_service("web", args=["--start-delay", "5000", "--pidfile", pidfile],
                             start_timeout="500ms", stop_timeout="1s")
    t.start()
    t0 = time.monotonic()
    with zt.connect(listen, 10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        zt.expect_closed(s, within=5, what="the waiting connection")
    took = time.monotonic() - t0
    zt._note(f"closed after {took:.3f}s (start_timeout 0.5s)")
    zt.expect(took >= 0.4, f"closed after {took:.3f}s, before start_timeout")
    zt.expect(took < 3.0, f"closed only after {took:.3f}s")
    t.wait_log(zt.re_start_failed("web", "not ready after"))
    pid = t.read_pidfile(pidfile)
    zt.wait_until(lambda: not zt.pid_alive(pid), 4, what="the unready backend to be stopped")
    zt.expect(t.daemon_alive(), "daemon alive")


zt.run(test)
