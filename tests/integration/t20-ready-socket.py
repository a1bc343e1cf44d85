#!/usr/bin/env python3
"""ready = socket: zeroproxy listens on the backend address itself and hands the
socket to the backend as fd 3 (LISTEN_FDS=1, LISTEN_PID, LISTEN_FDNAMES=web);
the backend sees exactly that one fd besides stdio, with the service's name,
and every new instance gets the same socket."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def fds_besides_stdio(r):
    return sorted(set(r.kv["inherited_fds"].split(",")) - {"0", "1", "2"})


def test(t):
    listen = t.testd_service("web", ready="socket", idle_timeout="400ms")
    t.start()
    r = zt.http_get(listen)
    zt.expect_eq(r.status, 200, "first request")
    zt.expect_eq(r.kv["listen_fds"], "1", "LISTEN_FDS seen by the backend")
    zt.expect_eq(r.kv["listen_fdnames"], "web", "LISTEN_FDNAMES")
    zt.expect_eq(fds_besides_stdio(r), ["3"], "fds open in the backend besides 0-2")
    zt.expect_eq(r.kv["accepted_before_ready"], "0", "accepted before ready")
    t.wait_log(zt.re_running("web"))
    zt.wait_until(lambda: not zt.pid_alive(r.pid), 5, what="the idle stop")
    r2 = zt.http_get(listen)
    zt.expect(r2.pid != r.pid, "new instance after the idle stop")
    zt.expect_eq((r2.kv["listen_fds"], r2.kv["listen_fdnames"]), ("1", "web"),
                 "second instance's socket")
    zt.expect_eq(fds_besides_stdio(r2), ["3"], "second instance's fds")


zt.run(test)
