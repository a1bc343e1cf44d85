#!/usr/bin/env python3
"""A burst of 500 concurrent connections to a stopped service starts exactly one
instance and every connection gets a correct reply (ready = connect with a
backend that takes 100 ms to listen, and ready = socket)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

N = 500


def test(t):
    lim = dict(idle_timeout="1m", max_pending=1000, max_connections=2000, start_timeout="20s")
    web = t.testd_service("web", args=["--start-delay", "100"], **lim)
    sock = t.testd_service("sock", args=["--start-delay", "100"], ready="socket", **lim)
    t.start()
    for name, listen in (("web", web), ("sock", sock)):
        res = zt.concurrent_gets(listen, N, "/burst", timeout=60)
        bad = [x for x in res if not isinstance(x, zt.Response) or x.status != 200
               or x.kv.get("path") != "/burst"]
        zt.expect(not bad, f"{name}: {len(bad)} of {N} connections failed, e.g. {bad[:3]}")
        pids = {x.pid for x in res}
        zt.expect_eq(len(pids), 1, f"{name}: distinct backend pids in {N} replies")
        t.expect_log_count(zt.re_starting(name), 1, f"{name}: starts")


zt.run(test)
