#!/usr/bin/env python3
"""protocol = http streams bodies byte-exact: a 10 MiB chunked upload and a
10 MiB Content-Length upload reach the backend whole (its length and CRC-32),
a 10 MiB chunked response reaches the client whole (decoded by http.client),
all on one keep-alive connection; HEAD and 304 answers (headers that name a
length, no body) do not hang the connection: the next request on it is
answered. A 40 KiB head (more than the relay's fixed buffer: it is held in a
larger one until complete) is forwarded whole, pipelined with a small one."""
import http.client
import os
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

SIZE = 10 * 1024 * 1024


def pattern(n):
    block = bytes(range(251))
    return (block * (n // 251 + 1))[:n]


def upload_chunks(data):
    # Pieces of changing sizes, as a streaming client sends them.
    i, k = 0, 1
    while i < len(data):
        n = 1000 + (k * 7919) % 70000
        yield data[i:i + n]
        i += n
        k += 1


def sum_of(resp):
    kv = dict(line.split("=", 1) for line in resp.read().decode().splitlines() if "=" in line)
    return int(kv["length"]), int(kv["crc32"], 16)


def test(t):
    listen = t.testd_service("web", protocol="http", idle_timeout="1h")
    t.start()
    host, port = listen.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    data = os.urandom(SIZE)
    want = (len(data), zlib.crc32(data))

    c.request("POST", "/sum", body=upload_chunks(data), encode_chunked=True)
    r = c.getresponse()
    zt.expect_eq(r.status, 200, "chunked upload status")
    zt.expect_eq(sum_of(r), want, "chunked upload: length and CRC-32 the backend saw")

    c.request("POST", "/sum", body=data, headers={"Content-Length": str(len(data))})
    r = c.getresponse()
    zt.expect_eq(r.status, 200, "Content-Length upload status")
    zt.expect_eq(sum_of(r), want, "Content-Length upload: length and CRC-32")

    c.request("GET", f"/chunked/{SIZE}")
    r = c.getresponse()
    zt.expect_eq(r.getheader("Transfer-Encoding"), "chunked", "chunked response")
    body = r.read()
    zt.expect_eq(len(body), SIZE, "chunked response length")
    zt.expect(body == pattern(SIZE), "chunked response bytes differ from the pattern")

    for method, path, status in (("HEAD", "/bytes/5000", 200), ("HEAD", "/", 200),
                                 ("HEAD", "/chunked/100", 200), ("GET", "/not-modified", 304)):
        c.request(method, path)
        r = c.getresponse()
        zt.expect_eq(r.status, status, f"{method} {path}")
        zt.expect_eq(r.read(), b"", f"{method} {path}: no body")
        c.request("GET", "/after")
        r = c.getresponse()
        zt.expect_eq((r.status, r.read().decode().count("path=/after")), (200, 1),
                     f"the request after {method} {path} on the same connection")
    c.close()

    s = zt.connect(listen)
    cookie = "k=" + "v" * 40000
    s.sendall(f"GET /big HTTP/1.1\r\nHost: zptest\r\nCookie: {cookie}\r\n\r\n"
              "GET /small HTTP/1.1\r\nHost: zptest\r\n\r\n".encode())
    r, buf = zt._read_response(s, b"")
    zt.expect_eq((r.status, r.kv.get("path")), (200, "/big"), "the 40 KiB head")
    r, buf = zt._read_response(s, buf)
    zt.expect_eq((r.status, r.kv.get("path")), (200, "/small"), "the request after it")
    # Past max_header_size (64 KiB by default) in the larger buffer: 431.
    s.sendall(f"GET /huge HTTP/1.1\r\nHost: zptest\r\nCookie: {cookie * 2}\r\n\r\n".encode())
    r, buf = zt._read_response(s, buf)
    zt.expect_eq(r.status, 431, "an 80 KiB head")
    s.close()
    zt.expect_eq(zt.http_get(listen, "/count").kv.get("requests"), "14",
                 "requests the backend saw (not the 80 KiB one)")
    zt.wait_until(lambda: t.status_json("web")["services"][0]["requests_active"] == 0, 5,
                  what="nothing in flight")
    st = t.status_json("web")["services"][0]
    zt.expect_eq(st["requests_total"], 15, "requests_total (the 431 one included)")
    zt.expect_eq(st["responses"]["3xx"], 1, "the 304 counted")
    zt.expect_eq(st["connections_total"], 3, "connections")
    zt.expect(st["bytes_in"] > 2 * SIZE, f"bytes_in {st['bytes_in']}")


zt.run(test)
