#!/usr/bin/env python3
"""Status: every field of `zeroproxy status --json` (names, types, nulls) and
the table, after a known sequence of events: nothing yet; one echo connection
held open; closed; the idle stop; a service whose backend cannot start; a
ready=notify backend that sends STATUS=."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

FIELDS = {
    # name: allowed JSON types (None: null)
    "name": (str,), "state": (str,), "pid": (int, None), "listen": (list,),
    "connections_active": (int,), "connections_pending": (int,),
    "connections_total": (int,), "connections_refused": (int,), "cold_starts": (int,),
    "last_start_ms": (int, float, None), "start_ms_p50": (int, float, None),
    "start_ms_p99": (int, float, None), "idle_seconds": (int, float, None),
    "stop_in_seconds": (int, float, None), "uptime_seconds": (int, float, None),
    "billed_seconds": (int, float), "cpu_seconds": (int, float), "cpu_source": (str,),
    "peak_memory_bytes": (int,), "time_at_zero_ratio": (int, float),
    "bytes_in": (int,), "bytes_out": (int,), "last_exit": (str, None),
    "backend_status": (str, None), "last_error": (str, None),
    "protocol": (str,), "requests_total": (int,), "requests_active": (int,),
    "requests_ignored": (int,), "responses": (dict,), "request_ms_p50": (int, float, None),
    "request_ms_p99": (int, float, None), "connections_ignored": (int,),
}


def check_types(s):
    for k, types in FIELDS.items():
        zt.expect(k in s, f"{s.get('name')}: key {k} present")
        v = s[k]
        ok = (v is None and None in types) or any(
            t is not None and isinstance(v, t) and not isinstance(v, bool) for t in types)
        zt.expect(ok, f"{s['name']}: {k} = {v!r} has a type in {types}")
    zt.expect(s["state"] in ("stopped", "starting", "running", "stopping", "failed"),
              f"{s['name']}: state {s['state']!r}")
    zt.expect(s["cpu_source"] in ("cgroup", "rusage"), f"cpu_source {s['cpu_source']!r}")
    zt.expect(0 <= s["time_at_zero_ratio"] <= 1, "time_at_zero_ratio in 0..1")
    # tcp mode: no requests, request times null.
    zt.expect_eq(s["protocol"], "tcp", f"{s['name']}: protocol")
    zt.expect_eq(s["responses"], {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0},
                 f"{s['name']}: responses by class")
    for k in ("requests_total", "requests_active", "requests_ignored", "connections_ignored"):
        zt.expect_eq(s[k], 0, f"{s['name']}: {k} in tcp mode")
    expect_nulls(s, ("request_ms_p50", "request_ms_p99"), f"{s['name']} in tcp mode")


def expect_nulls(s, keys, what):
    for k in keys:
        zt.expect(s[k] is None, f"{what}: {k} is null (got {s[k]!r})")


def test(t):
    echo_listen = f"127.0.0.1:{t.port()}"
    echo_addr = f"127.0.0.1:{t.port()}"
    t.service("echo", listen=[echo_listen, f"unix:{t.path('echo.sock')}"],
              exec=t.testd("--listen", echo_addr, "--mode", "echo"), address=echo_addr,
              idle_timeout="2s")
    bad_listen = f"127.0.0.1:{t.port()}"
    t.service("bad", listen=bad_listen, exec=t.path("no-such-program"),
              address=f"127.0.0.1:{t.port()}")
    note_listen = t.testd_service("note", args=("--notify-delay", "20"), ready="notify",
                                  idle_timeout="1m")
    t.start()

    # 1. Nothing happened yet.
    j = t.status_json()
    zt.expect_eq(sorted(j.keys()), ["reload_error", "services"], "top-level keys")
    zt.expect(j["reload_error"] is None, "no reload error")
    zt.expect_eq([s["name"] for s in j["services"]], ["bad", "echo", "note"],
                 "services in config order")
    for s in j["services"]:
        check_types(s)
        zt.expect_eq(s["state"], "stopped", f"{s['name']}: stopped at first")
        for k in ("connections_active", "connections_pending", "connections_total",
                  "connections_refused", "cold_starts", "bytes_in", "bytes_out"):
            zt.expect_eq(s[k], 0, f"{s['name']}: {k} at first")
        expect_nulls(s, ("pid", "last_start_ms", "start_ms_p50", "start_ms_p99", "idle_seconds",
                         "stop_in_seconds", "uptime_seconds", "last_exit", "backend_status",
                         "last_error"), f"{s['name']} before anything")
        zt.expect_eq(s["billed_seconds"], 0, f"{s['name']}: nothing billed")
    e = t.service_status("echo")
    zt.expect_eq(e["listen"], [echo_listen, f"unix:{t.path('echo.sock')}"],
                 "listen as written, in order")

    # 2. One connection held open, 1000 bytes each way.
    c = zt.connect(echo_listen)
    c.sendall(b"x" * 1000)
    got = b""
    while len(got) < 1000:
        d = c.recv(65536)
        zt.expect(d, "echo answered")
        got += d
    e = t.service_status("echo")
    check_types(e)
    zt.expect_eq(e["state"], "running", "running while a connection is open")
    zt.expect(isinstance(e["pid"], int) and zt.pid_alive(e["pid"]), "pid of a live backend")
    t.track(e["pid"])
    zt.expect_eq(e["connections_active"], 1, "one active connection")
    zt.expect_eq(e["connections_total"], 1, "one connection so far")
    zt.expect_eq(e["cold_starts"], 1, "one cold start")
    for k in ("last_start_ms", "start_ms_p50", "start_ms_p99"):
        zt.expect(e[k] is not None and 0 < e[k] < 5000, f"{k} = {e[k]!r} ms")
    zt.expect_eq(e["start_ms_p50"], e["last_start_ms"], "p50 of one start is that start")
    expect_nulls(e, ("idle_seconds", "stop_in_seconds"), "with a connection open")
    zt.expect(e["uptime_seconds"] is not None and e["uptime_seconds"] >= 0, "uptime while running")
    first_pid = e["pid"]

    # 3. Closed: idle counts, the stop is scheduled.
    c.close()
    zt.wait_until(lambda: t.service_status("echo")["connections_active"] == 0, 5,
                  what="connection closed")
    time.sleep(0.3)
    e = t.service_status("echo")
    check_types(e)
    zt.expect_eq(e["bytes_in"], 1000, "bytes_in")
    zt.expect_eq(e["bytes_out"], 1000, "bytes_out")
    zt.expect(e["idle_seconds"] is not None and 0.2 <= e["idle_seconds"] < 2,
              f"idle_seconds {e['idle_seconds']!r}")
    zt.expect(e["stop_in_seconds"] is not None and 0 < e["stop_in_seconds"] <= 1.8,
              f"stop_in_seconds {e['stop_in_seconds']!r}")
    zt.expect(abs(e["idle_seconds"] + e["stop_in_seconds"] - 2) < 0.2,
              "idle + stop_in = idle_timeout")
    zt.expect_eq(e["pid"], first_pid, "same instance")

    table = t.zeroproxy("status", "-s", t.control_socket, "echo").stdout.splitlines()
    zt.expect_eq(table[0].split(), ["SERVICE", "STATE", "PID", "CONNS", "PENDING", "TOTAL", "REQS",
                                    "COLD", "LAST-START", "IDLE", "STOP-IN", "UP", "BILLED",
                                    "CPU", "SAVED"], "table header")
    zt.expect_eq(len(table), 2, "one row for status echo")
    row = table[1].split()
    zt.expect_eq(row[:8], ["echo", "running", str(first_pid), "0", "0", "1", "-", "1"],
                 "table row: name, state, pid and counts (REQS - in tcp mode)")
    zt.expect(re.fullmatch(r"\d+\.\dms|\d+\.\d\ds", row[8]), f"LAST-START {row[8]!r}")
    zt.expect(re.fullmatch(r"\d+s", row[9]) and re.fullmatch(r"\d+s", row[10]),
              f"IDLE {row[9]!r} STOP-IN {row[10]!r}")
    zt.expect(re.fullmatch(r"\d+\.\d%", row[14]), f"SAVED {row[14]!r}")
    zt.expect_eq(table[0].index("STATE"), table[1].index("running"), "columns aligned")

    # 4. The idle stop.
    zt.wait_until(lambda: t.service_status("echo")["state"] == "stopped", 6, interval=0.05,
                  what="the idle stop")
    zt.wait_until(lambda: not zt.pid_alive(first_pid), 5, what="backend gone")
    e = t.service_status("echo")
    check_types(e)
    expect_nulls(e, ("pid", "uptime_seconds", "stop_in_seconds"), "after the idle stop")
    zt.expect_eq(e["last_exit"], "exited 0", "last_exit after SIGTERM to zp-testd")
    zt.expect(e["idle_seconds"] is not None and e["idle_seconds"] >= 2, "idle since the close")
    zt.expect(2 <= e["billed_seconds"] < 10, f"billed_seconds {e['billed_seconds']!r}")
    zt.expect(e["time_at_zero_ratio"] < 1, "some time with an instance")
    zt.expect_eq(e["cold_starts"], 1, "still one cold start")
    zt.expect(e["last_error"] is None, "no error")

    # 5. A backend that cannot start.
    r = zt.try_http_get(bad_listen)
    zt.expect(r is None, "a connection to a failing service is closed")
    zt.wait_until(lambda: t.service_status("bad")["state"] == "failed", 5, what="bad failed")
    b = t.service_status("bad")
    check_types(b)
    zt.expect(b["last_error"] and "no-such-program" in b["last_error"],
              f"last_error names the program: {b['last_error']!r}")
    zt.expect(b["connections_refused"] >= 1, "the connection counted as refused")
    zt.expect_eq(b["connections_total"], 1, "and as a connection")
    zt.expect(b["pid"] is None, "no pid")
    table = t.zeroproxy("status", "-s", t.control_socket).stdout
    zt.expect(re.search(r"^bad +failed +- ", table, re.M), "table shows bad as failed")

    # 6. backend_status from a ready=notify backend's STATUS=.
    r = zt.http_get(note_listen)
    zt.expect_eq(r.status, 200, "notify backend answered")
    n = t.service_status("note")
    check_types(n)
    zt.expect(n["backend_status"] and n["backend_status"].startswith("serving"),
              f"backend_status {n['backend_status']!r}")

    # Several names, an unknown one.
    j = t.status_json("note", "echo")
    zt.expect_eq([s["name"] for s in j["services"]], ["note", "echo"], "named services, in order")
    r = t.zeroproxy("status", "-s", t.control_socket, "echo", "nope", check=False)
    zt.expect_eq((r.returncode, r.stdout, r.stderr), (1, "", "zeroproxy: unknown service nope\n"),
                 "unknown service")
    zt.expect_eq(t.stop(), 0, "exit status on SIGTERM")


zt.run(test)
