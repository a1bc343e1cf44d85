#!/usr/bin/env python3
"""The cold start shown is the one a client feels: from the connection that
woke the service until the backend's first byte to it. A ready = socket
backend is "ready" at exec but sleeps 300 ms before it accepts: before the fix
last_start_ms showed the ~1 ms to exec. Now last_start_ms (and the p50/p99 and
the /metrics histogram) show >= 300 ms, while ready_ms (spawn to ready) stays
small. A pre-warm (`zeroproxy start`) that no client waited for adds no sample
(nobody felt it) but updates ready_ms."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

DELAY = 300


def metrics(addr):
    with zt.connect(addr) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        r, _ = zt._read_response(s, b"")
    out = {}
    for line in r.body.decode().splitlines():
        m = re.match(r'(\w+)\{service="web"(?:,le="[^"]*")?\} (\S+)$', line)
        if m and "_bucket" not in m.group(1):
            out[m.group(1)] = float(m.group(2))
    return out


def test(t):
    maddr = f"127.0.0.1:{t.port()}"
    t.write_global(metrics_listen=maddr)
    listen = t.testd_service("web", args=["--start-delay", DELAY], ready="socket",
                             idle_timeout="1m")
    t.start()
    st = t.service_status("web")
    zt.expect_eq((st["last_start_ms"], st["ready_ms"]), (None, None), "before the first start")

    t0 = time.monotonic()
    r = zt.http_get(listen)
    felt = (time.monotonic() - t0) * 1000
    zt.expect_eq(r.status, 200, "answered")
    st = t.service_status("web")
    zt._note(f"felt {felt:.1f} ms, last_start_ms {st['last_start_ms']}, "
             f"ready_ms {st['ready_ms']}")
    zt.expect(st["last_start_ms"] >= DELAY, f"last_start_ms {st['last_start_ms']} < {DELAY}")
    zt.expect(st["last_start_ms"] <= felt + 1, f"last_start_ms {st['last_start_ms']} > felt {felt}")
    zt.expect(st["start_ms_p50"] >= DELAY and st["start_ms_p99"] >= DELAY, "p50/p99")
    zt.expect(st["ready_ms"] is not None and st["ready_ms"] < DELAY / 2,
              f"ready_ms {st['ready_ms']}: ready at exec")
    m = metrics(maddr)
    zt.expect_eq(m.get("zeroproxy_start_duration_seconds_count"), 1.0, "histogram count")
    zt.expect(m["zeroproxy_start_duration_seconds_sum"] >= DELAY / 1000, f"histogram sum {m}")
    zt.expect(m["zeroproxy_last_start_duration_seconds"] >= DELAY / 1000, f"last start {m}")
    zt.expect(m["zeroproxy_last_ready_duration_seconds"] < DELAY / 2000, f"last ready {m}")
    table = t.zeroproxy("status", "-s", t.control_socket, "web").stdout.splitlines()
    head, row = table[0].split(), table[1].split()
    cell = row[head.index("LAST-START")]
    zt.expect(cell.endswith("ms") and float(cell[:-2]) >= DELAY, f"LAST-START {cell}")

    # A pre-warm that nobody waited for: no sample, a new ready_ms.
    first = st["last_start_ms"]
    t.zeroproxy("stop", "web", "-s", t.control_socket)
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 10, what="stopped")
    t.zeroproxy("start", "web", "-s", t.control_socket)
    zt.wait_until(lambda: t.service_status("web")["state"] == "running", 5, what="pre-warmed")
    time.sleep(DELAY / 1000 + 0.2)
    zt.expect_eq(zt.http_get(listen).status, 200, "the pre-warmed instance answers")
    st = t.service_status("web")
    zt.expect_eq(st["cold_starts"], 2, "cold_starts counts the pre-warm")
    zt.expect_eq(st["last_start_ms"], first, "a pre-warm no client waited for adds no sample")
    zt.expect_eq(metrics(maddr).get("zeroproxy_start_duration_seconds_count"), 1.0,
                 "histogram count after the pre-warm")


zt.run(test)
