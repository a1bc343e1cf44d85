#!/usr/bin/env python3
"""Regression: a ready = notify backend that sends READY=1 but never listens on
its `address`. The connect() to the backend fails asynchronously (a TCP
connect to a closed port): the relay used to be freed by its done callback
and then read again (an AddressSanitizer use-after-free, so this test fails on
the old code under --enable-sanitizers). Now the client connection is closed,
counted in connections_refused, and the daemon goes on serving status."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    # zp-testd listens on a port of its own, not on `address`, and notifies.
    own, nowhere = f"127.0.0.1:{t.port()}", f"127.0.0.1:{t.port()}"
    listen = f"127.0.0.1:{t.port()}"
    t.service("web", listen=listen, address=nowhere, ready="notify", idle_timeout="1m",
              exec=t.testd("--listen", own, "--notify-delay", "0"))
    t.start()

    for i in range(3):  # the first one waits for READY=1, the next ones find it running
        with zt.connect(listen) as s:
            zt.expect_closed(s, within=5, what=f"connection {i + 1} to a backend not listening")
        t.wait_log(r"\bweb: connection from \S+ refused: connect to backend", count=i + 1)
        zt.expect(t.daemon_alive(), f"zeroproxy died after refused connection {i + 1}")
    t.wait_log(zt.re_running("web"))
    st = t.service_status("web")
    zt.expect_eq(st["connections_refused"], 3, "connections_refused")
    zt.expect_eq(st["connections_active"], 0, "connections_active")
    zt.expect_eq(st["state"], "running", "state: the backend itself is fine")


zt.run(test)
