#!/usr/bin/env python3
"""Client errors are one line and exit 1: no daemon, a stale socket left by a
killed daemon (which the next daemon replaces), permission denied. The control
socket is mode 0660 and removed when the daemon exits."""
import os
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def client(*args, preexec=None, binary=zt.ZEROPROXY):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=20,
                          preexec_fn=preexec)


def test(t):
    sock = t.control_socket
    t.testd_service("web")

    # No daemon yet: through -c and through -s.
    want = f"zeroproxy: cannot reach {sock}: No such file or directory \u2014 is zeroproxy running?\n"
    for args in (("status", "-c", t.conf), ("reload", "-s", sock), ("start", "web", "-s", sock)):
        t.write_global()
        r = client(*args)
        zt.expect_eq((r.returncode, r.stdout, r.stderr), (1, "", want), f"no daemon: {args}")

    t.start()
    st = os.stat(sock)
    zt.expect(stat.S_ISSOCK(st.st_mode), "control socket is a socket")
    zt.expect_eq(oct(st.st_mode & 0o7777), oct(0o660), "control socket mode")
    zt.expect_eq(client("status", "-s", sock).returncode, 0, "status works")

    # Permission denied (as nobody when root, else a socket we may not write).
    # nobody runs a copy of the client it can reach wherever the build is.
    if os.geteuid() == 0:
        os.chmod(t.dir, 0o755)
        r = client("status", "-s", sock, preexec=lambda: (os.setgid(65534), os.setuid(65534)),
                   binary=t.shared_copy(zt.ZEROPROXY))
    else:
        os.chmod(sock, 0)
        r = client("status", "-s", sock)
        os.chmod(sock, 0o660)
    zt.expect_eq((r.returncode, r.stdout, r.stderr),
                 (1, "", f"zeroproxy: cannot reach {sock}: Permission denied\n"),
                 "permission denied")

    # A daemon killed hard leaves its socket behind.
    pid = t.daemon_pid
    t.signal(signal.SIGKILL)
    t.daemon.wait(5)
    for c in t.children():
        os.kill(c, signal.SIGKILL)
    zt.expect(os.path.exists(sock), "stale socket left by SIGKILL")
    r = client("status", "-s", sock)
    zt.expect_eq((r.returncode, r.stderr),
                 (1, f"zeroproxy: cannot reach {sock}: Connection refused \u2014 is zeroproxy running?\n"),
                 "stale socket: connection refused")

    # The next daemon replaces it.
    t.daemon = None
    t.start()
    zt.expect(t.daemon_pid != pid, "a new daemon")
    r = client("status", "--json", "-s", sock)
    zt.expect_eq((r.returncode, r.stderr), (0, ""), "the new daemon answers on the replaced socket")
    zt.expect_eq(oct(os.stat(sock).st_mode & 0o7777), oct(0o660), "mode of the new socket")
    t.expect_log(r"stale")

    zt.expect_eq(t.stop(), 0, "exit status on SIGTERM")
    zt.expect(not os.path.exists(sock), "control socket removed on exit")
    r = client("stop", "web", "-s", sock)
    zt.expect_eq((r.returncode, r.stderr), (1, want), "after exit: not running")


zt.run(test)
