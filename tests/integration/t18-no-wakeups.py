#!/usr/bin/env python3
"""No periodic timers: with every service stopped (before any start, and again
after an instance came and went), the daemon makes no system calls at all over
1.5 s, as seen by strace -p."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    if not shutil.which("strace"):
        zt.skip("strace is not installed")
    web = t.testd_service("web", idle_timeout="300ms", connection_idle_timeout="1m")
    t.start()
    calls = t.syscalls_over(1.5, "fresh")
    zt.expect(not calls, f"{len(calls)} system calls while idle, e.g. {calls[:5]}")
    pid = zt.http_get(web).pid
    zt.wait_until(lambda: not zt.pid_alive(pid), 5, what="the idle stop")
    t.wait_log(zt.re_exited("web", 0))
    time.sleep(0.2)
    calls = t.syscalls_over(1.5, "after")
    zt.expect(not calls, f"{len(calls)} system calls after the idle stop, e.g. {calls[:5]}")


zt.run(test)
