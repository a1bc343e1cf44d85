#!/usr/bin/env python3
"""host routing cannot be used to smuggle a request to another service: two
Host headers, or an absolute-form target naming another host than Host, get
400 and are never routed (nothing starts); an absolute-form target that
agrees with Host is routed by it; a request hidden in another's body stays
that body, at the first service's backend."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def raw(listen, data):
    with zt.connect(listen) as s:
        s.sendall(data)
        r, _ = zt._read_response(s, b"")
    return r


def svc(t, name):
    return t.status_json(name)["services"][0]


def test(t):
    listen = f"127.0.0.1:{t.port()}"
    t.testd_service("alpha", listen=listen, protocol="http", idle_timeout="1h", host="a.test")
    t.testd_service("beta", listen=listen, protocol="http", idle_timeout="1h", host="b.test")
    t.start()

    r = raw(listen, b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n")
    zt.expect_eq(r.status, 400, "two Host headers")
    r = raw(listen, b"GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n")
    zt.expect_eq(r.status, 400, "an absolute-form target naming another host")
    zt.expect_eq(t.children(), [], "neither started a backend")
    for name in ("alpha", "beta"):
        st = svc(t, name)
        zt.expect_eq((st["requests_total"], st["connections_total"], st["connections_refused"]),
                     (0, 0, 0), f"{name} counts none of them (not routed: nobody's)")

    r = raw(listen, b"GET http://b.test/abs HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
    zt.expect_eq(r.status, 200, "an absolute-form target that agrees with Host")
    zt.wait_until(lambda: svc(t, "beta")["pid"], 5, what="beta running")
    zt.expect_eq(r.pid, svc(t, "beta")["pid"], "routed to beta")
    zt.expect_eq(svc(t, "alpha")["state"], "stopped", "alpha never started")

    # A request for beta inside the body of one for alpha is alpha's body.
    hidden = b"GET /hidden HTTP/1.1\r\nHost: b.test\r\n\r\n"
    # (keep-alive: zp-testd's /sum does not answer a Connection: close)
    r = raw(listen, b"POST /sum HTTP/1.1\r\nHost: a.test\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(hidden), hidden))
    zt.expect_eq(r.status, 200, "the request with a body")
    zt.expect_eq(r.kv.get("length"), str(len(hidden)), "alpha's backend got it as its body")
    zt.wait_until(lambda: svc(t, "alpha")["requests_total"] == 1, 5, what="alpha's request")
    zt.expect_eq(svc(t, "beta")["requests_total"], 1, "beta saw only its own request")


zt.run(test)
