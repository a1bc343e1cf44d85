#!/usr/bin/env python3
"""A backend that ignores SIGTERM is killed with SIGKILL after stop_timeout, not
before; and stop_signal is honoured (a backend that ignores SIGTERM but exits
on SIGINT stops at once with stop_signal = SIGINT)."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    web = t.testd_service("web", args=["--ignore-term"], idle_timeout="300ms",
                          stop_timeout="1s")
    alt = t.testd_service("alt", args=["--ignore-term"], idle_timeout="300ms",
                          stop_timeout="20s", stop_signal="SIGINT")
    t.start()
    pid = zt.http_get(web).pid
    t.wait_log(zt.re_idle_stop("web"), timeout=5)
    stopping = time.monotonic()
    time.sleep(0.6)
    zt.expect(zt.pid_alive(pid), "killed before stop_timeout")
    zt.wait_until(lambda: not zt.pid_alive(pid), 4, what="SIGKILL after stop_timeout")
    took = time.monotonic() - stopping
    zt._note(f"killed {took:.3f}s after the stop began (stop_timeout 1s)")
    zt.expect(took >= 0.8, f"gone after {took:.3f}s, before stop_timeout")
    t.wait_log(zt.re_killed("web", "SIGKILL"))

    pid = zt.http_get(alt).pid
    t.wait_log(zt.re_idle_stop("alt"), timeout=5)
    zt.wait_until(lambda: not zt.pid_alive(pid), 3, what="stop_signal = SIGINT to stop it")
    t.wait_log(zt.re_exited("alt", 0))
    t.expect_no_log(zt.re_killed("alt", "SIGKILL"))


zt.run(test)
