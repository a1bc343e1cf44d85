#!/usr/bin/env python3
"""Metering CPU without cgroups: zeroproxy run as an unprivileged user (nobody)
cannot create cgroups, says so in the log, reports cpu_source "rusage", and
still counts the CPU of the backend's descendants: a backend whose child burns
0.5 s shows cpu_seconds >= 0.4 while it runs (/proc cutime of the reaped child)
and after it stops (wait4 rusage). Skipped unless run as root with setpriv(1).
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t71-cpu-rusage.py"""
import os
import pwd
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

BURN_MS = 500


def test(t):
    if os.geteuid() != 0:
        zt.skip("needs root to run zeroproxy as nobody")
    setpriv = shutil.which("setpriv")
    if not setpriv:
        zt.skip("setpriv not found")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        zt.skip("no user nobody")
    # Copies nobody can reach wherever the build is (a clone in /root).
    daemon = t.shared_copy(zt.ZEROPROXY)
    for b in (daemon, t.shared_copy(zt.ZP_TESTD)):
        r = subprocess.run([setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}",
                               "--clear-groups", "test", "-x", b])
        if r.returncode != 0:
            zt.skip(f"nobody cannot execute {b}")

    listen = t.testd_service("burn", args=("--burn-cpu-child", BURN_MS), idle_timeout="200ms",
                             start_timeout="10s")
    t.write_global()
    os.mkdir(t.path("state"))
    for p in (t.dir, t.path("state"), t.notify.path):
        os.chmod(p, 0o777)
    wrapper = (setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups")
    t.start(wrapper=wrapper, binary=daemon)
    t.wait_log(r"cgroup: not used \(.*\); CPU and memory from rusage")
    s = t.service_status("burn")
    zt.expect_eq(s["cpu_source"], "rusage", "cpu_source without cgroups")

    r = zt.http_get(listen)
    zt.expect_eq(r.status, 200, "the burning backend answers once ready")
    s = t.service_status("burn")
    zt.expect_eq(s["state"], "running", "running")
    zt.expect(s["cpu_seconds"] >= 0.4,
              f"cpu_seconds {s['cpu_seconds']} while running counts the reaped child")
    zt.wait_until(lambda: t.service_status("burn")["state"] == "stopped", 5, interval=0.02,
                  what="the idle stop")
    zt.wait_until(lambda: not zt.pid_alive(r.pid), 5, what="the backend gone")
    s = t.service_status("burn")
    zt.expect(s["cpu_seconds"] >= 0.4, f"cpu_seconds {s['cpu_seconds']} >= 0.4 after the stop")
    zt.expect(s["cpu_seconds"] <= s["billed_seconds"] + 0.05,
              f"cpu_seconds {s['cpu_seconds']} <= billed_seconds {s['billed_seconds']}")
    zt.expect_eq(s["cpu_source"], "rusage", "cpu_source after the stop")
    zt.expect(s["peak_memory_bytes"] > 0, "peak memory from rusage")
    # Written by the writer thread shortly after the stop.
    zt.wait_until(lambda: os.path.exists(t.path("state", "burn.usage")), 5,
                  what="the state file written at the stop")
    st = os.stat(t.path("state", "burn.usage"))
    zt.expect_eq(st.st_uid, nobody.pw_uid, "the state file written by the daemon's user")


zt.run(test)
