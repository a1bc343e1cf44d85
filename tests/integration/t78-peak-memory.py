#!/usr/bin/env python3
"""Metering memory: peak_memory_bytes is the largest memory use of any
instance, so once reported it never goes down: not while an instance runs,
not when it stops (the figure while running comes from /proc VmHWM, the one
at the exit from wait4's ru_maxrss or the cgroup: the larger must win), not
across instances. The backends' VmHWM as the test reads it is noted.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t78-peak-memory.py"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def vm_hwm(pid):
    """VmHWM of pid in bytes (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def test(t):
    listen = t.testd_service("web", idle_timeout="200ms")
    t.start()
    zt.expect_eq(t.service_status("web")["peak_memory_bytes"], 0, "no peak before a start")
    seen, hwm_max, history = 0, 0, []

    def check(what):
        nonlocal seen
        p = t.service_status("web")["peak_memory_bytes"]
        history.append((what, p))
        zt.expect(p >= seen, f"peak_memory_bytes went down: {history}")
        seen = p

    for i in range(3):
        with zt.HttpConn(listen) as c:
            pid = c.get("/").pid
            c.get("/bytes/200000")
            hwm_max = max(hwm_max, vm_hwm(pid))
            check(f"instance {i + 1} running")
            zt.expect(seen > 0, "a peak while running")
        zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.02,
                      what="the idle stop")
        check(f"instance {i + 1} stopped")
    zt._note(f"peaks: {history}; largest VmHWM {hwm_max}")


zt.run(test)
