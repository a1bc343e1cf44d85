#!/usr/bin/env python3
"""relay = no: a service at zero costs no wake-ups. Before the first start and
again after the idle stop the daemon makes no system call at all over 1.5 s
(strace -p): the listeners are watched by the event loop, and the kernel is
polled for connections (sock_diag) only while an instance runs, which the
same strace shows (so the test can see a poll when there is one)."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    if not shutil.which("strace"):
        zt.skip("strace is not installed")
    listen = f"127.0.0.1:{t.port()}"
    t.service("web", listen=listen, relay="no", idle_timeout="1s", exec=t.testd())
    t.start()
    calls = t.syscalls_over(1.5, "fresh")
    zt.expect(not calls, f"{len(calls)} system calls at zero, e.g. {calls[:5]}")

    c = zt.HttpConn(listen)
    pid = c.get("/").pid
    calls = t.syscalls_over(1.0, "running")
    polls = [ln for ln in calls if "AF_NETLINK" in ln or "NETLINK_SOCK_DIAG" in ln]
    zt.expect(polls, f"sock_diag polls while the instance runs ({len(calls)} calls)")
    c.close()
    zt.wait_until(lambda: not zt.pid_alive(pid), 10, what="the idle stop")
    t.wait_log(zt.re_exited("web", 0))
    time.sleep(0.2)
    calls = t.syscalls_over(1.5, "after")
    zt.expect(not calls, f"{len(calls)} system calls after the idle stop, e.g. {calls[:5]}")


zt.run(test)
