#!/usr/bin/env python3
"""Metering CPU: a backend that forks a child burning 0.5 s of CPU at start-up
(and waits for it) shows cpu_seconds >= 0.4 once the instance has stopped, in
`status --json`, in the state file and in the table's CPU column, whatever the
source (cgroup or rusage); the descendants' time is counted, not just the
group leader's, which itself burns almost nothing.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t70-cpu-child.py"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

BURN_MS = 500


def usage_file(t, name):
    """STATE_DIR/NAME.usage as a dict of key -> value text."""
    with open(t.path("state", name + ".usage")) as f:
        return dict(line.rstrip("\n").partition(" ")[::2] for line in f)


def test(t):
    listen = t.testd_service("burn", args=("--burn-cpu-child", BURN_MS), idle_timeout="200ms",
                             start_timeout="10s")
    quiet = t.testd_service("quiet", idle_timeout="200ms")
    t.start()

    s = t.service_status("burn")
    zt.expect_eq(s["cpu_seconds"], 0, "no CPU before the first start")
    zt.expect(s["cpu_source"] in ("cgroup", "rusage"), f"cpu_source {s['cpu_source']!r}")
    source = s["cpu_source"]
    zt._note(f"cpu_source {source}")

    r = zt.http_get(listen)
    zt.expect_eq(r.status, 200, "the burning backend answers once ready")
    pid = r.pid
    # The child burnt its 0.5 s before the backend listened: the start took as long.
    s = t.service_status("burn")
    zt.expect(s["last_start_ms"] >= BURN_MS * 0.9, f"last_start_ms {s['last_start_ms']} "
              f"includes the {BURN_MS} ms burn")
    zt.expect(s["cpu_seconds"] >= 0.4 or source == "rusage",
              f"cgroup: cpu_seconds {s['cpu_seconds']} while running counts the reaped child")

    zt.wait_until(lambda: t.service_status("burn")["state"] == "stopped", 5, interval=0.02,
                  what="the idle stop")
    zt.wait_until(lambda: not zt.pid_alive(pid), 5, what="the backend gone")
    s = t.service_status("burn")
    zt._note(f"after the stop: cpu_seconds {s['cpu_seconds']}, billed {s['billed_seconds']}")
    zt.expect(s["cpu_seconds"] >= 0.4, f"cpu_seconds {s['cpu_seconds']} >= 0.4 after the stop")
    # A single-threaded child cannot burn more CPU than the instance lived.
    zt.expect(s["cpu_seconds"] <= s["billed_seconds"] + 0.05,
              f"cpu_seconds {s['cpu_seconds']} <= billed_seconds {s['billed_seconds']}")
    zt.expect(s["cpu_seconds"] < 2.0, f"cpu_seconds {s['cpu_seconds']} is not wildly high")
    zt.expect_eq(s["cpu_source"], source, "cpu_source does not change")
    zt.expect_eq(s["last_exit"], "exited 0", "last_exit")

    # Written by the writer thread shortly after the stop.
    path = t.path("state", "burn.usage")
    zt.wait_until(lambda: os.path.exists(path) and usage_file(t, "burn").get("cold_starts") == "1",
                  5, what="the state file written at the stop")
    u = usage_file(t, "burn")
    cpu_usec = int(u["cpu_usec"])
    zt.expect(cpu_usec >= 400000, f"state file cpu_usec {cpu_usec} >= 400000")
    zt.expect(abs(cpu_usec / 1e6 - s["cpu_seconds"]) < 0.0015,
              f"state file cpu_usec {cpu_usec} is status's {s['cpu_seconds']}")

    table = t.zeroproxy("status", "-s", t.control_socket, "burn").stdout.splitlines()
    cell = table[1].split()[table[0].split().index("CPU")]
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", cell)
    zt.expect(m, f"CPU column {cell!r}")
    cpu_col = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    zt.expect(cpu_col >= 0.4, f"CPU column {cell!r} >= 0.4 s")

    # A backend that burns nothing is metered near zero: the figure is per service.
    r = zt.http_get(quiet)
    zt.wait_until(lambda: t.service_status("quiet")["state"] == "stopped", 5, interval=0.02,
                  what="quiet's idle stop")
    q = t.service_status("quiet")
    zt.expect(q["cpu_seconds"] < 0.2, f"quiet backend cpu_seconds {q['cpu_seconds']} < 0.2")
    zt.expect_eq(t.service_status("burn")["cpu_seconds"], s["cpu_seconds"],
                 "burn's CPU unchanged while it is stopped")

    # A second instance adds its own burn to the total.
    r = zt.http_get(listen)
    zt.expect(r.pid != pid, "a new instance")
    zt.wait_until(lambda: t.service_status("burn")["state"] == "stopped", 5, interval=0.02,
                  what="the second idle stop")
    s2 = t.service_status("burn")
    zt.expect(s2["cpu_seconds"] >= s["cpu_seconds"] + 0.4,
              f"cpu_seconds {s2['cpu_seconds']} grew by >= 0.4 from {s['cpu_seconds']}")
    zt.expect_eq(s2["cold_starts"], 2, "two cold starts")


zt.run(test)
