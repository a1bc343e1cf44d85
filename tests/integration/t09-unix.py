#!/usr/bin/env python3
"""Unix sockets on both sides: listen = unix:PATH (a stale socket file left
there is replaced) and a backend address unix:PATH; the listening socket file
is removed when the daemon exits."""
import socket
import stat
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    front = t.path("web.sock")
    back = t.path("backend.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(front)  # bound, never listening, then closed: a stale file
    stale.close()
    t.testd_service("web", listen="unix:" + front, address="unix:" + back, idle_timeout="1m")
    t.start()
    zt.expect(stat.S_ISSOCK(os.stat(front).st_mode), "listening socket file")
    r = zt.http_get("unix:" + front)
    zt.expect_eq(r.status, 200, "request over unix sockets")
    zt.expect_eq(zt.http_get("unix:" + front).pid, r.pid, "second request, same instance")
    zt.expect_eq(t.stop(), 0, "exit status")
    zt.expect(not os.path.exists(front), "listening socket file left behind after exit")


zt.run(test)
