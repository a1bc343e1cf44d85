#!/usr/bin/env python3
"""zp-bulkd — a backend for the relay's bulk tests (tests/lib/zpbulk.py is the
client side). Listens on --listen (HOST:PORT or unix:/PATH); every
connection starts with one line, "MODE N [slow]\\n":

  RECV N   the client sends N bytes and half-closes; we read to EOF (slowly
           with "slow": 4 KiB every 2 ms) and answer "COUNT SHA256\\n", close.
  SEND N   we send N bytes of pattern(N), then half-close (slowly with
           "slow"), then read what the client sends after our EOF and append
           "N COUNT\\n" to --report.
  RST N    we send N bytes, then reset the connection (SO_LINGER 0).
"""
import argparse
import hashlib
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zpbulk  # noqa: E402


def serve(conn, report):
    line = b""
    while not line.endswith(b"\n"):  # byte by byte: nothing of the body is read
        d = conn.recv(1)
        if not d:
            return
        line += d
    line = line.split()
    mode, n, slow = line[0], int(line[1]), len(line) > 2
    if mode == b"RECV":
        h, count = hashlib.sha256(), 0
        while True:
            d = conn.recv(4096 if slow else 262144)
            if not d:
                break
            h.update(d)
            count += len(d)
            if slow:
                time.sleep(0.002)
        conn.sendall(f"{count} {h.hexdigest()}\n".encode())
    elif mode in (b"SEND", b"RST"):
        data = zpbulk.pattern(n)
        step = 4096 if slow else 1 << 20
        for i in range(0, n, step):
            conn.sendall(data[i:i + step])
            if slow:
                time.sleep(0.002)
        if mode == b"RST":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        conn.shutdown(socket.SHUT_WR)
        count = 0
        while True:
            d = conn.recv(65536)
            if not d:
                break
            count += len(d)
        with open(report, "a") as r:
            r.write(f"{n} {count}\n")
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--report", default=os.devnull)
    a = ap.parse_args()
    if a.listen.startswith("unix:"):
        a.listen = a.listen[5:]
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(a.listen):
            os.unlink(a.listen)
        s.bind(a.listen)
    else:
        host, port = a.listen.rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, a.report), daemon=True).start()


main()
