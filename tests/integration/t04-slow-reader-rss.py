#!/usr/bin/env python3
"""Backpressure: a client that reads 100 MiB more slowly than the backend sends
it keeps zeroproxy's memory bounded (VmRSS under 16 MiB throughout), and every
byte arrives in order."""
import socket
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

TOTAL = 100 << 20
LIMIT_KIB = 16 * 1024


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    zt.http_get(listen)  # warm up: the backend runs
    if t.uses_asan():
        zt.skip("zeroproxy runs under AddressSanitizer: its RSS says nothing")
    base = t.rss_kib()
    fam, sa = zt.parse_addr(listen)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.settimeout(10)
    s.connect(sa)
    s.sendall(f"GET /bytes/{TOTAL} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        zt.expect(d, "closed before the response headers")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    zt.expect(head.startswith(b"HTTP/1.1 200"), f"status line {head[:40]!r}")
    pattern = bytes(range(251)) * (65536 // 251 + 3)
    got, peak, t0, next_sample = 0, base, time.monotonic(), 0

    def check(chunk):
        nonlocal got
        o = got % 251
        if chunk != pattern[o:o + len(chunk)]:
            zt.fail(f"wrong bytes at offset {got}")
        got += len(chunk)

    check(body)
    while got < TOTAL:
        d = s.recv(65536)
        if not d:
            break
        check(d)
        if got >= next_sample:
            peak = max(peak, t.rss_kib())
            next_sample = got + (1 << 20)
        time.sleep(0.0015)  # slower than the backend by far
    s.close()
    secs = time.monotonic() - t0
    zt._note(f"{got} bytes in {secs:.1f}s ({got / secs / 1e6:.0f} MB/s); "
             f"zeroproxy VmRSS {base} KiB before, peak {peak} KiB")
    zt.expect_eq(got, TOTAL, "bytes received")
    zt.expect(peak < LIMIT_KIB, f"zeroproxy VmRSS peaked at {peak} KiB, limit {LIMIT_KIB} KiB")
    zt.expect(t.daemon_alive(), "daemon alive")


zt.run(test)
