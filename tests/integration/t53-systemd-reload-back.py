#!/usr/bin/env python3
"""Regression: listen = systemd:a under systemd-socket-activate, a reload to a
TCP address and a reload back to systemd:a. The reload away used to close the
socket systemd passed; its fd number went to the new TCP listener, and the
reload back adopted that (wrong, then closed) socket: the systemd port was
dead. Now the daemon keeps the systemd socket, stays up, and serves through it
again after the reload back (and through the TCP address in between)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        zt.skip("systemd-socket-activate is not installed")
    sd = f"127.0.0.1:{t.port()}"
    tcp = f"127.0.0.1:{t.port()}"
    addr = f"127.0.0.1:{t.port()}"

    def web(listen):
        t.service("web", listen=listen, address=addr, idle_timeout="1m",
                  exec=t.testd("--listen", addr))

    web("systemd:a")
    t.start(wait_ready=False, wrapper=[tool, "-l", sd, "--fdname=a", "-E", "NOTIFY_SOCKET"])
    r = zt.wait_until(lambda: zt.try_http_get(sd, timeout=10), 10, interval=0.05,
                      what="an answer on the socket-activated port")
    zt.expect_eq(r.status, 200, "request through the systemd socket")
    t.wait_ready(5)
    pid = r.pid

    web(tcp)
    t.zeroproxy("reload", "-s", t.control_socket)
    zt.expect(t.daemon_alive(), "zeroproxy survives the reload to a TCP address")
    zt.expect_eq(t.service_status("web")["listen"], [tcp], "listen after the first reload")
    zt.expect_eq(zt.http_get(tcp).pid, pid, "request through the TCP listener")

    web("systemd:a")
    t.zeroproxy("reload", "-s", t.control_socket)
    zt.expect(t.daemon_alive(), "zeroproxy survives the reload back to systemd:a")
    zt.expect_eq(t.service_status("web")["listen"], ["systemd:a"], "listen after the reload back")
    r = zt.try_http_get(sd, timeout=5)
    zt.expect(r is not None, "no answer through the systemd socket after the reload back")
    zt.expect_eq((r.status, r.pid), (200, pid), "request through the systemd socket again")
    zt.expect(zt.try_http_get(tcp, timeout=2) is None, "the TCP listener is closed")
    zt.expect_eq(t.service_status("web")["connections_total"], 3, "connections_total")


zt.run(test)
