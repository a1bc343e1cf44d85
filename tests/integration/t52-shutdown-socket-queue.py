#!/usr/bin/env python3
"""Regression: SIGTERM while a ready = socket backend has a connection queued in
its socket (the backend is slow to start and has not accepted it yet). The
backend's exit used to restart it for the connection still waiting in the
socket, so the shutdown never ended. Now zeroproxy exits 0 within stop_timeout
and a margin, and leaves no backend process behind."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def ours(t):
    """Pids whose command line names this test's directory (the backends: --pidfile)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if t.dir.encode() in f.read() and int(d) != t.daemon_pid:
                        found.append(int(d))
            except OSError:
                pass
    return found


def test(t):
    pidfile = t.path("backend.pid")
    # Killed by SIGTERM during its start delay, long before it would accept.
    listen = t.testd_service("web", args=["--start-delay", "3000", "--pidfile", pidfile],
                             ready="socket", address=False, idle_timeout="1m", stop_timeout="2s")
    t.start()
    s = zt.connect(listen)
    s.sendall(b"GET / HTTP/1.1\r\nHost: zptest\r\n\r\n")
    pid = t.read_pidfile(pidfile)
    t.wait_log(zt.re_running("web"))
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == 1, 5,
                  what="the connection relayed into the backend socket")

    t0 = time.monotonic()
    t.signal(signal.SIGTERM)
    try:
        rc = t.daemon.wait(2 + 3)
    except subprocess.TimeoutExpired:
        zt.fail("zeroproxy did not exit within stop_timeout (2 s) + 3 s of SIGTERM")
    took = time.monotonic() - t0
    zt._note(f"exited {rc} {took:.2f}s after SIGTERM")
    zt.expect_eq(rc, 0, "exit status on SIGTERM")
    zt.expect(not zt.pid_alive(pid), f"the first backend pid {pid} still runs")
    time.sleep(0.2)
    left = [p for p in ours(t) if zt.pid_alive(p)]
    zt.expect(not left, f"backend processes left after the shutdown: {left}")
    zt.expect_eq(t.count_log(zt.re_starting("web")), 1, "backend starts (no restart during shutdown)")
    zt.expect_closed(s, within=2, what="the client connection after the shutdown")
    s.close()


zt.run(test)
