#!/usr/bin/env python3
"""protocol = http answers where tcp mode would close. Bad heads get 400 (or
431 over max_header_size) and a close, never reaching nor starting the
backend, on a fresh connection and on a keep-alive one. Refusals without a
backend get 503 with Retry-After (the seconds until the back-off ends, else
1) and a one-line body: max_connections, a failed start, the back-off after
it, max_pending, pending_timeout; all counted in connections_refused. A backend that
answers garbage gets the client a 502, logged once with the service name."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

BAD = [
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "several Host headers"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", 400, "CL.TE"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n", 400, "obs-fold"),
    (b"NOT A REQUEST\r\n\r\n", 400, "a malformed request line"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 5000 + b"\r\n\r\n", 431,
     "a head over max_header_size"),
]


def svc(t, name):
    return t.status_json(name)["services"][0]


def answer(s, what):
    """Read zeroproxy's own answer and the close after it."""
    r, rest = zt._read_response(s, b"")
    zt.expect_eq(rest, b"", f"{what}: bytes after the answer")
    zt.expect_eq(r.headers.get("connection"), "close", f"{what}: Connection")
    zt.expect_eq(len(r.body.splitlines()), 1, f"{what}: a one-line body {r.body!r}")
    zt.expect_closed(s, within=3.0, what=f"{what}: the connection after the answer")
    return r


def ask(listen, raw, what):
    s = zt.connect(listen)
    s.sendall(raw)
    r = answer(s, what)
    s.close()
    return r


def test(t):
    web = t.testd_service("web", protocol="http", idle_timeout="1h", max_header_size="4k",
                          max_connections=3)
    bad = t.testd_service("bad", args=["--exit-code", "3"], protocol="http",
                          idle_timeout="1h")
    slow = t.testd_service("slow", args=["--start-delay", "5000"], protocol="http",
                           pending_timeout="500ms", start_timeout="10s", max_pending=1)
    t.start()

    # Bad heads never start the backend.
    for raw, status, what in BAD:
        r = ask(web, raw, what)
        zt.expect_eq(r.status, status, what)
    st = svc(t, "web")
    zt.expect_eq((st["state"], st["cold_starts"]), ("stopped", 0), "web after the bad heads")
    zt.expect_eq(st["connections_refused"], len(BAD), "bad heads counted as refused")
    zt.expect_eq(t.children(), [], "children after the bad heads")
    t.wait_log(r"web: request from \S+ refused with 431")

    # On a keep-alive connection, after a good request: 400 and a close, and
    # the backend never saw it.
    s = zt.connect(web)
    s.sendall(b"GET /good HTTP/1.1\r\nHost: a\r\n\r\n")
    r, _ = zt._read_response(s, b"")
    zt.expect_eq(r.status, 200, "the good request")
    s.sendall(BAD[1][0])
    zt.expect_eq(answer(s, "CL.TE after a good request").status, 400, "CL.TE on keep-alive")
    s.close()
    r = zt.http_get(web, "/after")
    zt.expect_eq(r.kv.get("requests"), "2", "requests the backend saw (the bad one not)")

    # max_connections = 3: two held open and one more in use; the 4th is
    # answered 503 at once.
    zt.wait_until(lambda: svc(t, "web")["connections_active"] == 0, 5, what="no connection")
    held = [zt.connect(web), zt.connect(web), zt.connect(web)]
    zt.wait_until(lambda: svc(t, "web")["connections_active"] == 3, 5, what="3 connections")
    s = zt.connect(web)
    r = answer(s, "over max_connections")
    zt.expect_eq((r.status, r.headers.get("retry-after")), (503, "1"), "max_connections")
    zt.expect(b"max_connections" in r.body, f"the body says why: {r.body!r}")
    for h in held:
        h.close()

    # A failed start, then its back-off: 503 with the seconds left.
    r = ask(bad, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "failed start")
    zt.expect_eq((r.status, r.headers.get("retry-after")), (503, "1"), "failed start")
    r = ask(bad, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "back-off")
    zt.expect_eq((r.status, r.headers.get("retry-after")), (503, "1"), "back-off (1 s)")
    time.sleep(1.2)
    r = ask(bad, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "second failed start")
    zt.expect_eq(r.status, 503, "second failed start")
    r = ask(bad, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "second back-off")
    zt.expect_eq((r.status, r.headers.get("retry-after")), (503, "2"), "back-off (2 s)")
    zt.expect_eq(svc(t, "bad")["connections_refused"], 4, "bad's refusals")

    # While the backend takes its time to start: one request waits (its
    # pending_timeout answers it), the next is over max_pending.
    t0 = time.monotonic()
    a = zt.connect(slow)
    a.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    zt.wait_until(lambda: svc(t, "slow")["connections_pending"] == 1, 5, what="one waiting")
    r = ask(slow, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "max_pending")
    zt.expect_eq((r.status, r.headers.get("retry-after")), (503, "1"), "max_pending")
    zt.expect(b"max_pending" in r.body, f"the body says why: {r.body!r}")
    r = answer(a, "pending_timeout")
    took = time.monotonic() - t0
    zt.expect_eq((r.status, r.headers.get("retry-after")), (503, "1"), "pending_timeout")
    zt.expect(0.4 <= took < 3, f"pending_timeout answered after {took:.3f}s")
    zt.expect_eq(svc(t, "slow")["connections_refused"], 2, "slow's refusals")

    # Garbage from the backend: 502, logged once.
    r = ask(web, b"GET /garbage HTTP/1.1\r\nHost: a\r\n\r\n", "garbage")
    zt.expect_eq(r.status, 502, "the backend's garbage")
    t.wait_log(r"web: connection from \S+: the backend's answer is not HTTP .* with 502")
    t.expect_log_count(r"the backend's answer is not HTTP", 1, "garbage logged")
    zt.expect_eq(zt.http_get(web, "/still").status, 200, "web after the garbage")


zt.run(test)
