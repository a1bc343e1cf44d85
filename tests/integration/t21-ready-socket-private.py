#!/usr/bin/env python3
"""ready = socket without address: the backend's socket is a private unix socket
web.sock beside the control socket (no RUNTIME_DIRECTORY), passed as fd 3."""
import stat
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", ready="socket", address=False, idle_timeout="1m")
    t.start()
    r = zt.http_get(listen)
    zt.expect_eq(r.status, 200, "request")
    zt.expect_eq((r.kv["listen_fds"], r.kv["listen_fdnames"]), ("1", "web"), "passed socket")
    sock = os.path.join(os.path.dirname(t.control_socket), "web.sock")
    zt.expect(os.path.exists(sock) and stat.S_ISSOCK(os.stat(sock).st_mode),
              f"no socket at {sock}")


zt.run(test)
