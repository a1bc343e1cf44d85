#!/usr/bin/env python3
"""Regression: a ready = notify backend whose STATUS= carries bytes that are
not UTF-8. They went into `zeroproxy status --json` as they were, and the
output was not JSON (JSON text is UTF-8). Now it parses with Python's strict
json module, valid UTF-8 is kept, and the invalid byte shows as U+FFFD."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

BACKEND = r'''
import os, socket, sys, time
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=ok \xc3\xa9 bad \xff end", addr)
sys.stderr.write("notified\n")
sys.stderr.flush()
time.sleep(60)
'''


def test(t):
    script = t.path("backend.py")
    with open(script, "w") as f:
        f.write(BACKEND)
    t.service("web", listen=f"127.0.0.1:{t.port()}", address=f"127.0.0.1:{t.port()}",
              ready="notify", idle_timeout="1m", stop_timeout="1s",
              exec=f"{sys.executable} {script}")
    t.start()
    t.zeroproxy("start", "-s", t.control_socket, "web")
    t.wait_log(zt.re_running("web"))

    r = subprocess.run([zt.ZEROPROXY, "status", "--json", "-s", t.control_socket],
                       capture_output=True, timeout=10)
    zt.expect_eq(r.returncode, 0, "zeroproxy status --json exit status")
    try:
        doc = json.loads(r.stdout)  # bytes: decoded as strict UTF-8
    except ValueError as e:
        zt.fail(f"status --json is not JSON ({e}): {r.stdout[:300]!r}")
    web = [s for s in doc["services"] if s["name"] == "web"]
    zt.expect_eq(len(web), 1, "services named web")
    t.track(web[0]["pid"])
    zt.expect_eq(web[0]["backend_status"], "ok \u00e9 bad \ufffd end", "backend_status")


zt.run(test)
