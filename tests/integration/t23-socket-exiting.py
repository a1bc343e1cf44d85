#!/usr/bin/env python3
"""ready = socket: a connection that arrives while the instance is exiting (it
closes its listener on SIGTERM and exits 0.8 s later) is served by the next
instance, from the same kernel queue, not refused and not lost."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    listen = t.testd_service("web", args=["--term-delay", "800"], ready="socket",
                             idle_timeout="300ms", stop_timeout="5s")
    t.start()
    pid1 = zt.http_get(listen).pid
    t.wait_log(zt.re_idle_stop("web"), timeout=5)
    zt.expect(zt.pid_alive(pid1), "the exiting instance was already gone")
    t0 = time.monotonic()
    r = zt.http_get(listen, "/while-exiting", timeout=10)
    zt._note(f"answered after {time.monotonic() - t0:.3f}s")
    zt.expect_eq(r.status, 200, "request while exiting")
    zt.expect(r.pid != pid1, "served by the exiting instance")
    zt.expect(not zt.pid_alive(pid1), "the old instance still ran when the new one answered")
    t.wait_log(zt.re_exited("web", 0))
    zt.expect_eq((r.kv["listen_fds"], r.kv["listen_fdnames"]), ("1", "web"), "passed socket")


zt.run(test)
