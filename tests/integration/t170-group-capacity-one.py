#!/usr/bin/env python3
"""t170 — a group of capacity 1 with two services: never both have a backend
process (sampled every 20 ms over the whole test, zombies included); a
request for the second is answered once the first, idle, has been stopped
for it and is gone; `zeroproxy start` of a member of the full group evicts
likewise; status and /metrics show the group and its evictions."""
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    t.groups = {"gpu": 1}
    mport = t.port()
    t.write_global(metrics_listen=f"127.0.0.1:{mport}")
    backends = {}
    listen = {}
    for name in ("a", "b"):
        addr = f"127.0.0.1:{t.port()}"
        backends[addr] = (name, 1)
        # the term delay makes each stop take a while: the next instance must
        # still wait for the old one to be gone
        listen[name] = t.testd_service(name, address=addr, args=("--term-delay", "300"),
                                       idle_timeout="infinity", service_group="gpu")
    t.start()
    watch = zt.GroupWatch(t, backends)
    try:
        pa = zt.http_get(listen["a"]).pid
        t.track(pa)
        mark = t.mark()
        pb = zt.http_get(listen["b"], timeout=10).pid
        t.track(pb)
        zt.expect(pb != pa, "b has a backend of its own")
        zt.expect(not zt.pid_alive(pa), "a was stopped before b answered")
        t.wait_log(r"gpu: stopping a to make room for b", since=mark)
        zt.expect(t.log_time(r"b: waiting -> starting", since=mark) >=
                  t.log_time(r"a: stopping -> stopped", since=mark),
                  "b started only once a was gone")
        st = {s["name"]: s for s in t.status_json()["services"]}
        zt.expect_eq(st["b"]["group"], "gpu", "status: b's group")
        zt.expect_eq((st["b"]["group_capacity"], st["b"]["group_used"], st["b"]["group_weight"]),
                     (1, 1, 1), "status: capacity, used, weight")
        zt.expect_eq(st["a"]["group_evictions"], 1, "status: a was evicted once")
        zt.expect_eq(st["a"]["state"], "stopped", "status: a stopped")

        # zeroproxy start a: b is idle, so it goes for a
        mark = t.mark()
        t.zeroproxy("start", "-s", t.control_socket, "a")
        t.wait_log(r"gpu: stopping b to make room for a", since=mark)
        t.wait_log(r"a: starting -> running", since=mark, timeout=10)
        zt.expect(not zt.pid_alive(pb), "b gone once a runs")
        pa2 = zt.http_get(listen["a"]).pid
        t.track(pa2)

        # back and forth a few times
        for i in range(3):
            zt.http_get(listen["b"], timeout=10)
            zt.http_get(listen["a"], timeout=10)
        body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read()
        text = body.decode()
        zt.expect('zeroproxy_group_evictions_total{service="a",group="gpu"} 4' in text,
                  "metrics: a evicted 4 times")
        zt.expect('zeroproxy_group_evictions_total{service="b",group="gpu"} 4' in text,
                  "metrics: b evicted 4 times")
    finally:
        most = watch.stop()
    zt.expect(watch.samples > 20, f"the watch sampled ({watch.samples} samples)")
    zt.expect(most <= 1, f"never both at once (at most {most}: {watch.max_alive})")


zt.run(test)
