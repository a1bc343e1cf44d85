#!/usr/bin/env python3
"""A backend that crashes while idle must take its idle timer with it. Before
the fix the timer stayed armed after the crash: status showed a STOP-IN for a
stopped service, and a later `zeroproxy start` inherited the old deadline, so
the pre-warmed instance was stopped early. Now leaving running clears every
timer of the running state: no stop_in_seconds while stopped, and the new
instance gets its full idle_timeout from its own start."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

IDLE = 3.0


def test(t):
    listen = t.testd_service("web", idle_timeout=f"{IDLE:g}s")
    t.start()
    r = zt.http_get(listen)
    idle_from = time.monotonic()  # the idle timer runs from here
    pid1 = r.pid
    time.sleep(0.3)
    st = t.service_status("web")
    zt.expect(st["stop_in_seconds"] is not None, "an idle running service has a stop_in")

    os.kill(pid1, signal.SIGKILL)  # crash while idle
    t.wait_log(zt.re_killed("web", "SIGKILL"))
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, what="stopped")
    st = t.service_status("web")
    zt.expect_eq(st["stop_in_seconds"], None, "stop_in_seconds of a stopped service")
    table = t.zeroproxy("status", "-s", t.control_socket, "web").stdout.splitlines()
    head, row = table[0].split(), table[1].split()
    zt.expect_eq(row[head.index("STOP-IN")], "-", f"STOP-IN of a stopped service in {table}")

    time.sleep(max(0, idle_from + 1.5 - time.monotonic()))
    t.zeroproxy("start", "web", "-s", t.control_socket)
    zt.wait_until(lambda: t.service_status("web")["state"] == "running", 5, what="pre-warmed")
    started = time.monotonic()
    st = t.service_status("web")
    pid2 = st["pid"]
    t.track(pid2)
    zt.expect(st["stop_in_seconds"] is not None and st["stop_in_seconds"] > IDLE - 1.0,
              f"the new instance has its own idle_timeout: stop_in {st['stop_in_seconds']!r}")
    # Past the old deadline (idle_from + IDLE) and well before the new one.
    time.sleep(max(0, idle_from + IDLE + 0.6 - time.monotonic()))
    zt.expect(time.monotonic() < started + IDLE - 0.2, "the machine is too slow for this test")
    st = t.service_status("web")
    zt.expect_eq((st["state"], st["pid"]), ("running", pid2),
                 "the pre-warmed instance still runs past the crashed one's deadline")
    t.wait_log(zt.re_idle_stop("web"), timeout=IDLE + 2)


zt.run(test)
