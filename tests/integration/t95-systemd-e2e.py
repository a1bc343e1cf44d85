#!/usr/bin/env python3
"""t95 — zeroproxy installed and run by a real systemd, end to end.

A throw-away systemd box (tests/systemd/box.sh: systemd 252 as PID 1 of private
namespaces over an overlay of the host's root, loopback-only network) gets
`make install` of this build (the monitoring files land in pkgdatadir), a
service `web` with `listen = systemd:web` in
front of zp-testd, and zeroproxy@web.socket with the documented drop-in. Then:

 1. a request to the socket starts zeroproxy.service and the backend;
 2. `zeroproxy status` shows the service running with the backend's pid;
 3. after idle_timeout the backend is stopped; the next request starts a new one;
 4. a broken configuration: `zeroproxy reload` exits 1, the journal has the
    error at priority err, and the service goes on; the fixed one reloads
    (`systemctl reload zeroproxy`) and the service still answers;
 5. `systemctl restart zeroproxy` while a client keeps connecting: no
    connection refused, and the usage counters survive the restart;
 6. `systemctl stop zeroproxy` leaves no backend process;
 7. `journalctl -u zeroproxy`: lines at info or notice from the daemon, no
    raw "<N>" prefixes (journald parsed them), the error at priority 3;
 8. zeroproxy logs natively (stderr is the journal stream): `journalctl
    ZEROPROXY_SERVICE=web` gives exactly web's lines, each with
    ZEROPROXY_EVENT, the state changes with ZEROPROXY_STATE; a second service
    `bad` (its program missing) has start-failed and refused entries; the
    rejected reload has ZEROPROXY_EVENT=reload-failed at priority 3.

Skips (77) when not root, without overlayfs or without /lib/systemd/systemd.
Clients run inside the box (its loopback is not the host's), through a small
script copied in. Everything inside vanishes with the box.
"""

import json
import os
import re
import shlex
import subprocess
import time

import zptest as zt

BUILDDIR = os.environ.get("ZP_BUILDDIR") or os.getcwd()
SRCDIR = os.environ.get("ZP_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BOX = os.path.join(SRCDIR, "tests", "systemd", "box.sh")

PORT = 8080          # the box has a network namespace of its own: fixed ports are safe
BAD_PORT = 8081      # a service whose program is missing
BACKEND_PORT = 18080
IDLE = 3             # idle_timeout of the test service, seconds

# The client inside the box. `get ADDR`: one GET, prints {"status", "pid"} or
# {"error"}. `loop ADDR STOPFILE`: GETs until STOPFILE exists, prints counts.
CLIENT = r'''
import json, os, socket, sys, time

def get(addr, timeout=10.0):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n")
        buf = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        raise EOFError("closed without a response (%d bytes)" % len(buf))
    kv = dict(l.split("=", 1) for l in body.decode().splitlines() if "=" in l)
    return {"status": int(head.split()[1]), "pid": int(kv.get("pid", 0))}

if sys.argv[1] == "get":
    try:
        r = get(sys.argv[2])
    except Exception as e:
        r = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(r))
elif sys.argv[1] == "loop":
    n = {"ok": 0, "refused": 0, "closed": 0, "other": 0, "pids": [], "errors": []}
    while not os.path.exists(sys.argv[3]):
        try:
            r = get(sys.argv[2])
            n["ok"] += 1
            if r["pid"] not in n["pids"]:
                n["pids"].append(r["pid"])
        except ConnectionRefusedError as e:
            n["refused"] += 1
            n["errors"].append("refused")
        except (EOFError, ConnectionResetError) as e:
            n["closed"] += 1
            n["errors"].append(str(e))
        except Exception as e:
            n["other"] += 1
            n["errors"].append("%s: %s" % (type(e).__name__, e))
        time.sleep(0.01)
    n["errors"] = n["errors"][:20]
    print(json.dumps(n))
'''


class Box:
    """A running systemd box and commands inside it."""

    def __init__(self, state, bindir):
        self.state = state
        self.started = False
        # Under distcheck the prefix is a temporary one, not on PATH.
        self.path_prefix = f"PATH={shlex.quote(bindir)}:$PATH; export PATH; "

    def start(self):
        t0 = time.monotonic()
        r = subprocess.run(["bash", BOX, "start", self.state], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=90)
        if r.returncode == 77:
            zt.skip(r.stdout.strip())
        if r.returncode != 0:
            zt.error(f"box did not boot: {r.stdout}")
        self.started = True
        zt._note(f"box booted in {time.monotonic() - t0:.2f}s")

    def run(self, cmd, check=True, timeout=60, input=None):
        """Run cmd (a shell command line) inside the box; returns the CompletedProcess."""
        r = subprocess.run(["bash", BOX, "run", self.state, "sh", "-c", self.path_prefix + cmd],
                           input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            zt.fail(f"in the box: {cmd!r} exited {r.returncode}\n--- stdout\n{r.stdout}"
                    f"--- stderr\n{r.stderr}")
        return r

    def popen(self, cmd):
        return subprocess.Popen(["bash", BOX, "run", self.state, "sh", "-c", self.path_prefix + cmd],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def write(self, path, text):
        self.run(f"mkdir -p {shlex.quote(os.path.dirname(path))} && cat >{shlex.quote(path)}",
                 input=text)

    def stop(self):
        if self.started:
            self.started = False
            r = subprocess.run(["bash", BOX, "stop", self.state], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            if r.returncode != 0:
                zt._note(f"box teardown: {r.stdout.strip()}")


def get(box):
    r = json.loads(box.run(f"python3 /root/zpclient.py get 127.0.0.1:{PORT}").stdout)
    zt.expect("error" not in r, f"GET through zeroproxy@web.socket: {r.get('error')}")
    zt.expect_eq(r["status"], 200, "HTTP status")
    return r["pid"]


def status(box, name="web"):
    r = box.run("zeroproxy status --json", check=False)
    zt.expect(r.returncode == 0, f"zeroproxy status --json exited {r.returncode}: {r.stderr.strip()}")
    for s in json.loads(r.stdout)["services"]:
        if s["name"] == name:
            return s
    zt.fail(f"service {name} not in zeroproxy status: {r.stdout}")


def pid_alive_in_box(box, pid):
    return box.run(f"test -d /proc/{int(pid)}", check=False).returncode == 0


def backend_user():
    """nobody when every folder up to zp-testd lets others in, else None (root)."""
    p = os.path.join(BUILDDIR, "tests", "backend")
    while p != "/":
        if not os.stat(p).st_mode & 0o001:
            return None
        p = os.path.dirname(p)
    return "nobody"


def make_var(name):
    """The value of a make variable of the build (e.g. bindir, expanded)."""
    # Not the outer make's flags: under `make check` they add "Entering
    # directory" lines and jobserver warnings.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", BUILDDIR, "-f", "Makefile",
                        "-f", "-", "zp-print-var"],
                       input=f"zp-print-var:\n\t@echo ZP_VAR=$({name})\n", env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    values = [line[len("ZP_VAR="):] for line in r.stdout.splitlines() if line.startswith("ZP_VAR=")]
    if r.returncode != 0 or not values or not values[-1]:
        zt.error(f"cannot read {name} from {BUILDDIR}/Makefile: {r.stderr.strip()}")
    return values[-1]


def test(t):
    r = subprocess.run(["bash", BOX, "check"], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        zt.skip(r.stderr.strip() or "cannot boot a systemd box here")
    testd = os.path.join(BUILDDIR, "tests", "backend", "zp-testd")
    if not os.access(testd, os.X_OK) or not os.access(os.path.join(BUILDDIR, "Makefile"), os.R_OK):
        zt.error(f"no build in {BUILDDIR} (set ZP_BUILDDIR)")

    state = t.path("box")
    os.mkdir(state)
    box = Box(state, make_var("bindir"))
    try:
        box.start()
        scenario(t, box, testd)
    finally:
        box.stop()


def scenario(t, box, testd):
    # --- install ---------------------------------------------------------------
    # Units go where this systemd looks whatever --prefix the build has (under
    # distcheck the configured unit dir is inside a temporary prefix).
    box.run(f"make -C {shlex.quote(BUILDDIR)} -s install "
            f"systemdsystemunitdir=/etc/systemd/system >/dev/null", timeout=300)
    helptext = box.run("zeroproxy --help").stdout
    m = re.search(r"default (/\S+)\)", helptext)
    zt.expect(m, f"zeroproxy --help names the default config: {helptext}")
    conf = m.group(1)
    confdir = os.path.dirname(conf)
    box.run(f"test -f {shlex.quote(conf)} && test -f {shlex.quote(confdir)}/services.d/example.conf.example")
    data = make_var("pkgdatadir")
    box.run(f"test -s {shlex.quote(data)}/prometheus-rules.yml && "
            f"test -s {shlex.quote(data)}/prometheus-scrape.yml && "
            f"test -s {shlex.quote(data)}/grafana-dashboard.json")
    box.write("/root/zpclient.py", CLIENT)

    user = backend_user()
    web_conf = (
        "[service]\n"
        "listen = systemd:web\n"
        f"idle_timeout = {IDLE}s\n"
        "\n[backend]\n"
        f"exec = {shlex.quote(testd)} --mode http --listen 127.0.0.1:{BACKEND_PORT}\n"
        f"address = 127.0.0.1:{BACKEND_PORT}\n"
        "ready = connect\n"
        "stop_timeout = 5s\n"
        + (f"user = {user}\n" if user else ""))
    box.write(f"{confdir}/services.d/web.conf", web_conf)
    box.write(f"{confdir}/services.d/bad.conf",
              f"[service]\nlisten = 127.0.0.1:{BAD_PORT}\n\n[backend]\n"
              f"exec = /nonexistent/zp-missing\naddress = 127.0.0.1:{BAD_PORT + 10000}\n")
    box.write("/etc/systemd/system/zeroproxy@web.socket.d/listen.conf",
              f"[Socket]\nListenStream=127.0.0.1:{PORT}\n")
    box.run("zeroproxy check")
    box.run("systemctl daemon-reload && systemctl enable --now zeroproxy@web.socket")
    zt.expect(box.run("systemctl is-active zeroproxy.service", check=False).stdout.strip()
              != "active", "zeroproxy is not running before the first connection")

    # --- 1, 2: the first request starts zeroproxy and the backend ---------------
    pid1 = get(box)
    zt.expect(pid1 > 0, "the backend answered with its pid")
    zt.expect_eq(box.run("systemctl is-active zeroproxy.service", check=False).stdout.strip(),
                 "active", "zeroproxy.service after the first connection")
    s = status(box)
    zt.expect_eq(s["state"], "running", "state after the first request")
    zt.expect_eq(s["pid"], pid1, "status pid is the backend that answered")
    zt.expect(s["listen"] == ["systemd:web"], f"listen as written: {s['listen']}")
    zt.expect(s["cold_starts"] >= 1, "a cold start counted")
    if user:
        owner = box.run(f"stat -c %U /proc/{pid1}").stdout.strip()
        zt.expect_eq(owner, user, "the backend runs as the configured user")
    table = box.run("zeroproxy status").stdout
    zt.expect(re.search(rf"^web\s+running\s+{pid1}\b", table, re.M),
              f"the status table shows web running as {pid1}:\n{table}")
    # The backend lives in zeroproxy.service's cgroup (Delegate=yes).
    cg = box.run(f"cat /proc/{pid1}/cgroup").stdout
    zt.expect("zeroproxy.service" in cg, f"backend in zeroproxy.service's cgroup: {cg}")

    # --- 3: idle stop, then a new cold start -------------------------------------
    zt.wait_until(lambda: status(box)["state"] == "stopped", timeout=IDLE + 15,
                  interval=0.25, what="the idle stop")
    zt.wait_until(lambda: not pid_alive_in_box(box, pid1), timeout=10, interval=0.1,
                  what=f"backend {pid1} to exit")
    pid2 = get(box)
    zt.expect(pid2 != pid1, f"a new backend after the idle stop ({pid1} -> {pid2})")
    r = json.loads(box.run(f"python3 /root/zpclient.py get 127.0.0.1:{BAD_PORT}").stdout)
    zt.expect("error" in r, f"bad's start fails and its connection is closed: {r}")

    # --- 4: broken reload changes nothing; systemctl reload applies -------------
    box.write(f"{confdir}/services.d/web.conf", web_conf.replace("ready = connect", "ready = sokcet"))
    r = box.run("zeroproxy reload", check=False)
    zt.expect(r.returncode == 1, f"zeroproxy reload of a broken config exits 1 (got {r.returncode})")
    zt.expect("sokcet" in r.stdout + r.stderr, f"the reload error names the value: {r.stdout}{r.stderr}")
    zt.expect_eq(get(box), pid2, "the service goes on after a broken reload")
    box.write(f"{confdir}/services.d/web.conf", web_conf.replace(f"idle_timeout = {IDLE}s", "idle_timeout = 1h"))
    box.run("systemctl reload zeroproxy")
    zt.expect_eq(box.run("systemctl is-active zeroproxy.service", check=False).stdout.strip(),
                 "active", "zeroproxy.service after systemctl reload")
    zt.expect_eq(get(box), pid2, "the backend keeps running across a reload")
    before = status(box)

    # --- 5: restart while a client keeps connecting -----------------------------
    box.run("rm -f /root/stop-loop")
    loop = box.popen(f"python3 /root/zpclient.py loop 127.0.0.1:{PORT} /root/stop-loop")
    time.sleep(1.0)
    box.run("systemctl restart zeroproxy", timeout=120)
    time.sleep(1.5)
    box.run("touch /root/stop-loop")
    out, err = loop.communicate(timeout=30)
    zt.expect(loop.returncode == 0 and out.strip(), f"client loop: {err}")
    n = json.loads(out)
    zt._note(f"restart under load: {n['ok']} ok, {n['refused']} refused, {n['closed']} closed, "
             f"{n['other']} other, backends {n['pids']}, errors {n['errors']}")
    zt.expect_eq(n["refused"], 0, "connections refused during systemctl restart")
    zt.expect(n["ok"] > 10, f"requests answered around the restart: {n['ok']}")
    zt.expect(len(n["pids"]) >= 2, f"a new backend after the restart: {n['pids']}")
    after = status(box)
    zt.expect(after["cold_starts"] > before["cold_starts"] and
              after["connections_total"] > before["connections_total"],
              f"usage survives the restart: cold_starts {before['cold_starts']} -> "
              f"{after['cold_starts']}, connections_total {before['connections_total']} -> "
              f"{after['connections_total']}")

    # --- 6: stop leaves no backend -------------------------------------------------
    last = after["pid"]
    box.run("systemctl stop zeroproxy", timeout=120)
    left = box.run("pgrep -a -x zp-testd", check=False).stdout.strip()
    zt.expect(not left, f"no backend after systemctl stop zeroproxy: {left}")
    if last:
        zt.expect(not pid_alive_in_box(box, last), f"backend {last} gone")
    zt.expect(box.run("pgrep -x zeroproxy", check=False).returncode != 0, "no zeroproxy left")

    # --- 7: the journal -------------------------------------------------------------
    j = box.run("journalctl -u zeroproxy.service -o json --no-pager").stdout
    entries = [json.loads(l) for l in j.splitlines() if l.strip()]
    ours = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "zeroproxy"]
    zt.expect(ours, f"journal entries from zeroproxy: {len(entries)} entries in all")

    def msg(e):
        m = e.get("MESSAGE", "")
        return m if isinstance(m, str) else bytes(m).decode("utf-8", "replace")

    raw = [msg(e) for e in ours if re.match(r"<\d>", msg(e))]
    zt.expect(not raw, f"journald parsed the <N> prefixes; raw: {raw[:3]}")
    prios = {int(e.get("PRIORITY", 6)) for e in ours}
    zt.expect(prios & {5, 6}, f"notice/info lines in the journal (priorities {sorted(prios)})")
    errs = [msg(e) for e in ours if int(e.get("PRIORITY", 6)) <= 3]
    zt.expect(any("sokcet" in m for m in errs),
              f"the broken reload logged at priority err or worse: {errs[:5]}")
    zt._note(f"journal: {len(ours)} lines from zeroproxy, priorities {sorted(prios)}")
    journal_fields(box, msg)


def journal_query(box, *matches):
    q = " ".join(shlex.quote(m) for m in matches)
    out = box.run(f"journalctl {q} -o json --no-pager").stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def journal_fields(box, msg):
    """8: the native fields, queried the way an operator does."""
    web = journal_query(box, "ZEROPROXY_SERVICE=web")
    zt.expect(web, "journalctl ZEROPROXY_SERVICE=web finds entries")
    for e in web:
        zt.expect(msg(e).startswith("web: "), f"a line about web: {msg(e)!r}")
        zt.expect_eq(e.get("SYSLOG_IDENTIFIER"), "zeroproxy", f"identifier of {msg(e)!r}")
        zt.expect(e.get("ZEROPROXY_EVENT"), f"ZEROPROXY_EVENT on {msg(e)!r}")
        zt.expect(e.get("PRIORITY") in ("3", "4", "5", "6", "7"), f"PRIORITY on {msg(e)!r}")
        zt.expect_eq(e.get("_SYSTEMD_UNIT"), "zeroproxy.service", f"unit of {msg(e)!r}")
    states = [e for e in web if e.get("ZEROPROXY_EVENT") == "state-change"]
    for e in states:
        zt.expect(msg(e).endswith(")") and f"-> {e.get('ZEROPROXY_STATE')} (" in msg(e),
                  f"ZEROPROXY_STATE={e.get('ZEROPROXY_STATE')} matches {msg(e)!r}")
    seen = {e.get("ZEROPROXY_STATE") for e in states}
    zt.expect({"starting", "running", "stopping", "stopped"} <= seen,
              f"web's state changes, each with its state: {sorted(map(str, seen))}")
    zt.expect(any(e.get("ZEROPROXY_EVENT") == "config" and "listening on systemd:web" in msg(e)
                  for e in web), "web's listener logged with ZEROPROXY_EVENT=config")

    bad = journal_query(box, "ZEROPROXY_SERVICE=bad")
    failed = [e for e in bad if e.get("ZEROPROXY_EVENT") == "start-failed"]
    zt.expect(failed and all(e.get("PRIORITY") == "3" for e in failed),
              f"bad's failed start at priority err: {[msg(e) for e in bad]}")
    zt.expect(any("zp-missing" in msg(e) for e in failed), "the failure names the program")
    zt.expect(any(e.get("ZEROPROXY_EVENT") == "refused" for e in bad),
              f"bad's refused connection: {[msg(e) for e in bad]}")
    rf = journal_query(box, "ZEROPROXY_EVENT=reload-failed")
    zt.expect(len(rf) == 1 and rf[0].get("PRIORITY") == "3" and "ZEROPROXY_SERVICE" not in rf[0],
              f"one reload-failed entry at priority err, about no service: {rf}")
    both = journal_query(box, "ZEROPROXY_SERVICE=web", "ZEROPROXY_EVENT=state-change")
    zt.expect_eq(len(both), len(states), "two matches AND as journalctl documents")
    def fields(e):
        return {k: e[k] for k in ("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "ZEROPROXY_SERVICE",
                                  "ZEROPROXY_EVENT", "ZEROPROXY_STATE", "_SYSTEMD_UNIT") if k in e}
    zt._note(f"e.g. {json.dumps(fields(states[0]))}")
    zt._note(f"e.g. {json.dumps(fields(failed[0]))}")
    zt._note(f"journal fields: web {len(web)} entries ({len(states)} state changes, states "
             f"{sorted(seen)}), bad {len(bad)} ({len(failed)} start-failed), reload-failed 1")


os.environ.setdefault("ZP_TEST_TIMEOUT", "300")  # make install may compile
zt.run(test)
