#!/usr/bin/env python3
"""Out of file descriptors: the daemon runs with RLIMIT_NOFILE 64 and gets more
keep-alive clients than its fds can hold. It stays alive, does not spin while
out of fds (under 25% of a CPU over a second), says so (it stops accepting at
its fd budget, or pauses on EMFILE), and once the
first clients close it serves every client that waited in the kernel's queue:
none of them is closed unanswered. Run at two limits (64 and 65), so that both
parities of the free fd count are covered: with an odd count the daemon can
accept a client and then find no fd for the backend connection."""
import os
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

CLIENTS = 60
REQUEST = b"GET /x HTTP/1.1\r\nHost: zptest\r\nConnection: keep-alive\r\n\r\n"


class Client:
    """One keep-alive connection with one request sent; poll() reads its answer."""

    def __init__(self, addr):
        fam, sa = zt.parse_addr(addr)
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(sa)  # completes in the kernel, accepted or not
        self.sock.sendall(REQUEST)
        self.sock.setblocking(False)
        self.buf = b""
        self.state = "waiting"  # answered | closed

    def poll(self):
        if self.state != "waiting":
            return self.state
        try:
            d = self.sock.recv(65536)
        except BlockingIOError:
            return self.state
        except OSError:
            d = b""
        if not d:
            self.state = "closed"
            return self.state
        self.buf += d
        head, sep, body = self.buf.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n"):
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length" and len(body) >= int(v):
                    zt.expect(head.startswith(b"HTTP/1.1 200"), f"bad answer {head[:40]!r}")
                    self.state = "answered"
        return self.state

    def close(self):
        self.sock.close()


# Out of fds, the daemon either stops accepting before it runs out (its
# connection budget) or pauses accept() on EMFILE; either way it says so.
OUT_OF_FDS = r"accept: Too many open files|file descriptor limit allows no more"


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def poll_all(clients, seconds, close_answered=False):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for c in clients:
            if c.state == "waiting" and c.poll() == "answered" and close_answered:
                c.close()
        if all(c.state != "waiting" for c in clients):
            break
        time.sleep(0.01)


def round_at(t, listen, limit):
    mark = t.mark()
    t.start(wrapper=["prlimit", f"--nofile={limit}:{limit}", "--"])
    zt.expect_eq(zt.http_get(listen).status, 200, f"limit {limit}: cold start")

    clients = [Client(listen) for _ in range(CLIENTS)]
    # until the daemon ran out of fds and served what it could (nothing new for 0.3 s)
    deadline, last, since = time.monotonic() + 5, -1, time.monotonic()
    while time.monotonic() < deadline:
        poll_all(clients, 0.05)
        n = sum(c.state != "waiting" for c in clients)
        if n == len(clients):
            break
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 0.3 and t.count_log(OUT_OF_FDS, since=mark):
            break
    served = [c for c in clients if c.state == "answered"]
    waiting = [c for c in clients if c.state == "waiting"]
    closed = [c for c in clients if c.state == "closed"]
    zt._note(f"limit {limit}: {len(served)} served, {len(waiting)} waiting, "
             f"{len(closed)} closed")
    why = t.log_matches(r"refused", since=mark)[:1]
    zt.expect(not closed, f"limit {limit}: {len(closed)} client(s) closed unanswered while "
              f"out of fds (they must wait until fds are free); the log says {why}")
    zt.expect(len(served) >= 10, f"limit {limit}: only {len(served)} clients served")
    zt.expect(len(waiting) >= 10, f"limit {limit}: only {len(waiting)} clients waiting: "
              "the fd limit did not bite")
    t.wait_log(OUT_OF_FDS, since=mark)

    hz = os.sysconf("SC_CLK_TCK")
    c0, t0 = cpu_ticks(t.daemon_pid), time.monotonic()
    time.sleep(1.0)
    c1, t1 = cpu_ticks(t.daemon_pid), time.monotonic()
    share = (c1 - c0) / hz / (t1 - t0)
    zt._note(f"limit {limit}: daemon CPU while out of fds: {share * 100:.1f}%")
    zt.expect(share < 0.25, f"limit {limit}: the daemon spins while out of fds "
              f"({share * 100:.0f}% of a CPU)")
    zt.expect(t.daemon_alive(), f"limit {limit}: daemon alive")
    for c in waiting:
        zt.expect_eq(c.poll(), "waiting", f"limit {limit}: a queued client while out of fds")

    # The queued clients outnumber the fds too: each closes once answered.
    for c in served:
        c.close()
    poll_all(waiting, 8.0, close_answered=True)
    late = [c.state for c in waiting]
    zt.expect(late.count("closed") == 0,
              f"limit {limit}: {late.count('closed')} of {len(waiting)} queued clients "
              "closed unanswered after fds became free")
    zt.expect(late.count("waiting") == 0,
              f"limit {limit}: {late.count('waiting')} of {len(waiting)} queued clients "
              "still unanswered 8 s after fds became free")
    for c in waiting:
        c.close()
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == 0, 5,
                  interval=0.05, what="connections_active back to 0")
    zt.expect_eq(zt.http_get(listen).status, 200, f"limit {limit}: served afterwards")
    zt.expect_eq(t.stop(), 0, f"limit {limit}: exit status on SIGTERM")
    t.daemon = None


def test(t):
    if not shutil.which("prlimit"):
        zt.skip("no prlimit")
    listen = t.testd_service("web", idle_timeout="1m", args=["--quiet"])
    failures = []
    for limit in (64, 65):
        try:
            round_at(t, listen, limit)
        except zt.Fail as e:  # run the other parity too, then report both
            zt._note(f"FAILED at limit {limit}: {e}")
            failures.append(str(e))
            t.stop()
            t.daemon = None
    if failures:
        zt.fail("; ".join(failures))


zt.run(test)
