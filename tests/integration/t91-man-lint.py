#!/usr/bin/env python3
"""t91 — the man pages are clean under `mandoc -Tlint -Wwarning`, and they
(and the shipped example configuration) mention every key of the configuration."""

import os
import re
import shutil
import subprocess

import zptest as zt

SRCDIR = os.environ.get("ZP_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

GLOBAL_KEYS = ("services_dir", "control_socket", "state_dir", "log_level", "metrics_listen",
               "capacity")
SERVICE_KEYS = ("listen", "idle_timeout", "max_connections", "max_pending", "pending_timeout",
                "connection_idle_timeout", "exec", "address", "ready", "start_timeout",
                "stop_signal", "stop_timeout", "user", "group", "working_directory",
                "environment", "ready_command", "kill_mode", "relay", "freeze_after",
                "group_weight", "protocol", "ready_path", "max_header_size", "wake_on",
                "idle_ignore", "idle_ignore_status", "loading_page", "loading_page_after", "host")
JSON_FIELDS = ("name", "state", "pid", "listen", "connections_active", "connections_pending",
               "connections_total", "connections_refused", "cold_starts", "last_start_ms",
               "start_ms_p50", "start_ms_p99", "idle_seconds", "stop_in_seconds",
               "uptime_seconds", "billed_seconds", "cpu_seconds", "cpu_source",
               "peak_memory_bytes", "time_at_zero_ratio", "bytes_in", "bytes_out",
               "last_exit", "backend_status", "last_error", "ready_ms", "relay",
               "frozen_seconds", "thaws", "last_thaw_ms",
               "group", "group_weight", "group_capacity", "group_used", "group_evictions",
               "protocol", "requests_total", "requests_active", "requests_ignored", "responses",
               "request_ms_p50", "request_ms_p99", "connections_ignored", "hosts")


def read(*parts):
    with open(os.path.join(SRCDIR, *parts)) as f:
        return f.read()


def test(t):
    pages = [os.path.join(SRCDIR, "man", p) for p in ("zeroproxy.8", "zeroproxy.conf.5")]
    conf5, man8 = read("man", "zeroproxy.conf.5"), read("man", "zeroproxy.8")
    for k in GLOBAL_KEYS + SERVICE_KEYS:
        zt.expect(re.search(rf"^\.It Cm {k}\b", conf5, re.M), f"zeroproxy.conf.5 describes {k}")
    for f in JSON_FIELDS:
        zt.expect(re.search(rf"\bCm {f}\b", man8), f"zeroproxy.8 describes JSON field {f}")
    for c in ("run", "check", "status", "start", "stop", "reload"):
        zt.expect(re.search(rf"^\.It Cm {c}\b", man8, re.M), f"zeroproxy.8 describes {c}")
    example = read("conf", "services.d", "example.conf.example")
    for k in SERVICE_KEYS:
        zt.expect(re.search(rf"^;?{k} *=", example, re.M), f"example.conf.example shows {k}")
    glob = read("conf", "zeroproxy.conf")
    for k in GLOBAL_KEYS:
        zt.expect(re.search(rf"^;?{k} *=", glob, re.M), f"zeroproxy.conf shows {k}")

    mandoc = shutil.which("mandoc")
    if not mandoc:
        zt.skip("mandoc not installed (apt-get install mandoc); content checks passed")
    r = subprocess.run([mandoc, "-Tlint", "-Wwarning", *pages], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    for line in r.stdout.splitlines():
        print(f"#   {line}")
    zt.expect(r.returncode == 0 and not r.stdout.strip(),
              f"mandoc -Tlint -Wwarning: exit {r.returncode}, {len(r.stdout.splitlines())} messages")


zt.run(test)
