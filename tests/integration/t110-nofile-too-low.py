#!/usr/bin/env python3
"""Too few file descriptors at start-up: started with a hard RLIMIT_NOFILE of 7
(soft = hard), zeroproxy exits 1 with a clear error that says how many it needs
and how many it got, before it touches any state file: an intact web.usage is
left byte for byte, nothing moved aside, no temp file. (It used to abort with
SIGABRT inside libev, after renaming that file to web.usage.corrupt-* because
it could not open it: EMFILE taken for damage.) Started again with exactly the
number it asked for, it runs, serves a cold start and counts on from the
file's figures.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t110-nofile-too-low.py"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

NEED = re.compile(r"RLIMIT_NOFILE: this configuration needs at least (\d+) file descriptors, "
                  r"the limit is (\d+)")


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def usage_text():
    now = int(time.time() * 1e6)
    body = ("zeroproxy-usage 1\nconnections_total 41\nconnections_refused 2\ncold_starts 7\n"
            "billed_usec 12345678\ncpu_usec 2500000\npeak_memory_bytes 4096000\n"
            "bytes_in 1000\nbytes_out 2000\n"
            f"first_seen_wall_usec {now - 100 * 1000000}\n"
            "start_buckets 0 0 0 1 2 4 0 0 0 0 0 0 0 0\nstart_count 7\n"
            "start_sum_usec 100000\nstart_samples 3 1000 2000 3000\nlast_start_usec 3000\n"
            "last_exit killed by SIGKILL\n")
    return (body + f"end {fnv1a(body.encode()):08x}\n").encode()


def with_nofile(n):
    """A wrapper command that sets RLIMIT_NOFILE to n:n, then execs the daemon."""
    return [sys.executable, "-c",
            "import os, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, ({n}, {n})); "
            "os.execv(sys.argv[1], sys.argv[1:])"]


def test(t):
    web = t.testd_service("web", idle_timeout="200ms")
    state = t.path("state")
    os.mkdir(state)
    path = os.path.join(state, "web.usage")
    good = usage_text()
    with open(path, "wb") as f:
        f.write(good)

    # 1. Seven fds: a clear error, exit 1, the state file untouched.
    t.start(wait_ready=False, wrapper=with_nofile(7))
    try:
        rc = t.daemon.wait(10)
    except Exception:
        raise zt.Fail("zeroproxy still runs with RLIMIT_NOFILE 7")
    zt.expect_eq(rc, 1, "exit status with RLIMIT_NOFILE 7 (not SIGABRT, -6)")
    line = t.wait_log(NEED.pattern)
    m = NEED.search(line)
    need, got = int(m.group(1)), int(m.group(2))
    zt.expect_eq(got, 7, f"the error names the limit it got: {line!r}")
    zt.expect(need > 7, f"and needs more than that: {line!r}")
    t.wait_log(r"not starting")
    t.expect_no_log(r"usage file|Aborted|libev")
    with open(path, "rb") as f:
        zt.expect_eq(f.read(), good, "web.usage left byte for byte")
    zt.expect_eq(sorted(os.listdir(state)), ["web.usage"], "nothing moved aside, no temp file")
    zt.expect_eq(t.notify.count("READY", "1"), 0, "no READY=1")

    # 2. Exactly what it asked for is enough: it runs, serves, counts on.
    t.daemon = None
    mark = t.mark()
    t.start(wrapper=with_nofile(need))
    t.expect_no_log(NEED.pattern, since=mark)
    r = zt.http_get(web)
    zt.expect_eq(r.status, 200, f"a cold start with RLIMIT_NOFILE {need}")
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.02,
                  what="the idle stop")
    s = t.service_status("web")
    zt.expect_eq((s["connections_total"], s["cold_starts"]), (42, 8),
                 "counting on from the file's figures")
    zt.expect_eq(t.stop(), 0, "exit status on SIGTERM")
    with open(path, "rb") as f:
        zt.expect(b"\ncold_starts 8\n" in f.read(), "the file written at the stop")
    zt.expect_eq(sorted(os.listdir(state)), ["web.usage"], "still nothing beside it")


zt.run(test)
