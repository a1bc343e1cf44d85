#!/usr/bin/env python3
"""max_connections = 2: a third concurrent connection is accepted and closed at
once; after one of the two closes, a new connection is served again."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", idle_timeout="1m", max_connections=2)
    t.start()
    c1, c2 = zt.HttpConn(listen), zt.HttpConn(listen)
    zt.expect_eq(c1.get("/1").status, 200, "first connection")
    zt.expect_eq(c2.get("/2").status, 200, "second connection")
    s3 = zt.connect(listen)
    took = zt.expect_closed(s3, within=2, what="the connection over max_connections")
    zt.expect(took < 1.0, f"refused only after {took:.3f}s")
    s3.close()
    zt.expect_eq(c1.get("/1b").status, 200, "the first connection still works")
    c1.close()
    r = zt.wait_until(lambda: zt.try_http_get(listen), 3, interval=0.02,
                      what="a new connection after one closed")
    zt.expect_eq(r.status, 200, "served once below the limit")
    zt.expect_eq(c2.get("/2b").status, 200, "the second connection still works")
    c2.close()


zt.run(test)
