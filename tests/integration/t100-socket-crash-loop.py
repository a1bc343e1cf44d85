#!/usr/bin/env python3
"""ready = socket: a backend that exits (status 1) right after it is spawned,
with a client waiting, is a failed start, not a normal exit. Before the fix
"ready at exec" made the exit look like the end of a good instance: the client
stayed queued in the backend socket and the instance was respawned for it
without end (hundreds of cold starts a second). Now the service becomes
failed with last_error, the waiting client is closed and counted as refused,
and further connections follow the back-off (1 s, then 2 s): a bounded number
of cold starts in a few seconds.

A short-lived backend that did serve is not punished: one that answers a
request and then exits 0 (zp-testd /exit) leaves the service stopped, and the
next connection starts it again at once."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

REQ = b"GET / HTTP/1.1\r\nHost: zptest\r\n\r\n"


def test(t):
    crash = t.testd_service("crash", args=["--exit-code", "1"], ready="socket",
                            idle_timeout="1m")
    once = t.testd_service("once", ready="socket", idle_timeout="1m")
    t.start()

    # 1. One client waiting: closed, not kept for an endless line of instances.
    s = zt.connect(crash)
    s.sendall(REQ)
    took = zt.expect_closed(s, within=5, what="the client of a backend that exits at once")
    s.close()
    zt._note(f"closed after {took:.3f}s")
    st = t.service_status("crash")
    zt.expect_eq(st["state"], "failed", "state after the instance exited without serving")
    # "exited ... without serving" once the exec was reported (ready at
    # exec), "exited ... before ready" when the exit was reaped before the
    # exec report arrived (an instant crash can be): both a failed start.
    said = re.search(r"exited with status 1 (without serving|before ready)",
                     st["last_error"] or "")
    zt.expect(said, f"last_error says what happened: {st['last_error']!r}")
    zt.expect(st["connections_refused"] >= 1, f"connections_refused {st['connections_refused']}")
    t.wait_log(zt.re_start_failed("crash", "exited with status 1"))

    # 2. Clients keep coming for 3.5 s: every one is closed, and the back-off
    # (1 s, then 2 s) allows a start at about 0 s, 1 s and 3 s only.
    end = time.monotonic() + 3.5
    n = 0
    while time.monotonic() < end:
        c = zt.connect(crash)
        c.sendall(REQ)
        zt.expect_closed(c, within=5, what=f"client {n} of the failing service")
        c.close()
        n += 1
        time.sleep(0.05)
    st = t.service_status("crash")
    zt._note(f"{n} clients, cold_starts {st['cold_starts']}, refused {st['connections_refused']}")
    zt.expect(1 <= st["cold_starts"] <= 4, f"cold_starts {st['cold_starts']} in 3.5 s (back-off)")
    zt.expect_eq(st["connections_refused"], n + 1, "every client was refused")
    zt.expect_eq(st["state"], "failed", "still failed")

    # 3. Served, then exited by itself: a normal end, no back-off.
    r = zt.http_get(once, "/exit")
    zt.expect_eq(r.status, 200, "/exit answered")
    t.wait_log(zt.re_exited("once", 0))
    st = t.service_status("once")
    zt.expect_eq(st["state"], "stopped", "a backend that served and exited is stopped, not failed")
    zt.expect_eq(st["last_error"], None, "no error for a backend that served")
    r2 = zt.http_get(once)
    zt.expect_eq(r2.status, 200, "the next connection starts it again at once")
    zt.expect(r2.pid != r.pid, "a new instance")
    zt.expect_eq(t.service_status("once")["connections_refused"], 0, "nothing refused")


zt.run(test)
