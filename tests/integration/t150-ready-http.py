#!/usr/bin/env python3
"""ready = http: a web app that listens at once but answers 503 while it
starts (zp-testd --unavailable-for) is ready only once a GET of ready_path
answers below 500. No client sees the 503s: neither the first request nor
several that arrive together during the start; the probe asked the backend
itself (its 503 count) with a new connection per try, and its requests are
not counted as the service's. The same backend with
ready = connect hands the first client a 503 (so the 503 window is real). A
backend that never gets ready, or answers something that is not HTTP, fails
the start at start_timeout with the last answer in last_error."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

WINDOW = 700  # ms of 503 after the backend listens


def test(t):
    web = t.testd_service("web", args=["--unavailable-for", WINDOW], protocol="http",
                          ready="http", ready_path="/healthz", idle_timeout="1m")
    crowd = t.testd_service("crowd", args=["--unavailable-for", WINDOW], protocol="http",
                            ready="http", idle_timeout="1m")
    plain = t.testd_service("plain", args=["--unavailable-for", WINDOW], protocol="http",
                            ready="connect", idle_timeout="1m")
    t.testd_service("never", args=["--unavailable-for", 60000], protocol="http", ready="http",
                    start_timeout="1s")
    t.testd_service("echo", args=["--mode", "echo"], protocol="http", ready="http",
                    start_timeout="1s")
    t.start()

    # The first request waits for the backend to serve, and gets a 200.
    r = zt.http_get(web, "/first", timeout=15)
    zt.expect_eq(r.status, 200, "the first request through ready = http")
    asked = int(r.kv["unavailable"])
    zt.expect(asked >= 1, f"the probe met the backend's 503s ({asked})")
    zt.expect_eq(int(r.kv["requests"]), asked + 2,
                 "the backend saw the probe's 503 tries, its 200 and then the client only")
    zt.expect_eq(int(r.kv["connections"]), asked + 2, "a new connection per try")
    zt.expect_eq(r.kv["path"], "/first", "the client's own request")
    zt.expect(float(r.kv["uptime_ms"]) >= WINDOW, f"served after the window ({r.kv['uptime_ms']})")
    s = t.service_status("web")
    zt.expect(s["ready_ms"] is not None and s["ready_ms"] >= WINDOW * 0.9,
              f"ready_ms {s['ready_ms']} covers the 503 window")
    zt.expect(s["last_start_ms"] >= WINDOW * 0.9, f"last_start_ms {s['last_start_ms']}")
    zt.expect_eq((s["requests_total"], s["responses"]["2xx"], s["responses"]["5xx"]), (1, 1, 0),
                 "the probe's requests are not the service's")

    # Several requests together during a cold start: none sees a 503.
    got = zt.concurrent_gets(crowd, 8, timeout=15)
    statuses = [g.status if isinstance(g, zt.Response) else repr(g) for g in got]
    zt.expect_eq(statuses, [200] * 8, "eight clients during the start")
    zt.expect(min(int(g.kv["unavailable"]) for g in got) >= 1, "the probe met 503s there too")
    s = t.service_status("crowd")
    zt.expect_eq((s["requests_total"], s["responses"]["2xx"], s["responses"]["5xx"]), (8, 8, 0),
                 "crowd: eight requests, eight 2xx")

    # The control: ready = connect relays the first request to the 503 window.
    r = zt.http_get(plain, timeout=15)
    zt.expect_eq(r.status, 503, "ready = connect: the first client meets the 503")

    # Never ready: start_timeout, with the last answer named.
    zt.try_http_get(t.service_status("never")["listen"][0], timeout=10)
    zt.wait_until(lambda: t.service_status("never")["state"] == "failed", 10,
                  what="never to fail its start")
    err = t.service_status("never")["last_error"]
    zt.expect("not ready after 1s (GET / last answered 503)" in (err or ""),
              f"last_error {err!r}")

    # Something that is not HTTP is not ready either.
    zt.try_http_get(t.service_status("echo")["listen"][0], timeout=10)
    zt.wait_until(lambda: t.service_status("echo")["state"] == "failed", 10,
                  what="echo to fail its start")
    err = t.service_status("echo")["last_error"]
    zt.expect("last answered no HTTP status line" in (err or ""), f"last_error {err!r}")


zt.run(test)
