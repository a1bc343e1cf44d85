#!/usr/bin/env python3
"""relay = no: zeroproxy learns the open connections of the handed-off
listeners from the kernel (sock_diag) while the backend runs. A held
connection keeps the backend up well past idle_timeout, connections_active
follows the open connections (TCP and unix), the idle stop comes
idle_timeout after the last one closes, and connections_total, bytes_in and
bytes_out count what the kernel reported of the connections it showed."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def active(t):
    return t.service_status("web")["connections_active"]


def test(t):
    tcp = f"127.0.0.1:{t.port()}"
    sock = t.path("web.sock")
    t.service("web", listen=[tcp, f"unix:{sock}"], relay="no", idle_timeout="800ms",
              exec=t.testd())
    t.start()
    zt.expect_eq(active(t), 0, "connections_active at zero")

    c1 = zt.HttpConn(tcp)
    r = c1.get("/")
    zt.expect_eq(r.status, 200, "first request")
    pid = r.pid
    zt.expect_eq(len(c1.get("/bytes/100000").body), 100000, "100000 bytes")
    zt.wait_until(lambda: active(t) == 1, 5, what="connections_active 1")
    c2 = zt.HttpConn(f"unix:{sock}")
    zt.expect_eq(c2.get("/").pid, pid, "unix client served by the same instance")
    zt.wait_until(lambda: active(t) == 2, 5, what="connections_active 2 (TCP and unix)")

    # Held well past idle_timeout: still up.
    time.sleep(2.5)
    zt.expect(zt.pid_alive(pid), "a held connection keeps the backend up past idle_timeout")
    st = t.service_status("web")
    zt.expect_eq((st["state"], st["stop_in_seconds"]), ("running", None),
                 "running, no stop planned while connections are open")
    zt.expect(st["bytes_out"] >= 100000, f"bytes_out {st['bytes_out']} counts the 100000 sent")
    zt.expect(st["bytes_in"] > 0, f"bytes_in {st['bytes_in']}")

    c2.close()
    zt.wait_until(lambda: active(t) == 1, 5, what="connections_active back to 1")
    time.sleep(1.5)
    zt.expect(zt.pid_alive(pid), "one connection still open: still up")
    zt.expect_eq(c1.get("/again").pid, pid, "the held connection still works")
    c1.close()
    t0 = time.monotonic()
    zt.wait_until(lambda: not zt.pid_alive(pid), 10, what="the idle stop after the last close")
    took = time.monotonic() - t0
    zt._note(f"idle stop {took:.2f}s after the last close")
    zt.expect(took >= 0.7, f"not before idle_timeout ({took:.2f}s)")
    t.wait_log(zt.re_idle_stop("web"))
    st = t.service_status("web")
    zt.expect_eq((st["connections_active"], st["connections_total"]), (0, 2),
                 "connections_active 0 and connections_total 2 at the end")


zt.run(test)
