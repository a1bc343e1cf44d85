#!/usr/bin/env python3
"""relay = no: a connection that arrives while the instance stops (it has
closed its copies of the listening sockets and finishes its clients for a
while) waits in the socket zeroproxy keeps, and is served by the next
instance, which zeroproxy starts as soon as the old one has exited. While an
instance runs zeroproxy does not watch the listeners, so the queued
connection starts nothing before that."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

REQ = b"GET / HTTP/1.1\r\nHost: zptest\r\nConnection: close\r\n\r\n"


def test(t):
    listen = f"127.0.0.1:{t.port()}"
    t.service("web", listen=listen, relay="no", idle_timeout="1m",
              exec=t.testd("--term-delay", "700"))
    t.start()
    r1 = zt.http_get(listen)
    zt.expect_eq(r1.status, 200, "first instance")
    t.zeroproxy("stop", "web", "-s", t.control_socket)
    t.wait_log(r"web: running -> stopping")
    # Until the backend has handled SIGTERM it still accepts on its copy of
    # the socket: connect only once it says its copies are closed.
    t.wait_log(rf"zp-testd\[{r1.pid}\]: signal 15 .*listeners closed")
    s = zt.connect(listen, timeout=10)
    s.sendall(REQ)
    r2, _ = zt._read_response(s, b"")
    s.close()
    zt.expect_eq(r2.status, 200, "the connection made while stopping is served")
    zt.expect(r2.pid != r1.pid, "by the next instance")
    zt.expect(not zt.pid_alive(r1.pid), "the old one has exited")
    t.wait_log(r"web: stopped -> starting \(connection queued on ")
    zt.expect_eq(t.service_status("web")["cold_starts"], 2, "two cold starts")


zt.run(test)
