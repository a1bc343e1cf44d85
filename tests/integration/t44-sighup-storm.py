#!/usr/bin/env python3
"""A SIGHUP storm: 50 SIGHUPs a millisecond or two apart (then 20 more, 20 ms
apart, so that several reloads really run) while a keep-alive client loops
requests through the daemon. No request fails, the one keep-alive connection
survives every reload, the backend is the same instance throughout (the
configuration did not change), the daemon stays up, and to systemd every
RELOADING=1 is followed by a READY=1 before the next RELOADING=1, the storm
ending on READY=1."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def reload_sequence(t):
    """The RELOADING=1 / READY=1 messages after the first READY=1, in order."""
    with t.notify.cond:
        seq = [("RELOADING" if f.get("RELOADING") == "1" else "READY")
               for _, f, _ in t.notify.messages
               if f.get("RELOADING") == "1" or f.get("READY") == "1"]
    return seq[1:]


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    stop, out = threading.Event(), {"n": 0, "error": None, "pids": set()}
    th = threading.Thread(target=zt.keepalive_traffic, args=(listen, stop, out), daemon=True)
    th.start()
    zt.wait_until(lambda: out["n"] >= 5 or out["error"], 5, what="traffic to flow")

    for _ in range(50):
        t.signal(signal.SIGHUP)
        time.sleep(0.0015)
    for _ in range(20):
        t.signal(signal.SIGHUP)
        time.sleep(0.02)
    # the storm is over once the last RELOADING=1 got its READY=1
    time.sleep(0.3)
    zt.wait_until(lambda: reload_sequence(t)[-1:] == ["READY"], 5,
                  what="READY=1 after the last RELOADING=1")
    before = out["n"]
    zt.wait_until(lambda: out["n"] >= before + 5 or out["error"], 5,
                  what="traffic after the storm")
    stop.set()
    th.join(10)

    zt.expect(out["error"] is None, f"a request failed during the SIGHUP storm: {out['error']!r}")
    zt.expect(t.daemon_alive(), "daemon alive after the storm")
    seq = reload_sequence(t)
    reloads = seq.count("RELOADING")
    zt._note(f"{out['n']} requests, {reloads} reloads for 70 SIGHUPs")
    zt.expect(reloads >= 2, f"only {reloads} reload(s) for 70 SIGHUPs")
    for i, kind in enumerate(seq):
        want = "RELOADING" if i % 2 == 0 else "READY"
        zt.expect_eq(kind, want, f"sd_notify message {i} of the reloads ({' '.join(seq)})")
    zt.expect_eq(len(out["pids"]), 1, "backend instances serving during the storm")
    t.expect_no_log(r"\berror\b|<[0-3]>")
    st = t.service_status("web")
    zt.expect_eq((st["state"], st["cold_starts"]), ("running", 1), "state after the storm")
    zt.expect_eq(zt.http_get(listen).status, 200, "relayed request after the storm")


zt.run(test)
