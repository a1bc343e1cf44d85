#!/usr/bin/env python3
"""relay = no in front of a real socket-activated server: lighttpd with
conf/services.d/lighttpd-handoff.conf.example and conf/lighttpd-handoff.lighttpd
(paths and port made to run here). The first connection starts lighttpd,
which serves the page; the client's connection belongs to lighttpd, not to
zeroproxy (ss -tnp: nothing is relayed); a held keep-alive connection keeps
it up past idle_timeout with connections_active 1, and the idle stop follows
its close (SIGINT, lighttpd's graceful stop). Skipped without lighttpd."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

SRCDIR = os.environ.get("ZP_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SERVICE = os.path.join(SRCDIR, "conf", "services.d", "lighttpd-handoff.conf.example")
LIGHTTPD_CONF = os.path.join(SRCDIR, "conf", "lighttpd-handoff.lighttpd")
LIGHTTPD = "/usr/sbin/lighttpd"


def made_here(path, subst):
    with open(path) as f:
        text = f.read()
    for old, new in subst:
        zt.expect(old in text, f"{os.path.basename(path)} has {old!r}")
        text = text.replace(old, new)
    return text


def owners(port, client_port):
    """The processes ss names for the server side of the client's connection."""
    out = subprocess.run(["ss", "-tnpH", "state", "established",
                          f"( sport = :{port} and dport = :{client_port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    return out.strip()


def test(t):
    if not os.access(LIGHTTPD, os.X_OK):
        zt.skip("lighttpd is not installed (Debian package lighttpd)")
    port = t.port()
    www = t.path("www")
    os.mkdir(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("hello from lighttpd\n")
    lconf = t.path("lighttpd-handoff.lighttpd")
    with open(lconf, "w") as f:
        f.write(made_here(LIGHTTPD_CONF, [
            ("server.port = 8080", f"server.port = {port}"),
            ('"/var/www/html"', f'"{www}"'),
            ('"/var/log/lighttpd/error.log"', f'"{t.path("lighttpd-error.log")}"'),
            ('server.username = "www-data"', ""), ('server.groupname = "www-data"', "")]))
    t.service_text("web", made_here(SERVICE, [
        ("127.0.0.1:8080", f"127.0.0.1:{port}"), ("idle_timeout = 5m", "idle_timeout = 1s"),
        ("/etc/zeroproxy/lighttpd-handoff.lighttpd", lconf)]))
    t.start()
    listen = f"127.0.0.1:{port}"

    c = zt.HttpConn(listen)
    r = c.get("/index.html")
    zt.expect_eq((r.status, r.body), (200, b"hello from lighttpd\n"), "lighttpd serves the page")
    st = t.service_status("web")
    zt.expect_eq((st["state"], st["relay"], st["cold_starts"]), ("running", False, 1),
                 "started by the first connection")
    pid = st["pid"]
    zt.expect_eq(os.path.realpath(f"/proc/{pid}/exe"), os.path.realpath(LIGHTTPD),
                 "the instance is lighttpd")
    if shutil.which("ss"):
        who = owners(port, c.sock.getsockname()[1])
        zt.expect("lighttpd" in who and "zeroproxy" not in who,
                  f"the client's connection is lighttpd's own, not zeroproxy's: {who!r}")
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == 1, 5,
                  what="connections_active 1")
    time.sleep(2.5)
    zt.expect(zt.pid_alive(pid), "the held connection keeps lighttpd up past idle_timeout")
    zt.expect_eq(c.get("/index.html").status, 200, "and still works")
    c.close()
    zt.wait_until(lambda: not zt.pid_alive(pid), 10, what="the idle stop after the close")
    t.wait_log(zt.re_idle_stop("web"))
    r2 = zt.HttpConn(listen)
    zt.expect_eq(r2.get("/index.html").status, 200, "the next connection starts it again")
    r2.close()


zt.run(test)
