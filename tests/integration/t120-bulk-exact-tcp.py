#!/usr/bin/env python3
"""Bulk relay over TCP, byte-exact: 0, 1, 16 KiB - 1, 16 KiB, 16 KiB + 1,
1 MiB and 64 MiB, each way. Upstream the client half-closes and then reads the
backend's answer; downstream the backend half-closes and then reads the bytes
the client sends after that EOF. bytes_in / bytes_out count every byte. The
large ones splice (the relay takes a pipe for them)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402
import zpbulk  # noqa: E402


def test(t):
    zpbulk.exact_test(t, unix=False)


zt.run(test)
