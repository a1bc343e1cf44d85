#!/usr/bin/env python3
"""host routing and reload: a service added with its own host on a shared
address, a host added to another, and a service removed — even the one that
holds the address's socket — while a long request is in flight on one
service and a keep-alive connection rests on another: the socket stays open
(never closed nor bound again), the request in flight gets its whole answer,
the keep-alive connection goes on, and the removed service's host gets 404."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def req(path, host):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def get(listen, host, path="/"):
    return zt.host_get(listen, host, path)


def svc(t, name):
    return t.status_json(name)["services"][0]


def slow_get(listen, host, path, out):
    try:
        out["r"] = get(listen, host, path)
    except Exception as e:  # reported by the main thread
        out["error"] = e


def test(t):
    listen = f"127.0.0.1:{t.port()}"
    zp = lambda *a: t.zeroproxy(*a, "-c", t.conf)  # noqa: E731
    t.testd_service("alpha", listen=listen, protocol="http", idle_timeout="1h", host="a.test")
    t.testd_service("beta", listen=listen, protocol="http", idle_timeout="1h", host="b.test")
    t.start()
    pb = get(listen, "b.test").pid
    pa = get(listen, "a.test").pid
    keep = zt.connect(listen)
    kbuf = b""
    keep.sendall(req("/k1", "b.test"))
    r, kbuf = zt._read_response(keep, kbuf)
    zt.expect_eq(r.pid, pb, "the keep-alive connection is beta's")

    # 1. Add gamma on the same address while alpha serves a long request.
    out = {}
    th = threading.Thread(target=slow_get, args=(listen, "a.test", "/sleep/1500", out))
    th.start()
    zt.wait_until(lambda: svc(t, "alpha")["requests_active"] == 1, 5, what="alpha busy")
    t.testd_service("gamma", listen=listen, protocol="http", idle_timeout="1h", host="g.test")
    t.testd_service("beta", listen=listen, protocol="http", idle_timeout="1h",
                    host=["b.test", "b2.test"])
    zp("reload")
    r = get(listen, "g.test")
    zt.expect_eq(r.status, 200, "gamma answers right after the reload")
    zt.wait_until(lambda: svc(t, "gamma")["pid"], 5, what="gamma's pid")
    zt.expect_eq(r.pid, svc(t, "gamma")["pid"], "gamma's own backend")
    zt.expect_eq(get(listen, "b2.test").pid, pb, "beta's new host")
    th.join(10)
    zt.expect("error" not in out, f"the long request: {out.get('error')}")
    zt.expect_eq(out["r"].status, 200, "the long request in flight got its answer")
    zt.expect_eq(out["r"].pid, pa, "from alpha")
    keep.sendall(req("/k2", "b.test"))
    r, kbuf = zt._read_response(keep, kbuf)
    zt.expect_eq(r.pid, pb, "the keep-alive connection goes on after the reload")
    zt.expect_eq(svc(t, "beta")["pid"], pb, "beta's backend kept running")

    # 2. Remove alpha, the first service of the address (it holds the
    # socket), while it serves a long request.
    out = {}
    th = threading.Thread(target=slow_get, args=(listen, "a.test", "/sleep/1500", out))
    th.start()
    zt.wait_until(lambda: svc(t, "alpha")["requests_active"] == 1, 5, what="alpha busy again")
    t.remove_service("alpha")
    zp("reload")
    zt.expect_eq(get(listen, "a.test").status, 404, "the removed service's host: 404")
    zt.expect_eq(get(listen, "g.test").status, 200, "gamma still answers")
    keep.sendall(req("/k3", "b.test"))
    r, kbuf = zt._read_response(keep, kbuf)
    zt.expect_eq(r.pid, pb, "the keep-alive connection goes on after the removal")
    th.join(10)
    zt.expect("error" not in out, f"the long request of the removed service: {out.get('error')}")
    zt.expect_eq(out["r"].status, 200, "it got its whole answer")
    zt.expect_eq(out["r"].pid, pa, "from alpha, draining")
    zt.wait_until(lambda: not zt.pid_alive(pa), 10, what="alpha's backend stopped once drained")
    keep.close()
    zt.expect_eq(t.count_log(r"listen .*: closed"), 0, "the shared socket was never closed")
    zt.expect_eq(t.count_log(r"alpha: listening on"), 1, "bound once")


zt.run(test)
