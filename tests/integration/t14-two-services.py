#!/usr/bin/env python3
"""Two services side by side are independent: each has its own backend; one
stopping when idle or crashing leaves the other running and serving."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    web = t.testd_service("web", idle_timeout="infinity")
    api = t.testd_service("api", idle_timeout="400ms")
    t.start()
    pw, pa = zt.http_get(web).pid, zt.http_get(api).pid
    zt.expect(pw != pa, "both services served by one process")
    zt.wait_until(lambda: not zt.pid_alive(pa), 5, what="api to stop when idle")
    zt.expect(zt.pid_alive(pw), "web stopped along with api")
    zt.expect_eq(zt.http_get(web).pid, pw, "web still the same instance")
    pa2 = zt.http_get(api).pid
    try:
        zt.http_get(api, "/crash")
    except zt.Closed:
        pass
    zt.wait_until(lambda: not zt.pid_alive(pa2), 5, what="api to crash")
    zt.expect_eq(zt.http_get(web).pid, pw, "web after api crashed")
    t.expect_log_count(zt.re_starting("api"), 2, "api starts")
    t.expect_log_count(zt.re_starting("web"), 1, "web starts")


zt.run(test)
