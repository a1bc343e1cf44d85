#!/usr/bin/env python3
"""A backend that exits on its own (status 0): its open connections end, the exit
is logged, and the next connection starts a new instance."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    other = zt.HttpConn(listen)
    pid1 = other.get("/").pid
    zt.expect_eq(zt.http_get(listen, "/exit").status, 200, "/exit answered")
    t.wait_log(zt.re_exited("web", 0))
    zt.wait_until(lambda: not zt.pid_alive(pid1), 5, what="the backend to be gone")
    zt.expect_closed(other.sock, within=3, what="a connection to the exited backend")
    other.close()
    r = zt.http_get(listen)
    zt.expect_eq(r.status, 200, "request after the exit")
    zt.expect(r.pid != pid1, "served by the exited pid")


zt.run(test)
