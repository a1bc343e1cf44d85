#!/usr/bin/env python3
"""Cold start: nothing runs until the first connection, which starts the backend
(ready = connect) and is answered; later requests reuse the running instance;
SIGTERM stops the backend, sends STOPPING=1 and exits 0."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.start()
    zt.expect_eq(t.children(), [], "backends running before any connection")
    r = zt.http_get(listen)
    zt.expect_eq(r.status, 200, "first request")
    zt.expect_eq(r.kv["path"], "/", "path seen by the backend")
    zt.expect_eq(int(r.kv["ppid"]), t.daemon_pid, "the backend is zeroproxy's child")
    zt.expect_eq(r.kv["notify_socket"], "", "zeroproxy's NOTIFY_SOCKET passed on to a ready=connect backend")
    t.wait_log(zt.re_starting("web", "stopped") + r" \(connection from 127\.0\.0\.1:\d+\)")
    t.wait_log(zt.re_running("web"))
    r2 = zt.http_get(listen, "/again")
    zt.expect_eq(r2.pid, r.pid, "second request served by the same instance")
    t.expect_log_count(zt.re_starting("web"), 1, "starts")
    zt.expect(t.daemon_alive(), "daemon alive")
    zt.expect_eq(t.stop(), 0, "exit status on SIGTERM")
    zt.expect(t.notify.wait("STOPPING", "1", timeout=2), "no STOPPING=1 sent on SIGTERM")
    zt.wait_until(lambda: not zt.pid_alive(r.pid), 5, what="backend stopped with the daemon")


zt.run(test)
