#!/usr/bin/env python3
"""pending_timeout = 400ms: a connection waiting for a backend that needs 2.5 s
to listen is closed after that long, and the service serves again once the
backend is ready."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", args=["--start-delay", "2500"], idle_timeout="1m",
                             pending_timeout="400ms", start_timeout="20s")
    t.start()
    t0 = time.monotonic()
    with zt.connect(listen, 10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        zt.expect_closed(s, within=5, what="the waiting connection")
    took = time.monotonic() - t0
    zt._note(f"closed after {took:.3f}s (pending_timeout 0.4s)")
    zt.expect(took >= 0.3, f"closed after {took:.3f}s, before pending_timeout")
    # Closed without a byte (expect_closed), so not served by the backend that
    # is ready after 2.5 s, and not by start_timeout (20 s): the bound only says
    # "about pending_timeout", loose enough for a loaded machine.
    zt.expect(took < 5.0, f"closed only after {took:.3f}s")
    zt.expect(t.daemon_alive(), "daemon alive")
    # whether the start goes on or a new one begins, the service serves again
    r = zt.wait_until(lambda: zt.try_http_get(listen, timeout=10), 15, interval=0.05,
                      what="an answer once the backend is ready")
    zt.expect_eq(r.status, 200, "served once the backend is ready")


zt.run(test)
