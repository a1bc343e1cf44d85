#!/usr/bin/env python3
"""The fd budget with pipes in use: under RLIMIT_NOFILE 48, four stalled
downloads (the client does not read) each hold a splice pipe, which the budget
counts like a connection. More clients than the rest of the budget holds
arrive: the listeners pause at the budget (said in the log) before any
accept, connect or pipe2 meets EMFILE, none of those clients is
closed unanswered, and once the stalled downloads go every one of them is
served exactly. Afterwards the daemon's fds are what they were before: no
socket and no pipe leaked."""
import os
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402
import zpbulk  # noqa: E402

LIMIT = 48
STALLED = 4
LATE = 30
BUDGET_FULL = r"file descriptor limit allows no more"


def test(t):
    if not shutil.which("prlimit"):
        zt.skip("no prlimit")
    listen, _ = zpbulk.bulk_service(t, idle_timeout="1m", max_connections=200)
    t.start(wrapper=["prlimit", f"--nofile={LIMIT}:{LIMIT}", "--"])
    pid = t.daemon_pid
    zpbulk.upload(listen, 16)
    base = zpbulk.settled_fds(t, "bulk")
    base_pipes = sum(1 for f in base if f.startswith("pipe:"))

    stalled = []
    for _ in range(STALLED):
        s = zt.connect(listen, 10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"SEND 67108864\n")
        stalled.append(s)
    zt.wait_until(lambda: zpbulk.pipes(pid) >= base_pipes + 2 * STALLED, 10,
                  what=f"{STALLED} stalled downloads splicing")
    mark = t.mark()
    late = []
    for i in range(LATE):
        s = zt.connect(listen, 30)  # completes in the kernel's queue
        s.sendall(b"RECV 100000\n" + zpbulk.pattern(100000))
        s.shutdown(socket.SHUT_WR)
        late.append(s)
    t.wait_log(BUDGET_FULL, since=mark, timeout=10)
    zt.expect(t.daemon_alive(), "daemon alive at its fd budget")
    for s in stalled:
        s.close()
    for i, s in enumerate(late):
        got = zpbulk.read_answer(s)
        s.close()
        zt.expect_eq(got, zpbulk.answer(100000), f"late client {i}: answer after the budget freed up")
    t.expect_no_log(r"Too many open files", since=mark)
    zt.wait_until(lambda: zpbulk.settled_fds(t, "bulk") == base, 10,
                  what="the daemon's fds back to what they were (no socket or pipe leaked)")


zt.run(test)
