#!/usr/bin/env python3
"""zp-testd and the harness on their own, without zeroproxy: every option of the
test backend behaves as the other tests assume, and the harness helpers work."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def spawn(t, *args, env=None, **kw):
    p = subprocess.Popen([zt.ZP_TESTD, *map(str, args)], env=env, **kw)
    t.track(p.pid)
    return p


def wait_listening(addr, timeout=5.0):
    def ok():
        try:
            zt.connect(addr, 1).close()
            return True
        except OSError:
            return False
    zt.wait_until(ok, timeout, what=f"{addr} to accept")


def exit_status(p, timeout=5.0):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise zt.Fail(f"pid {p.pid} did not exit within {timeout}s")


def test(t):
    if not os.access(zt.ZP_TESTD, os.X_OK):
        zt.error(f"no zp-testd at {zt.ZP_TESTD}")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LISTEN_") and k != "NOTIFY_SOCKET"}

    # http: keep-alive, the info body, /bytes, /sleep, /exit
    addr = f"127.0.0.1:{t.port()}"
    t0 = time.monotonic()
    p = spawn(t, "--listen", addr, "--pidfile", t.path("h.pid"), env=env)
    wait_listening(addr)
    zt._note(f"zp-testd listening after {(time.monotonic() - t0) * 1000:.1f} ms (spawn included)")
    zt.expect_eq(t.read_pidfile(t.path("h.pid")), p.pid, "pidfile")
    with zt.HttpConn(addr) as c:
        r1 = c.get("/one")
        r2 = c.get("/two")
    zt.expect_eq(r1.status, 200, "status")
    zt.expect_eq(r1.pid, p.pid, "pid in body")
    zt.expect_eq(r2.kv["path"], "/two", "path")
    zt.expect_eq(r2.kv["requests"], "2", "requests on one keep-alive connection")
    zt.expect_eq(r2.kv["connections"], "2", "the probe and one keep-alive connection")
    for k in ("uptime_ms", "listen_fds", "listen_fdnames", "inherited_fds", "notified",
              "ready", "accepted_before_ready", "mode", "ppid", "notify_socket"):
        zt.expect(k in r1.kv, f"info body has {k}")
    zt.expect_eq(r1.kv["listen_fds"], "0", "listen_fds without socket activation")
    zt.expect_eq(r1.kv["inherited_fds"], "0,1,2", "inherited fds")
    body = zt.http_get(addr, "/bytes/1000003").body
    zt.expect_eq(len(body), 1000003, "/bytes length")
    zt.expect(body == (bytes(range(251)) * (1000003 // 251 + 1))[:1000003], "/bytes pattern")
    s0 = time.monotonic()
    zt.http_get(addr, "/sleep/150")
    zt.expect(time.monotonic() - s0 >= 0.14, "/sleep/150 waits")
    # pipelined requests on one connection
    with zt.connect(addr) as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    zt.expect(data.count(b"HTTP/1.1 200 OK") == 2 and b"path=/b" in data, "pipelined requests")
    r = zt.http_get(addr, "/exit")
    zt.expect_eq(r.status, 200, "/exit answers")
    zt.expect_eq(exit_status(p), 0, "/exit exit status")

    # /crash: the connection ends without an answer, the process dies of SIGABRT
    p = spawn(t, "--listen", addr, env=env)
    wait_listening(addr)
    try:
        zt.http_get(addr, "/crash")
        zt.fail("/crash answered")
    except zt.Closed:
        pass
    zt.expect_eq(exit_status(p), -signal.SIGABRT, "/crash exit status")

    # echo: 1 MiB both ways, half-close with no data
    eaddr = f"127.0.0.1:{t.port()}"
    p = spawn(t, "--listen", eaddr, "--mode", "echo", env=env)
    wait_listening(eaddr)
    data = os.urandom(1 << 20)
    zt.expect(zt.echo_roundtrip(eaddr, data) == data, "1 MiB echoed byte-exact")
    zt.expect_eq(zt.echo_roundtrip(eaddr, b""), b"", "half-close with no data")
    with zt.connect(eaddr) as s:
        s.sendall(b"hello")
        s.shutdown(socket.SHUT_WR)
        zt.expect_eq(s.recv(100), b"hello", "echo after half-close")
        zt.expect_eq(s.recv(100), b"", "EOF after half-close")
    # SIGTERM: exit 0
    p.send_signal(signal.SIGTERM)
    zt.expect_eq(exit_status(p), 0, "SIGTERM exit status")

    # unix listen; ignore-term; term-delay
    uaddr = "unix:" + t.path("b.sock")
    p = spawn(t, "--listen", uaddr, "--ignore-term", env=env)
    wait_listening(uaddr)
    zt.expect_eq(zt.http_get(uaddr).pid, p.pid, "unix listen")
    p.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    zt.expect(p.poll() is None, "--ignore-term survives SIGTERM")
    p.kill()
    zt.expect_eq(exit_status(p), -signal.SIGKILL, "SIGKILL")
    p = spawn(t, "--listen", uaddr, "--term-delay", "300", env=env)
    wait_listening(uaddr)
    c = zt.HttpConn(uaddr)
    c.get("/")
    p.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    zt.expect_eq(c.get("/still").status, 200, "--term-delay keeps serving open connections")
    zt.expect_eq(exit_status(p), 0, "--term-delay exit status")
    c.close()

    # --exit-code, --exit-if
    p = spawn(t, "--exit-code", "3", env=env)
    zt.expect_eq(exit_status(p), 3, "--exit-code 3")
    p = spawn(t, "--exit-code", "3", "--exit-if", t.path("nope"), "--listen", addr, env=env)
    wait_listening(addr)
    zt.expect(p.poll() is None, "--exit-if with a missing file runs")
    p.kill()
    p.wait()
    open(t.path("yes"), "w").close()
    p = spawn(t, "--exit-code", "4", "--exit-if", t.path("yes"), "--listen", addr, env=env)
    zt.expect_eq(exit_status(p), 4, "--exit-if with the file present")
    # bad usage
    p = spawn(t, "--bogus", env=env, stderr=subprocess.DEVNULL)
    zt.expect_eq(exit_status(p), 2, "unknown option")

    # --start-delay, --burn-cpu-child (its CPU shows in the rusage of zp-testd)
    s0 = time.monotonic()
    p = spawn(t, "--start-delay", "200", "--burn-cpu-child", "60", "--listen", addr, env=env)
    wait_listening(addr)
    zt.expect(time.monotonic() - s0 >= 0.2, "--start-delay delays listening")
    p.send_signal(signal.SIGTERM)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    zt.expect(ru.ru_utime + ru.ru_stime >= 0.05,
              f"--burn-cpu-child 60 used {ru.ru_utime + ru.ru_stime:.3f}s of CPU")

    # LISTEN_FDS: fd 3 passed, LISTEN_PID checked, names reported, nothing else leaks
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    laddr = "127.0.0.1:%d" % lsock.getsockname()[1]
    for pid_expr, want_fds in (("$$", "1"), ("1", "0")):
        e = dict(env, LISTEN_FDS="1", LISTEN_FDNAMES="web")
        fd = lsock.fileno()
        cmd = f'exec 3<&{fd} {fd}<&-; LISTEN_PID={pid_expr} exec "$0" "$@"'
        extra = [] if want_fds == "1" else ["--listen", addr]
        p = subprocess.Popen(["sh", "-c", cmd, zt.ZP_TESTD, *extra], env=e,
                             pass_fds=[fd], stderr=subprocess.DEVNULL)
        t.track(p.pid)
        a = laddr if want_fds == "1" else addr
        if want_fds == "0":
            wait_listening(addr)
        r = zt.http_get(a)
        zt.expect_eq(r.kv["listen_fds"], want_fds, f"listen_fds with LISTEN_PID={pid_expr}")
        zt.expect_eq(r.kv["listen_fdnames"], "web" if want_fds == "1" else "", "listen_fdnames")
        zt.expect_eq(r.kv["inherited_fds"], "0,1,2,3", "inherited fds with socket activation")
        p.kill()
        p.wait()
    lsock.close()

    # the same under systemd-socket-activate, when it is here
    if zt.shutil.which("systemd-socket-activate"):
        sport = t.port()
        p = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{sport}",
                              "--fdname=web", zt.ZP_TESTD],
                             stderr=subprocess.DEVNULL, env=env)
        t.track(p.pid)
        r = zt.wait_until(lambda: zt.try_http_get(f"127.0.0.1:{sport}"), 5,
                          what="systemd-socket-activate")
        zt.expect_eq((r.kv["listen_fds"], r.kv["listen_fdnames"]), ("1", "web"),
                     "systemd-socket-activate fds")
        p.kill()
        p.wait()
    else:
        zt._note("systemd-socket-activate missing: that part skipped")

    # notify: a path and an abstract address; READY only after the delay, and
    # a connection accepted before READY is counted
    n = zt.NotifyListener(t.path("n.sock"))
    s0 = time.monotonic()
    p = spawn(t, "--listen", addr, "--notify-delay", "300",
              env=dict(env, NOTIFY_SOCKET=n.path))
    wait_listening(addr)
    early = zt.connect(addr)
    zt.expect(n.wait("READY", "1", timeout=5), "READY=1 from --notify-delay")
    zt.expect(time.monotonic() - s0 >= 0.29, "READY=1 not before the delay")
    zt.expect(n.last("STATUS"), "a STATUS= line")
    zt.expect_eq(n.last("MAINPID"), str(p.pid), "MAINPID")
    r = zt.http_get(addr)
    zt.expect_eq(r.kv["accepted_before_ready"], "2", "the probe and the early connection counted")
    zt.expect_eq((r.kv["notified"], r.kv["ready"]), ("1", "1"), "notified and ready")
    zt.expect_eq(r.kv["notify_socket"], n.path, "notify_socket shown")
    early.close()
    p.kill()
    p.wait()
    n.close()
    abstract = f"@zptest-{os.getpid()}"
    asock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    asock.bind("\0" + abstract[1:])
    asock.settimeout(5)
    p = spawn(t, "--listen", addr, env=dict(env, NOTIFY_SOCKET=abstract))
    msg = asock.recv(4096).decode()
    zt.expect("READY=1" in msg.split("\n"), f"READY=1 on an abstract socket: {msg!r}")
    r = zt.http_get(addr)
    zt.expect_eq(r.kv["accepted_before_ready"], "0", "nothing before READY")
    p.kill()
    p.wait()
    asock.close()

    # many clients at once, and a refused connection reads as Closed
    p = spawn(t, "--listen", addr, env=env)
    wait_listening(addr)
    res = zt.concurrent_gets(addr, 300)
    bad = [x for x in res if not isinstance(x, zt.Response) or x.status != 200]
    zt.expect(not bad, f"300 concurrent GETs: {len(bad)} failed, e.g. {bad[:1]}")
    zt.expect_eq({x.pid for x in res}, {p.pid}, "one pid")
    p.kill()
    p.wait()
    zt.expect(zt.try_http_get(addr) is None, "try_http_get on a closed port is None")
    zt.expect(not zt.pid_alive(p.pid), "pid_alive after exit")
    zt.expect(zt.pid_alive(os.getpid()), "pid_alive of ourselves")


zt.run(test)
