#!/usr/bin/env python3
"""relay = no: a backend that exits at once without accepting leaves its
client queued in the listening socket zeroproxy keeps. That is a failed
start (the "unproven exit" rule), and the service restarts it for the queued
client only under the back-off (1 s, then 2 s...), not hundreds of times a
second; zeroproxy cannot refuse the client (it never accepts it), so the
client waits in the kernel. Once the backend works again (--exit-if: the
file is gone) the same, still queued client is served by the next
instance."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

REQ = b"GET / HTTP/1.1\r\nHost: zptest\r\nConnection: close\r\n\r\n"


def test(t):
    flag = t.path("broken")
    open(flag, "w").close()
    listen = f"127.0.0.1:{t.port()}"
    t.service("web", listen=listen, relay="no", idle_timeout="1m",
              exec=t.testd("--exit-code", "1", "--exit-if", flag))
    t.start()

    s = zt.connect(listen, timeout=20)
    s.sendall(REQ)
    time.sleep(3.5)
    st = t.service_status("web")
    zt._note(f"cold_starts {st['cold_starts']} in 3.5 s, state {st['state']}")
    zt.expect(2 <= st["cold_starts"] <= 4, f"cold_starts {st['cold_starts']} in 3.5 s (back-off)")
    # Ready at exec: the exit is seen either after the exec report ("without
    # serving a client") or before it ("before ready"); both are failed starts.
    zt.expect(st["last_error"] and ("without serving" in st["last_error"] or
                                    "before ready" in st["last_error"]),
              f"last_error says what happened: {st['last_error']!r}")
    t.wait_log(zt.re_start_failed("web", "exited with status 1"))
    t.wait_log(r"web: connection queued on .*: starting after the back-off")

    os.unlink(flag)
    r, _ = zt._read_response(s, b"")
    s.close()
    zt.expect_eq(r.status, 200, "the queued client, served once the backend works")
    zt.expect_eq(r.kv["peer"] != "unix", True, "accepted by the backend itself")
    st = t.service_status("web")
    zt.expect_eq(st["state"], "running", "running")


zt.run(test)
