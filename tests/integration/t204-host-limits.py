#!/usr/bin/env python3
"""host routing and each service's limits: on a shared address a first
request head is read up to the largest max_header_size of the address's
services, then held to its own service's (431 above it, counted refused
there, nothing started); a connection carried on to another service is
bounded by that one's max_connections (503)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def get(listen, host, pad=0):
    return zt.host_get(listen, host, headers=f"X-Pad: {'p' * pad}\r\n" if pad else "")


def svc(t, name):
    return t.status_json(name)["services"][0]


def test(t):
    listen = f"127.0.0.1:{t.port()}"
    # alpha comes first (it holds the socket) and has the small limit.
    t.testd_service("alpha", listen=listen, protocol="http", idle_timeout="1h",
                    host="a.test", max_header_size="8k")
    t.testd_service("beta", listen=listen, protocol="http", idle_timeout="1h",
                    host="b.test", max_header_size="64k", max_connections=1)
    t.start()
    zt.expect_eq(get(listen, "b.test", 32 * 1024).status, 200,
                 "a 32 KiB head for beta (64k) passes alpha's socket")
    r = get(listen, "a.test", 32 * 1024)
    zt.expect_eq(r.status, 431, "a 32 KiB head for alpha (8k)")
    st = svc(t, "alpha")
    zt.expect_eq((st["state"], st["connections_refused"]), ("stopped", 1),
                 "refused by alpha, which did not start")
    zt.expect_eq(get(listen, "a.test", 4 * 1024).status, 200, "a 4 KiB head for alpha")
    zt.expect_eq(get(listen, "b.test", 100 * 1024).status, 431,
                 "a head above every limit of the address")

    # beta takes one connection at most: a second one, routed to it, is refused.
    hold = zt.connect(listen)
    hold.sendall(b"GET /sleep/1500 HTTP/1.1\r\nHost: b.test\r\n\r\n")
    zt.wait_until(lambda: svc(t, "beta")["requests_active"] == 1, 5, what="beta busy")
    r = get(listen, "b.test")
    zt.expect_eq(r.status, 503, "beta's max_connections holds for routed connections")
    zt.expect_eq(get(listen, "a.test").status, 200, "alpha still answers meanwhile")
    r, _ = zt._read_response(hold, b"")
    zt.expect_eq(r.status, 200, "the connection beta holds is answered")
    hold.close()


zt.run(test)
