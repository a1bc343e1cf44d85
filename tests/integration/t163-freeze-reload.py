#!/usr/bin/env python3
"""Reload while frozen. A reload that changes the service applies as for a
running instance: the instance stays frozen with the settings it was started
with (same pid; a request thaws it and it answers), the new idle_timeout
counts from the reload and stops it, thawed first (exit 0). A reload that
drops freeze_after thaws the instance at once (no request needed); one that
sets it again freezes it freeze_after later. A reload that removes the
service stops its frozen instance the same way (thaw, stop_signal, exit 0).
Run with the cgroup v2 freezer where zeroproxy manages cgroups, else with
SIGSTOP.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t163-freeze-reload.py"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen, addr = f"127.0.0.1:{t.port()}", f"127.0.0.1:{t.port()}"

    def web(idle, freeze, *extra):
        t.service("web", listen=listen, address=addr, idle_timeout=idle, freeze_after=freeze,
                  exec=t.testd("--listen", addr, "--tick", 10, *extra))

    web("1m", "300ms")
    t.start()
    zp = lambda *a: t.zeroproxy(*a, "-c", t.conf)  # noqa: E731
    state = lambda: t.service_status("web")["state"]  # noqa: E731
    frozen = lambda what: zt.wait_until(lambda: state() == "frozen", 5,  # noqa: E731
                                        interval=0.02, what=what)

    pid = zt.http_get(listen).pid
    t.track(pid)
    frozen("frozen")

    # A change of exec and idle_timeout: still frozen, the same instance.
    mark = t.mark()
    web("4s", "300ms", "--quiet")
    zp("reload")
    s = t.service_status("web")
    zt.expect_eq((s["state"], s["pid"]), ("frozen", pid), "a changed service stays frozen")
    zt.expect(3.0 < s["stop_in_seconds"] <= 4.0,
              f"the new idle_timeout counts from the reload (stop_in {s['stop_in_seconds']})")
    time.sleep(0.5)
    zt.expect_eq(state(), "frozen", "still frozen after the reload")
    r = zt.http_get(listen)
    zt.expect_eq((r.status, r.pid), (200, pid), "a request thaws the old instance, which answers")
    t_request = time.monotonic()
    frozen("frozen again")
    zt.wait_until(lambda: state() == "stopped", 8, interval=0.05, what="the idle stop")
    took = time.monotonic() - t_request
    zt.expect(3.5 <= took <= 6, f"stopped 4 s after the last request ({took:.2f} s)")
    t.expect_log(r"web: frozen -> stopping \(idle 4s\)", since=mark)
    t.wait_log(r"web: stopping -> stopped \(backend exited with status 0\)", since=mark)

    # Dropping freeze_after thaws; setting it again freezes.
    web("1m", "300ms")
    zp("reload")
    pid = zt.http_get(listen).pid
    t.track(pid)
    frozen("frozen with the reloaded config")
    thaws = t.service_status("web")["thaws"]
    mark = t.mark()
    web("1m", None)
    zp("reload")
    s = t.service_status("web")
    zt.expect_eq((s["state"], s["pid"], s["thaws"]), ("running", pid, thaws + 1),
                 "a reload without freeze_after thaws the instance")
    t.expect_log(r"web: frozen -> running \(freeze_after = infinity by a reload\)", since=mark)
    time.sleep(0.8)
    zt.expect_eq(state(), "running", "and it is not frozen again")
    web("1m", "300ms")
    zp("reload")
    frozen("freeze_after set again: frozen")

    # Removed while frozen: thawed, stopped, gone.
    mark = t.mark()
    t.remove_service("web")
    zp("reload")
    t.wait_log(r"web: frozen -> stopping \(removed from the configuration\)", since=mark)
    t.wait_log(r"web: stopping -> stopped \(backend exited with status 0\)", since=mark)
    zt.wait_until(lambda: not zt.pid_alive(pid), 5, what="the removed service's backend gone")


zt.run(test)
