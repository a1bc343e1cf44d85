#!/usr/bin/env python3
"""ready = notify against a spoofed READY=1: while the backend waits 800 ms
before its own READY=1, the test (not the backend, nor in its process group)
reads the backend's NOTIFY_SOCKET from the backend itself (zp-testd answers on
its address before it is ready) and sends "READY=1" and "STATUS=spoofed" to
it, repeatedly. The service must not become ready early: the client's answer
comes only after the backend's own READY=1 (>= 750 ms after the cold start
began), the log's "ready after" says so, and the spoofed STATUS= is not shown
as the backend's status."""
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

DELAY_MS = 800


def test(t):
    addr = f"127.0.0.1:{t.port()}"
    listen = t.testd_service("web", args=["--notify-delay", DELAY_MS], ready="notify",
                             address=addr, idle_timeout="1m", start_timeout="10s")
    t.start()

    result = {}

    def client():
        try:
            result["r"] = zt.http_get(listen, timeout=10)
        except Exception as e:
            result["e"] = e
        result["t"] = time.monotonic()

    t0 = time.monotonic()
    th = threading.Thread(target=client, daemon=True)
    th.start()

    # Straight to the backend (not through zeroproxy): its NOTIFY_SOCKET.
    direct = zt.wait_until(lambda: zt.try_http_get(addr, "/direct", timeout=2), 2,
                           interval=0.005, what="the backend to answer directly")
    t.track(direct.kv["pid"])
    zt.expect_eq(direct.kv["notified"], "0", "the backend had not sent READY=1 yet")
    path = direct.kv["notify_socket"]
    zt.expect(path, "the backend got no NOTIFY_SOCKET")
    target = "\0" + path[1:] if path.startswith("@") else path
    spoofer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sent = 0
    while time.monotonic() - t0 < DELAY_MS / 1000 * 0.8:
        spoofer.sendto(b"READY=1\nSTATUS=spoofed\n", target)
        spoofer.sendto(b"READY=1", target)
        sent += 2
        zt.expect("t" not in result, f"answered {time.monotonic() - t0:.3f}s after the cold "
                  f"start began, after a spoofed READY=1 (the backend waits {DELAY_MS} ms)")
        time.sleep(0.02)
    spoofer.close()
    zt._note(f"sent {sent} spoofed datagrams to {path}")

    th.join(10)
    zt.expect("e" not in result, f"the client failed: {result.get('e')!r}")
    zt.expect("r" in result, "the client got no answer within 10 s")
    took = result["t"] - t0
    zt._note(f"answered after {took:.3f}s")
    zt.expect(took >= (DELAY_MS - 50) / 1000,
              f"answered after {took:.3f}s, before the backend's own READY=1")
    r = result["r"]
    zt.expect_eq((r.status, r.kv["notified"], r.kv["pid"]), (200, "1", direct.kv["pid"]),
                 "status, notified, pid")
    line = t.wait_log(zt.re_running("web"))
    ms = float(re.search(r"ready after ([\d.]+) ?ms", line).group(1))
    zt.expect(ms >= DELAY_MS - 50, f"log says ready after {ms} ms")
    zt.expect(t.service_status("web")["backend_status"] != "spoofed",
              "the spoofed STATUS= is shown as the backend's")


zt.run(test)
