#!/usr/bin/env python3
"""listen = systemd:web takes the socket systemd passes with that name: the
daemon runs under systemd-socket-activate --fdname=web (which execs it on the
first connection; that connection waits in the queue and is served)."""
import shutil
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        zt.skip("systemd-socket-activate is not installed")
    port = t.port()
    t.testd_service("web", listen="systemd:web", idle_timeout="1m")
    t.start(wait_ready=False,
            wrapper=[tool, "-l", f"127.0.0.1:{port}", "--fdname=web", "-E", "NOTIFY_SOCKET"])
    r = zt.wait_until(lambda: zt.try_http_get(f"127.0.0.1:{port}", timeout=10), 10,
                      interval=0.05, what="an answer on the socket-activated port")
    zt.expect_eq(r.status, 200, "request through the systemd socket")
    t.wait_ready(5)
    zt.expect_eq(zt.http_get(f"127.0.0.1:{port}").pid, r.pid, "second request")


zt.run(test)
