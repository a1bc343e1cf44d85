#!/usr/bin/env python3
"""ready = notify: the backend gets a NOTIFY_SOCKET of zeroproxy's own (not the
one zeroproxy got from its supervisor) and is ready only when it sends READY=1
after 400 ms: the first request is answered after that, and no connection
reached the backend before READY."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", args=["--notify-delay", "400"], ready="notify",
                             idle_timeout="1m")
    t.start()
    t0 = time.monotonic()
    r = zt.http_get(listen, timeout=10)
    took = time.monotonic() - t0
    zt._note(f"cold start with a 400 ms READY delay answered after {took:.3f}s")
    zt.expect_eq(r.status, 200, "first request")
    zt.expect(took >= 0.38, f"answered after {took:.3f}s, before READY=1")
    zt.expect_eq(r.kv["accepted_before_ready"], "0", "connections accepted before READY=1")
    zt.expect_eq(r.kv["notified"], "1", "the backend sent READY=1")
    ns = r.kv["notify_socket"]
    zt.expect(ns, "the backend got no NOTIFY_SOCKET")
    zt.expect(ns != t.notify.path, "zeroproxy passed its own NOTIFY_SOCKET on")
    t.wait_log(zt.re_running("web"))
    zt.expect_eq(zt.http_get(listen).pid, r.pid, "same instance")


zt.run(test)
