#!/usr/bin/env python3
"""relay = no with a listen = systemd:NAME socket: the daemon runs under
systemd-socket-activate --fdname=web, and the backend gets that very socket
as fd 3 with LISTEN_FDNAMES=web (its systemd name) and sees the client as
its peer. And `zeroproxy check` names the relay's keys that relay = no
refuses at FILE:LINE of the second of the two keys."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

REQ = b"GET / HTTP/1.1\r\nHost: zptest\r\nConnection: close\r\n\r\n"


def check_errors(t):
    t.service_text("bad", "[service]\nlisten = 127.0.0.1:%d\nrelay = no\nmax_pending = 4\n"
                   "[backend]\nexec = /bin/true\naddress = 127.0.0.1:%d\nready = socket\n"
                   % (t.port(), t.port()))
    r = t.zeroproxy("check", "-c", t.conf, check=False)
    path = os.path.join(t.services_dir, "bad.conf")
    zt.expect_eq(r.returncode, 1, "check: exit 1")
    for line, key in ((4, "[service] max_pending"), (7, "[backend] address"),
                      (8, "[backend] ready")):
        want = f"{path}:{line}: {key}: not with relay = no (line 3)"
        zt.expect(want in r.stderr, f"check names {want!r}: {r.stderr!r}")
    t.remove_service("bad")


def test(t):
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        zt.skip("systemd-socket-activate is not installed")
    check_errors(t)
    port = t.port()
    t.service("web", listen="systemd:web", relay="no", idle_timeout="1m", exec=t.testd())
    t.start(wait_ready=False,
            wrapper=[tool, "-l", f"127.0.0.1:{port}", "--fdname=web", "-E", "NOTIFY_SOCKET"])
    s = zt.wait_connect(f"127.0.0.1:{port}", timeout=10,
                        what="a connection to the socket-activated port")
    me = s.getsockname()
    s.sendall(REQ)
    r, _ = zt._read_response(s, b"")
    s.close()
    zt.expect_eq(r.status, 200, "served through the systemd socket")
    zt.expect_eq((r.kv["listen_fds"], r.kv["listen_fdnames"], r.kv["peer"]),
                 ("1", "web", f"{me[0]}:{me[1]}"),
                 "the backend has systemd's socket as fd 3, named web, and the client as peer")
    t.wait_ready(5)
    zt.expect_eq(t.service_status("web")["relay"], False, "relay: false")


zt.run(test)
