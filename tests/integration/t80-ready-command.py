#!/usr/bin/env python3
"""ready = command: the backend is ready once ready_command exits 0, not when
it accepts. zp-testd accepts at once but is ready only after 400 ms (it then
creates a file that `test -e` looks for): the first request is relayed after
that and reaches a ready backend. The command runs like the backend (its
environment, working directory, no inherited fds, no NOTIFY_SOCKET) in a
process group of its own; it is killed when the start is abandoned (start
timeout, stop while starting, backend exits), a command that keeps failing
is named in the start_timeout reason, and one that cannot be run fails the
start at once."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def probe_sleeps(t, arg):
    """Pids of the daemon's children running `sleep ARG` (a ready_command)."""
    want = f"sleep\0{arg}\0".encode()
    out = []
    for pid in t.children():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == want:
                    out.append(pid)
        except OSError:
            pass
    return out


def read_report(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


def test(t):
    ready = t.path("web.ready")
    report = t.path("probe.report")
    listen = t.testd_service("web", args=["--notify-delay", "400", "--ready-file", ready],
                             ready="command", ready_command=f"test -e {ready}",
                             idle_timeout="1m")
    t.testd_service("env", ready="command", environment="ZP_TEST=yes",
                    working_directory=t.dir,
                    ready_command=t.testd("--report", report, "--exit-code", "0", "--quiet"))
    t.testd_service("hang", ready="command", ready_command="sleep 61", start_timeout="1s")
    t.service("dies", listen=f"127.0.0.1:{t.port()}", exec="sh -c 'sleep 0.3; exit 3'",
              address=f"127.0.0.1:{t.port()}", ready="command", ready_command="sleep 62")
    t.testd_service("false", ready="command", ready_command="false", start_timeout="1s")
    t.testd_service("missing", ready="command", ready_command="/nonexistent/zp-probe",
                    start_timeout="20s")
    t.start()
    zp = lambda *a: t.zeroproxy(*a, "-c", t.conf)  # noqa: E731

    # Ready when the command says so, not at the first accept.
    t0 = time.monotonic()
    r = zt.http_get(listen, timeout=10)
    took = time.monotonic() - t0
    zt._note(f"cold start behind a 400 ms readiness answered after {took:.3f}s")
    zt.expect_eq(r.status, 200, "first request")
    zt.expect_eq(r.kv["accepted_before_ready"], "0",
                 "connections the backend accepted before it was ready")
    zt.expect(took >= 0.38, f"answered after {took:.3f}s, before the backend was ready")
    t.wait_log(zt.re_running("web"))

    # The command's world: the backend's environment and directory, fds 0-2 only,
    # nothing only the backend may use, a process group of its own.
    zp("start", "env")
    zt.wait_until(lambda: t.service_status("env")["state"] == "running", 10,
                  what="env to be running")
    rep = read_report(report)
    zt._note(f"ready_command report: {rep}")
    zt.expect_eq(rep["ppid"], str(t.daemon_pid), "the command's parent")
    zt.expect_eq(rep["pgid"], rep["pid"], "the command's process group")
    zt.expect_eq(rep["inherited_fds"], "0,1,2", "fds the command inherited")
    zt.expect_eq(rep["ZP_TEST"], "yes", "the service's environment")
    zt.expect_eq((rep["NOTIFY_SOCKET"], rep["LISTEN_FDS"]), ("-", "-"),
                 "activation variables given to the command")
    zt.expect_eq(os.path.realpath(rep["cwd"]), os.path.realpath(t.dir), "working directory")
    zt.expect_eq(rep["uid"], str(os.getuid()), "uid without user =")

    # start_timeout: the hanging command is killed with the start.
    mark = t.mark()
    zp("start", "hang")
    probes = zt.wait_until(lambda: probe_sleeps(t, "61"), 5, what="the hanging ready_command")
    t.wait_log(zt.re_start_failed("hang", r"not ready after 1s$|not ready after 1s\)"), 5,
               since=mark)
    zt.wait_until(lambda: not any(zt.pid_alive(p) for p in probes), 3,
                  what=f"ready_command {probes} to be killed at the start timeout")

    # Stop while starting: killed too.
    zp("start", "hang")
    probes = zt.wait_until(lambda: probe_sleeps(t, "61"), 5, what="the ready_command again")
    zp("stop", "hang")
    zt.wait_until(lambda: not any(zt.pid_alive(p) for p in probes), 3,
                  what=f"ready_command {probes} to be killed by a stop while starting")
    zt.wait_until(lambda: t.service_status("hang")["state"] == "stopped", 5,
                  what="hang stopped")

    # The backend exits while the command runs: killed too.
    mark = t.mark()
    zp("start", "dies")
    probes = zt.wait_until(lambda: probe_sleeps(t, "62"), 5, what="the ready_command of dies")
    t.wait_log(r"\bdies: .*exited with status 3", 5, since=mark)
    zt.wait_until(lambda: not any(zt.pid_alive(p) for p in probes), 3,
                  what=f"ready_command {probes} to be killed when the backend exited")

    # A command that keeps failing is named in the reason.
    zp("start", "false")
    t.wait_log(zt.re_start_failed("false", re.escape(
        "not ready after 1s (ready_command false last exited with status 1)")), 5)

    # One that cannot run at all fails the start at once, not after 20 s.
    t0 = time.monotonic()
    zp("start", "missing")
    t.wait_log(zt.re_start_failed("missing", re.escape(
        "ready_command: exec /nonexistent/zp-probe: No such file or directory")), 5)
    zt._note(f"missing ready_command reported after {time.monotonic() - t0:.3f}s")
    zt.expect(t.daemon_alive(), "daemon alive")
    zt.expect_eq(zt.http_get(listen).pid, r.pid, "web still served by its first instance")


zt.run(test)
