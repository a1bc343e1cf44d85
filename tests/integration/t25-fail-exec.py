#!/usr/bin/env python3
"""Exec failures are recognised at once (not after start_timeout) and reported
with their reason: a missing program (No such file or directory) and a file
that is not executable (Permission denied). The waiting connection is closed."""
import re
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

MISSING = "/nonexistent/zp-missing-backend"


def refused_quickly(listen, what):
    t0 = time.monotonic()
    with zt.connect(listen) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        zt.expect_closed(s, within=5, what=what)
    took = time.monotonic() - t0
    zt.expect(took < 2.0, f"{what}: closed only after {took:.3f}s")


def test(t):
    noexec = t.path("not-executable")
    with open(noexec, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(noexec, 0o644)
    a, b = t.port(), t.port()
    missing = f"127.0.0.1:{t.port()}"
    perm = f"127.0.0.1:{t.port()}"
    t.service("missing", listen=missing, exec=MISSING, address=f"127.0.0.1:{a}",
              start_timeout="30s")
    t.service("perm", listen=perm, exec=noexec, address=f"127.0.0.1:{b}", start_timeout="30s")
    t.start()
    refused_quickly(missing, "missing program")
    t.wait_log(zt.re_start_failed("missing", "exec " + re.escape(MISSING) +
                                  ": No such file or directory"))
    refused_quickly(perm, "non-executable program")
    t.wait_log(zt.re_start_failed("perm", "exec " + re.escape(noexec) + ": Permission denied"))
    zt.expect(t.daemon_alive(), "daemon alive")


zt.run(test)
