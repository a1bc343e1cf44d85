#!/usr/bin/env python3
"""max_pending = 2: while the backend starts (it takes 1.5 s to listen), two
connections wait and are then served; a third is closed at once."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", args=["--start-delay", "1500"], idle_timeout="1m",
                             max_pending=2, start_timeout="10s")
    t.start()
    waiting = []
    for i in range(2):
        s = zt.connect(listen, 10)
        s.sendall(f"GET /{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        waiting.append(s)
    t.wait_log(zt.re_starting("web"))
    time.sleep(0.2)  # let zeroproxy take both into its pending queue
    t0 = time.monotonic()
    with zt.connect(listen) as s3:
        s3.sendall(b"GET /3 HTTP/1.1\r\nHost: t\r\n\r\n")
        zt.expect_closed(s3, within=5, what="the connection over max_pending")
    took = time.monotonic() - t0
    zt.expect(took < 0.5, f"the third connection closed only after {took:.3f}s")
    pids = set()
    for i, s in enumerate(waiting):
        s.settimeout(10)
        r, _ = zt._read_response(s, b"")
        zt.expect_eq(r.status, 200, f"waiting connection {i}")
        zt.expect_eq(r.kv["path"], f"/{i}", f"waiting connection {i}: path")
        pids.add(r.pid)
        t.track(r.pid)
        s.close()
    zt.expect_eq(len(pids), 1, "instances serving the waiting connections")
    t.expect_log_count(zt.re_starting("web"), 1, "starts")


zt.run(test)
