#!/usr/bin/env python3
"""Half-close: a client that writes, shuts down its write side and waits still
receives every byte and then EOF (zeroproxy forwards the EOF with SHUT_WR
after flushing, and keeps the other direction open)."""
import socket
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen = t.testd_service("echo", args=["--mode", "echo"], idle_timeout="1m")
    t.start()
    data = os.urandom(200 * 1024)
    with zt.connect(listen, 10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.3)  # the reverse direction must stay open meanwhile
        got = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    zt.expect_eq(len(got), len(data), "bytes received after our half-close")
    zt.expect(bytes(got) == data, "bytes differ")
    # nothing sent at all: EOF straight through both ways
    zt.expect_eq(zt.echo_roundtrip(listen, b""), b"", "empty half-closed exchange")


zt.run(test)
