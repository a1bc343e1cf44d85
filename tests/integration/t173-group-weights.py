#!/usr/bin/env python3
"""t173 — weights: capacity 3, a and b of weight 2, c of weight 1. a and c
fit together; b makes room by stopping a alone (c stays, busy or not); the
weight alive never exceeds 3."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    t.groups = {"gpu": 3}
    backends, listen = {}, {}
    for name, w in (("a", 2), ("b", 2), ("c", 1)):
        addr = f"127.0.0.1:{t.port()}"
        backends[addr] = (name, w)
        listen[name] = t.testd_service(name, address=addr, idle_timeout="infinity",
                                       service_group="gpu", group_weight=w)
    t.start()
    watch = zt.GroupWatch(t, backends)
    try:
        t.track(zt.http_get(listen["a"]).pid)
        pc = zt.http_get(listen["c"]).pid
        t.track(pc)
        zt.expect_eq(sorted(watch.alive()), ["a", "c"], "a (2) and c (1) fit 3")
        zt.expect_eq(t.service_status("a")["group_used"], 3, "3 of 3 used")
        with zt.HttpConn(listen["c"]) as busy:
            busy.get()
            mark = t.mark()
            t.track(zt.http_get(listen["b"], timeout=10).pid)
            t.wait_log(r"gpu: stopping a to make room for b", since=mark)
            t.expect_no_log(r"gpu: stopping c", since=mark)
        zt.expect_eq(zt.http_get(listen["c"]).pid, pc, "c kept its instance")
        # a again: b (2) must go; c (1) alone would not be enough, and stays
        mark = t.mark()
        t.track(zt.http_get(listen["a"], timeout=10).pid)
        t.wait_log(r"gpu: stopping b to make room for a", since=mark)
        t.expect_no_log(r"gpu: stopping c", since=mark)
        zt.expect_eq(zt.http_get(listen["c"]).pid, pc, "c still the same instance")
    finally:
        most = watch.stop()
    zt.expect(most <= 3, f"weight alive at most 3 (at most {most}: {watch.max_alive})")


zt.run(test)
