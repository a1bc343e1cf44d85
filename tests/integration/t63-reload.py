#!/usr/bin/env python3
"""Reload through `zeroproxy reload` and SIGHUP: services added listen, removed
ones close their listeners and stop their backend, changed ones take their new
settings (a changed exec from the next start), while a keep-alive connection
keeps working throughout. A broken configuration changes nothing, exits 1 with
every error, and shows in status until a good reload."""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def names(t):
    return [s["name"] for s in t.status_json()["services"]]


def test(t):
    web_listen, web_addr = f"127.0.0.1:{t.port()}", f"127.0.0.1:{t.port()}"

    def web(idle, *extra):
        t.service("web", listen=web_listen, address=web_addr, idle_timeout=idle,
                  exec=t.testd("--listen", web_addr, *extra))

    web("1m")
    api_listen = t.testd_service("api", idle_timeout="1m")
    t.start()
    zp = lambda *a, check=True: t.zeroproxy(*a, "-c", t.conf, check=check)  # noqa: E731

    conn = zt.HttpConn(web_listen)
    r = conn.get("/one")
    web_pid = r.pid
    api_pid = zt.http_get(api_listen).pid
    zt.expect_eq(names(t), ["api", "web"], "services before")

    # 1. Add, remove, change.
    new_listen = t.testd_service("new", idle_timeout="1m")
    t.remove_service("api")
    web("3s", "--quiet")
    r = zp("reload")
    zt.expect_eq((r.stdout, r.stderr), ("", ""), "good reload: silent")
    zt.expect_eq(names(t), ["new", "web"], "services after")
    zt.expect(t.status_json()["reload_error"] is None, "no reload error")

    r = conn.get("/two")
    zt.expect_eq((r.status, r.pid), (200, web_pid), "keep-alive connection survives the reload")
    zt.expect_eq(int(r.kv["connections"]), 1, "on the very same backend connection")
    zt.expect_eq(zt.http_get(new_listen).status, 200, "the added service answers")
    zt.expect(zt.try_http_get(api_listen, timeout=2) is None, "the removed service's port is closed")
    zt.wait_until(lambda: not zt.pid_alive(api_pid), 10, what="removed service's backend stopped")
    w = t.service_status("web")
    zt.expect_eq((w["pid"], w["connections_active"]), (web_pid, 1), "web's instance and connection kept")

    # The new idle_timeout applies now; the new exec from the next start.
    conn.close()
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 8, interval=0.05,
                  what="web stopped after its new 3 s idle_timeout")
    r = zt.http_get(web_listen)
    zt.expect(r.pid != web_pid, "a new instance")
    with open(f"/proc/{r.pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    zt.expect(b"--quiet" in argv, f"the new instance runs the new exec: {argv}")

    # 2. A broken configuration changes nothing.
    conn = zt.HttpConn(web_listen)
    pid2 = conn.get("/a").pid
    t.service_text("broken", "[service]\nlisten = 127.0.0.1:1\nbogus = 1\n\n[backend]\nexec = /bin/true\n"
                   "address = 127.0.0.1:2\nready = sokcet\n")
    web("1h")  # must not apply
    r = zp("reload", check=False)
    zt.expect_eq(r.returncode, 1, "broken reload: exit 1")
    zt.expect_eq(r.stdout, "", "broken reload: nothing on stdout")
    lines = r.stderr.splitlines()
    zt.expect_eq(lines[0], "zeroproxy: configuration invalid", "first line")
    zt.expect(len(lines) >= 3, f"every error on its own line: {lines}")
    zt.expect(any(re.search(r"broken\.conf:3: .*bogus", x) for x in lines), "unknown key with its line")
    zt.expect(any(re.search(r"broken\.conf:8: .*sokcet", x) for x in lines), "bad ready with its line")
    zt.expect_eq(names(t), ["new", "web"], "services unchanged")
    j = t.status_json()
    zt.expect(j["reload_error"] and "broken.conf" in j["reload_error"],
              f"status --json shows the failed reload: {j['reload_error']!r}")
    table = zp("status").stdout
    zt.expect(re.search(r"^reload failed: .*broken\.conf", table, re.M), "the table shows it too")
    r = conn.get("/b")
    zt.expect_eq((r.status, r.pid), (200, pid2), "keep-alive connection fine after a broken reload")
    conn.close()
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 8, interval=0.05,
                  what="old idle_timeout (3 s) still in force")

    # 3. Fixed: a good reload clears the error. Then one by SIGHUP.
    t.remove_service("broken")
    zp("reload")
    zt.expect(t.status_json()["reload_error"] is None, "reload_error cleared")
    hup_listen = t.testd_service("hup")
    t.signal(signal.SIGHUP)
    zt.wait_until(lambda: "hup" in names(t), 5, what="SIGHUP reload")
    zt.expect_eq(zt.http_get(hup_listen).status, 200, "service added by SIGHUP answers")
    zt.expect_eq(t.stop(), 0, "exit status on SIGTERM")


zt.run(test)
