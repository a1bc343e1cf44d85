#!/usr/bin/env python3
"""t172 — a member with a connection open is busy: the other service's
request waits (state waiting, the connection pending) until the busy one's
client closes; then the idle member is stopped and the waiting request is
answered. With every member busy past pending_timeout, the waiting
connection is refused as usual and the service goes back to stopped."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    t.groups = {"gpu": 1}
    backends, listen = {}, {}
    for name, extra in (("a", {}), ("b", {}), ("c", {"pending_timeout": "1s"})):
        addr = f"127.0.0.1:{t.port()}"
        backends[addr] = (name, 1)
        listen[name] = t.testd_service(name, address=addr, idle_timeout="infinity",
                                       service_group="gpu", **extra)
    t.start()
    watch = zt.GroupWatch(t, backends)
    try:
        # a busy: a keep-alive connection stays open after its answer
        busy = zt.HttpConn(listen["a"])
        t.track(busy.get().pid)
        result = {}

        def get_b():
            try:
                result["r"] = zt.http_get(listen["b"], timeout=20)
            except Exception as e:  # noqa: BLE001 - reported below
                result["e"] = e
        th = threading.Thread(target=get_b)
        th.start()
        zt.wait_until(lambda: t.service_status("b")["state"] == "waiting", 5,
                      what="b to wait for room")
        time.sleep(1.0)
        st = t.service_status("b")
        zt.expect_eq((st["state"], st["connections_pending"]), ("waiting", 1),
                     "b still waits, its connection pending, while a is busy")
        zt.expect(not result, "b not answered while a is busy")
        t.expect_no_log(r"gpu: stopping")
        mark = t.mark()
        busy.close()
        th.join(20)
        zt.expect("r" in result, f"b answered once a became idle ({result.get('e')})")
        t.track(result["r"].pid)
        t.wait_log(r"gpu: stopping a to make room for b", since=mark)

        # every member busy past c's pending_timeout: refused, c stopped again
        busy = zt.HttpConn(listen["b"])
        busy.get()
        s = zt.connect(listen["c"])
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        zt.expect_closed(s, within=5, what="c's waiting connection")
        took = time.monotonic() - t0
        zt.expect(took >= 0.8, f"refused at pending_timeout, not before ({took:.2f} s)")
        zt.wait_until(lambda: t.service_status("c")["state"] == "stopped", 5,
                      what="c back to stopped")
        st = t.service_status("c")
        zt.expect_eq((st["connections_refused"], st["cold_starts"]), (1, 0),
                     "c: one refused, never started")
        t.wait_log(r"c: waiting -> stopped \(no connection waits any more\)")
        zt.expect(t.service_status("b")["state"] == "running", "busy b kept running")
        busy.close()
    finally:
        most = watch.stop()
    zt.expect(most <= 1, f"never two at once (at most {most}: {watch.max_alive})")


zt.run(test)
