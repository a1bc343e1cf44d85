#!/usr/bin/env python3
"""A backend that crashes (SIGABRT) mid-connection: that client's connection ends,
the exit is logged with its signal, the daemon lives on and the next connection
is served by a new instance."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    with zt.HttpConn(listen) as c:
        pid1 = c.get("/").pid
        try:
            r = c.get("/crash")
            zt.fail(f"/crash was answered: {r}")
        except zt.Closed:
            pass
    t.wait_log(zt.re_killed("web", "SIGABRT"))
    zt.wait_until(lambda: not zt.pid_alive(pid1), 5, what="the crashed backend to be gone")
    zt.expect(t.daemon_alive(), "daemon alive after a backend crash")
    r = zt.http_get(listen)
    zt.expect_eq(r.status, 200, "request after the crash")
    zt.expect(r.pid != pid1, "served by the crashed pid")


zt.run(test)
