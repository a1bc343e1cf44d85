#!/usr/bin/env python3
"""Slow readers on either side of a bulk transfer: the client reads a 6 MiB
download slowly, and the backend reads a 6 MiB upload slowly. The relay
splices them (a pipe shows in its fds while they run), reads only while the
pipe has room (zeroproxy's RSS grows by less than 4 MiB, well under the
transfer), and every byte arrives; afterwards its pipes are gone."""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402
import zpbulk  # noqa: E402

N = 6 << 20


def test(t):
    for unix in (False, True):
        name = "unix" if unix else "tcp"
        listen, _ = zpbulk.bulk_service(t, name=name, unix=unix, idle_timeout="1m")
    t.start()
    pid = t.daemon_pid
    for unix in (False, True):
        name = "unix" if unix else "tcp"
        listen = f"unix:{t.path('unix.sock')}" if unix else None
        if not unix:
            listen = re.search(r"listen = (\S+)", open(t.path("services.d", "tcp.conf")).read())[1]
        zpbulk.upload(listen, 16)  # the backend is up: the baseline is the steady state
        zpbulk.settled_fds(t, name)
        base_rss, base_pipes = t.rss_kib(), zpbulk.pipes(pid)
        seen = {"rss": 0, "pipes": 0}

        def sample(_got=0):
            seen["rss"] = max(seen["rss"], t.rss_kib())
            seen["pipes"] = max(seen["pipes"], zpbulk.pipes(pid))

        zpbulk.download(listen, N, slow=True, during=sample)
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                sample()
                time.sleep(0.02)
        th = threading.Thread(target=sampler)
        th.start()
        try:
            zpbulk.upload(listen, N, slow=True)
        finally:
            stop.set()
            th.join()
        zt.expect(seen["pipes"] > base_pipes,
                  f"{name}: the bulk directions spliced (pipes seen {seen['pipes']}, "
                  f"{base_pipes} before)")
        zt.expect(seen["rss"] - base_rss < 4096,
                  f"{name}: RSS grew by {seen['rss'] - base_rss} KiB for {N >> 20} MiB relayed "
                  "to slow readers")
        zt.wait_until(lambda: zpbulk.pipes(pid) == base_pipes, 5,
                      what=f"{name}: the pipes released after the transfers")


zt.run(test)
