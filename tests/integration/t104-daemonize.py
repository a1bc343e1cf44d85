#!/usr/bin/env python3
"""A server that forks into the background (redis --daemonize yes, nginx
without "daemon off;", php-fpm without -F): its main process exits 0 at once.
Before the fix that was only "exited with status 0 before ready", which leaves
the user guessing. Now the log and last_error say that it probably forked into
the background and must run in the foreground — with ready = connect (an exit
before ready) and with ready = socket (an exit right after the spawn, before it
served anything)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

HINT = r"probably forked into the background; it must run in the foreground"


def track(t, name):
    """Kill the background child at the end if it got far enough to write its
    pid (with a cgroup zeroproxy kills it when the parent exits)."""
    try:
        with open(t.path(f"{name}.pid")) as f:
            t.track(int(f.read()))
    except (OSError, ValueError):
        pass


def test(t):
    for name, ready in (("connect", "connect"), ("socket", "socket")):
        pidfile = t.path(f"{name}.pid")
        # The background child takes 300 ms to listen, as real servers take
        # a moment to start: its parent's exit comes first, as it does for
        # them (without it the child could answer the probe first).
        t.testd_service(name, args=["--daemonize", "--pidfile", pidfile, "--start-delay", "300"],
                        ready=ready, idle_timeout="1m")
    t.start()
    for name in ("connect", "socket"):
        r = zt.try_http_get(t.service_status(name)["listen"][0], timeout=10)
        track(t, name)
        zt.expect(r is None, f"{name}: a daemonizing backend answered: {r}")
        line = t.wait_log(zt.re_start_failed(name, r"exited with status 0"), timeout=10)
        zt.expect(HINT.split(";")[0] in line, f"{name}: the log line gives the hint: {line!r}")
        # stopping until the background child (killed with the instance) is gone
        zt.wait_until(lambda: t.service_status(name)["state"] == "failed", 5,
                      what=f"{name}: state failed")
        st = t.service_status(name)
        zt.expect(st["last_error"] and HINT in st["last_error"],
                  f"{name}: last_error gives the hint: {st['last_error']!r}")
        track(t, name)


zt.run(test)
