#!/usr/bin/env python3
"""freeze_after: a backend that burns CPU on a timer of its own (zp-testd
--tick) is frozen once idle for freeze_after and then uses no CPU (its
/proc/PID/stat utime + stime stand still over a second, while they grew over
the same time running); a request thaws it and is answered by the same pid,
with thaws and last_thaw_ms in status; idle again it freezes again, and at
idle_timeout (from the same last request) it is stopped, thawed first: it
handles SIGTERM itself and exits 0. frozen_seconds counts the frozen time,
billed_seconds only the rest; /metrics has the state frozen, the frozen time
and the thaws, and the usage file keeps them; zeroproxy itself sleeps while
the instance is frozen (strace). Twice: with the cgroup v2 freezer where zeroproxy manages
cgroups, and with SIGSTOP where cgroups are hidden from it (a private mount
namespace, as t102 does).
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t160-freeze-cpu.py"""
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

FREEZE = 0.4
IDLE = 5.0


def state(t):
    return t.service_status("web")["state"]


def round_trip(t, name, wrapper, cgroup):
    shutil.rmtree(t.path("state"), ignore_errors=True)  # each round counts from zero
    mport = t.port()
    t.write_global(metrics_listen=f"127.0.0.1:{mport}")
    listen = t.testd_service("web", args=("--tick", 10), idle_timeout=f"{IDLE:g}s",
                             freeze_after=f"{int(FREEZE * 1000)}ms")
    mark = t.mark()
    t.start(wrapper=wrapper)
    if cgroup:
        t.wait_log(r"cgroup: service cgroups under ", since=mark)
    else:
        t.wait_log(r"cgroup: not used \(no cgroup v2 hierarchy is mounted", since=mark)

    # Running, with a client connected: no freeze, and the ticks burn CPU.
    c = zt.HttpConn(listen)
    pid = c.get("/").pid
    t.track(pid)
    time.sleep(0.2)
    a = zt.cpu_ticks(pid)
    time.sleep(1.0)
    b = zt.cpu_ticks(pid)
    zt.expect_eq(state(t), "running", f"{name}: running while a client is connected")
    zt.expect(b - a >= 3, f"{name}: the running backend burns CPU ({b - a} ticks in 1 s)")

    # Idle: frozen after freeze_after, and then no CPU at all.
    c.close()
    t0 = time.monotonic()
    zt.wait_until(lambda: state(t) == "frozen", 5, interval=0.02, what=f"{name}: frozen")
    took = time.monotonic() - t0
    zt.expect(took >= FREEZE * 0.8, f"{name}: frozen after freeze_after ({took:.2f} s)")
    t.wait_log(r"web: running -> frozen \(idle 400ms\)", since=mark)
    if cgroup:
        t.wait_log(rf"web: backend pid {pid} frozen in [\d.]+ ms \(cgroup\.freeze of .*svc-web\)",
                   since=mark)
    else:
        t.wait_log(rf"web: backend pid {pid} frozen by SIGSTOP to its process group \(no cgroup\)",
                   since=mark)
        zt.wait_until(lambda: zt.proc_state(pid) == "T", 2, what=f"{name}: pid {pid} stopped")
    time.sleep(0.1)
    a = zt.cpu_ticks(pid)
    calls = t.syscalls_over(1.0, name) if shutil.which("strace") else []
    b = zt.cpu_ticks(pid)
    zt.expect_eq(b - a, 0, f"{name}: CPU ticks of the frozen backend over 1 s")
    zt.expect_eq(calls, [], f"{name}: zeroproxy makes no system call while the instance is frozen")
    s = t.service_status("web")
    zt.expect_eq((s["pid"], s["thaws"], s["last_thaw_ms"]), (pid, 0, None),
                 f"{name}: frozen, nothing thawed yet")
    zt.expect(s["frozen_seconds"] >= 1.0, f"{name}: frozen_seconds {s['frozen_seconds']}")
    row = t.zeroproxy("status", "-s", t.control_socket, "web").stdout.splitlines()[1].split()
    zt.expect_eq(row[1], "frozen", f"{name}: the table's STATE")
    m = zt.metrics_text(f"127.0.0.1:{mport}")
    zt.expect('zeroproxy_state{service="web",state="frozen"} 1\n' in m,
              f"{name}: /metrics state frozen")
    zt.expect(re.search(r'zeroproxy_frozen_seconds_total\{service="web"\} [1-9]', m),
              f"{name}: /metrics frozen seconds")

    # A request thaws it: the same process answers at once.
    r = zt.http_get(listen)
    zt.expect_eq((r.status, r.pid), (200, pid), f"{name}: the thawed backend answers")
    s = t.service_status("web")
    zt.expect_eq((s["state"], s["thaws"], s["cold_starts"]), ("running", 1, 1),
                 f"{name}: thawed, no new start")
    zt.expect(s["last_thaw_ms"] is not None and 0 < s["last_thaw_ms"] < 1000,
              f"{name}: last_thaw_ms {s['last_thaw_ms']}")
    t.expect_log(r"web: frozen -> running \(connection from ", since=mark)
    zt.expect('zeroproxy_thaws_total{service="web"} 1\n' in zt.metrics_text(f"127.0.0.1:{mport}"),
              f"{name}: /metrics thaws")
    zt._note(f"{name}: last_thaw_ms {s['last_thaw_ms']}")
    last_request = time.monotonic()

    # Idle again: frozen again, then stopped at idle_timeout from the request,
    # thawed first so that it handles SIGTERM (exit 0, not a SIGKILL).
    zt.wait_until(lambda: state(t) == "frozen", 5, interval=0.02, what=f"{name}: frozen again")
    zt.wait_until(lambda: state(t) == "stopped", IDLE + 5, interval=0.05,
                  what=f"{name}: the idle stop")
    took = time.monotonic() - last_request
    zt.expect(IDLE * 0.9 <= took <= IDLE + 2, f"{name}: stopped at idle_timeout ({took:.2f} s)")
    t.expect_log(r"web: frozen -> stopping \(idle 5s\)", since=mark)
    t.wait_log(r"web: stopping -> stopped \(backend exited with status 0\)", since=mark)
    zt.expect(not zt.pid_alive(pid), f"{name}: the backend is gone")
    s = t.service_status("web")
    zt.expect(s["frozen_seconds"] >= IDLE - 2 * FREEZE - 0.5,
              f"{name}: frozen_seconds {s['frozen_seconds']} counts the frozen time")
    zt.expect(s["billed_seconds"] < 3.0,
              f"{name}: billed_seconds {s['billed_seconds']} leaves the frozen time out")
    # Kept in the usage file, written shortly after the stop.
    path = t.path("state", "web.usage")

    def usage():
        try:
            with open(path) as f:
                return dict(ln.rstrip("\n").partition(" ")[::2] for ln in f)
        except OSError:
            return {}
    zt.wait_until(lambda: usage().get("thaws") == "1", 5, what=f"{name}: the usage file")
    u = usage()
    zt.expect(abs(int(u["frozen_usec"]) / 1e6 - s["frozen_seconds"]) < 0.002,
              f"{name}: the file's frozen_usec {u['frozen_usec']} is frozen_seconds")
    zt.expect(int(u["last_thaw_usec"]) > 0, f"{name}: the file's last_thaw_usec")
    zt.expect_eq(t.stop(), 0, f"{name}: zeroproxy's exit status on SIGTERM")
    t.daemon = None


def test(t):
    if os.geteuid() != 0:
        zt.skip("needs root (zeroproxy's own cgroups, and hiding them)")
    round_trip(t, "cgroup", (), cgroup=True)
    round_trip(t, "SIGSTOP", zt.hide_cgroups(), cgroup=False)


zt.run(test)
