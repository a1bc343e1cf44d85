#!/usr/bin/env python3
"""Regression: a connection to a running service whose backend connect() fails
at once (a unix `address` nobody listens on: ENOENT, synchronously). The
accept stopped the idle timer and the refused connection never started it
again, so the service stayed up for good. Now, after the refused connection,
stop_in_seconds is a number again and the backend is stopped after
idle_timeout."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    own = f"127.0.0.1:{t.port()}"
    nowhere = "unix:" + t.path("nobody-listens.sock")
    listen = f"127.0.0.1:{t.port()}"
    # Ready by READY=1, but it listens elsewhere: every connect() to `address` fails.
    t.service("web", listen=listen, address=nowhere, ready="notify", idle_timeout="2s",
              exec=t.testd("--listen", own, "--notify-delay", "0"))
    t.start()
    t.zeroproxy("start", "-s", t.control_socket, "web")
    t.wait_log(zt.re_running("web"))
    st = t.service_status("web")
    zt.expect(st["stop_in_seconds"] is not None, f"stop_in_seconds after the start: {st}")

    with zt.connect(listen) as s:
        zt.expect_closed(s, within=5, what="connection to a backend socket nobody listens on")
    t.wait_log(r"\bweb: connection from \S+ refused: connect to backend")
    st = t.service_status("web")
    zt.expect_eq((st["state"], st["connections_refused"], st["connections_active"]),
                 ("running", 1, 0), "state, connections_refused, connections_active")
    zt.expect(st["stop_in_seconds"] is not None,
              "stop_in_seconds is null after the refused connection: the idle timer is off")
    t.wait_log(zt.re_idle_stop("web"), timeout=2 + 3)
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.05,
                  what="web stopped after idle_timeout")


zt.run(test)
