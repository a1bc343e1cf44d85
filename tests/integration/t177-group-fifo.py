#!/usr/bin/env python3
"""t177 — services waiting for room in one group take their turns in the
order they began to wait: with a busy, b waits, then c; when a becomes idle
b goes first, and c only after b (idle once answered) is stopped for it."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    t.groups = {"gpu": 1}
    backends, listen = {}, {}
    for name in ("a", "b", "c"):
        addr = f"127.0.0.1:{t.port()}"
        backends[addr] = (name, 1)
        listen[name] = t.testd_service(name, address=addr, idle_timeout="infinity",
                                       service_group="gpu")
    t.start()
    watch = zt.GroupWatch(t, backends)
    try:
        busy = zt.HttpConn(listen["a"])
        t.track(busy.get().pid)
        result, threads = {}, []
        for name in ("b", "c"):
            th = threading.Thread(
                target=lambda n=name: result.update({n: zt.http_get(listen[n], timeout=20)}))
            th.start()
            threads.append(th)
            zt.wait_until(lambda n=name: t.service_status(n)["state"] == "waiting", 5,
                          what=f"{name} waiting")
        busy.close()
        for th in threads:
            th.join(20)
        zt.expect(set(result) == {"b", "c"}, f"both answered ({sorted(result)})")
        for r in result.values():
            t.track(r.pid)
        lines = t.log_matches(r"gpu: stopping \S+ to make room for \S+$")
        zt.expect_eq([ln.split("gpu: ")[1] for ln in lines],
                     ["stopping a to make room for b", "stopping b to make room for c"],
                     "b's turn first, then c's")
    finally:
        most = watch.stop()
    zt.expect(most <= 1, f"never two at once (at most {most}: {watch.max_alive})")


zt.run(test)
