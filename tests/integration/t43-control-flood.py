#!/usr/bin/env python3
"""100 control clients at once: 100 raw connections opened before any sends its
request, then 100 `zeroproxy status --json` processes started together. Every
client gets either a complete answer (valid JSON) or the clean refusal "error
too many clients" (the client then exits 1 saying so); some get answers; none
hangs, is reset without a word or gets a torn answer. Meanwhile a keep-alive
HTTP client loops requests through the daemon without a failure, and the
daemon answers status and serves traffic afterwards."""
import json
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

N = 100
BUSY = b"error too many clients\n"


def check_answer(got, what):
    """'ok' or 'busy' for a raw answer; fails on anything else."""
    if got == BUSY:
        return "busy"
    head, _, body = got.partition(b"\n")
    zt.expect(head == b"ok", f"{what}: unexpected answer {got[:80]!r}")
    try:
        js = json.loads(body)
    except ValueError as e:
        zt.fail(f"{what}: torn JSON ({e}), {len(body)} bytes")
    zt.expect_eq([s["name"] for s in js["services"]], ["web"], f"{what}: services")
    return "ok"


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    zt.expect_eq(zt.http_get(listen).status, 200, "cold start")
    stop, out = threading.Event(), {"n": 0, "error": None}
    th = threading.Thread(target=zt.keepalive_traffic, args=(listen, stop, out), daemon=True)
    th.start()

    # Raw: all connected first, then all requests, then all answers. The
    # connect blocks (as the real client's does) while the listen backlog is
    # full; a unix socket with a timeout would fail with EAGAIN instead.
    socks = []
    for _ in range(N):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(t.control_socket)
        s.settimeout(8)
        socks.append(s)
    for s in socks:
        try:
            s.sendall(b"status --json\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # turned away already; its answer is still queued
    kinds = {"ok": 0, "busy": 0}
    for i, s in enumerate(socks):
        got = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except socket.timeout:
            zt.fail(f"raw client {i}: no end of answer within 8 s ({len(got)} bytes)")
        except ConnectionResetError:
            pass
        finally:
            s.close()
        kinds[check_answer(got, f"raw client {i}")] += 1
    zt._note(f"raw: {kinds['ok']} answered, {kinds['busy']} turned away")
    zt.expect(kinds["ok"] >= 16, f"only {kinds['ok']} of {N} raw clients answered")

    # The real client, N processes at once.
    cmd = [zt.ZEROPROXY, "status", "--json", "-s", t.control_socket]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(N)]
    kinds = {"ok": 0, "busy": 0}
    for i, p in enumerate(procs):
        try:
            so, se = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            zt.fail(f"zeroproxy status {i} hung")
        if p.returncode == 0:
            kinds["ok"] += 1
            try:
                zt.expect_eq(json.loads(so)["services"][0]["name"], "web", f"status {i}")
            except ValueError as e:
                zt.fail(f"status {i}: not JSON ({e}): {so[:80]!r}")
        else:
            zt.expect_eq((p.returncode, se), (1, "zeroproxy: too many clients\n"),
                         f"status process {i}: exit and message")
            kinds["busy"] += 1
    zt._note(f"processes: {kinds['ok']} answered, {kinds['busy']} turned away")
    zt.expect(kinds["ok"] >= 16, f"only {kinds['ok']} of {N} status processes answered")

    stop.set()
    th.join(10)
    zt.expect(out["error"] is None, f"relayed traffic during the flood failed: {out['error']!r}")
    zt.expect(out["n"] > 0, "no relayed request completed during the flood")
    zt._note(f"{out['n']} keep-alive requests relayed during the floods")
    # The keep-alive client has closed; the daemon sees it on its next turn.
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == 0, 3, interval=0.05,
                  what="web: connections_active back to 0 after the flood")
    zt.expect_eq(t.service_status("web")["state"], "running", "status afterwards")
    zt.expect_eq(zt.http_get(listen).status, 200, "relayed request afterwards")


zt.run(test)
