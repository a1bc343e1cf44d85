#!/usr/bin/env python3
"""Regression: a service removed by a reload while a connection to it is open,
and added again by the next reload before that connection ends. The re-added
service used to be a second copy beside the draining one: its own meter
(connections_total from 0 again), its own backend on the same address, both
writing one usage file. Now it is the same service again: one service in
status, the same instance, the old connection keeps working, and the meter
carries on."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen = t.testd_service("web", idle_timeout="1s")
    keep = t.testd_service("keep", idle_timeout="1m")  # so the config never is empty
    t.start()
    reload = lambda: t.zeroproxy("reload", "-s", t.control_socket)  # noqa: E731
    names = lambda: [s["name"] for s in t.status_json()["services"]]  # noqa: E731

    zt.expect_eq(zt.http_get(listen).status, 200, "first request")
    zt.expect_eq(zt.http_get(keep).status, 200, "request to keep")
    conn = zt.HttpConn(listen)
    pid = conn.get("/one").pid
    zt.expect_eq(t.service_status("web")["connections_total"], 2, "connections_total before")

    with open(os.path.join(t.services_dir, "web.conf")) as f:
        text = f.read()
    t.remove_service("web")
    reload()
    zt.expect_eq(names(), ["keep"], "services after the removal")
    zt.expect(zt.try_http_get(listen, timeout=2) is None, "the removed service's port is closed")
    r = conn.get("/two")
    zt.expect_eq((r.status, r.pid), (200, pid), "the open connection works while draining")

    t.service_text("web", text)
    reload()
    zt.expect_eq(names(), ["keep", "web"], "services after the re-add: web once")
    st = t.service_status("web")
    zt.expect_eq((st["state"], st["pid"]), ("running", pid), "the draining instance is the service's again")
    zt.expect_eq((st["connections_total"], st["connections_active"], st["cold_starts"]), (2, 1, 1),
                 "connections_total, connections_active, cold_starts carry on")

    r = conn.get("/three")
    zt.expect_eq((r.status, r.pid), (200, pid), "the old connection still works after the re-add")
    r = zt.http_get(listen)
    zt.expect_eq((r.status, r.pid), (200, pid), "a new connection reaches the same instance")
    st = t.service_status("web")
    zt.expect_eq((st["connections_total"], st["cold_starts"]), (3, 1), "connections_total, cold_starts")
    conn.close()

    # And it idles out as one service, its meter written once.
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.05,
                  what="web's idle stop after the last connection")
    zt.expect_eq(t.count_log(zt.re_starting("web")), 1, "web backend starts")
    zt.expect(not zt.pid_alive(pid), "the backend stopped")
    zt.expect_eq(t.service_status("web")["connections_total"], 3, "connections_total after the stop")


zt.run(test)
