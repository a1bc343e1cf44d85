#!/usr/bin/env python3
"""protocol = http against real clients: curl (several URLs on one keep-alive
connection, HEAD, a chunked upload), and wrk (keep-alive load on a few
connections) when installed: every answer right, and zeroproxy's counts agree
with what the clients saw."""
import os
import re
import shutil
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def svc(t):
    return t.status_json("web")["services"][0]


def test(t):
    curl, wrk = shutil.which("curl"), shutil.which("wrk")
    if not curl and not wrk:
        zt.skip("neither curl nor wrk installed")
    listen = t.testd_service("web", protocol="http", idle_timeout="1h")
    t.start()
    base = f"http://{listen}"
    expected = 0
    if curl:
        r = subprocess.run([curl, "-sS", "--max-time", "20", "-w", "%{num_connects}\n",
                            f"{base}/c/1", f"{base}/c/2", f"{base}/c/3"],
                           capture_output=True, text=True, timeout=30)
        zt.expect_eq(r.returncode, 0, f"curl: {r.stderr.strip()}")
        for i in (1, 2, 3):
            zt.expect(f"path=/c/{i}\n" in r.stdout, f"curl got /c/{i}")
        zt.expect_eq(re.findall(r"^(\d+)$", r.stdout, re.M), ["1", "0", "0"],
                     "curl's connects (the 2nd and 3rd URL reuse the 1st connection)")
        r = subprocess.run([curl, "-sS", "--max-time", "20", "-I", f"{base}/bytes/123"],
                           capture_output=True, text=True, timeout=30)
        zt.expect_eq(r.returncode, 0, f"curl -I: {r.stderr.strip()}")
        zt.expect("Content-Length: 123" in r.stdout, f"curl -I headers: {r.stdout!r}")
        data = os.urandom(3 * 1024 * 1024 + 17)
        body = t.path("upload.bin")
        with open(body, "wb") as f:
            f.write(data)
        r = subprocess.run([curl, "-sS", "--max-time", "20", "-H", "Transfer-Encoding: chunked",
                            "--data-binary", f"@{body}", f"{base}/sum"],
                           capture_output=True, text=True, timeout=30)
        zt.expect_eq(r.returncode, 0, f"curl upload: {r.stderr.strip()}")
        zt.expect_eq(r.stdout, f"length={len(data)}\ncrc32={zlib.crc32(data):08x}\n",
                     "curl's chunked upload as the backend saw it")
        expected += 5
        zt.wait_until(lambda: svc(t)["requests_total"] == expected, 5,
                      what=f"{expected} requests counted")
    if wrk:
        before = svc(t)
        r = subprocess.run([wrk, "-t1", "-c4", "-d1s", f"{base}/"], capture_output=True,
                           text=True, timeout=60)
        zt.expect_eq(r.returncode, 0, f"wrk: {r.stderr.strip()}")
        m = re.search(r"(\d+) requests in", r.stdout)
        zt.expect(m is not None, f"wrk's output: {r.stdout!r}")
        done = int(m.group(1))
        zt._note(f"wrk: {done} requests in 1s on 4 connections")
        zt.expect("Non-2xx" not in r.stdout, f"wrk saw errors: {r.stdout!r}")
        zt.expect(done > 0, "wrk completed no request")
        zt.wait_until(lambda: svc(t)["connections_active"] == 0, 10, what="wrk's connections closed")
        after = svc(t)
        n = after["requests_total"] - before["requests_total"]
        ok = after["responses"]["2xx"] - before["responses"]["2xx"]
        # wrk may cut requests in flight when its time is up: those count
        # unanswered.
        zt.expect(done <= ok <= done + 4, f"2xx counted {ok}, wrk completed {done}")
        zt.expect(ok <= n <= ok + 4, f"requests counted {n}, answered {ok}")
        zt.expect_eq(after["requests_active"], 0, "requests_active after wrk")
    else:
        zt._note("wrk not installed: its part skipped")


zt.run(test)
