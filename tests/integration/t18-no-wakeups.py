#!/usr/bin/env python3
"""No periodic timers: with every service stopped (before any start, and again
after an instance came and went), the daemon makes no system calls at all over
1.5 s, as seen by strace -p."""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def syscalls_over(t, secs, what):
    out = t.path(f"strace-{what}.txt")
    p = subprocess.Popen(["strace", "-f", "-qq", "-o", out, "-p", str(t.daemon_pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(secs)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10)
    if "attach" in err.decode() or not os.path.exists(out):
        zt.skip(f"strace cannot attach here: {err.decode().strip()}")
    with open(out) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    # attaching and detaching interrupt the wait the daemon sleeps in: those
    # lines are strace's own
    return [ln for ln in lines
            if not any(x in ln for x in ("restart_syscall", "resumed>", "<detached"))]


def test(t):
    if not shutil.which("strace"):
        zt.skip("strace is not installed")
    web = t.testd_service("web", idle_timeout="300ms", connection_idle_timeout="1m")
    t.start()
    calls = syscalls_over(t, 1.5, "fresh")
    zt.expect(not calls, f"{len(calls)} system calls while idle, e.g. {calls[:5]}")
    pid = zt.http_get(web).pid
    zt.wait_until(lambda: not zt.pid_alive(pid), 5, what="the idle stop")
    t.wait_log(zt.re_exited("web", 0))
    time.sleep(0.2)
    calls = syscalls_over(t, 1.5, "after")
    zt.expect(not calls, f"{len(calls)} system calls after the idle stop, e.g. {calls[:5]}")


zt.run(test)
