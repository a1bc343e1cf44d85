#!/usr/bin/env python3
"""Regression: a backend run with user = nobody must die with a zeroproxy
killed by SIGKILL. The parent-death signal was asked for before the uid
change, which resets it: such backends outlived the daemon. Needs root."""
import os
import pwd
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


def test(t):
    if os.geteuid() != 0:
        zt.skip("needs root (user = nobody)")
    try:
        nobody = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        zt.skip("no user nobody")
    listen = t.testd_service("web", idle_timeout="1m", user="nobody")
    t.start()
    conn = zt.HttpConn(listen)
    pid = conn.get("/").pid
    zt.expect(pid and zt.pid_alive(pid), "the backend runs")
    zt.expect_eq(uid_of(pid), nobody, "the backend's uid")

    os.kill(t.daemon_pid, signal.SIGKILL)
    t.daemon.wait(5)
    zt.wait_until(lambda: not zt.pid_alive(pid), 3,
                  what=f"the backend (pid {pid}, user nobody) to die with zeroproxy")
    conn.close()


zt.run(test)
