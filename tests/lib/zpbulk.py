"""Client side of the relay's bulk tests, against tests/backend/zp-bulkd.py."""
import hashlib
import os
import random
import socket
import sys

import zptest as zt

BULKD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "backend", "zp-bulkd.py")
SIZES = (0, 1, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 1 << 20, 64 << 20)

_patterns = {}


def pattern(n):
    """N bytes both sides can make: random, seeded by N."""
    if n not in _patterns:
        _patterns[n] = random.Random(n).randbytes(n)
    return _patterns[n]


def bulk_service(t, name="bulk", unix=False, **keys):
    """A service in front of zp-bulkd; returns (listen, report path)."""
    report = t.path(f"{name}.report")
    if unix:
        listen, address = "unix:" + t.path(f"{name}.sock"), "unix:" + t.path(f"{name}-be.sock")
    else:
        listen, address = f"127.0.0.1:{t.port()}", f"127.0.0.1:{t.port()}"
    import shlex
    t.service(name, listen=listen, address=address, ready="connect",
              exec=shlex.join([sys.executable, BULKD, "--listen", address, "--report", report]),
              **keys)
    return listen, report


def upload(listen, n, slow=False, timeout=60):
    """Send N bytes and half-close; the backend's count and digest must match."""
    data = pattern(n)
    with zt.connect(listen, timeout) as s:
        s.sendall(f"RECV {n}{' slow' if slow else ''}\n".encode())
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = read_answer(s)
    zt.expect_eq(got, answer(n), f"upload of {n} bytes: the backend's count and digest")


def answer(n):
    """What the backend answers to an upload of N bytes."""
    return f"{n} {hashlib.sha256(pattern(n)).hexdigest()}\n".encode()


def read_answer(s):
    """Everything s receives up to EOF."""
    got = b""
    while True:
        d = s.recv(4096)
        if not d:
            return got
        got += d


def download(listen, n, slow=False, timeout=60, during=None):
    """Receive N bytes and the backend's EOF, then send a tail after it (the
    backend reports how much of it arrived). during(got) runs while slow."""
    want = pattern(n)
    got = bytearray()
    with zt.connect(listen, timeout) as s:
        s.sendall(f"SEND {n}\n".encode())
        while True:
            d = s.recv(4096 if slow else 1 << 20)
            if not d:
                break
            got += d
            if slow:
                import time
                time.sleep(0.002)
                if during:
                    during(len(got))
        s.sendall(b"t" * 1000)  # after the backend's half-close
    zt.expect_eq(len(got), n, f"download of {n} bytes: length")
    zt.expect(bytes(got) == want, f"download of {n} bytes: content differs")


def exact_test(t, unix):
    """t120/t121: every size of SIZES each way, half-close on either side,
    bytes_in / bytes_out exact."""
    listen, report = bulk_service(t, unix=unix, idle_timeout="1m")
    t.start()
    up = down = 0
    for n in SIZES:
        upload(listen, n)
        up += len(f"RECV {n}\n") + n
        down += len(f"{n} ") + 65
        download(listen, n)
        up += len(f"SEND {n}\n") + 1000
        down += n
    want = sorted(f"{n} 1000" for n in SIZES)  # the backend's threads end in any order

    def reported():
        return sorted(open(report).read().split("\n")[:-1]) if os.path.exists(report) else []
    zt.wait_until(lambda: reported() == want, 10,
                  what=f"the backend got every tail sent after its half-close (want {want})")
    zt.expect_eq(reported(), want, "tails after the backend's half-close")

    def counted():
        st = t.service_status("bulk")
        return st.get("bytes_in") == up and st.get("bytes_out") == down
    zt.wait_until(counted, 10, what=f"bytes_in {up} and bytes_out {down} in the status")


def fds(pid):
    """The targets of pid's open fds ("socket:[..]", "pipe:[..]", paths)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out


def pipes(pid):
    return sum(1 for f in fds(pid) if f.startswith("pipe:"))


def settled_fds(t, name):
    """pid's fds once service name has no connection open (a relay that just
    ended may still be closing its sockets)."""
    zt.wait_until(lambda: t.service_status(name)["connections_active"] == 0, 10,
                  what=f"{name}: no connection open")
    return sorted(fds(t.daemon_pid))
