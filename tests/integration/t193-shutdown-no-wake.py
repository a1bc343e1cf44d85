#!/usr/bin/env python3
"""A connection accepted before zeroproxy began to shut down, whose first
request head (protocol = http) or first byte (wake_on = data) comes during
the shutdown, starts no backend: the shutdown waits for another service's
backend that ignores SIGTERM (stop_timeout 3s), and meanwhile the stopped
services' connections speak. The http one gets a 503, the tcp one is closed;
neither service logs a start, and zeroproxy exits once the slow backend is
killed."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    slow = t.testd_service("slow", args=["--ignore-term"], stop_timeout="3s", idle_timeout="1h")
    web = t.testd_service("web", protocol="http", idle_timeout="1h")
    echo = t.testd_service("echo", args=["--mode", "echo"], wake_on="data", idle_timeout="1h")
    t.start()
    zt.expect_eq(zt.http_get(slow).status, 200, "slow started")
    held_web = zt.connect(web)
    held_echo = zt.connect(echo)
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == 1 and
                  t.service_status("echo")["connections_active"] == 1, 3,
                  what="the two silent connections accepted")
    mark = t.mark()
    t.signal(signal.SIGTERM)
    t.wait_log(r"slow: running -> stopping", since=mark)
    held_web.sendall(b"GET / HTTP/1.1\r\nHost: zptest\r\n\r\n")
    held_echo.sendall(b"hello\n")
    r, _ = zt._read_response(held_web, b"")
    zt.expect_eq(r.status, 503, "the request during the shutdown")
    zt.expect_closed(held_echo, within=2.0, what="the tcp connection during the shutdown")
    time.sleep(0.2)
    t.expect_log_count(zt.re_starting("web"), 0, "starts of web during the shutdown")
    t.expect_log_count(zt.re_starting("echo"), 0, "starts of echo during the shutdown")
    zt.expect_eq(t.stop(timeout=10), 0, "zeroproxy's exit status")
    held_web.close()
    held_echo.close()


zt.run(test)
