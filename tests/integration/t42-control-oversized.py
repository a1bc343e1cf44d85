#!/usr/bin/env python3
"""The control socket against oversized requests: 1 MiB without a newline gets
"error request too long" (the daemon reads 4 KiB, no more), twenty of them in a
row leave the daemon's RSS where it was (within 2 MiB) and the control socket
and the relayed traffic working. A request of exactly the limit's size minus
one plus newline is still parsed (and refused only as an unknown command)."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

MIB = 1 << 20


def raw_request(path, data, timeout=5.0):
    """Send data (as much as the daemon takes) while reading; the answer bytes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.setblocking(False)
    sent, got, deadline = 0, b"", time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                zt.fail(f"no complete answer within {timeout:g}s (sent {sent}, got {got[:80]!r})")
            progress = False
            if sent < len(data):
                try:
                    sent += s.send(data[sent:sent + 65536])
                    progress = True
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    sent = len(data)  # the daemon stopped listening to us
            try:
                d = s.recv(65536)
                if not d:
                    return got
                got += d
                progress = True
            except BlockingIOError:
                pass
            except (ConnectionResetError, ConnectionAbortedError):
                return got  # closed with our bytes unread: after its answer
            if not progress:
                time.sleep(0.002)
    finally:
        s.close()


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    zt.expect_eq(zt.http_get(listen).status, 200, "cold start")
    sock = t.control_socket
    zt.expect(raw_request(sock, b"status\n").startswith(b"ok\n"), "a plain raw status")

    big = b"status " + b"x" * (MIB - 7)
    got = raw_request(sock, big)
    zt.expect_eq(got, b"error request too long\n", "answer to 1 MiB without a newline")
    rss0 = t.rss_kib()
    for i in range(20):
        got = raw_request(sock, big)
        zt.expect_eq(got, b"error request too long\n", f"answer to oversized request {i}")
    rss1 = t.rss_kib()
    zt._note(f"daemon RSS {rss0} KiB before 20 oversized requests, {rss1} KiB after")
    if not t.uses_asan():
        zt.expect(rss1 - rss0 < 2048, f"RSS grew by {rss1 - rss0} KiB over 20 oversized requests")
    t.wait_log(r"control: request longer than 4096 bytes refused")

    # 4096 bytes newline included still fits: parsed, then refused as a command.
    fits = b"nosuchcommand" + b"y" * (4096 - 14) + b"\n"
    zt.expect_eq(len(fits), 4096, "request size")
    got = raw_request(sock, fits)
    zt.expect(got.startswith(b"error ") and b"too long" not in got,
              f"a 4096-byte request is parsed: {got[:80]!r}")
    # and one byte more is too long
    got = raw_request(sock, b"z" + fits)
    zt.expect_eq(got, b"error request too long\n", "answer to a 4097-byte request")

    zt.expect_eq(t.service_status("web")["state"], "running", "status after the abuse")
    zt.expect_eq(zt.http_get(listen).status, 200, "relayed request after the abuse")


zt.run(test)
