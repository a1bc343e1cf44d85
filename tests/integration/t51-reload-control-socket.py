#!/usr/bin/env python3
"""Regression: `zeroproxy reload`, sent over the control socket, of a
configuration whose control_socket is a new path. The reload used to free the
old control server, and with it the client it was still answering: the
command got no answer (and AddressSanitizer reported a use-after-free). Now it
gets its answer (exit 0), the daemon answers on the new path afterwards, and
the old path is gone."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    old = t.control_socket
    zt.expect_eq(zt.http_get(listen).status, 200, "request before the reload")

    new = t.path("ctl", "new.sock")  # its folder does not exist yet
    t.write_global(control_socket=new)
    r = t.zeroproxy("reload", "-s", old, check=False)
    zt.expect_eq((r.returncode, r.stderr), (0, ""), "zeroproxy reload over the old control socket")
    zt.expect(t.daemon_alive(), "zeroproxy survives the reload")

    t.control_socket = new  # status_json() uses it from now on
    st = t.service_status("web")
    zt.expect_eq(st["state"], "running", "status over the new control socket")
    zt.expect(not os.path.exists(old), f"the old control socket {old} is still there")
    r = t.zeroproxy("status", "-s", old, check=False)
    zt.expect_eq(r.returncode, 1, "status over the old path fails")
    zt.expect_eq(zt.http_get(listen).status, 200, "request after the reload")

    # And back, over the new socket this time (found from the configuration).
    t.write_global(control_socket=old)
    t.zeroproxy("reload", "-s", new)
    t.control_socket = old
    zt.expect_eq(t.service_status("web")["state"], "running", "status over the first path again")
    zt.expect(not os.path.exists(new), "the second control socket is gone")


zt.run(test)
