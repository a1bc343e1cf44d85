#!/usr/bin/env python3
"""Metering time: billed_seconds grows at wall-clock speed while an instance
runs (and equals its uptime_seconds for the first instance) and not at all
while none runs; uptime_seconds is null when stopped; time_at_zero_ratio stays
in 0..1, falls while an instance runs, rises while stopped, and matches
1 - billed / (time since the service was first configured).
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t72-billed.py"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

RUN = 0.8    # seconds an instance is held running
PAUSE = 0.8  # seconds it stays stopped


def status(t):
    """(status of web, monotonic time of the query)."""
    t0 = time.monotonic()
    s = t.service_status("web")
    return s, (t0 + time.monotonic()) / 2


def ratio_ok(s, what):
    r = s["time_at_zero_ratio"]
    zt.expect(0 <= r <= 1, f"{what}: time_at_zero_ratio {r} in 0..1")
    return r


def test(t):
    listen = t.testd_service("web", idle_timeout="200ms")
    before = time.monotonic()
    t.start()
    configured = time.monotonic()

    s, _ = status(t)
    zt.expect_eq(s["billed_seconds"], 0, "nothing billed before the first start")
    zt.expect(s["uptime_seconds"] is None, "uptime null before the first start")
    zt.expect_eq(ratio_ok(s, "at first"), 1, "at zero all the time so far")
    time.sleep(0.3)
    s, _ = status(t)
    zt.expect_eq(s["billed_seconds"], 0, "nothing billed while idle from the start")

    # 1. Running: billed grows with the wall clock and is the uptime.
    with zt.HttpConn(listen) as c:
        pid = c.get("/").pid
        a, ta = status(t)
        zt.expect_eq(a["state"], "running", "running")
        zt.expect(a["uptime_seconds"] is not None, "uptime while running")
        zt.expect_eq(a["billed_seconds"], a["uptime_seconds"],
                     "first instance: billed_seconds is its uptime")
        ra = ratio_ok(a, "running")
        time.sleep(RUN)
        b, tb = status(t)
        zt.expect_eq(b["pid"], pid, "same instance")
        grew = b["billed_seconds"] - a["billed_seconds"]
        zt.expect(abs(grew - (tb - ta)) < 0.1,
                  f"billed grew {grew:.3f}s over {tb - ta:.3f}s of running")
        zt.expect_eq(b["billed_seconds"], b["uptime_seconds"], "still billed == uptime")
        rb = ratio_ok(b, "running later")
        zt.expect(rb < ra, f"time_at_zero_ratio falls while running ({ra} -> {rb})")
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.02,
                  what="the idle stop")

    # 2. Stopped: nothing grows but the time at zero.
    c1, t1 = status(t)
    zt.expect(c1["uptime_seconds"] is None, "uptime null once stopped")
    zt.expect(c1["pid"] is None, "pid null once stopped")
    zt.expect(c1["billed_seconds"] >= b["billed_seconds"], "billed kept the instance's life")
    life = c1["billed_seconds"]
    zt.expect(RUN <= life < RUN + 1.5, f"billed {life}s for an instance held {RUN}s")
    r1 = ratio_ok(c1, "stopped")
    time.sleep(PAUSE)
    c2, t2 = status(t)
    zt.expect_eq(c2["billed_seconds"], life, f"billed unchanged over {t2 - t1:.2f}s stopped")
    zt.expect(c2["uptime_seconds"] is None, "uptime still null")
    r2 = ratio_ok(c2, "stopped later")
    zt.expect(r2 > r1, f"time_at_zero_ratio rises while stopped ({r1} -> {r2})")
    # 1 - billed / span, the span since the service was first configured.
    lo = 1 - life / (t2 - before)
    hi = 1 - life / (t2 - configured)
    zt.expect(lo - 0.02 <= r2 <= hi + 0.02,
              f"time_at_zero_ratio {r2} is 1 - billed/span (expected {lo:.3f}..{hi:.3f})")
    with open(t.path("state", "web.usage")) as f:
        billed_usec = int([ln.split()[1] for ln in f if ln.startswith("billed_usec ")][0])
    zt.expect(abs(billed_usec / 1e6 - life) < 0.0015,
              f"state file billed_usec {billed_usec} is status's {life}")

    # 3. A second instance: billed resumes from the total, uptime restarts at 0.
    with zt.HttpConn(listen) as c:
        pid2 = c.get("/").pid
        zt.expect(pid2 != pid, "a new instance")
        d, _ = status(t)
        zt.expect(d["uptime_seconds"] is not None and d["uptime_seconds"] < 0.5,
                  f"uptime {d['uptime_seconds']} of the new instance")
        zt.expect(abs(d["billed_seconds"] - (life + d["uptime_seconds"])) < 0.0015,
                  f"billed {d['billed_seconds']} = {life} before + uptime "
                  f"{d['uptime_seconds']}")
        time.sleep(0.3)
        e, _ = status(t)
        zt.expect(e["billed_seconds"] >= d["billed_seconds"] + 0.25,
                  f"billed grows again ({d['billed_seconds']} -> {e['billed_seconds']})")
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.02,
                  what="the second idle stop")
    f1, _ = status(t)
    time.sleep(0.3)
    f2, _ = status(t)
    zt.expect_eq(f2["billed_seconds"], f1["billed_seconds"], "billed frozen after the 2nd stop")
    zt.expect(f2["time_at_zero_ratio"] > f1["time_at_zero_ratio"], "ratio rising again")
    zt.expect_eq(f2["cold_starts"], 2, "two cold starts")


zt.run(test)
