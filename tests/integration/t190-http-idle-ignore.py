#!/usr/bin/env python3
"""idle_ignore: health checks and monitors neither wake a service nor keep it
awake. Against a stopped service, 10 GET /healthz (http.client, a fresh
connection each) get 200 with an empty body from zeroproxy itself and start
nothing; curl with User-Agent "Kube-Probe/1.29" matches ua:kube-probe (case
ignored), another agent does not; with idle_ignore_status = 503 the answer is
503. A real request starts the backend; then /healthz every 200 ms, on fresh
connections and on one keep-alive connection, is forwarded to the running
backend (its own answer, its pid) and does not keep it awake: it stops about
idle_timeout after the last real request, and the probes after the stop are
answered by zeroproxy again, starting nothing. requests_ignored counts every
probe, in status and in /metrics."""
import http.client
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

IDLE = 1.0


def probe(addr, path="/healthz", conn=None, agent="zptest"):
    """GET path with http.client; on conn (keep-alive, reopened by http.client
    after a close) or a fresh connection. -> (status, headers, body)."""
    host, port = addr.rsplit(":", 1)
    own = conn is None
    c = conn or http.client.HTTPConnection(host, int(port), timeout=5)
    for attempt in range(2):
        try:
            c.request("GET", path, headers={"User-Agent": agent})
            r = c.getresponse()
            body = r.read()
            break
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # A keep-alive connection zeroproxy closed at the idle stop.
            c.close()
            if attempt:
                raise
    if own:
        c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test(t):
    maddr = f"127.0.0.1:{t.port()}"
    t.write_global(metrics_listen=maddr)
    web = t.testd_service("web", protocol="http", idle_timeout=f"{int(IDLE * 1000)}ms",
                          idle_ignore=["/healthz", "ua:kube-probe"])
    down = t.testd_service("down", protocol="http", idle_ignore="/healthz",
                           idle_ignore_status=503)
    t.start()

    # Stopped: zeroproxy answers the probes itself, and starts nothing.
    for i in range(10):
        status, headers, body = probe(web)
        zt.expect_eq((status, body), (200, b""), f"probe {i} against the stopped service")
        zt.expect_eq(headers.get("content-length"), "0", "an empty body")
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                        "-A", "Kube-Probe/1.29", f"http://{web}/anything"],
                       capture_output=True, text=True, timeout=10)
    zt.expect_eq(r.stdout, "200 0", "curl as Kube-Probe (ua:kube-probe, case ignored)")
    for i in range(3):
        status, _, body = probe(down)
        zt.expect_eq((status, body), (503, b""), "idle_ignore_status = 503")
    time.sleep(0.3)
    t.expect_log_count(zt.re_starting("web"), 0, "starts of web by probes")
    t.expect_log_count(zt.re_starting("down"), 0, "starts of down by probes")
    s = t.service_status("web")
    zt.expect_eq((s["state"], s["cold_starts"], s["requests_ignored"], s["requests_total"],
                  s["connections_refused"], s["responses"]["2xx"]),
                 ("stopped", 0, 11, 11, 0, 11), "web after 11 ignored probes")
    zt.expect_eq(t.service_status("down")["requests_ignored"], 3, "down's requests_ignored")

    # An agent that does not match starts it.
    status, _, body = probe(web, "/real", agent="Mozilla/5.0")
    zt.expect_eq(status, 200, "the real request")
    pid = int(dict(ln.split("=", 1) for ln in body.decode().splitlines() if "=" in ln)["pid"])
    last_real = time.monotonic()
    t.wait_log(zt.re_running("web"))

    # Running: probes every 200 ms are forwarded, and keep it no longer.
    ka = http.client.HTTPConnection(*web.rsplit(":", 1), timeout=5)
    forwarded = answered_by_us = n = 0
    stopped_at = None
    deadline = last_real + IDLE + 4.0
    while time.monotonic() < deadline:
        for conn in (None, ka):
            status, headers, body = probe(web, "/healthz/deep", conn=conn)
            n += 1
            zt.expect_eq(status, 200, f"probe {n}")
            if body:
                zt.expect(f"pid={pid}\n".encode() in body, f"probe {n} forwarded to {pid}")
                forwarded += 1
            else:
                answered_by_us += 1
        if stopped_at is None and t.log_matches(zt.re_idle_stop("web")):
            stopped_at = time.monotonic()
        if stopped_at and time.monotonic() - stopped_at > 1.0:
            break
        time.sleep(0.2)
    ka.close()
    zt.expect(stopped_at is not None,
              f"web still awake {deadline - last_real:.1f}s after its last real request "
              f"under {n} probes (idle_timeout {IDLE}s)")
    took = stopped_at - last_real
    zt._note(f"idle stop {took:.2f}s after the last real request, {forwarded} probes "
             f"forwarded, {answered_by_us} answered by zeroproxy")
    zt.expect(took < IDLE + 1.5, f"the idle stop came {took:.2f}s after the last real request")
    zt.expect(forwarded >= 4, f"{forwarded} probes forwarded to the running backend")
    zt.expect(answered_by_us >= 2, f"{answered_by_us} probes answered after the stop")
    zt.wait_until(lambda: not zt.pid_alive(pid), 5, what="the backend to exit")
    time.sleep(0.3)
    t.expect_log_count(zt.re_starting("web"), 1, "starts of web")
    s = t.service_status("web")
    zt.expect_eq((s["requests_ignored"], s["requests_total"]), (11 + n, 12 + n),
                 "requests_ignored counts every probe, requests_total every request")
    m = zt.metrics_text(maddr)
    zt.expect(re.search(rf'^zeroproxy_requests_ignored_total{{service="web"}} {11 + n}$', m,
                        re.M), "zeroproxy_requests_ignored_total in /metrics")


zt.run(test)
