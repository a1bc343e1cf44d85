#!/usr/bin/env python3
"""A backend that closes every connection the moment it accepts it (a small
inline Python server): each client sees EOF promptly (no data, no hang),
whether it sent a request or nothing, 30 times over; the daemon stays healthy
(the service keeps running on the same instance, connections_active returns
to 0, status answers), and a normal service beside it is not disturbed."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

BACKEND = r"""
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
host, port = sys.argv[1].rsplit(":", 1)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((host, int(port)))
l.listen(128)
while True:
    c, _ = l.accept()
    c.close()
"""


def test(t):
    script = t.path("closer.py")
    with open(script, "w") as f:
        f.write(BACKEND)
    addr = f"127.0.0.1:{t.port()}"
    closer = f"127.0.0.1:{t.port()}"
    t.service("closer", listen=closer, exec=f"{sys.executable} {script} {addr}", address=addr,
              idle_timeout="1m")
    web = t.testd_service("web", idle_timeout="1m")
    t.start()

    for i in range(30):
        s = zt.connect(closer)
        if i % 2:
            try:
                s.sendall(b"GET / HTTP/1.1\r\nHost: zptest\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
        took = zt.expect_closed(s, within=3,
                                what=f"client {i} of a backend that closes at once")
        s.close()
        if i:
            zt.expect(took < 1.0, f"client {i} saw EOF only after {took:.3f}s")
        if i == 0:
            t.wait_log(zt.re_running("closer"))
            pid = t.service_status("closer")["pid"]
            t.track(pid)

    zt.expect(t.daemon_alive(), "daemon alive")
    zt.wait_until(lambda: t.service_status("closer")["connections_active"] == 0, 3,
                  interval=0.05, what="closer: connections_active back to 0")
    st = t.service_status("closer")
    zt.expect_eq((st["state"], st["pid"], st["cold_starts"]), ("running", pid, 1),
                 "closer: still the one running instance")
    zt.expect(st["connections_total"] >= 30, f"closer: connections_total {st['connections_total']}")
    zt.expect_eq(zt.http_get(web).status, 200, "the other service serves")
    # The answer is read before zeroproxy has seen both sides close: wait for it.
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == 0, 3, interval=0.05,
                  what="web: no connection left")


zt.run(test)
