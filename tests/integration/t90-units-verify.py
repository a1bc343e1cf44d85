#!/usr/bin/env python3
"""t90 — the built systemd units pass `systemd-analyze verify`.

The units in the build dir name the installed binary (@bindir@/zeroproxy),
which need not exist yet, and systemd-analyze refuses a unit whose ExecStart=
is missing; so copies are verified whose ExecStart= names the built binary.
The socket template has no ListenStream= of its own (it comes from a drop-in),
so the instance zeroproxy@web.socket is verified with the documented drop-in
listen.conf. When man(1) is there, the Documentation= pages are checked too,
against this tree's man pages. Any warning about our units fails the test.
"""

import os
import re
import shutil
import subprocess

import zptest as zt

BUILDDIR = os.environ.get("ZP_BUILDDIR") or os.getcwd()
SRCDIR = os.environ.get("ZP_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def read(path):
    with open(path) as f:
        return f.read()


def test(t):
    sa = shutil.which("systemd-analyze")
    if not sa:
        zt.skip("systemd-analyze not installed")
    service = os.path.join(BUILDDIR, "units", "zeroproxy.service")
    socket = os.path.join(BUILDDIR, "units", "zeroproxy@.socket")
    for p in (service, socket):
        if not os.path.exists(p):
            zt.error(f"{p} not built (make builds it)")
    binary = zt.ZEROPROXY
    if not os.access(binary, os.X_OK):
        zt.error(f"no built zeroproxy at {binary}")

    svc_text, sock_text = read(service), read(socket)
    for name, text in (("zeroproxy.service", svc_text), ("zeroproxy@.socket", sock_text)):
        left = re.findall(r"@[a-z_]+@", text)
        zt.expect(not left, f"{name}: unsubstituted {left}")

    # What zeroproxy(8) says of the units.
    m = re.search(r"^ExecStart=(\S+) run$", svc_text, re.M)
    zt.expect(m and os.path.isabs(m.group(1)) and m.group(1).endswith("/zeroproxy"),
              "ExecStart= is BINDIR/zeroproxy run")
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed",
                 "Restart=on-failure", "WatchdogSec=30s", "RuntimeDirectory=zeroproxy",
                 "StateDirectory=zeroproxy", "ConfigurationDirectory=zeroproxy",
                 "Delegate=yes"):
        zt.expect(re.search(f"^{re.escape(line)}$", svc_text, re.M),
                  f"zeroproxy.service has {line}")
    for bad in ("NoNewPrivileges=yes", "DynamicUser=yes", "PrivateTmp=yes",
                "ProtectControlGroups=yes"):
        zt.expect(not re.search(f"^{re.escape(bad)}", svc_text, re.M),
                  f"zeroproxy.service must not have {bad}")
    for line in ("FileDescriptorName=%i", "Service=zeroproxy.service"):
        zt.expect(re.search(f"^{re.escape(line)}$", sock_text, re.M),
                  f"zeroproxy@.socket has {line}")
    zt.expect(not re.search(r"^Listen", sock_text, re.M),
              "zeroproxy@.socket has no Listen*= of its own")

    units = t.path("units")
    os.mkdir(units)
    with open(os.path.join(units, "zeroproxy.service"), "w") as f:
        f.write(re.sub(r"^ExecStart=\S+", f"ExecStart={binary}", svc_text, flags=re.M))
    with open(os.path.join(units, "zeroproxy@.socket"), "w") as f:
        f.write(sock_text)
    os.mkdir(os.path.join(units, "zeroproxy@web.socket.d"))
    with open(os.path.join(units, "zeroproxy@web.socket.d", "listen.conf"), "w") as f:
        f.write("[Socket]\nListenStream=127.0.0.1:8080\n")

    env = dict(os.environ, SYSTEMD_LOG_LEVEL="notice", SYSTEMD_PAGER="", SYSTEMD_COLORS="0")
    man = "--man=no"
    if shutil.which("man"):
        # A man tree holding this tree's pages, so Documentation= is checked.
        mt = t.path("man")
        for sec, page in (("8", "zeroproxy.8"), ("5", "zeroproxy.conf.5")):
            os.makedirs(os.path.join(mt, "man" + sec), exist_ok=True)
            shutil.copy(os.path.join(SRCDIR, "man", page), os.path.join(mt, "man" + sec, page))
        env["MANPATH"] = mt
        man = "--man=yes"

    cmd = [sa, "verify", man, os.path.join(units, "zeroproxy.service"),
           os.path.join(units, "zeroproxy@web.socket")]
    r = subprocess.run(cmd, cwd=units, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    print(f"# {' '.join(cmd)} -> {r.returncode}")
    for line in r.stdout.splitlines():
        print(f"#   {line}")
    zt.expect(r.returncode == 0, f"systemd-analyze verify failed ({r.returncode})")
    ours = [l for l in r.stdout.splitlines() if "zeroproxy" in l]
    zt.expect(not ours, f"systemd-analyze verify warned about our units: {ours}")

    # The drop-in is what gives the instance its address: without it the
    # instance must be refused, so the check above really read the drop-in.
    shutil.rmtree(os.path.join(units, "zeroproxy@web.socket.d"))
    r = subprocess.run([sa, "verify", "--man=no", os.path.join(units, "zeroproxy@web.socket")],
                       cwd=units, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60)
    zt.expect(r.returncode != 0 and "Listen" in r.stdout,
              "the socket template without a drop-in has no address")


zt.run(test)
