#!/usr/bin/env python3
"""Metering and kill -9: zeroproxy killed with SIGKILL while an instance runs
(a connection open, more traffic since the last write) takes its backend with
it (PR_SET_PDEATHSIG), leaves a valid state file (no leftover that the next
run finds corrupt), and the next zeroproxy with the same state_dir reports
exactly the figures of the last write: the one made when the previous instance
stopped, before the kill. It then counts on from there.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t74-kill9.py"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

KEPT = ("connections_total", "connections_refused", "cold_starts", "billed_seconds",
        "cpu_seconds", "peak_memory_bytes", "bytes_in", "bytes_out", "last_exit",
        "last_start_ms", "start_ms_p50", "start_ms_p99")


def snapshot(t, name):
    return {k: v for k, v in t.service_status(name).items() if k in KEPT}


def test(t):
    web = t.testd_service("web", args=("--burn-cpu-child", 100), idle_timeout="200ms",
                          start_timeout="10s")
    echo_addr = f"127.0.0.1:{t.port()}"
    echo = f"127.0.0.1:{t.port()}"
    t.service("echo", listen=echo, exec=t.testd("--listen", echo_addr, "--mode", "echo"),
              address=echo_addr, idle_timeout="200ms")
    t.start()
    state = t.path("state")

    # 1. One instance each, stopped: the file is written at the stop.
    with zt.HttpConn(web) as c:
        c.get("/")
        c.get("/x")
    zt.expect_eq(zt.echo_roundtrip(echo, b"a" * 5000), b"a" * 5000, "echo")
    for n in ("web", "echo"):
        zt.wait_until(lambda: t.service_status(n)["state"] == "stopped", 5, interval=0.02,
                      what=f"{n}'s idle stop")
    written = {n: snapshot(t, n) for n in ("web", "echo")}

    def file_has_stop(n):
        """The writer thread writes the file shortly after the stop."""
        p = os.path.join(state, n + ".usage")
        return os.path.exists(p) and "\ncold_starts 1\n" in open(p).read()
    for n in ("web", "echo"):
        zt.wait_until(lambda: file_has_stop(n), 5, what=f"{n}: the file written at the stop")
    files = {n: open(os.path.join(state, n + ".usage")).read() for n in ("web", "echo")}
    zt.expect_eq(written["web"]["cold_starts"], 1, "web: one start")
    zt.expect(written["web"]["cpu_seconds"] >= 0.05, "web: some CPU")

    # 2. More activity, none of it written yet: a second web instance running
    #    with a connection open, another echo connection open mid-exchange.
    c = zt.HttpConn(web)
    pid = c.get("/").pid
    e = zt.connect(echo)
    e.sendall(b"b" * 777)
    got = b""
    while len(got) < 777:
        got += e.recv(65536)
    time.sleep(0.3)
    s = t.service_status("web")
    zt.expect_eq((s["state"], s["pid"], s["cold_starts"]), ("running", pid, 2), "web runs again")
    zt.expect(t.service_status("echo")["bytes_in"] == 5777, "echo counted the open exchange")
    echo_pid = t.service_status("echo")["pid"]
    t.track(echo_pid)
    for n in ("web", "echo"):
        with open(os.path.join(state, n + ".usage")) as f:
            zt.expect_eq(f.read(), files[n], f"{n}: no write while running (< 1 minute)")

    # 3. kill -9: the backends die with zeroproxy.
    os.kill(t.daemon_pid, signal.SIGKILL)
    t.daemon.wait(5)
    zt.wait_until(lambda: not zt.pid_alive(pid) and not zt.pid_alive(echo_pid), 3,
                  what="the backends to die with zeroproxy (PR_SET_PDEATHSIG)")
    c.close()
    e.close()
    left = sorted(os.listdir(state))
    zt.expect_eq(left, ["echo.usage", "web.usage"], "state dir after the kill (no temp file)")
    for n in ("web", "echo"):
        with open(os.path.join(state, n + ".usage")) as f:
            zt.expect_eq(f.read(), files[n], f"{n}: the file is the last write")

    # 4. The next zeroproxy: the figures of the last write, nothing corrupt.
    mark = t.mark()
    t.daemon = None
    t.start(wait_ready=False)
    t.wait_ready(count=2)
    for n, want in written.items():
        got = snapshot(t, n)
        for k in KEPT:
            zt.expect_eq(got[k], want[k], f"{n}: {k} after kill -9 and a restart")
        zt.expect_eq(t.service_status(n)["state"], "stopped", f"{n}: stopped")
    t.expect_no_log(r"usage file", since=mark)
    zt.expect_eq([f for f in os.listdir(state) if ".corrupt-" in f], [], "no file moved aside")

    # 5. And counts on.
    r = zt.http_get(web)
    zt.expect_eq(r.status, 200, "web works after the restart")
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.02,
                  what="web's idle stop")
    s = t.service_status("web")
    zt.expect_eq((s["cold_starts"], s["connections_total"]),
                 (written["web"]["cold_starts"] + 1, written["web"]["connections_total"] + 1),
                 "web counts on from the last write")
    zt.expect(s["billed_seconds"] > written["web"]["billed_seconds"], "billed counts on")


zt.run(test)
