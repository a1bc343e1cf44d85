#!/usr/bin/env python3
"""`zeroproxy start` and `zeroproxy stop` of a frozen service, with
ready = notify: start thaws the instance (same pid, thaws 1, no cold start)
and it freezes again freeze_after later; stop thaws it before stop_signal, so
that a backend that takes 300 ms to finish after SIGTERM does so and exits 0:
stop_timeout (3 s) neither fires early nor is needed. The backend's READY=1
and STATUS= before the freeze change nothing, and zeroproxy's own systemd
watchdog pings go on while the backend is frozen (WATCHDOG_USEC). Twice:
with the cgroup v2 freezer and with SIGSTOP (cgroups hidden from zeroproxy).
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t161-freeze-start-stop.py"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def round_trip(t, name, wrapper):
    shutil.rmtree(t.path("state"), ignore_errors=True)
    listen = t.testd_service("web", args=("--tick", 10, "--term-delay", 300), ready="notify",
                             idle_timeout="1m", freeze_after="300ms", stop_timeout="3s")
    t.start(wrapper=wrapper, env={"WATCHDOG_USEC": "400000"})
    zp = lambda *a: t.zeroproxy(*a, "-s", t.control_socket)  # noqa: E731
    state = lambda: t.service_status("web")["state"]  # noqa: E731

    mark = t.mark()
    zp("start", "web")
    zt.wait_until(lambda: state() == "running", 5, interval=0.01, what=f"{name}: ready (notify)")
    pid = t.service_status("web")["pid"]
    t.track(pid)
    zt.wait_until(lambda: state() == "frozen", 5, interval=0.02, what=f"{name}: frozen")
    t.wait_log(r"web: backend pid \d+ frozen ", since=mark)
    pings = t.notify.count("WATCHDOG", "1")
    time.sleep(1.0)
    zt.expect_eq(state(), "frozen", f"{name}: still frozen")
    zt.expect(t.notify.count("WATCHDOG", "1") - pings >= 3,
              f"{name}: watchdog pings while frozen ({t.notify.count('WATCHDOG', '1') - pings})")

    # zeroproxy start: thawed, the same instance.
    zp("start", "web")
    s = t.service_status("web")
    zt.expect_eq((s["state"], s["pid"], s["thaws"], s["cold_starts"]), ("running", pid, 1, 1),
                 f"{name}: start while frozen thaws it")
    t.expect_log(r"web: frozen -> running \(zeroproxy start\)", since=mark)
    zt.expect(zt.proc_state(pid) != "T", f"{name}: not stopped after the thaw")
    r = zt.http_get(listen)
    zt.expect_eq((r.status, r.pid), (200, pid), f"{name}: it serves")
    zt.wait_until(lambda: state() == "frozen", 5, interval=0.02, what=f"{name}: frozen again")

    # zeroproxy stop: thawed, then stop_signal, which it handles in 300 ms.
    mark = t.mark()
    t0 = time.monotonic()
    zp("stop", "web")
    t.wait_log(r"web: stopping -> stopped \(backend exited with status 0\)", timeout=10,
               since=mark)
    took = time.monotonic() - t0
    t.expect_log(r"web: frozen -> stopping \(zeroproxy stop\)", since=mark)
    t.expect_no_log(r"SIGKILL", since=mark)
    zt.expect(0.25 <= took < 2.5, f"{name}: the stop took the backend's 300 ms ({took:.2f} s)")
    zt.expect(t.log_matches(rf"zp-testd\[{pid}\]: signal 15 from pid", since=mark),
              f"{name}: the backend handled SIGTERM itself")
    zt.wait_until(lambda: not zt.pid_alive(pid), 5, what=f"{name}: the backend gone")
    s = t.service_status("web")
    zt.expect_eq((s["state"], s["last_exit"]), ("stopped", "exited 0"), f"{name}: stopped")
    zt.expect_eq(t.stop(), 0, f"{name}: zeroproxy's exit status on SIGTERM")
    t.daemon = None


def test(t):
    if os.geteuid() != 0:
        zt.skip("needs root (zeroproxy's own cgroups, and hiding them)")
    round_trip(t, "cgroup", ())
    round_trip(t, "SIGSTOP", zt.hide_cgroups())


zt.run(test)
