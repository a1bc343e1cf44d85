#!/usr/bin/env python3
"""A backend binary that is missing does not take the daemon down: the
connection is closed, the failure is logged with its reason, and another
service keeps working."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

MISSING = "/nonexistent/zp-missing-backend"


def test(t):
    bport = t.port()
    web = f"127.0.0.1:{t.port()}"
    t.service("web", listen=web, exec=f"{MISSING} --listen 127.0.0.1:{bport}",
              address=f"127.0.0.1:{bport}", idle_timeout="1m")
    ok = t.testd_service("ok", idle_timeout="1m")
    t.start()
    with zt.connect(web) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        zt.expect_closed(s, within=5, what="a connection to the service whose binary is missing")
    t.wait_log(zt.re_start_failed("web", "exec " + re.escape(MISSING) +
                                  ": No such file or directory"))
    zt.expect(t.daemon_alive(), "the daemon died")
    zt.expect_eq(zt.http_get(ok).status, 200, "the other service")
    zt.expect(zt.try_http_get(web) is None, "the broken service answered")
    zt.expect(t.daemon_alive(), "the daemon died on the second try")


zt.run(test)
