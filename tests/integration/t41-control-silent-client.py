#!/usr/bin/env python3
"""The control socket under slow clients: one client that connects and sends
nothing, and one that trickles a request a byte at a time without a newline,
do not delay `zeroproxy status` from another client (each call answered at
once, not after the daemon's 5 s deadline for the slow ones) nor the relayed
traffic; the daemon drops both after that deadline (a trickle does not extend
it), and serves on."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def unix_client(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.setblocking(False)
    return s


def closed_now(s):
    """Whether the daemon closed s (EOF or reset) by now; data is an error."""
    try:
        d = s.recv(4096)
    except BlockingIOError:
        return False
    except (ConnectionResetError, ConnectionAbortedError):
        return True
    return d == b"" or zt.fail(f"a silent control client got an answer: {d[:80]!r}")


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    http = zt.HttpConn(listen)
    zt.expect_eq(http.get("/warm").status, 200, "cold start")

    silent = unix_client(t.control_socket)
    trickle = unix_client(t.control_socket)
    t0 = time.monotonic()
    worst, n = 0.0, 0
    # ~3 s of status calls while both slow clients hold their connections
    while time.monotonic() - t0 < 3.0:
        trickle.send(b"s")
        a = time.monotonic()
        st = t.service_status("web")
        took = time.monotonic() - a
        worst, n = max(worst, took), n + 1
        zt.expect_eq(st["state"], "running", "state while slow control clients wait")
        zt.expect_eq(http.get(f"/{n}").status, 200, "relayed request while slow clients wait")
        zt.expect(not closed_now(silent), "the silent client was dropped within 3 s")
        time.sleep(0.1)
    zt._note(f"{n} status calls beside a silent and a trickling client, slowest {worst:.3f}s")
    # Blocked behind a slow client, a call would last until the daemon drops
    # that client (5 s); the margin is for a loaded machine and sanitizers.
    zt.expect(worst < 2.5, f"a status call took {worst:.3f}s beside slow clients")

    # The daemon's deadline is a few seconds (5 s), one for the whole request.
    zt.wait_until(lambda: closed_now(silent), 7, interval=0.05,
                  what="the daemon to drop the silent client")
    dropped_after = time.monotonic() - t0

    def trickle_dropped():
        try:
            trickle.send(b"t")
        except (BrokenPipeError, ConnectionResetError):
            return True
        return closed_now(trickle)
    zt.wait_until(trickle_dropped, 3, interval=0.1, what="the daemon to drop the trickling client")
    trickled_for = time.monotonic() - t0
    zt._note(f"silent client dropped after {dropped_after:.2f}s, "
             f"trickler after {trickled_for:.2f}s")
    zt.expect(dropped_after >= 3.0, "the silent client was dropped too early")
    silent.close()
    trickle.close()
    zt.expect_eq(t.service_status("web")["connections_active"], 1, "the HTTP client still counted")
    zt.expect_eq(http.get("/after").status, 200, "relayed request afterwards")
    http.close()


zt.run(test)
