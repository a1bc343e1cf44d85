#!/usr/bin/env python3
"""Metering survives restarts: after connections, refused connections, three
cold starts (one of them burning CPU), known traffic and a start that failed,
every figure (connections_total/refused, cold_starts, billed_seconds,
cpu_seconds, peak_memory_bytes, bytes_in/out, last_exit, last_start_ms and the
start percentiles, the time at zero) is the same after zeroproxy is stopped
with SIGTERM and started again with the same state_dir, and counting goes on
from there. A SIGTERM while an instance runs stops it and the figures include
it (the file is written at shutdown).
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t73-restart-keeps-usage.py"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

KEPT = ("connections_total", "connections_refused", "cold_starts", "billed_seconds",
        "cpu_seconds", "peak_memory_bytes", "bytes_in", "bytes_out", "last_exit",
        "last_start_ms", "start_ms_p50", "start_ms_p99")


def restart(t, n):
    """SIGTERM the daemon, expect exit 0, start it again (the n-th READY=1)."""
    zt.expect_eq(t.stop(), 0, "zeroproxy's exit status on SIGTERM")
    t.daemon = None
    t.start(wait_ready=False)
    t.wait_ready(count=n)


def snapshot(t, name):
    return {k: v for k, v in t.service_status(name).items() if k in KEPT}


def stopped(t, name):
    zt.wait_until(lambda: t.service_status(name)["state"] in ("stopped", "failed"), 5,
                  interval=0.02, what=f"{name} stopped")


def test(t):
    web = t.testd_service("web", args=("--burn-cpu-child", 200), idle_timeout="200ms",
                          start_timeout="10s")
    echo_addr = f"127.0.0.1:{t.port()}"
    echo = f"127.0.0.1:{t.port()}"
    t.service("echo", listen=echo, exec=t.testd("--listen", echo_addr, "--mode", "echo"),
              address=echo_addr, idle_timeout="200ms")
    flag = t.path("fail-now")
    bad = t.testd_service("bad", args=("--exit-code", 3, "--exit-if", flag), idle_timeout="200ms")
    t.start()

    # Some history: three starts of web, echo traffic, a failed start of bad.
    for i in range(3):
        with zt.HttpConn(web) as c:
            c.get("/")
            c.get("/again")
        zt.http_get(web)
        stopped(t, "web")
    zt.expect_eq(zt.echo_roundtrip(echo, b"m" * 12345), b"m" * 12345, "echo")
    stopped(t, "echo")
    open(flag, "w").close()
    zt.expect(zt.try_http_get(bad) is None, "bad refuses while its backend exits 3")
    stopped(t, "bad")
    os.unlink(flag)
    time.sleep(0.2)

    before = {n: snapshot(t, n) for n in ("web", "echo", "bad")}
    ratio0 = t.service_status("web")["time_at_zero_ratio"]
    w = before["web"]
    zt.expect_eq((w["cold_starts"], w["connections_total"]), (3, 6), "web: starts, connections")
    zt.expect(w["cpu_seconds"] >= 3 * 0.15, f"web: cpu_seconds {w['cpu_seconds']}")
    zt.expect(w["last_start_ms"] is not None and w["start_ms_p99"] >= w["start_ms_p50"] > 0,
              "web: start latencies")
    zt.expect_eq((before["echo"]["bytes_in"], before["echo"]["bytes_out"]), (12345, 12345),
                 "echo bytes")
    b = before["bad"]
    zt.expect(b["connections_refused"] >= 1 and b["last_exit"] == "exited 3",
              f"bad: refused {b['connections_refused']}, last_exit {b['last_exit']!r}")

    # 1. Restart while everything is stopped.
    restart(t, 2)
    for n, want in before.items():
        got = snapshot(t, n)
        for k in KEPT:
            zt.expect_eq(got[k], want[k], f"{n}: {k} after a restart")
        s = t.service_status(n)
        zt.expect_eq(s["state"], "stopped", f"{n}: stopped after the restart")
        zt.expect(s["idle_seconds"] is None or s["idle_seconds"] < 1,
                  f"{n}: idle_seconds {s['idle_seconds']} counts from this run")
    ratio1 = t.service_status("web")["time_at_zero_ratio"]
    zt.expect(ratio0 <= ratio1 < 1,
              f"web: time_at_zero_ratio {ratio0} -> {ratio1}: first-configured time kept")
    t.expect_no_log(r"usage file")
    zt.expect_eq([f for f in os.listdir(t.path("state")) if ".corrupt-" in f], [],
                 "no file moved aside")

    # Counting goes on from the loaded figures.
    zt.expect_eq(zt.echo_roundtrip(echo, b"n" * 100), b"n" * 100, "echo again")
    stopped(t, "echo")
    e = t.service_status("echo")
    zt.expect_eq((e["bytes_in"], e["bytes_out"], e["connections_total"], e["cold_starts"]),
                 (12445, 12445, before["echo"]["connections_total"] + 1,
                  before["echo"]["cold_starts"] + 1), "echo: counting goes on")
    zt.expect(e["billed_seconds"] > before["echo"]["billed_seconds"], "echo: billed goes on")

    # 2. SIGTERM while web runs (a connection open): it is stopped and counted.
    c = zt.HttpConn(web)
    c.get("/")
    time.sleep(0.3)
    running = t.service_status("web")
    zt.expect_eq(running["state"], "running", "web runs")
    zt.expect_eq(running["cold_starts"], 4, "a fourth start")
    restart(t, 3)
    c.close()
    s = t.service_status("web")
    zt.expect_eq(s["state"], "stopped", "web stopped after the restart")
    zt.expect_eq(s["cold_starts"], 4, "the start before the SIGTERM kept")
    zt.expect_eq(s["connections_total"], 7, "the connection before the SIGTERM kept")
    zt.expect(s["billed_seconds"] >= running["billed_seconds"],
              f"billed {s['billed_seconds']} includes the instance stopped at shutdown "
              f"(>= {running['billed_seconds']})")
    zt.expect(s["cpu_seconds"] >= w["cpu_seconds"] + 0.15,
              f"cpu {s['cpu_seconds']} includes the 4th instance's burn")
    zt.expect_eq(s["last_exit"], "exited 0", "last_exit of the instance stopped at shutdown")
    zt.expect(s["bytes_out"] > w["bytes_out"], "bytes of the 4th instance kept")


zt.run(test)
