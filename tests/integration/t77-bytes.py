#!/usr/bin/env python3
"""Metering traffic: bytes_in / bytes_out count exactly the bytes relayed
each way. An echo exchange of 300,000 bytes with a half-close counts 300,000
each way (already while the connection is open); a raw HTTP exchange counts
exactly the request sent and the whole response received (asymmetric); a
keep-alive connection with several requests adds up; a second service's
figures stay apart.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t77-bytes.py"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

N = 300000


def counts(t, name):
    s = t.service_status(name)
    return s["bytes_in"], s["bytes_out"]


def settle(t, name, want, what):
    """Wait for (bytes_in, bytes_out) == want (the relay may still be flushing)."""
    try:
        zt.wait_until(lambda: counts(t, name) == want, 3, interval=0.02, what=what)
    except zt.Fail:
        zt.expect_eq(counts(t, name), want, what)


def raw_exchange(addr, request):
    """Send request, half-close, read to EOF; what came back."""
    with zt.connect(addr) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                return got
            got += d


def test(t):
    echo_addr = f"127.0.0.1:{t.port()}"
    echo = f"127.0.0.1:{t.port()}"
    t.service("echo", listen=echo, exec=t.testd("--listen", echo_addr, "--mode", "echo"),
              address=echo_addr, idle_timeout="5s")
    web = t.testd_service("web", idle_timeout="5s")
    t.start()

    # 1. Echo, open connection: counted as it flows.
    c = zt.connect(echo)
    c.sendall(b"q" * 1000)
    got = b""
    while len(got) < 1000:
        got += c.recv(65536)
    settle(t, "echo", (1000, 1000), "echo: 1000 each way while the connection is open")
    c.close()

    # 2. A large echo with a half-close.
    data = bytes(i % 253 for i in range(N))
    zt.expect_eq(zt.echo_roundtrip(echo, data), data, "echo round trip")
    settle(t, "echo", (1000 + N, 1000 + N), f"echo: {N} more each way")

    # 3. HTTP, asymmetric: the request in, the whole response out.
    req = b"GET /bytes/54321 HTTP/1.1\r\nHost: zptest\r\nConnection: close\r\n\r\n"
    resp = raw_exchange(web, req)
    zt.expect(resp.startswith(b"HTTP/1.1 200") and resp.endswith(bytes(i % 251 for i in
                                                                        range(54000, 54321))),
              f"a full /bytes/54321 response ({len(resp)} bytes)")
    settle(t, "web", (len(req), len(resp)), "web: request in, response out")
    in1, out1 = len(req), len(resp)

    # 4. Keep-alive: three requests on one connection add up, byte for byte.
    sent = received = 0
    with zt.connect(web) as k:
        buf = b""
        for path in ("/bytes/10", "/bytes/20000", "/"):
            r = f"GET {path} HTTP/1.1\r\nHost: zptest\r\nConnection: keep-alive\r\n\r\n"
            k.sendall(r.encode())
            sent += len(r)
            while b"\r\n\r\n" not in buf:
                buf += k.recv(65536)
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                          if ln.lower().startswith(b"content-length:")][0])
            while len(rest) < length:
                rest += k.recv(65536)
            zt.expect(head.startswith(b"HTTP/1.1 200"), f"{path}: 200")
            zt.expect_eq(len(rest), length, f"{path}: nothing beyond the response")
            received += len(head) + 4 + length
            buf = b""
        settle(t, "web", (in1 + sent, out1 + received),
               "web: three keep-alive requests and responses, while open")
    zt.expect_eq(counts(t, "echo"), (1000 + N, 1000 + N), "echo's figures apart from web's")
    time.sleep(0.1)
    zt.expect_eq(counts(t, "web"), (in1 + sent, out1 + received),
                 "nothing more counted at the close")


zt.run(test)
