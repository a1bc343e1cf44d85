#!/usr/bin/env python3
"""protocol = http: idle means no request in flight. A held keep-alive
connection between requests does not keep the backend awake: at the idle stop
zeroproxy closes it (the client sees a clean EOF, no half answer), then stops
the backend. A request slower than idle_timeout is neither cut nor stopped
under. A request on a fresh connection while the backend stops waits and is
served by the next instance. A connection closing after zeroproxy's own 400
(it lingers while the client keeps it open) holds nothing in flight."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

IDLE = 0.5


def test(t):
    listen = t.testd_service("web", args=["--ignore-term"], protocol="http",
                             idle_timeout="500ms", stop_timeout="1s")
    t.start()

    # A request slower than idle_timeout: answered whole, on a running backend.
    with zt.HttpConn(listen) as c:
        pid1 = c.get("/").pid
        t0 = time.monotonic()
        r = c.get("/sleep/1500")
        took = time.monotonic() - t0
        zt.expect_eq(r.status, 200, "the slow request")
        zt.expect_eq(r.pid, pid1, "the slow request's backend")
        zt.expect(took >= 1.4, f"the slow request answered after {took:.3f}s")
        zt.expect_eq(t.log_matches(zt.re_idle_stop("web")), [],
                     "an idle stop under the slow request")

        # Held open, between requests: it does not stop the idle stop...
        held = time.monotonic()
        t.wait_log(zt.re_idle_stop("web"), timeout=5)
        took = time.monotonic() - held
        zt._note(f"idle stop {took:.3f}s after the last response (idle_timeout {IDLE}s)")
        zt.expect(took >= IDLE * 0.8, f"stopped after {took:.3f}s, before idle_timeout")
        # ... and is closed first, cleanly.
        zt.expect_closed(c.sock, within=2.0, what="the held keep-alive connection")
    t.wait_log(r"web: closed 1 keep-alive connection between requests")

    # While the old instance stops (it ignores SIGTERM for stop_timeout), a
    # request on a fresh connection waits for the next one.
    zt.expect(zt.pid_alive(pid1), "the backend ignoring SIGTERM was gone at once")
    r = zt.http_get(listen, "/during-stop", timeout=10)
    zt.expect_eq(r.status, 200, "the request during the stop")
    zt.expect(r.pid != pid1, "served by the dying instance")
    zt.expect(not zt.pid_alive(pid1), "answered while the old instance still lived")
    st = t.status_json("web")["services"][0]
    zt.expect_eq(st["requests_total"], 3, "requests_total")
    zt.expect_eq(st["connections_refused"], 0, "connections_refused")
    t.expect_log_count(zt.re_starting("web"), 2, "starts")

    # A bad head on a keep-alive connection: 400, and the client holds the
    # socket while zeroproxy lingers on it; the backend still stops idle.
    s = zt.connect(listen)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    r, _ = zt._read_response(s, b"")
    pid2 = r.pid
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    r, _ = zt._read_response(s, b"")
    zt.expect_eq(r.status, 400, "the bad head on keep-alive")
    t.wait_log(zt.re_idle_stop("web"), count=2, timeout=1.8)
    zt.wait_until(lambda: not zt.pid_alive(pid2), 5, what="the second backend to stop")
    s.close()


zt.run(test)
