#!/usr/bin/env python3
"""`zeroproxy check` warns at FILE:LINE about a user or group that does not
exist, as it does about a missing program, and still exits 0 (the lookup is
repeated at each start, where it fails the start); a user and group that exist
give no warning."""
import grp
import os
import pwd
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

NOUSER = "zp-nosuchuser"
NOGROUP = "zp-nosuchgroup"


def check(t):
    r = t.zeroproxy("check", "-c", t.conf, check=False)
    zt.expect_eq(r.returncode, 0, f"zeroproxy check exit status (stderr: {r.stderr.strip()!r})")
    return [line for line in r.stderr.splitlines() if line]


def test(t):
    try:
        pwd.getpwnam(NOUSER)
        zt.skip(f"a user {NOUSER} exists here")
    except KeyError:
        pass
    try:
        grp.getgrnam(NOGROUP)
        zt.skip(f"a group {NOGROUP} exists here")
    except KeyError:
        pass
    t.write_global()
    path = t.service_text("web", (
        "[service]\n"                                           # 1
        f"listen = 127.0.0.1:{t.port()}\n"                     # 2
        "[backend]\n"                                           # 3
        f"exec = {t.testd('--listen', '127.0.0.1:1')}\n"       # 4
        "address = 127.0.0.1:1\n"                               # 5
        f"user = {NOUSER}\n"                                    # 6
        "; the group on its own line\n"                         # 7
        f"group = {NOGROUP}\n"))                                # 8
    got = check(t)
    zt.expect_eq(got, [
        f"warning: {path}:6: [backend] user: no such user {NOUSER}",
        f"warning: {path}:8: [backend] group: no such group {NOGROUP}",
    ], "check's warnings")

    # A user and a group that exist: no warning at all.
    me = pwd.getpwuid(os.getuid()).pw_name
    mygroup = grp.getgrgid(os.getgid()).gr_name
    t.service("web", listen=f"127.0.0.1:{t.port()}", exec=t.testd("--listen", "127.0.0.1:1"),
              address="127.0.0.1:1", user=me, group=mygroup)
    zt.expect_eq(check(t), [], f"check's warnings for user {me} and group {mygroup}")

    # The daemon logs the same warning when it loads the configuration.
    t.service("web", listen=f"127.0.0.1:{t.port()}", exec=t.testd("--listen", "127.0.0.1:1"),
              address="127.0.0.1:1", user=NOUSER)
    t.start()
    t.wait_log(rf"{re.escape(path)}:7: \[backend\] user: no such user {NOUSER}")


zt.run(test)
