#!/usr/bin/env python3
"""IPv6: listen on [::1]:PORT in front of a backend on [::1]:PORT, and
listen = *:PORT accepting both IPv4 and IPv6 on one socket."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    if not zt.have_ipv6():
        zt.skip("::1 cannot be bound here")
    p6, pany, b6 = t.port("::1"), t.port("::1"), t.port("::1")
    t.testd_service("web", listen=[f"[::1]:{p6}", f"*:{pany}"], address=f"[::1]:{b6}",
                    idle_timeout="1m")
    t.start()
    r = zt.http_get(f"[::1]:{p6}")
    zt.expect_eq(r.status, 200, "request over IPv6")
    zt.expect_eq(zt.http_get(f"[::1]:{pany}").pid, r.pid, "*:PORT over IPv6")
    zt.expect_eq(zt.http_get(f"127.0.0.1:{pany}").pid, r.pid, "*:PORT over IPv4")
    t.wait_log(zt.re_starting("web", "stopped") + r" \(connection from \[?::1")


zt.run(test)
