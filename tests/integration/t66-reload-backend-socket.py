#!/usr/bin/env python3
"""With ready = socket zeroproxy binds the backend's unix socket itself; a
reload that moves it elsewhere (another address =) or removes the service
must remove the old socket file once nothing uses it: at once when no backend
runs, when the backend that still accepts on it exits otherwise. A failed
reload leaves no socket file behind either.
Its last reload removes two services at once, one idle and one running: that
used to read the freed idle one (a use-after-free that only a build with
--enable-sanitizers reports)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    sock = {k: t.path(f"{k}.sock") for k in ("a", "b", "c", "d")}
    priv = os.path.join(os.path.dirname(t.control_socket), "priv.sock")
    listen = f"127.0.0.1:{t.port()}"
    web = lambda k: t.testd_service("web", ready="socket", listen=listen,  # noqa: E731
                                    address=f"unix:{sock[k]}", idle_timeout="1m")
    web("a")
    plisten = t.testd_service("priv", ready="socket", address=False, idle_timeout="1m")
    t.start()
    reload = lambda **kw: t.zeroproxy("reload", "-s", t.control_socket, **kw)  # noqa: E731
    exists = lambda k: os.path.exists(sock[k])  # noqa: E731
    zt.expect(exists("a") and os.path.exists(priv), "the backend sockets after start")

    # No backend runs: the old file goes with the reload.
    web("b")
    reload()
    zt.expect(exists("b"), "the new backend socket after the reload")
    zt.expect(not exists("a"), "a.sock still exists after a reload moved the socket to b.sock")

    # A backend runs on b.sock: the file stays while it runs, goes when it exits.
    pid = zt.http_get(listen).pid
    web("c")
    reload()
    zt.expect(exists("b"), "b.sock removed while its backend still runs")
    r = zt.http_get(listen)
    zt.expect_eq((r.status, r.pid), (200, pid), "the running backend serves after the reload")
    t.zeroproxy("stop", "-s", t.control_socket, "web")
    zt.wait_until(lambda: not zt.pid_alive(pid), 10, what="the old backend's exit")
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, what="web stopped")
    zt.expect(not exists("b"), "b.sock still exists after its backend exited")
    zt.expect(exists("c"), "c.sock is gone")
    r = zt.http_get(listen)
    zt.expect(r.status == 200 and r.pid != pid, "a new backend on c.sock")

    # A reload that fails after binding d.sock leaves no d.sock.
    web("d")
    t.service_text("broken", "[service]\nlisten = systemd:nothing-passed\n[backend]\n"
                   "exec = /bin/true\naddress = 127.0.0.1:1\n")
    zt.expect_eq(reload(check=False).returncode, 1, "zeroproxy reload of a failing config")
    t.remove_service("broken")
    zt.expect(exists("c"), "c.sock removed by a failed reload")
    zt.expect(not exists("d"), "d.sock left behind by a failed reload")

    # Removed services: priv.sock (no backend) at once, c.sock once the
    # draining backend exits.
    pid = zt.http_get(listen).pid
    t.remove_service("web")
    t.remove_service("priv")
    t.testd_service("keep", idle_timeout="1m")
    reload()
    zt.expect(not os.path.exists(priv), "priv.sock still exists after its service was removed")
    t.wait_log(r"\bweb: removed$", timeout=10)
    zt.expect(not zt.pid_alive(pid), "the removed service's backend still runs")
    zt.expect(not exists("c"), "c.sock still exists after its service was removed")
    zt.expect(zt.try_http_get(plisten, timeout=2) is None, "priv still answers")


zt.run(test)
