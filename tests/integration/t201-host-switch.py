#!/usr/bin/env python3
"""host routing, per request: on one keep-alive connection, requests that
switch Host go each to its own service's backend (the other one started for
it, the connection waiting as any pending one), in order, also when
pipelined behind a slow response of the first service; the first service's
counts end for that connection. A switch to a Host nobody takes gets 404
once the answers before it are out."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def req(path, host):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def svc(t, name):
    return t.status_json(name)["services"][0]


def test(t):
    listen = f"127.0.0.1:{t.port()}"
    t.testd_service("alpha", listen=listen, protocol="http", idle_timeout="1h",
                    host="alpha.test")
    # beta starts slowly: the switched connection waits for it.
    t.testd_service("beta", listen=listen, protocol="http", idle_timeout="1h",
                    host="beta.test", args=("--start-delay", "300"))
    t.start()

    s = zt.connect(listen, timeout=10)
    buf = b""
    s.sendall(req("/a1", "alpha.test"))
    r, buf = zt._read_response(s, buf)
    pa = r.pid
    zt.expect_eq(r.kv.get("path"), "/a1", "alpha's first answer")
    zt.wait_until(lambda: svc(t, "alpha")["pid"] == pa, 5, what="alpha's pid")
    s.sendall(req("/b1", "beta.test"))
    r, buf = zt._read_response(s, buf)
    pb = r.pid
    zt.expect_eq(r.kv.get("path"), "/b1", "the switched request's answer")
    zt.wait_until(lambda: svc(t, "beta")["pid"] == pb, 5, what="beta's pid")
    zt.expect(pa != pb, "beta's backend answered, not alpha's")
    # Back and forth, and pipelined: a slow answer of alpha, then beta,
    # then alpha again, all in one write: answered in order.
    s.sendall(req("/sleep/300", "alpha.test") + req("/b2", "beta.test") +
              req("/a2", "alpha.test") + req("/a3", "ALPHA.test:80") + req("/b3", "beta.test"))
    want = [("/sleep", pa), ("/b2", pb), ("/a2", pa), ("/a3", pa), ("/b3", pb)]
    for path, pid in want:
        r, buf = zt._read_response(s, buf)
        zt.expect_eq((r.kv.get("path"), r.pid), (path, pid), f"pipelined answer to {path}")
    zt.wait_until(lambda: svc(t, "alpha")["requests_total"] == 4, 5, what="alpha's count")
    zt.wait_until(lambda: svc(t, "beta")["requests_total"] == 3, 5, what="beta's count")
    zt.expect_eq(svc(t, "alpha")["connections_active"], 0, "alpha no longer holds it")
    zt.expect_eq(svc(t, "beta")["connections_active"], 1, "beta holds it now")
    zt.expect_eq(svc(t, "alpha")["requests_active"], 0, "nothing in flight at alpha")

    # A switch to a Host nobody takes: 404, after the answer before it.
    s.sendall(req("/a4", "alpha.test") + req("/x", "nobody.test"))
    r, buf = zt._read_response(s, buf)
    zt.expect_eq((r.kv.get("path"), r.pid), ("/a4", pa), "the answer before the 404")
    r, buf = zt._read_response(s, buf)
    zt.expect_eq(r.status, 404, "a switch to a Host nobody takes")
    zt.expect_closed(s, what="the connection after the 404")
    s.close()
    zt.wait_until(lambda: svc(t, "alpha")["connections_active"] == 0, 5, what="closed")
    zt.wait_until(lambda: svc(t, "beta")["connections_active"] == 0, 5, what="closed")
    st = svc(t, "alpha")
    zt.expect_eq(st["responses"]["4xx"], 0, "the 404 is no request of alpha")
    zt.expect_eq(st["requests_total"], 5, "alpha's requests")
    # Each carry-over counts as a connection of the service it goes to.
    zt.expect_eq(svc(t, "beta")["connections_total"], 3, "beta: carried over 3 times")
    zt.expect_eq(svc(t, "alpha")["connections_total"], 4, "alpha: accepted, then back 3 times")
    t.expect_log(r"for host \"nobody\.test\".*404")


zt.run(test)
