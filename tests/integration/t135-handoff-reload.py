#!/usr/bin/env python3
"""A reload that switches a service between relay = yes and relay = no, with
the listening socket kept across it. yes -> no: the relayed instance stops
(its open connection is served to the end of its stop), and the next client
reaches a handed-off backend that sees the client itself as its peer and the
socket as fd 3. no -> yes: the handed-off instance stops, and the next client
is relayed again (its peer is zeroproxy's connection, not the client's), on a
listening socket that zeroproxy accepts on without blocking although the
handed-off backend (a Python server that accepts blocking, unlike zp-testd)
left it blocking."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

REQ = b"GET / HTTP/1.1\r\nHost: zptest\r\nConnection: close\r\n\r\n"

# A socket-activated server that keeps fd 3 as it got it (blocking) and
# answers as zp-testd does: pid, peer, listen_fds.
BLOCKING = """
import os, socket
s = socket.socket(fileno=3)
assert os.get_blocking(3), "zeroproxy handed fd 3 non-blocking"
while True:
    c, peer = s.accept()
    c.recv(65536)
    body = f"pid={os.getpid()}\\npeer={peer[0]}:{peer[1]}\\nlisten_fds={os.environ['LISTEN_FDS']}\\n"
    c.sendall(f"HTTP/1.1 200 OK\\r\\nContent-Length: {len(body)}\\r\\n"
              f"Connection: close\\r\\n\\r\\n{body}".encode())
    c.close()
"""


def get_with_peer(addr):
    with zt.connect(addr) as s:
        me = s.getsockname()
        s.sendall(REQ)
        r, _ = zt._read_response(s, b"")
    return r, f"{me[0]}:{me[1]}"


def test(t):
    listen = f"127.0.0.1:{t.port()}"
    backend = f"127.0.0.1:{t.port()}"

    def relayed():
        t.service("web", listen=listen, address=backend, idle_timeout="1m",
                  exec=t.testd("--listen", backend, "--term-delay", "300"))

    server = t.path("blocking.py")
    with open(server, "w") as f:
        f.write(BLOCKING)

    def handed_off():
        t.service("web", listen=listen, relay="no", idle_timeout="1m",
                  exec=f"{sys.executable} {server}")

    relayed()
    t.start()
    zp = lambda *a: t.zeroproxy(*a, "-c", t.conf)  # noqa: E731
    r, me = get_with_peer(listen)
    zt.expect(r.kv["peer"] != me and r.kv["listen_fds"] == "0",
              f"relayed: the backend's peer {r.kv['peer']} is not the client {me}")
    held = zt.HttpConn(listen)
    zt.expect_eq(held.get("/").pid, r.pid, "a held relayed connection")
    zt.expect_eq(t.service_status("web")["relay"], True, "relay: true")

    handed_off()
    zp("reload")
    t.wait_log(r"web: running -> stopping \(relay = no by a reload\)")
    zt.expect_eq(held.get("/during-stop").pid, r.pid,
                 "the held connection is served during the old instance's stop")
    held.close()
    zt.wait_until(lambda: not zt.pid_alive(r.pid), 5, what="the relayed instance's exit")
    zt.expect_eq(t.service_status("web")["relay"], False, "relay: false after the reload")
    r2, me2 = get_with_peer(listen)
    zt.expect_eq((r2.kv["peer"], r2.kv["listen_fds"]), (me2, "1"),
                 "handed off: the backend's peer is the client, the socket is fd 3")

    relayed()
    zp("reload")
    t.wait_log(r"web: running -> stopping \(relay = yes by a reload\)")
    zt.wait_until(lambda: not zt.pid_alive(r2.pid), 5, what="the handed-off instance's exit")
    for i in range(3):
        r3, me3 = get_with_peer(listen)
        zt.expect(r3.status == 200 and r3.kv["peer"] != me3 and r3.kv["listen_fds"] == "0",
                  f"relayed again ({i}): peer {r3.kv['peer']}, client {me3}")
    st = t.service_status("web")
    zt.expect_eq((st["relay"], st["state"]), (True, "running"), "relay: true, running")


zt.run(test)
