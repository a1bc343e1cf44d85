#!/usr/bin/env python3
"""At its file descriptor budget the daemon stops accepting, and clients wait
in the kernel's listen queue. A reload restarts every listener: those must
stay paused while the budget is still used up (each reload used to accept one
more client per listener, past the budget, eating the fds kept in reserve);
once clients close, the queued ones are served."""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

LIMIT = 64
RELOADS = 4
QUEUED = 3


def test(t):
    if not shutil.which("prlimit"):
        zt.skip("no prlimit")
    listen = t.testd_service("web", idle_timeout="1m", args=["--quiet"])
    t.start(wrapper=["prlimit", f"--nofile={LIMIT}:{LIMIT}", "--"])
    line = t.wait_log(r"RLIMIT_NOFILE \d+ allows \d+ client connections")
    budget = int(re.search(r"allows (\d+) client", line).group(1))
    zt.expect(2 <= budget < 30, f"a budget of {budget} connections at RLIMIT_NOFILE {LIMIT}")

    held = []
    for i in range(budget):
        c = zt.HttpConn(listen)
        zt.expect_eq(c.get(f"/{i}").status, 200, f"request {i} of {budget}")
        held.append(c)
    t.wait_log(r"file descriptor limit allows no more")

    # The kernel completes these connections; the daemon must not accept them.
    queued = [zt.HttpConn(listen) for _ in range(QUEUED)]
    for c in queued:
        c.send_request("/queued")

    def open_conns():
        st = t.service_status("web")
        return st["connections_active"] + st["connections_pending"]

    time.sleep(0.3)
    zt.expect_eq(open_conns(), budget, "connections open at the budget, before the reloads")
    for n in range(1, RELOADS + 1):
        t.signal(signal.SIGHUP)
        t.wait_log(r"\breloaded: ", count=n, timeout=10)
    time.sleep(0.5)
    zt.expect_eq(open_conns(), budget,
                 f"connections open after {RELOADS} reloads (the budget is {budget})")
    for c in queued:
        c.sock.setblocking(False)
        try:
            d = c.sock.recv(1)
        except BlockingIOError:
            continue
        zt.fail(f"a queued client got {'EOF' if not d else 'an answer'} while out of budget")

    # Room again: every queued client is served.
    for c in held:
        c.close()
    for i, c in enumerate(queued):
        c.sock.settimeout(10)
        zt.expect_eq(c.read_response().status, 200, f"queued client {i}")
        c.close()
    zt.expect(t.daemon_alive(), "daemon alive")


zt.run(test)
