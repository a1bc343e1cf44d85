#!/usr/bin/env python3
"""idle_ignore while the backend starts, and across a reload. During a slow
cold start (zp-testd --start-delay 2000) a /healthz probe is answered by
zeroproxy at once (200, empty) instead of waiting, while the request that
woke the service waits for the backend. A reload that changes idle_ignore
(now /status, with idle_ignore_status = 503) and turns the loading page
on applies to the next requests without a restart of zeroproxy: after
`zeroproxy stop web`, /status gets 503 and starts nothing, /healthz is a
real request again and starts the backend."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def write(t, listen, address, **http):
    t.service("web", listen=listen, address=address, protocol="http", idle_timeout="1h",
              start_timeout="20s", exec=t.testd("--listen", address, "--start-delay", "2000"),
              **http)


def test(t):
    listen, address = f"127.0.0.1:{t.port()}", f"127.0.0.1:{t.port()}"
    write(t, listen, address, idle_ignore="/healthz")
    t.start()

    out = []
    waker = threading.Thread(target=lambda: out.append(zt.http_get(listen, "/wake", timeout=15)))
    waker.start()
    t.wait_log(zt.re_starting("web"))
    t0 = time.monotonic()
    r = zt.http_get(listen, "/healthz")
    took = time.monotonic() - t0
    zt.expect_eq((r.status, r.body), (200, b""), "the probe while the backend starts")
    zt.expect(took < 1.0, f"the probe waited {took:.2f}s for a starting backend")
    zt.expect(not t.log_matches(zt.re_running("web")), "the backend was ready already")
    waker.join(20)
    zt.expect(out and out[0].status == 200 and out[0].pid, "the request that woke it")

    # Reload: other idle_ignore, 503, a loading page.
    write(t, listen, address, idle_ignore="/status", idle_ignore_status=503, loading_page="yes")
    r = t.zeroproxy("reload", "-c", t.conf)
    zt.expect_eq((r.stdout, r.stderr), ("", ""), "the reload")
    t.zeroproxy("stop", "web", "-s", t.control_socket)
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 10,
                  what="web to stop")
    r = zt.http_get(listen, "/status")
    zt.expect_eq((r.status, r.body), (503, b""), "the new idle_ignore after the reload")
    time.sleep(0.2)
    t.expect_log_count(zt.re_starting("web"), 1, "starts before /healthz")
    r = zt.http_get(listen, "/healthz", timeout=15)
    zt.expect(r.status == 200 and r.pid, "/healthz is a real request after the reload")
    t.expect_log_count(zt.re_starting("web"), 2, "starts after /healthz")
    s = t.service_status("web")
    zt.expect_eq((s["requests_ignored"], s["requests_total"]), (2, 4), "requests counted")


zt.run(test)
