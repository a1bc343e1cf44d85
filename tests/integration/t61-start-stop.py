#!/usr/bin/env python3
"""`zeroproxy start NAME` pre-warms a backend with no connection; `zeroproxy
stop NAME` stops it now as an idle stop would; both count and report in status,
and unknown names or missing arguments fail with one line and exit 1."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    zp = lambda *a, check=True: t.zeroproxy(*a, "-c", t.conf, check=check)  # noqa: E731

    r = zp("start", "web")
    zt.expect_eq((r.stdout, r.stderr), ("", ""), "start: silent")
    zt.wait_until(lambda: t.service_status("web")["state"] == "running", 5, what="pre-warmed")
    s = t.service_status("web")
    pid = s["pid"]
    t.track(pid)
    zt.expect(zt.pid_alive(pid), "backend runs before any connection")
    zt.expect_eq((s["cold_starts"], s["connections_total"]), (1, 0), "a start without connections")
    zt.expect(s["ready_ms"] is not None, "its readiness time is known")
    zt.expect_eq(s["last_start_ms"], None, "no client waited for it: no cold start sample")
    zt.expect(s["stop_in_seconds"] is not None and 50 < s["stop_in_seconds"] <= 60,
              f"the idle timer runs from the start: stop_in {s['stop_in_seconds']!r}")

    r = zt.http_get(listen)
    zt.expect_eq(r.pid, pid, "the first connection uses the pre-warmed instance")

    zp("start", "web")
    zt.expect_eq(t.service_status("web")["pid"], pid, "start on a running service changes nothing")
    zt.expect_eq(t.service_status("web")["cold_starts"], 1, "and starts nothing")

    zp("stop", "web")
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 10, what="stopped now")
    zt.wait_until(lambda: not zt.pid_alive(pid), 5, what="backend gone")
    s = t.service_status("web")
    zt.expect(s["pid"] is None and s["uptime_seconds"] is None, "no instance after stop")
    zt.expect_eq(s["last_exit"], "exited 0", "last_exit after stop")

    zp("stop", "web")
    zt.expect_eq(t.service_status("web")["state"], "stopped", "stop on a stopped service: no-op")

    r = zt.http_get(listen)
    zt.expect(r.pid != pid, "the next connection starts a new instance")
    zt.expect_eq(t.service_status("web")["cold_starts"], 2, "two cold starts")

    # start while the old instance is still stopping: a new one once it is gone.
    slow = t.testd_service("slow", args=("--term-delay", "500"), idle_timeout="1m")
    zp("reload")
    r = zt.http_get(slow)
    t.track(r.pid)
    zp("stop", "slow")
    zt.expect_eq(t.service_status("slow")["state"], "stopping", "slow backend still stopping")
    zp("start", "slow")
    zt.wait_until(lambda: not zt.pid_alive(r.pid), 5, what="old slow backend gone")
    zt.wait_until(lambda: t.service_status("slow")["state"] == "running", 5,
                  what="start during stopping runs a new instance")
    s = t.service_status("slow")
    zt.expect(s["pid"] not in (None, r.pid), f"a new pid after the old one exited: {s['pid']!r}")
    t.track(s["pid"])
    zt.expect_eq(s["cold_starts"], 2, "start during stopping: one more cold start")

    for args, err in ((("start", "nope"), "zeroproxy: unknown service nope\n"),
                      (("stop", "nope"), "zeroproxy: unknown service nope\n")):
        r = zp(*args, check=False)
        zt.expect_eq((r.returncode, r.stdout, r.stderr), (1, "", err), " ".join(args))
    for args in (("start",), ("stop", "web", "api")):
        r = zp(*args, check=False)
        zt.expect(r.returncode == 1 and r.stderr.count("\n") == 1 and "usage" in r.stderr,
                  f"{' '.join(args)}: one usage line, exit 1 (got {r.stderr!r})")
    zt.expect_eq(t.stop(), 0, "exit status on SIGTERM")


zt.run(test)
