#!/usr/bin/env python3
"""Metering with bad state files: garbage (binary and text), a file cut short,
a checksum mismatch and an empty file are each reported in the log, moved
aside to NAME.usage.corrupt-TIME (content kept byte for byte), and the service
starts afresh with zero figures, works, and writes a good file at its next
stop. A directory in the file's place is no content that failed a check: it is
reported, left where it is and never written over, and the service works all
the same. A valid file written by hand (with an unknown key a newer version
might add) is loaded as is: the rejections are about the damage, not the
format.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t75-corrupt-state.py"""
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def usage_text(**over):
    """A valid usage file (version 1) with the given values."""
    now = int(time.time() * 1e6)
    v = {
        "connections_total": 41, "connections_refused": 2, "cold_starts": 7,
        "billed_usec": 12345678, "cpu_usec": 2500000, "peak_memory_bytes": 4096000,
        "bytes_in": 1000, "bytes_out": 2000, "first_seen_wall_usec": now - 100 * 1000000,
        "start_buckets": "0 0 0 1 2 4 0 0 0 0 0 0 0 0", "start_count": 7,
        "start_sum_usec": 100000, "future_key": "1 2 3", "start_samples": "3 1000 2000 3000",
        "last_start_usec": 3000, "last_exit": "killed by SIGKILL",
    }
    v.update(over)
    body = "zeroproxy-usage 1\n" + "".join(f"{k} {x}\n" for k, x in v.items())
    return (body + f"end {fnv1a(body.encode()):08x}\n").encode()


def check_file(path):
    """Fail unless path is a well-formed usage file; its values as a dict."""
    with open(path, "rb") as f:
        data = f.read()
    zt.expect(data.endswith(b"\n"), f"{path} ends with a newline")
    body, _, last = data[:-1].rpartition(b"\n")
    zt.expect(last.startswith(b"end "), f"{path} ends with its end line")
    zt.expect_eq(int(last[4:], 16), fnv1a(body + b"\n"), f"{path} checksum")
    return dict(ln.partition(" ")[::2] for ln in body.decode().splitlines()[1:])


def test(t):
    good = usage_text()
    random.seed(6)
    bad = {
        "binary": bytes(random.randrange(256) for _ in range(300)),
        "text": b"this is not a usage file\nat all\n",
        "cut": good[:len(good) // 2],
        "badsum": good.replace(b"cold_starts 7", b"cold_starts 9"),
        "empty": b"",
    }
    state = t.path("state")
    os.mkdir(state)
    listens = {}
    for n, data in bad.items():
        listens[n] = t.testd_service(n, idle_timeout="200ms")
        with open(os.path.join(state, n + ".usage"), "wb") as f:
            f.write(data)
    listens["dir"] = t.testd_service("dir", idle_timeout="200ms")
    os.mkdir(os.path.join(state, "dir.usage"))
    with open(os.path.join(state, "dir.usage", "inside"), "w") as f:
        f.write("x\n")
    listens["good"] = t.testd_service("good", idle_timeout="200ms")
    with open(os.path.join(state, "good.usage"), "wb") as f:
        f.write(good)
    t.start()

    files = os.listdir(state)
    for n, data in bad.items():
        line = t.wait_log(rf"\b{n}: usage file: ")
        zt.expect(re.search(rf"{re.escape(state)}/{n}\.usage\b.*moved aside to "
                            rf"{re.escape(state)}/{n}\.usage\.corrupt-\d+", line),
                  f"{n}: the log says what was moved where: {line!r}")
        zt.expect_eq(line.count("starting afresh"), 1, f"{n}: 'starting afresh' said once in "
                     f"{line!r}")
        aside = [f for f in files if re.fullmatch(rf"{n}\.usage\.corrupt-\d+", f)]
        zt.expect_eq(len(aside), 1, f"{n}: one file moved aside ({files})")
        zt.expect(not os.path.exists(os.path.join(state, n + ".usage")),
                  f"{n}: the bad file is no longer in place")
        with open(os.path.join(state, aside[0]), "rb") as f:
            zt.expect_eq(f.read(), data, f"{n}: the moved file keeps its content")
    for n in list(bad) + ["dir"]:
        s = t.service_status(n)
        for k in ("connections_total", "connections_refused", "cold_starts", "bytes_in",
                  "bytes_out", "billed_seconds", "cpu_seconds", "peak_memory_bytes"):
            zt.expect_eq(s[k], 0, f"{n}: {k} afresh")
        for k in ("last_exit", "last_start_ms", "start_ms_p50"):
            zt.expect(s[k] is None, f"{n}: {k} null afresh")
        zt.expect_eq(s["time_at_zero_ratio"], 1, f"{n}: at zero since now")
    line = t.wait_log(r"\bdir: usage file: ")
    zt.expect(re.search(rf"{re.escape(state)}/dir\.usage: cannot read: Is a directory; left as "
                        r"it is", line), f"dir: the log says it is left alone: {line!r}")
    zt.expect("moved aside" not in line and "corrupt" not in line,
              f"dir: nothing moved aside: {line!r}")
    zt.expect_eq(os.listdir(os.path.join(state, "dir.usage")), ["inside"], "dir: left in place")
    t.expect_no_log(r"\bgood: usage file")
    zt.expect(os.path.exists(os.path.join(state, "good.usage")), "good file left in place")

    # The good file is loaded as written.
    g = t.service_status("good")
    want = {"connections_total": 41, "connections_refused": 2, "cold_starts": 7,
            "billed_seconds": 12.346, "cpu_seconds": 2.5, "peak_memory_bytes": 4096000,
            "bytes_in": 1000, "bytes_out": 2000, "last_exit": "killed by SIGKILL",
            "last_start_ms": 3.0, "start_ms_p50": 2.0, "start_ms_p99": 3.0}
    for k, v in want.items():
        zt.expect(g[k] == v or (isinstance(v, float) and abs(g[k] - v) < 0.0011),
                  f"good: {k} loaded: expected {v!r}, got {g[k]!r}")
    zt.expect(abs(g["time_at_zero_ratio"] - (1 - 12.345678 / 100)) < 0.02,
              f"good: time_at_zero_ratio {g['time_at_zero_ratio']} from first_seen 100 s ago")

    # Every service works and writes a good file at its stop.
    for n, listen in listens.items():
        r = zt.http_get(listen)
        zt.expect_eq(r.status, 200, f"{n}: works")
    for n in listens:
        zt.wait_until(lambda: t.service_status(n)["state"] == "stopped", 5, interval=0.02,
                      what=f"{n}'s idle stop")
        s = t.service_status(n)
        if n == "dir":
            zt.expect_eq(s["cold_starts"], 1, "dir: counted in memory")
            continue
        base = 7 if n == "good" else 0
        # The writer thread saves shortly after the stop.
        path = os.path.join(state, n + ".usage")
        zt.wait_until(lambda: os.path.exists(path) and
                      check_file(path).get("cold_starts") == str(base + 1), 5,
                      what=f"{n}: the file written at the stop")
        u = check_file(path)
        zt.expect_eq((s["cold_starts"], int(u["cold_starts"])), (base + 1, base + 1),
                     f"{n}: cold starts in status and file")
        zt.expect_eq(int(u["connections_total"]), s["connections_total"],
                     f"{n}: connections in the file")
        zt.expect_eq(u["last_exit"], "exited 0", f"{n}: last_exit in the file")
    # Still unreadable at the stop's save: reported again, never written over.
    t.wait_log(r"\bdir: usage file: .*cannot read: Is a directory", count=2)
    zt.expect_eq(os.listdir(os.path.join(state, "dir.usage")), ["inside"],
                 "dir: still in place after the save")
    zt.expect_eq([f for f in os.listdir(state) if f.startswith("dir.")], ["dir.usage"],
                 "dir: no temp or corrupt file beside it")
    zt.expect(t.daemon_alive(), "zeroproxy still running")


zt.run(test)
