#!/usr/bin/env python3
"""A client that resets its connection while zeroproxy is still connecting to
the backend for it is the client's doing, not the backend's. The backend
listens with a backlog of one and accepts nothing for a while: the readiness
probe fills its queue, so zeroproxy's connects for the next clients stay in
progress (the kernel drops their SYNs). N clients send a request and reset
(SO_LINGER 0) meanwhile. Before the fix each was logged as "connect to backend
...: Connection reset by peer" and counted in connections_refused. Now the
log says the client reset, nothing is refused, and a connect that fails on the
backend side is still reported as the backend's."""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

N = 10
REQ = b"GET / HTTP/1.1\r\nHost: zptest\r\n\r\n"


def test(t):
    listen = t.testd_service("web", args=["--backlog", "0", "--accept-delay", "1500"],
                             idle_timeout="1m", start_timeout="10s")
    t.start()
    first = zt.connect(listen)  # wakes the service, gets the probe's connection
    first.sendall(REQ)
    t.wait_log(zt.re_running("web"))
    socks = []
    for _ in range(N):
        s = zt.connect(listen)
        s.sendall(REQ)
        socks.append(s)
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == N + 1, 5,
                  what=f"{N + 1} relayed connections")
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == 1, 5,
                  what="the reset connections gone")
    st = t.service_status("web")
    t.expect_no_log(r"web: .*connect to backend .*reset")
    zt.expect_eq(st["connections_refused"], 0, "client resets counted as refused")
    t.expect_log_count(r"web: connection from \S+ reset by the client while connecting "
                       r"to the backend", N)
    first.settimeout(10)
    r, _ = zt._read_response(first, b"")
    zt.expect_eq(r.status, 200, "the first client is answered once the backend accepts")
    first.close()
    zt.expect_eq(zt.http_get(listen).status, 200, "the backend serves on")
    zt.expect_eq(t.service_status("web")["state"], "running", "still running")


zt.run(test)
