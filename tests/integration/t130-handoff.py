#!/usr/bin/env python3
"""relay = no: the backend gets the service's own listening sockets (a TCP and
a unix one) as fds 3 and 4 with LISTEN_FDS=2, LISTEN_PID and LISTEN_FDNAMES
named from the listen addresses, and accepts its clients itself: it sees the
client's own address as its peer, which no relay can fake. The first
connection starts it (zeroproxy watches the listeners, accepts nothing),
status says relay: false, and after the idle stop the next connection starts
a new instance on the same sockets."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

REQ = b"GET / HTTP/1.1\r\nHost: zptest\r\nConnection: close\r\n\r\n"


def get_with_peer(addr):
    """One GET; the response and the client socket's own address."""
    with zt.connect(addr) as s:
        me = s.getsockname()
        s.sendall(REQ)
        r, _ = zt._read_response(s, b"")
    return r, me


def test(t):
    port = t.port()
    sock = t.path("web.sock")
    tcp = f"127.0.0.1:{port}"
    t.service("web", listen=[tcp, f"unix:{sock}"], relay="no", idle_timeout="500ms",
              exec=t.testd())
    t.start()
    st = t.service_status("web")
    zt.expect_eq((st["relay"], st["state"], st["pid"]), (False, "stopped", None),
                 "relay, state and pid before the first connection")

    r, me = get_with_peer(tcp)
    zt.expect_eq(r.status, 200, "first request (cold start)")
    zt.expect_eq(r.kv["peer"], f"{me[0]}:{me[1]}",
                 "the backend's peer is the client itself (nothing relayed)")
    zt.expect_eq(r.kv["listen_fds"], "2", "LISTEN_FDS")
    zt.expect_eq(r.kv["listen_fdnames"], f"127.0.0.1_{port}:{sock}", "LISTEN_FDNAMES")
    zt.expect_eq(sorted(set(r.kv["inherited_fds"].split(",")) - {"0", "1", "2"}), ["3", "4"],
                 "fds open in the backend besides 0-2")
    t.wait_log(r"web: stopped -> starting \(connection queued on 127\.0\.0\.1:%d\)" % port)
    st = t.service_status("web")
    zt.expect_eq((st["relay"], st["cold_starts"]), (False, 1), "relay and cold_starts")
    zt.expect_eq(st["connections_refused"], 0, "nothing refused")

    u = zt.http_get(f"unix:{sock}")
    zt.expect_eq((u.status, u.pid, u.kv["peer"]), (200, r.pid, "unix"),
                 "the unix listener, served by the same instance")

    zt.wait_until(lambda: not zt.pid_alive(r.pid), 10, what="the idle stop")
    t.wait_log(zt.re_idle_stop("web"))
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5,
                  what="stopped after the idle stop")
    r2, me2 = get_with_peer(tcp)
    zt.expect(r2.pid != r.pid, "a new instance after the idle stop")
    zt.expect_eq((r2.kv["peer"], r2.kv["listen_fds"]), (f"{me2[0]}:{me2[1]}", "2"),
                 "the second instance accepts the client itself, on the same sockets")


zt.run(test)
