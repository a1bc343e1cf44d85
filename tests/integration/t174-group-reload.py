#!/usr/bin/env python3
"""t174 — reload changes a group: shrinking capacity stops idle members only
(least recently used first); a busy member stays above the capacity until it
becomes idle, then it is stopped; growing it lets a waiting service in; a
service taken out of the group runs beside it."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    t.groups = {"gpu": 3}
    backends, listen, addrs = {}, {}, {}
    for name in ("a", "b", "c"):
        addr = addrs[name] = f"127.0.0.1:{t.port()}"
        backends[addr] = (name, 1)
        listen[name] = t.testd_service(name, address=addr, idle_timeout="infinity",
                                       service_group="gpu")
    t.start()

    def reload(capacity):
        t.groups["gpu"] = capacity
        t.write_global()
        mark = t.mark()
        t.zeroproxy("reload", "-s", t.control_socket)
        return mark

    for name in ("a", "b", "c"):
        t.track(zt.http_get(listen[name]).pid)
    busy = zt.HttpConn(listen["c"])
    busy.get()
    # capacity 1: a and b are idle and go; busy c stays above nothing
    mark = reload(1)
    t.wait_log(r"gpu: stopping a: the group is above its capacity \(1\)", since=mark)
    t.wait_log(r"gpu: stopping b: the group is above its capacity \(1\)", since=mark)
    t.wait_log(r"b: stopping -> stopped", since=mark)
    t.expect_no_log(r"gpu: stopping c", since=mark)
    zt.expect_eq(t.service_status("c")["group_used"], 1, "1 of 1 used: c")

    # capacity 1 with a and c busy (a let in by capacity 2 first), then 1:
    mark = reload(2)
    busy_a = zt.HttpConn(listen["a"])
    t.track(busy_a.get().pid)
    mark = reload(1)
    time.sleep(0.5)
    t.expect_no_log(r"gpu: stopping", since=mark)
    zt.expect_eq(t.service_status("a")["group_used"], 2,
                 "both busy: above the capacity until one is idle")
    busy_a.close()
    t.wait_log(r"gpu: stopping a: the group is above its capacity \(1\)", since=mark)
    t.wait_log(r"a: stopping -> stopped", since=mark)
    zt.expect_eq(t.service_status("c")["state"], "running", "busy c kept")

    # b waits behind busy c; capacity 2 lets it in
    result = {}
    th = threading.Thread(target=lambda: result.update(r=zt.http_get(listen["b"], timeout=20)))
    th.start()
    zt.wait_until(lambda: t.service_status("b")["state"] == "waiting", 5, what="b waiting")
    reload(2)
    th.join(20)
    zt.expect("r" in result, "capacity 2: waiting b answered")
    t.track(result["r"].pid)

    # a out of the group: it runs beside b and c, nothing is stopped
    svc = os.path.join(t.services_dir, "a.conf")
    with open(svc) as f:
        text = f.read()
    with open(svc, "w") as f:
        f.write(text.replace("group = gpu\n", ""))
    mark = reload(2)
    t.track(zt.http_get(listen["a"]).pid)
    t.expect_no_log(r"gpu: stopping", since=mark)
    st = t.service_status("a")
    zt.expect_eq((st["group"], st["state"]), (None, "running"), "a out of the group, running")
    zt.expect_eq(t.service_status("b")["group_used"], 2, "b and c hold 2 of 2")
    busy.close()


zt.run(test)
