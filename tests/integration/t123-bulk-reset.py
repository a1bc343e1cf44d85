#!/usr/bin/env python3
"""Resets in the middle of a spliced transfer, over TCP and unix sockets: a
client that resets its upload halfway (the backend reading slowly, so bytes
sit in the relay's pipe), and a backend that resets after sending 8 MiB to a
client that reads slowly. The daemon survives, the connection's fds and pipes
are all closed (its /proc fd list is back to what it was), and the next
transfer is exact."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402
import zpbulk  # noqa: E402


def test(t):
    listens = {}
    for unix in (False, True):
        listens[unix], _ = zpbulk.bulk_service(t, name="unix" if unix else "tcp", unix=unix,
                                               idle_timeout="1m")
    t.start()
    pid = t.daemon_pid
    for unix, listen in listens.items():
        name = "unix" if unix else "tcp"
        zpbulk.upload(listen, 16)  # the backend is up
        base = zpbulk.settled_fds(t, name)

        # the client resets halfway through a slow upload
        s = zt.connect(listen, 10)
        s.sendall(b"RECV 67108864 slow\n")
        s.sendall(zpbulk.pattern(4 << 20))
        base_pipes = sum(1 for f in base if f.startswith("pipe:"))
        zt.wait_until(lambda: zpbulk.pipes(pid) > base_pipes, 10,
                      what=f"{name}: the upload spliced before the reset")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        zt.wait_until(lambda: sorted(zpbulk.fds(pid)) == base, 10,
                      what=f"{name}: every fd of the reset upload closed")

        # the backend resets after 8 MiB to a slow client
        s = zt.connect(listen, 10)
        s.sendall(b"RST 8388608\n")
        got, err = 0, None
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += len(d)
                time.sleep(0.001)
        except ConnectionResetError as e:
            err = e
        s.close()
        zt.expect(got <= 8 << 20, f"{name}: no more than was sent arrived ({got})")
        zt.wait_until(lambda: sorted(zpbulk.fds(pid)) == base, 10,
                      what=f"{name}: every fd of the reset download closed")
        zt.expect(t.daemon_alive(), "the daemon survived the resets")
        zpbulk.upload(listen, 1 << 20)
        zpbulk.download(listen, 1 << 20)
        zt.wait_until(lambda: sorted(zpbulk.fds(pid)) == base, 10,
                      what=f"{name}: nothing left open after the next transfers")


zt.run(test)
