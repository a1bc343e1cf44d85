#!/usr/bin/env python3
"""What protocol = http shows, end to end: after 200s, a 304, a 101 tunnel and
a backend's garbage (answered 502 by zeroproxy), `status --json` has the
requests by class and request_ms_p50/p99, the table a REQS column ("-" for a
tcp service beside it), and /metrics zeroproxy_requests_total{class},
zeroproxy_requests_in_flight (1 while the tunnel is open) and the
zeroproxy_request_duration_seconds histogram, accepted by `promtool check
metrics` (skipped without promtool); the tcp service has none of these
series. A restart of zeroproxy keeps every request figure (the usage file)."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

KEPT = ("requests_total", "responses", "request_ms_p50", "request_ms_p99")
UPGRADE = (b"GET /upgrade HTTP/1.1\r\nHost: zptest\r\nConnection: Upgrade\r\n"
           b"Upgrade: websocket\r\n\r\n")


def sample(text, line_start):
    """The value of the one sample line that starts with line_start, or None."""
    vals = [ln[len(line_start):].strip() for ln in text.splitlines()
            if ln.startswith(line_start + " ")]
    zt.expect(len(vals) <= 1, f"one sample {line_start}")
    return float(vals[0]) if vals else None


def test(t):
    maddr = f"127.0.0.1:{t.port()}"
    t.write_global(metrics_listen=maddr)
    web = t.testd_service("web", protocol="http", idle_timeout="1h")
    t.testd_service("plain", idle_timeout="1h")
    t.start()
    t.wait_log(rf"metrics: serving /metrics on {re.escape(maddr)}")

    # Before any request: null times, zero classes, the series at 0.
    s = t.service_status("web")
    zt.expect_eq((s["protocol"], s["requests_total"], s["request_ms_p50"]), ("http", 0, None),
                 "web before its first request")
    m = zt.metrics_text(maddr)
    zt.expect_eq(sample(m, 'zeroproxy_requests_total{service="web",class="2xx"}'), 0,
                 "2xx series at 0 before any request")

    with zt.HttpConn(web) as c:
        for i in range(5):
            zt.expect_eq(c.get(f"/{i}").status, 200, f"request {i}")
    # A 304 has a Content-Length but no body: read it until the close.
    with zt.connect(web) as c:
        c.sendall(b"GET /not-modified HTTP/1.1\r\nHost: zptest\r\nConnection: close\r\n\r\n")
        got = b""
        while True:
            d = c.recv(4096)
            if not d:
                break
            got += d
    zt.expect(got.startswith(b"HTTP/1.1 304 ") and got.endswith(b"\r\n\r\n"),
              f"the 304, without a body: {got[:40]!r}")
    zt.expect_eq(zt.http_get(web, "/garbage").status, 502, "the backend's garbage")
    tunnel = zt.connect(web)
    tunnel.sendall(UPGRADE)
    head = b""
    while b"\r\n\r\n" not in head:
        d = tunnel.recv(4096)
        zt.expect(d, "the 101 arrives")
        head += d
    zt.expect(head.startswith(b"HTTP/1.1 101 "), f"the upgrade answer {head[:30]!r}")
    zt.wait_until(lambda: t.service_status("web")["requests_active"] == 1, 5,
                  what="the tunnel in flight")

    s = t.service_status("web")
    zt.expect_eq(s["requests_total"], 8, "requests_total: 5 + 304 + garbage + upgrade")
    zt.expect_eq(s["responses"], {"1xx": 1, "2xx": 5, "3xx": 1, "4xx": 0, "5xx": 1},
                 "responses by class")
    zt.expect(s["request_ms_p50"] is not None and 0 < s["request_ms_p50"] <= s["request_ms_p99"],
              f"request_ms_p50 {s['request_ms_p50']} <= p99 {s['request_ms_p99']}")
    p = t.service_status("plain")
    zt.expect_eq((p["protocol"], p["requests_total"], p["request_ms_p99"]), ("tcp", 0, None),
                 "the tcp service has no requests")

    table = t.zeroproxy("status", "-s", t.control_socket).stdout.splitlines()
    head_cells = table[0].split()
    col = head_cells.index("REQS")
    zt.expect_eq(head_cells[col - 1:col + 2], ["TOTAL", "REQS", "COLD"], "REQS after TOTAL")
    rows = {ln.split()[0]: ln.split() for ln in table[1:] if ln.strip()}
    zt.expect_eq(rows["web"][col], "8", "REQS of web")
    zt.expect_eq(rows["plain"][col], "-", "REQS of a tcp service")

    m = zt.metrics_text(maddr)
    for cls, want in (("1xx", 1), ("2xx", 5), ("3xx", 1), ("4xx", 0), ("5xx", 1), ("none", 0)):
        zt.expect_eq(sample(m, f'zeroproxy_requests_total{{service="web",class="{cls}"}}'), want,
                     f"zeroproxy_requests_total class {cls}")
    zt.expect_eq(sample(m, 'zeroproxy_requests_in_flight{service="web"}'), 1,
                 "in flight: the tunnel")
    count = sample(m, 'zeroproxy_request_duration_seconds_count{service="web"}')
    inf = sample(m, 'zeroproxy_request_duration_seconds_bucket{service="web",le="+Inf"}')
    zt.expect_eq((count, inf), (8, 8), "histogram _count and +Inf: every answered request")
    zt.expect(sample(m, 'zeroproxy_request_duration_seconds_sum{service="web"}') > 0,
              "histogram _sum")
    zt.expect("# TYPE zeroproxy_request_duration_seconds histogram" in m, "histogram TYPE")
    zt.expect(not re.search(r'^zeroproxy_request\w*\{service="plain"', m, re.M),
              "no request series for the tcp service")
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=m, capture_output=True,
                           text=True, timeout=30)
        zt.expect(r.returncode == 0, f"promtool check metrics: {r.stdout} {r.stderr}")
    else:
        zt._note("promtool not installed: that check skipped")
    tunnel.close()
    zt.wait_until(lambda: t.service_status("web")["requests_active"] == 0, 5,
                  what="the tunnel closed")

    # A restart keeps them.
    before = {k: t.service_status("web")[k] for k in KEPT}
    zt.expect_eq(t.stop(), 0, "zeroproxy's exit status on SIGTERM")
    t.daemon = None
    t.start(wait_ready=False)
    t.wait_ready(count=2)
    after = {k: t.service_status("web")[k] for k in KEPT}
    zt.expect_eq(after, before, "request figures after a restart")
    zt.expect_eq(sample(zt.metrics_text(maddr), 'zeroproxy_request_duration_seconds_count{service="web"}'),
                 8, "the histogram after a restart")


zt.run(test)
