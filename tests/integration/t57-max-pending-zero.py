#!/usr/bin/env python3
"""Regression: max_pending = 0. A connection to a stopped service was refused
before it could start the backend, so such a service never started at all.
Now that connection starts the backend (cold_starts 1) though it is itself
refused (it cannot wait), and the next connection, once the service runs, is
served."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen = t.testd_service("web", idle_timeout="1m", max_pending=0)
    t.start()
    with zt.connect(listen) as s:
        zt.expect_closed(s, within=5, what="the first connection (max_pending = 0)")
    t.wait_log(r"\bweb: connection from \S+ refused: max_pending")
    t.wait_log(zt.re_starting("web", "stopped"))
    zt.wait_until(lambda: t.service_status("web")["state"] == "running", 5, interval=0.02,
                  what="web running after the refused first connection")
    st = t.service_status("web")
    zt.expect_eq((st["cold_starts"], st["connections_refused"]), (1, 1), "cold_starts, connections_refused")
    r = zt.http_get(listen)
    zt.expect_eq(r.status, 200, "the next connection is served")
    zt.expect_eq(r.pid, st["pid"], "by the instance the first connection started")
    st = t.service_status("web")
    zt.expect_eq((st["cold_starts"], st["connections_refused"]), (1, 1), "cold_starts, connections_refused after")


zt.run(test)
