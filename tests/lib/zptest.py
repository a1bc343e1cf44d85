"""zptest -- the harness for zeroproxy's integration tests (Python 3, stdlib only).

Each tests/integration/tNN-*.py is one small program that runs the real daemon
against real zp-testd backends on real sockets:

    import zptest as zt

    def test(t):
        # services.d/web.conf: zeroproxy on a free port, zp-testd behind it
        listen = t.testd_service("web", idle_timeout="1s")
        t.start()                       # waits for the daemon's READY=1
        r = zt.http_get(listen)         # r.status, r.body, r.kv (key=value body), r.pid
        zt.expect_eq(r.status, 200, "first request")
        t.wait_log(zt.re_starting("web"))
        # or by hand: t.service("api", listen=..., exec=t.testd("--listen", ADDR), ...)

    zt.run(test)

What the harness gives every test (the spirit of hitch's lib.sh):
- a private directory (tempfile.mkdtemp), removed at exit (kept with ZP_KEEP=1);
- copies of the binaries that other users can run (shared_copy; zp-testd in
  every exec = line of testd()), so that a backend or client run as nobody
  works wherever the build is, a clone in /root (0700) too;
- free ports chosen at run time (bind to port 0), never fixed ones;
- zeroproxy.conf and services.d/NAME.conf written from keyword arguments;
- the daemon started as `zeroproxy run -c CONF` with NOTIFY_SOCKET pointing at a
  datagram socket of the harness, so start() returns once the daemon sent
  READY=1; every sd_notify message (STATUS=, RELOADING=1, STOPPING=1...) is kept;
- the daemon's stderr (and so its backends' stderr) collected line by line with
  the time since start, into t.log_path and into memory for wait_log();
- a cleanup that always runs (try/finally, atexit, SIGTERM, a watchdog alarm)
  and kills what the test started: the daemon (SIGTERM, then SIGKILL), its
  descendants and every backend pid the test saw;
- outcomes as the automake test driver wants them: pass 0, fail() 1 (the daemon
  log is printed), skip() 77, error() 99 (a harness or set-up problem).

Binaries come from the environment, set by `make check` (mk/tests.am):
ZEROPROXY (the daemon), ZP_TESTD (the backend). By hand, ZP_BUILDDIR=DIR points
at a build directory; else the source tree and then PATH are tried.
Other knobs: ZP_TEST_TIMEOUT (seconds before a test is failed, default 120),
ZP_LOG_LEVEL (the daemon's log_level, default info), ZP_KEEP=1.
"""

import atexit
import errno
import json
import os
import random
import re
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

__all__ = [
    "run", "Test", "skip", "fail", "error", "expect", "expect_eq", "Skip", "Fail", "Error",
    "Closed", "Response", "HttpConn", "http_get", "try_http_get", "connect", "parse_addr",
    "echo_roundtrip", "concurrent_gets", "expect_closed", "wait_until", "pid_alive",
    "rss_kib", "have_ipv6", "free_port", "wait_connect", "ZEROPROXY", "ZP_TESTD", "ARROW", "re_starting",
    "re_running", "re_idle_stop", "re_exited", "re_killed", "re_start_failed",
]

_HERE = os.path.dirname(os.path.abspath(__file__))
_SRCDIR = os.path.normpath(os.path.join(_HERE, "..", ".."))


def _find_binary(env, rel, name):
    """The path of a built binary: $env, $ZP_BUILDDIR/rel, srcdir/rel, PATH."""
    if os.environ.get(env):
        return os.environ[env]
    for base in (os.environ.get("ZP_BUILDDIR"), _SRCDIR):
        if base and os.access(os.path.join(base, rel), os.X_OK):
            return os.path.join(base, rel)
    return shutil.which(name) or os.path.join(_SRCDIR, rel)


ZEROPROXY = _find_binary("ZEROPROXY", "zeroproxy", "zeroproxy")
ZP_TESTD = _find_binary("ZP_TESTD", os.path.join("tests", "backend", "zp-testd"), "zp-testd")

# Keys of services.d/NAME.conf, by section (zeroproxy.conf(5)).
SERVICE_KEYS = ("listen", "idle_timeout", "max_connections", "max_pending", "pending_timeout",
                "connection_idle_timeout", "relay", "freeze_after",
                "group_weight", "protocol", "wake_on")
# [service] group is written as service_group= (group= is [backend]'s).
BACKEND_KEYS = ("exec", "address", "ready", "start_timeout", "stop_signal", "stop_timeout",
                "user", "group", "working_directory", "environment", "ready_command",
                "kill_mode", "ready_path")
HTTP_KEYS = ("max_header_size", "idle_ignore", "idle_ignore_status", "loading_page",
             "loading_page_after", "host")


# ---------------------------------------------------------------------------
# The daemon's log lines, as regexes (one place to adapt if the wording moves).
# Every state change is one line "NAME: OLD -> NEW (REASON)", e.g.
#   web: stopped -> starting (connection from 127.0.0.1:5342)
#   web: starting -> running (ready after 4.2 ms)
#   web: running -> stopping (idle 5m)
#   web: stopping -> stopped (backend exited with status 0)
#   web: stopping -> stopped (backend killed by signal SIGKILL)
#   web: starting -> failed (start failed: exec /x/y: No such file or directory)
#   web: starting -> stopping (start failed: not ready after 1s)
# The patterns also accept the shorter wording of the issue texts
# ("web: running (ready after ...)", "web: idle 5m, stopping").

ARROW = r"\s*(?:->|\u2192)\s*"


def re_starting(name, from_state=r"\w+"):
    """A start of NAME (any previous state unless from_state is given)."""
    return rf"\b{re.escape(name)}: {from_state}{ARROW}starting\b"


def re_running(name):
    return rf"\b{re.escape(name)}: (?:\w+{ARROW})?running \(ready after"


def re_idle_stop(name):
    n = re.escape(name)
    return rf"\b{n}: (?:\w+{ARROW}stopping \(idle \S+\)|idle \S+, stopping)"


def re_exited(name, code):
    return rf"\b{re.escape(name)}: .*backend exited with status {code}\b"


def re_killed(name, sig):
    return rf"\b{re.escape(name)}: .*killed by signal {sig}\b"


def re_start_failed(name, reason=""):
    """A start failure of NAME; reason is a regex for the text after "start failed: "."""
    return rf"\b{re.escape(name)}: .*start failed: {reason}"


# ---------------------------------------------------------------------------
# Outcomes


class Skip(Exception):
    """The test does not apply here (exit 77)."""


class Fail(Exception):
    """The product misbehaved (exit 1)."""


class Error(Exception):
    """The harness or the set-up is broken (exit 99)."""


class Closed(Exception):
    """The peer closed (EOF or reset) before a complete response."""


def skip(reason):
    raise Skip(reason)


def fail(reason):
    raise Fail(reason)


def error(reason):
    raise Error(reason)


def expect(cond, what):
    """Fail with `what` unless cond holds."""
    if not cond:
        raise Fail(what)
    return cond


def expect_eq(got, want, what):
    """Fail unless got == want, showing both."""
    if got != want:
        raise Fail(f"{what}: expected {want!r}, got {got!r}")
    return got


def _note(msg):
    print(f"# {msg}", flush=True)


# ---------------------------------------------------------------------------
# Small helpers


def wait_until(pred, timeout=5.0, interval=0.005, what="condition"):
    """Call pred() until it returns a truthy value (returned) or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid):
    """Whether pid exists and is not a zombie."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def descendants(pid):
    """Every live descendant of pid (children first)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            pp = _ppid(int(d))
            if pp:
                kids.setdefault(pp, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(0), []):
            out.append(c)
            todo.append(c)
    return out


def cpu_ticks(pid):
    """utime + stime of pid from /proc/PID/stat, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def proc_state(pid):
    """The state letter of pid in /proc/PID/stat (R, S, T, ...)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2]


def hide_cgroups():
    """A wrapper for Test.start() that runs the daemon with cgroup v2 hidden:
    a private mount namespace with an empty tmpfs on /sys/fs/cgroup, so that
    it falls back to process groups (rusage, SIGSTOP). Skips the test
    unless root with unshare(1)."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or not unshare:
        skip("hiding cgroups needs root and unshare(1)")
    return (unshare, "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs zptest /sys/fs/cgroup && exec "$@"', "sh")


def rss_kib(pid):
    """VmRSS of pid in KiB, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Error(f"no VmRSS for pid {pid}")


def free_port(host="127.0.0.1"):
    """A TCP port free right now on host. Taken below the kernel's ephemeral
    range (net.ipv4.ip_local_port_range, 32768 and up here): a port from
    bind(0) is one that the client sockets of tests running alongside may take
    as their source port before the backend binds it ("Address already in
    use", seen in distcheck). bind(0) is the fallback."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(64):
        p = random.randrange(20000, 32768)
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, p))
            except OSError:
                continue
            return p
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def have_ipv6():
    """Whether ::1 can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def parse_addr(addr):
    """(family, sockaddr) for "HOST:PORT", "[V6]:PORT", "unix:/path" or a tuple."""
    if isinstance(addr, tuple):
        return (socket.AF_INET6 if ":" in addr[0] else socket.AF_INET), addr
    if addr.startswith("unix:"):
        p = addr[5:]
        return socket.AF_UNIX, ("\0" + p[1:] if p.startswith("@") else p)
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)", addr)
    if m:
        return socket.AF_INET6, (m.group(1), int(m.group(2)))
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise Error(f"bad address {addr!r}")
    return socket.AF_INET, (host, int(port))


def connect(addr, timeout=5.0):
    """A connected, blocking socket with a timeout."""
    fam, sa = parse_addr(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sa)
    except BaseException:
        s.close()
        raise
    return s


def wait_connect(addr, timeout=5.0, what=None):
    """Connect to addr, retrying while it refuses (e.g. not bound yet); the socket."""
    def attempt():
        try:
            return connect(addr, timeout)
        except (ConnectionRefusedError, FileNotFoundError):
            return None
    return wait_until(attempt, timeout, interval=0.01, what=what or f"{addr} to accept")


# ---------------------------------------------------------------------------
# HTTP


class Response:
    """An HTTP response: status, reason, headers (lower-case names), body (bytes)."""

    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body
        self._kv = None

    @property
    def kv(self):
        """The body's key=value lines as a dict (zp-testd's info body)."""
        if self._kv is None:
            self._kv = {}
            for line in self.body.decode("utf-8", "replace").splitlines():
                k, sep, v = line.partition("=")
                if sep:
                    self._kv[k] = v
        return self._kv

    @property
    def pid(self):
        """The backend pid from zp-testd's info body, or None."""
        p = self.kv.get("pid")
        return int(p) if p else None

    def __repr__(self):
        return f"<Response {self.status} {len(self.body)} bytes pid={self.kv.get('pid')}>"


def _recv(sock, n=65536):
    try:
        return sock.recv(n)
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        raise Closed("connection reset")


def _read_response(sock, buf):
    """Read one response from sock; buf holds bytes already read. -> (Response, rest)."""
    while b"\r\n\r\n" not in buf:
        d = _recv(sock)
        if not d:
            raise Closed("connection closed before a response" if not buf else
                         f"connection closed mid-headers after {len(buf)} bytes")
        buf += d
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise Fail(f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "-1"))
    if length < 0:  # read to EOF
        chunks = [buf]
        while True:
            d = _recv(sock)
            if not d:
                break
            chunks.append(d)
        return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers,
                        b"".join(chunks)), b""
    while len(buf) < length:
        d = _recv(sock, max(65536, length - len(buf)))
        if not d:
            raise Closed(f"connection closed mid-body ({len(buf)} of {length} bytes)")
        buf += d
    return (Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers,
                     bytes(buf[:length])), buf[length:])


def _request(path, keepalive):
    return (f"GET {path} HTTP/1.1\r\nHost: zptest\r\n"
            f"Connection: {'keep-alive' if keepalive else 'close'}\r\n\r\n").encode()


class HttpConn:
    """A keep-alive HTTP/1.1 connection: conn.get(path) as often as wanted."""

    def __init__(self, addr, timeout=5.0):
        self.sock = connect(addr, timeout)
        self.buf = b""

    def send_request(self, path="/"):
        try:
            self.sock.sendall(_request(path, True))
        except (BrokenPipeError, ConnectionResetError):
            raise Closed("connection closed before the request was sent")

    def read_response(self):
        r, self.buf = _read_response(self.sock, self.buf)
        _track_response(r)
        return r

    def get(self, path="/"):
        """Send GET path and return its Response; raises Closed if the peer closed."""
        self.send_request(path)
        return self.read_response()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def keepalive_traffic(listen, stop, out):
    """Keep-alive GETs on one connection until stop (a threading.Event) is set,
    for a background thread: counts requests in out["n"], collects the
    backends' pids in out["pids"] (a set, if present), and leaves the first
    failure in out["error"] for the main thread to report. The paths are
    /ka/N: never one of zp-testd's own (/304 is a Not Modified without body)."""
    try:
        with HttpConn(listen) as c:
            while not stop.is_set():
                r = c.get(f"/ka/{out['n']}")
                if r.status != 200:
                    raise Fail(f"status {r.status}")
                if "pids" in out:
                    out["pids"].add(r.kv["pid"])
                out["n"] += 1
    except Exception as e:  # reported by the main thread
        out["error"] = e


def metrics_text(addr, timeout=5.0):
    """The body of GET /metrics from zeroproxy's metrics_listen addr, as text."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=timeout) as r:
        return r.read().decode()


def http_get(addr, path="/", timeout=5.0):
    """One GET on a fresh connection (Connection: close). Raises Closed if the
    connection is closed without a complete response."""
    with connect(addr, timeout) as s:
        try:
            s.sendall(_request(path, False))
        except (BrokenPipeError, ConnectionResetError):
            raise Closed("connection closed before the request was sent")
        r, _ = _read_response(s, b"")
    _track_response(r)
    return r


def host_get(addr, host, path="/", headers="", timeout=5.0):
    """One GET on a fresh connection (Connection: close) with this Host header
    (None: none, as HTTP/1.0); headers: more header lines, each ending in CRLF."""
    with connect(addr, timeout) as s:
        if host is None:
            s.sendall(f"GET {path} HTTP/1.0\r\n{headers}\r\n".encode())
        else:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}"
                      f"Connection: close\r\n\r\n".encode())
        r, _ = _read_response(s, b"")
    _track_response(r)
    return r


def try_http_get(addr, path="/", timeout=5.0):
    """Like http_get but returns None when the connection is closed without a response."""
    try:
        return http_get(addr, path, timeout)
    except (Closed, ConnectionRefusedError, ConnectionResetError):
        return None


def expect_closed(sock, within=2.0, what="connection"):
    """Fail unless sock gets EOF or a reset (and no data) within `within` seconds.
    Returns the seconds it took."""
    t0 = time.monotonic()
    sock.settimeout(within)
    try:
        d = sock.recv(65536)
    except socket.timeout:
        raise Fail(f"{what}: still open after {within:g}s, expected it closed")
    except (ConnectionResetError, ConnectionAbortedError):
        d = b""
    if d:
        raise Fail(f"{what}: expected close, got {len(d)} bytes: {d[:80]!r}")
    return time.monotonic() - t0


def echo_roundtrip(addr, data, timeout=20.0, shut=True):
    """Send data on a fresh connection while reading; after the last byte shut
    down our write side (half-close) and read until EOF. Returns what came back."""
    fam, sa = parse_addr(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sa)
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    view, sent, got, deadline = memoryview(data), 0, bytearray(), time.monotonic() + timeout
    writing, eof = True, False
    try:
        if not data and shut:
            s.shutdown(socket.SHUT_WR)
            writing = False
            sel.modify(s, selectors.EVENT_READ)
        while not eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f"echo: timed out after {timeout:g}s: sent {sent} of {len(data)},"
                           f" received {len(got)}")
            for _, ev in sel.select(left):
                if ev & selectors.EVENT_WRITE and writing:
                    try:
                        sent += s.send(view[sent:sent + 262144])
                    except BlockingIOError:
                        pass
                    if sent == len(data):
                        writing = False
                        if shut:
                            s.shutdown(socket.SHUT_WR)
                        sel.modify(s, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    try:
                        d = s.recv(262144)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        raise Closed(f"echo: reset after {len(got)} bytes back")
                    if not d:
                        eof = True
                        break
                    got += d
                    if not shut and len(got) >= len(data):
                        eof = True
                        break
    finally:
        sel.close()
        s.close()
    return bytes(got)


def concurrent_gets(addr, n, path="/", timeout=30.0):
    """Open n connections at once, each sending GET path (Connection: close),
    and read every answer in one select loop. Returns a list of n items, each a
    Response or the Exception that connection ended with."""
    fam, sa = parse_addr(addr)
    sel = selectors.DefaultSelector()
    state = {}
    results = [None] * n
    req = _request(path, False)
    for i in range(n):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(sa)
        except BlockingIOError:
            pass
        except OSError as e:
            results[i] = e
            s.close()
            continue
        state[s] = [i, req, bytearray()]
        sel.register(s, selectors.EVENT_WRITE)
    deadline = time.monotonic() + timeout
    try:
        while state:
            left = deadline - time.monotonic()
            if left <= 0:
                for s, (i, _, buf) in state.items():
                    results[i] = Fail(f"no complete answer within {timeout:g}s ({len(buf)} bytes)")
                break
            for key, ev in sel.select(min(left, 1.0)):
                s = key.fileobj
                i, out, buf = state[s]
                done = None
                try:
                    if ev & selectors.EVENT_WRITE:
                        k = s.send(out)
                        out = out[k:]
                        state[s][1] = out
                        if not out:
                            sel.modify(s, selectors.EVENT_READ)
                    if ev & selectors.EVENT_READ:
                        d = s.recv(65536)
                        if d:
                            buf += d
                        else:
                            done = buf
                except BlockingIOError:
                    pass
                except OSError as e:
                    done = e
                if done is not None:
                    if isinstance(done, Exception):
                        results[i] = done
                    else:
                        try:
                            results[i], _ = _read_response(_BytesSock(bytes(done)), b"")
                            _track_response(results[i])
                        except (Closed, Fail) as e:
                            results[i] = e
                    sel.unregister(s)
                    s.close()
                    del state[s]
    finally:
        for s in state:
            s.close()
        sel.close()
    return results


class _BytesSock:
    """Feeds _read_response from bytes already received."""

    def __init__(self, data):
        self.data = data

    def recv(self, n):
        d, self.data = self.data[:n], self.data[n:]
        return d


# ---------------------------------------------------------------------------
# The notify socket the daemon reports to


class NotifyListener:
    """A datagram unix socket collecting sd_notify messages in a thread."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # (seconds since creation, {field: value}, raw text)
        self.cond = threading.Condition()
        self.t0 = time.monotonic()
        self.closed = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            fields = {}
            for line in text.split("\n"):
                k, sep, v = line.partition("=")
                if sep:
                    fields[k] = v
            with self.cond:
                self.messages.append((time.monotonic() - self.t0, fields, text))
                self.cond.notify_all()

    def count(self, field, value=None):
        """How many messages carried field (with value, when given)."""
        with self.cond:
            return sum(1 for _, f, _ in self.messages
                       if field in f and (value is None or f[field] == value))

    def wait(self, field, value=None, count=1, timeout=10.0, alive=None):
        """Wait until `count` messages carried field[=value]. alive() returning
        False ends the wait early. Returns True when seen."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                n = sum(1 for _, f, _ in self.messages
                        if field in f and (value is None or f[field] == value))
                if n >= count:
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or (alive and not alive()):
                    return False
                self.cond.wait(min(left, 0.05))

    def last(self, field):
        """The value of field in the newest message that had it, or None."""
        with self.cond:
            for _, f, _ in reversed(self.messages):
                if field in f:
                    return f[field]
        return None

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


# ---------------------------------------------------------------------------
# The test context

_current = None  # the running Test, so responses can record backend pids


def _track_response(r):
    if _current is not None and r.pid:
        _current.track(r.pid)


def _others_can_enter(path):
    """Whether every folder from path up to / lets other users pass (o+x)."""
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & 0o001:
                return False
        except OSError:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def _tmp_base():
    # unix socket paths must stay under 108 bytes: prefer a short TMPDIR; and
    # what a test runs as another user (Test.shared_copy) must be reachable
    # from there, so not a TMPDIR inside a private folder.
    base = os.environ.get("TMPDIR")
    if base and len(base) < 40 and _others_can_enter(base):
        return base
    return "/tmp"


class GroupWatch:
    """Samples the daemon's backends every 20 ms in a thread and remembers the
    most weight that was alive at once: backends maps a service's backend
    address (its zp-testd --listen) to (service, weight). A process counts from
    its fork until it is reaped (a zombie still counts)."""

    def __init__(self, t, backends, interval=0.02):
        self.t, self.backends, self.interval = t, backends, interval
        self.max_weight, self.max_alive, self.samples = 0, (), 0
        self.seen = {}  # pid -> service (a zombie has no cmdline left)
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def alive(self):
        """The services whose backend process exists now."""
        out = set()
        for pid in self.t.children():
            name = self.seen.get(pid)
            if name is None:
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        argv = f.read().decode(errors="replace").split("\0")
                except OSError:
                    continue
                for addr, (n, _) in self.backends.items():
                    if addr in argv:
                        name = self.seen[pid] = n
            if name:
                out.add(name)
        return out

    def _run(self):
        weights = dict(self.backends.values())
        while not self.stop_ev.wait(self.interval):
            if not self.t.daemon_alive():
                continue
            now = self.alive()
            w = sum(weights[n] for n in now)
            self.samples += 1
            if w > self.max_weight:
                self.max_weight, self.max_alive = w, tuple(sorted(now))

    def stop(self):
        self.stop_ev.set()
        self.thread.join()
        return self.max_weight


class Test:
    """One test's world: its directory, configuration, daemon and cleanup."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="zptest-", dir=_tmp_base())
        self.conf = os.path.join(self.dir, "zeroproxy.conf")
        self.services_dir = os.path.join(self.dir, "services.d")
        self.control_socket = os.path.join(self.dir, "control.sock")
        self.state_dir = os.path.join(self.dir, "state")
        self.log_path = os.path.join(self.dir, "zeroproxy.log")
        os.mkdir(self.services_dir)
        self.global_settings = {
            "services_dir": "services.d",
            "control_socket": self.control_socket,
            "state_dir": "state",
            "log_level": os.environ.get("ZP_LOG_LEVEL", "info"),
        }
        self.global_written = False
        self.groups = {}  # [group NAME] -> capacity, written by write_global
        self.daemon = None
        self.daemon_pid = None
        self.pids = set()
        self.ports = set()
        self.notify = NotifyListener(os.path.join(self.dir, "notify.sock"))
        self.log_lines = []  # (seconds since daemon start, line)
        self.log_cond = threading.Condition()
        self.log_file = open(self.log_path, "a")
        self.t_start = None
        self.cleaned = False

    # -- files and ports ---------------------------------------------------

    def path(self, *parts):
        """A path inside the test directory."""
        return os.path.join(self.dir, *parts)

    def port(self, host="127.0.0.1"):
        """A free TCP port on host, distinct from the others this test got."""
        for _ in range(100):
            p = free_port(host)
            if p not in self.ports:
                self.ports.add(p)
                return p
        raise Error("no free port")

    def shared_copy(self, binary):
        """The path of a copy of the executable `binary` that every user can
        run. The build may sit where only its owner gets in (a clone in /root,
        mode 0700), and a backend with user = nobody or a client run as nobody
        could not exec it there. The copy goes into bin/ of the test's folder,
        which is opened for others to pass through (0711: not to list) with
        bin/ 0755, and is removed with it."""
        bindir = os.path.join(self.dir, "bin")
        dst = os.path.join(bindir, os.path.basename(binary))
        if not os.path.exists(dst):
            os.makedirs(bindir, exist_ok=True)
            os.chmod(self.dir, 0o711)
            os.chmod(bindir, 0o755)
            try:
                shutil.copyfile(binary, dst + ".tmp")
            except OSError as e:
                raise Error(f"cannot copy {binary} for other users: {e}")
            os.chmod(dst + ".tmp", 0o755)
            os.rename(dst + ".tmp", dst)
        return dst

    def testd(self, *args):
        """The exec = line for zp-testd with args, quoted: a copy of zp-testd
        that a backend run as another user can exec too (shared_copy)."""
        return shlex.join([self.shared_copy(ZP_TESTD), *[str(a) for a in args]])

    def write_global(self, **settings):
        """Write zeroproxy.conf; keyword arguments override or add keys (None drops one)."""
        self.global_settings.update(settings)
        lines = ["[zeroproxy]"]
        for k, v in self.global_settings.items():
            if v is not None:
                lines.append(f"{k} = {v}")
        for name, capacity in self.groups.items():
            lines += [f"[group {name}]", f"capacity = {capacity}"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.global_written = True

    def service(self, name, **keys):
        """Write services.d/NAME.conf from keys (section chosen by key name; a
        list gives a repeated key; None leaves the key out). Returns its path."""
        sections = {"service": [], "backend": [], "http": []}
        for k, v in keys.items():
            if v is None:
                continue
            if k == "service_group":
                k, sec = "group", "service"
            else:
                sec = "service" if k in SERVICE_KEYS else "backend" if k in BACKEND_KEYS else \
                    "http" if k in HTTP_KEYS else None
            if sec is None:
                raise Error(f"service {name}: unknown key {k!r} (use service_text for raw files)")
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                sections[sec].append(f"{k} = {item}")
        text = "[service]\n" + "\n".join(sections["service"]) + "\n\n[backend]\n" + \
            "\n".join(sections["backend"]) + "\n"
        if sections["http"]:
            text += "\n[http]\n" + "\n".join(sections["http"]) + "\n"
        return self.service_text(name, text)

    def service_text(self, name, text):
        """Write services.d/NAME.conf verbatim."""
        p = os.path.join(self.services_dir, name + ".conf")
        with open(p, "w") as f:
            f.write(text)
        return p

    def remove_service(self, name):
        os.unlink(os.path.join(self.services_dir, name + ".conf"))

    def testd_service(self, name="web", args=(), ready="connect", listen=None, address=None,
                      **keys):
        """Write a service NAME in front of zp-testd (http mode unless args say
        otherwise). listen defaults to a free 127.0.0.1 port and address to
        another one; with ready = socket the backend gets no --listen (it is
        handed fd 3), and address=False leaves the address out. Other keys go
        to service(). Returns the (first) listen address as a string."""
        if listen is None:
            listen = f"127.0.0.1:{self.port()}"
        if address is None:
            address = f"127.0.0.1:{self.port()}"
        argv = [str(a) for a in args]
        if ready != "socket":
            argv = ["--listen", address] + argv
        self.service(name, listen=listen, exec=self.testd(*argv),
                     address=address or None, ready=ready, **keys)
        first = listen[0] if isinstance(listen, (list, tuple)) else listen
        return first

    # -- the daemon --------------------------------------------------------

    def start(self, wait_ready=True, timeout=10.0, wrapper=(), env=None, args=(), binary=None):
        """Start `zeroproxy run -c CONF` (behind an optional wrapper command such
        as systemd-socket-activate) and, with wait_ready, wait for READY=1.
        binary replaces the zeroproxy binary (e.g. a shared_copy of it)."""
        if self.daemon is not None:
            raise Error("daemon already started")
        if not os.access(ZEROPROXY, os.X_OK):
            raise Error(f"zeroproxy binary not found at {ZEROPROXY} (set ZEROPROXY or ZP_BUILDDIR)")
        if not os.access(ZP_TESTD, os.X_OK):
            raise Error(f"zp-testd not found at {ZP_TESTD} (set ZP_TESTD or ZP_BUILDDIR)")
        if not self.global_written:
            self.write_global()
        # nothing of the caller's systemd context may leak into the daemon
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("LISTEN_", "WATCHDOG_"))
             and k not in ("NOTIFY_SOCKET", "RUNTIME_DIRECTORY", "STATE_DIRECTORY",
                           "CONFIGURATION_DIRECTORY", "INVOCATION_ID")}
        e["NOTIFY_SOCKET"] = self.notify.path
        e.update(env or {})
        cmd = [*wrapper, binary or ZEROPROXY, "run", "-c", self.conf, *args]
        # A restarted daemon must send a READY=1 of its own: the earlier
        # daemon's are still in the list.
        readies = self.notify.count("READY", "1")
        self._log_line(f"# harness: {shlex.join(cmd)}")
        self.t_start = time.monotonic()
        self.daemon = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, env=e, cwd=self.dir,
                                       start_new_session=True)
        self.daemon_pid = self.daemon.pid
        threading.Thread(target=self._read_log, args=(self.daemon.stdout,), daemon=True).start()
        if wait_ready:
            self.wait_ready(timeout, count=readies + 1)
        return self.daemon

    def wait_ready(self, timeout=10.0, count=1):
        """Wait for the daemon's count-th READY=1; fail if it exits first."""
        if self.notify.wait("READY", "1", count=count, timeout=timeout, alive=self.daemon_alive):
            return
        rc = self.daemon.poll()
        if rc is not None:
            raise Fail(f"zeroproxy exited with status {rc} before READY=1")
        raise Fail(f"zeroproxy sent no READY=1 within {timeout:g}s")

    def daemon_alive(self):
        return self.daemon is not None and self.daemon.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM the daemon and wait; returns its exit status (SIGKILL after timeout)."""
        if self.daemon is None:
            return None
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                raise Fail(f"zeroproxy did not exit within {timeout:g}s of SIGTERM")
        return self.daemon.returncode

    def signal(self, sig):
        self.daemon.send_signal(sig)

    def rss_kib(self):
        """The daemon's VmRSS in KiB."""
        return rss_kib(self.daemon_pid)

    def uses_asan(self):
        """Whether the daemon runs with AddressSanitizer (RSS figures mean nothing then)."""
        try:
            with open(f"/proc/{self.daemon_pid}/maps") as f:
                return "libasan" in f.read()
        except OSError:
            return False

    def children(self):
        """Live direct children of the daemon."""
        return [p for p in descendants(self.daemon_pid) if _ppid(p) == self.daemon_pid]

    def track(self, pid):
        """Remember a backend pid so that cleanup kills it if it still runs."""
        self.pids.add(int(pid))

    def read_pidfile(self, path, timeout=5.0):
        """Wait for a zp-testd --pidfile and return (and track) its pid."""
        def get():
            try:
                with open(path) as f:
                    return int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0
        pid = wait_until(get, timeout, what=f"pid file {path}")
        self.track(pid)
        return pid

    # -- the log -----------------------------------------------------------

    def _log_line(self, line):
        t = time.monotonic() - self.t_start if self.t_start else 0.0
        with self.log_cond:
            self.log_lines.append((t, line))
            self.log_cond.notify_all()
        try:
            self.log_file.write(f"[{t:8.3f}] {line}\n")
            self.log_file.flush()
        except ValueError:
            pass

    def _read_log(self, pipe):
        for raw in iter(pipe.readline, b""):
            self._log_line(raw.decode("utf-8", "replace").rstrip("\n"))

    def log(self):
        """The daemon's output so far (backends' stderr included), one string."""
        with self.log_cond:
            return "\n".join(line for _, line in self.log_lines)

    def mark(self):
        """A position in the log, for since= below."""
        with self.log_cond:
            return len(self.log_lines)

    def log_matches(self, pattern, since=0):
        """Lines (from position since) matching the regex pattern."""
        rx = re.compile(pattern)
        with self.log_cond:
            return [line for _, line in self.log_lines[since:] if rx.search(line)]

    def count_log(self, pattern, since=0):
        return len(self.log_matches(pattern, since))

    def wait_log(self, pattern, timeout=5.0, count=1, since=0):
        """Wait until `count` lines (from position since) match the regex pattern;
        returns the last matching line. Fails with the pattern on timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.log_cond:
            while True:
                hits = [line for _, line in self.log_lines[since:] if rx.search(line)]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail(f"log: {'no' if not hits else len(hits)} line(s) matching "
                               f"/{pattern}/ after {timeout:g}s (wanted {count})")
                self.log_cond.wait(min(left, 0.05))

    def log_time(self, pattern, since=0):
        """Seconds since daemon start at which the first line matching pattern appeared."""
        rx = re.compile(pattern)
        with self.log_cond:
            for t, line in self.log_lines[since:]:
                if rx.search(line):
                    return t
        return None

    def expect_log_count(self, pattern, n, what=None, settle=0.2, since=0):
        """Wait for n lines matching pattern, give the daemon `settle` seconds to
        log more, then fail unless there are exactly n."""
        if n:
            self.wait_log(pattern, timeout=5, count=n, since=since)
        time.sleep(settle)
        expect_eq(self.count_log(pattern, since), n, what or f"lines matching /{pattern}/")

    def expect_log(self, pattern, since=0):
        expect(self.count_log(pattern, since), f"log has no line matching /{pattern}/")

    def expect_no_log(self, pattern, since=0):
        hits = self.log_matches(pattern, since)
        expect(not hits, f"log has an unexpected line matching /{pattern}/: {hits[:1]}")

    # -- control -----------------------------------------------------------

    def zeroproxy(self, *args, timeout=10.0, check=True):
        """Run the zeroproxy binary with args; returns CompletedProcess (text)."""
        r = subprocess.run([ZEROPROXY, *args], capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Fail(f"zeroproxy {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def status_json(self, *names):
        """`zeroproxy status --json -s SOCK [NAME...]`, parsed."""
        r = self.zeroproxy("status", "--json", "-s", self.control_socket, *names)
        try:
            return json.loads(r.stdout)
        except ValueError as e:
            raise Fail(f"zeroproxy status --json: not JSON ({e}): {r.stdout[:200]!r}")

    def syscalls_over(self, secs, what):
        """The daemon's system calls over secs seconds, as strace -p sees them
        (skips the test when strace cannot attach), without strace's own
        attach and detach lines."""
        out = self.path(f"strace-{what}.txt")
        p = subprocess.Popen(["strace", "-f", "-qq", "-o", out, "-p", str(self.daemon_pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(secs)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
        if "attach" in err.decode() or not os.path.exists(out):
            skip(f"strace cannot attach here: {err.decode().strip()}")
        with open(out) as f:
            lines = [ln.strip() for ln in f if ln.strip()]
        # attaching and detaching interrupt the wait the daemon sleeps in: those
        # lines are strace's own
        return [ln for ln in lines
                if not any(x in ln for x in ("restart_syscall", "resumed>", "<detached"))]

    def service_status(self, name):
        """The status object of one service."""
        for s in self.status_json(name).get("services", []):
            if s.get("name") == name:
                return s
        raise Fail(f"status has no service {name!r}")

    # -- cleanup -----------------------------------------------------------

    def dump(self, out=sys.stdout):
        """Print the daemon log (for failures)."""
        if self.daemon is not None:
            time.sleep(0.3)  # let the reader catch the daemon's last lines
        with self.log_cond:
            lines = list(self.log_lines)
        if self.daemon is not None:
            rc = self.daemon.poll()
            state = ("still running" if rc is None else
                     f"killed by signal {signal.Signals(-rc).name}" if rc < 0 else
                     f"exited with status {rc}")
            print(f"---- zeroproxy (pid {self.daemon_pid}) {state} ----", file=out)
        print(f"---- zeroproxy log ({len(lines)} lines, {self.log_path}) ----", file=out)
        if len(lines) > 400:
            print(f"[... {len(lines) - 400} lines left out ...]", file=out)
            lines = lines[-400:]
        for t, line in lines:
            print(f"[{t:8.3f}] {line}", file=out)
        if self.notify.messages:
            print("---- sd_notify messages to the harness ----", file=out)
            for t, _, text in self.notify.messages:
                print(f"[{t:8.3f}] {text.strip()!r}", file=out)
        print("---- end ----", file=out, flush=True)

    def finish(self):
        """After a passing test: a daemon still running must exit 0 on SIGTERM
        (sanitizer leak reports make that fail), and no sanitizer may have
        reported anything in the log."""
        if self.daemon is not None and self.daemon.poll() is None:
            rc = self.stop()
            expect_eq(rc, 0, "zeroproxy's exit status on SIGTERM at the end of the test")
        time.sleep(0.05)  # let the log reader catch up
        hits = self.log_matches(r"ERROR: (?:Address|Leak|Undefined)Sanitizer|runtime error:")
        expect(not hits, f"sanitizer report in the log: {hits[:1]}")

    def cleanup(self):
        """Kill everything this test started and remove its directory. Idempotent."""
        if self.cleaned:
            return
        self.cleaned = True
        victims = []
        if self.daemon is not None:
            if self.daemon.poll() is None:
                victims = descendants(self.daemon_pid)
                self.daemon.send_signal(signal.SIGTERM)
                try:
                    self.daemon.wait(5)
                except subprocess.TimeoutExpired:
                    _note("zeroproxy ignored SIGTERM for 5s: SIGKILL")
                    self.daemon.kill()
                    self.daemon.wait()
        for pid in set(victims) | self.pids:
            if pid_alive(pid) and self._ours(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.notify.close()
        try:
            self.log_file.close()
        except OSError:
            pass
        if os.environ.get("ZP_KEEP"):
            _note(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _ours(self, pid):
        # a pid may have been reused since: only kill what looks like ours
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            return False
        return b"zp-testd" in cmd or self.dir.encode() in cmd or b"zeroproxy" in cmd


# ---------------------------------------------------------------------------
# The runner


def run(test_fn):
    """Run test_fn(t) with a fresh Test and exit with the automake code."""
    global _current
    try:
        t = Test()
    except Exception as e:
        print(f"ERROR: harness set-up failed: {e}", flush=True)
        sys.exit(99)
    _current = t
    atexit.register(t.cleanup)

    def on_term(signum, frame):
        raise Error(f"test killed by signal {signum}")

    def on_alarm(signum, frame):
        raise Fail(f"test timed out after {timeout}s (ZP_TEST_TIMEOUT)")

    # bursts of hundreds of connections: the daemon inherits this limit
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    timeout = int(os.environ.get("ZP_TEST_TIMEOUT", "120"))
    signal.alarm(timeout)
    name = os.path.basename(sys.argv[0])
    _note(f"{name}: dir {t.dir}, zeroproxy {ZEROPROXY}")
    code = 0
    try:
        test_fn(t)
        t.finish()
        print(f"PASS: {name}", flush=True)
    except Skip as e:
        print(f"SKIP: {name}: {e}", flush=True)
        code = 77
    except Error as e:
        print(f"ERROR: {name}: {e}", flush=True)
        traceback.print_exc(file=sys.stdout)
        t.dump()
        code = 99
    except BaseException as e:  # Fail, assertion, unexpected exception: the product failed
        print(f"FAIL: {name}: {type(e).__name__}: {e}", flush=True)
        traceback.print_exc(file=sys.stdout)
        t.dump()
        code = 1
    finally:
        signal.alarm(0)
        try:
            t.cleanup()
        except Exception as e:  # never let cleanup hide the outcome
            print(f"# cleanup: {e}", flush=True)
    sys.stdout.flush()
    os._exit(code)
