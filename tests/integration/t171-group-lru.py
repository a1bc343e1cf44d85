#!/usr/bin/env python3
"""t171 — capacity 2 with three services: the one stopped to make room is
the least recently used member, never more than two run at once."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    t.groups = {"pool": 2}
    backends, listen = {}, {}
    for name in ("a", "b", "c"):
        addr = f"127.0.0.1:{t.port()}"
        backends[addr] = (name, 1)
        listen[name] = t.testd_service(name, address=addr, idle_timeout="infinity",
                                       service_group="pool")
    t.start()
    watch = zt.GroupWatch(t, backends)

    def use(name):
        t.track(zt.http_get(listen[name], timeout=10).pid)
        # "used" ends when the daemon sees the client's close: let it, so
        # that the order of the uses is the order the daemon sees
        zt.wait_until(lambda: t.service_status(name)["connections_active"] == 0, 5,
                      what=f"{name}'s client to be gone")

    def evicted_for(name, mark):
        line = t.wait_log(rf"pool: stopping \S+ to make room for {name}$", since=mark)
        return line.split("stopping ")[1].split(" ")[0]

    try:
        use("a")
        use("b")
        mark = t.mark()
        use("c")
        zt.expect_eq(evicted_for("c", mark), "a", "c: a, the least recently used, goes")
        use("b")  # b is now more recent than c
        mark = t.mark()
        use("a")
        zt.expect_eq(evicted_for("a", mark), "c", "a: c, now the least recently used, goes")
        zt.expect_eq(sorted(watch.alive()), ["a", "b"], "a and b run")
        mark = t.mark()
        use("c")
        zt.expect_eq(evicted_for("c", mark), "b", "c: b goes")
        t.expect_log_count(r"pool: stopping", 1, "one eviction per start", since=mark)
    finally:
        most = watch.stop()
    zt.expect(most <= 2, f"never more than two at once (at most {most}: {watch.max_alive})")


zt.run(test)
