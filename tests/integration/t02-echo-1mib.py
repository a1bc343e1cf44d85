#!/usr/bin/env python3
"""1 MiB of random bytes through zeroproxy to an echo backend and back, byte-exact,
on the cold-start connection and again on a warm one."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen = t.testd_service("echo", args=["--mode", "echo"], idle_timeout="1m")
    t.start()
    for what in ("cold", "warm"):
        data = os.urandom(1 << 20)
        back = zt.echo_roundtrip(listen, data, timeout=30)
        zt.expect_eq(len(back), len(data), f"{what}: bytes echoed")
        zt.expect(back == data, f"{what}: echoed bytes differ from those sent")
    t.expect_log_count(zt.re_starting("echo"), 1, "starts")


zt.run(test)
