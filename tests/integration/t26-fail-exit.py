#!/usr/bin/env python3
"""A backend that exits before it is ready is a failed start, reported with its
exit status (3) or its signal (SIGKILL); the waiting connection is closed at once."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    three = t.testd_service("three", args=["--exit-code", "3"], start_timeout="30s")
    bport = t.port()
    sig = f"127.0.0.1:{t.port()}"
    t.service("sig", listen=sig, exec="/bin/sh -c 'kill -KILL $$'",
              address=f"127.0.0.1:{bport}", start_timeout="30s")
    t.start()
    for listen, name, reason in ((three, "three", r"exited with status 3 before ready"),
                                 (sig, "sig", r".*signal SIGKILL.*before ready")):
        t0 = time.monotonic()
        with zt.connect(listen) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            zt.expect_closed(s, within=5, what=f"{name}: the waiting connection")
        took = time.monotonic() - t0
        zt.expect(took < 2.0, f"{name}: closed only after {took:.3f}s")
        t.wait_log(zt.re_start_failed(name, reason))
    zt.expect(t.daemon_alive(), "daemon alive")


zt.run(test)
