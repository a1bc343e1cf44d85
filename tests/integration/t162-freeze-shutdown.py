#!/usr/bin/env python3
"""Ending zeroproxy with a frozen instance leaves no process behind.
SIGTERM: the instance is thawed, then stopped as usual (the backend handles
SIGTERM itself and exits 0), and zeroproxy exits 0. kill -9: the frozen main
process dies with zeroproxy (PR_SET_PDEATHSIG: SIGKILL reaches a frozen or
stopped process). A worker it forked has no parent-death signal: stopped by
SIGSTOP, its process group is orphaned when the main process dies, and the
kernel sends it SIGHUP and SIGCONT, which end it; frozen in a cgroup it would
wait for a thaw for ever, so the next zeroproxy kills what is left in the
cgroups of a dead one. Twice: cgroup v2 freezer, and SIGSTOP with cgroups
hidden from zeroproxy.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t162-freeze-shutdown.py"""
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def frozen_instance(t, name, wrapper, args=()):
    """Start zeroproxy (behind wrapper), wake web and wait until it is frozen;
    its main pid."""
    t.start(wrapper=wrapper)
    r = zt.http_get(t.web)
    t.track(r.pid)
    zt.wait_until(lambda: t.service_status("web")["state"] == "frozen", 5, interval=0.02,
                  what=f"{name}: frozen")
    return r.pid


def round_trip(t, name, wrapper, cgroup):
    d = t.path(name)
    os.mkdir(d)
    shutil.rmtree(t.path("state"), ignore_errors=True)
    wpid_file = os.path.join(d, "worker.pid")
    t.web = t.testd_service("web", args=("--tick", 10, "--term-delay", 200, "--worker", 60000,
                                         "--worker-pidfile", wpid_file),
                            idle_timeout="1m", freeze_after="300ms", stop_timeout="5s")

    # SIGTERM: thawed, stopped, zeroproxy exits 0.
    pid = frozen_instance(t, name, wrapper)
    worker = t.read_pidfile(wpid_file)
    mark = t.mark()
    zt.expect_eq(t.stop(), 0, f"{name}: zeroproxy's exit status on SIGTERM with a frozen instance")
    t.daemon = None
    t.expect_log(r"web: frozen -> stopping \(zeroproxy is shutting down\)", since=mark)
    t.expect_log(r"web: stopping -> stopped \(", since=mark)
    t.expect_log(rf"zp-testd\[{pid}\]: signal 15 from pid", since=mark)
    zt.expect(not zt.pid_alive(pid), f"{name}: the backend is gone after SIGTERM")
    zt.expect(not zt.pid_alive(worker), f"{name}: its worker is gone after SIGTERM")
    os.unlink(wpid_file)

    # kill -9: the frozen main process dies with zeroproxy.
    pid = frozen_instance(t, name, wrapper)
    worker = t.read_pidfile(wpid_file)
    os.kill(t.daemon_pid, signal.SIGKILL)
    t.daemon.wait(5)
    t.daemon = None
    zt.wait_until(lambda: not zt.pid_alive(pid), 5,
                  what=f"{name}: the frozen backend to die with zeroproxy (PR_SET_PDEATHSIG)")
    if not cgroup:
        zt.wait_until(lambda: not zt.pid_alive(worker), 5,
                      what=f"{name}: the stopped worker to end (SIGHUP of an orphaned group)")
        return
    zt.expect(zt.pid_alive(worker), f"{name}: the frozen worker outlives a kill -9")
    mark = t.mark()
    t.start(wrapper=wrapper)
    t.wait_log(r"cgroup: killed the processes left in .*svc-web by an earlier zeroproxy",
               since=mark)
    zt.wait_until(lambda: not zt.pid_alive(worker), 5,
                  what=f"{name}: the next zeroproxy to kill the frozen worker")
    zt.expect_eq(t.stop(), 0, f"{name}: zeroproxy's exit status on SIGTERM")
    t.daemon = None


def test(t):
    if os.geteuid() != 0:
        zt.skip("needs root (zeroproxy's own cgroups, and hiding them)")
    round_trip(t, "cgroup", (), cgroup=True)
    round_trip(t, "sigstop", zt.hide_cgroups(), cgroup=False)


zt.run(test)
