#!/usr/bin/env python3
"""t183 — the daemon's native journal entries, without a systemd.

zeroproxy runs in a private mount namespace (unshare) where a tmpfs hides /run
and a datagram socket of the test's own is bound where sd_journal_send()
sends (/run/systemd/journal/socket), with JOURNAL_STREAM set to its stderr's
device:inode as systemd sets it. Every entry arrives as a datagram in
journald's native protocol; the test parses them field by field:

 - nothing goes to stderr with a "<N>" prefix: every line is an entry with
   MESSAGE (no prefix), PRIORITY and SYSLOG_IDENTIFIER=zeroproxy;
 - web's cold start and idle stop: state-change entries with
   ZEROPROXY_SERVICE=web and ZEROPROXY_STATE= the state the line moves to;
 - one failed start each for a backend that exits before ready and for a
   missing program: exactly one start-failed entry each, at priority err,
   saying why, and a refused entry for the connection that waited;
 - a broken reload: one reload-failed entry at err, naming no service; a good
   one adding a service: reload entries and a config entry for it;
 - startup and shutdown entries, the last one "stopped".
Without a JOURNAL_STREAM that names stderr the same daemon writes "<N>" lines
to stderr (the harness's own tests). Skipped (77) where no mount namespace
can be made (not root).
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t183-journal-fields.py"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import zptest as zt

MISSING = "/nonexistent/zp-missing-backend"
# Inside the namespace: /run hidden, the test's socket where journald's is,
# JOURNAL_STREAM naming stderr, then the daemon in place of this shell.
WRAP = ('mount -t tmpfs -o size=1m,mode=0755 zp-t183 /run && mkdir -p /run/systemd/journal && '
        ': >/run/systemd/journal/socket && '
        'mount --bind "$ZP_JOURNAL_SOCK" /run/systemd/journal/socket && '
        'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) && export JOURNAL_STREAM && '
        'exec "$@"')


def parse(dgram):
    """journald's native protocol: FIELD=value lines, or FIELD\\n, a 64-bit
    little-endian size, the value and \\n for values with newlines."""
    fields, i = {}, 0
    while i < len(dgram):
        nl = dgram.index(b"\n", i)
        line = dgram[i:nl]
        if b"=" in line:
            k, _, v = line.partition(b"=")
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack_from("<Q", dgram, nl + 1)
            v = dgram[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode("utf-8", "replace")
    return fields


class Journal:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.entries, self.lock, self.done = [], threading.Lock(), False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.done:
            try:
                d = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.entries.append(parse(d))

    def find(self, **match):
        with self.lock:
            return [e for e in self.entries if all(e.get(k) == v for k, v in match.items())]

    def wait(self, what, timeout=10, **match):
        zt.wait_until(lambda: self.find(**match), timeout, interval=0.02,
                      what=f"journal entry {what} {match}")
        return self.find(**match)

    def close(self):
        self.done = True
        self.sock.close()


def test(t):
    unshare = shutil.which("unshare")
    if not unshare:
        zt.skip("no unshare (util-linux)")
    r = subprocess.run([unshare, "--mount", "--propagation", "private", "true"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        zt.skip(f"cannot make a mount namespace here: {r.stderr.strip()}")

    jpath = t.path("journal.sock")
    j = Journal(jpath)
    try:
        scenario(t, j, [unshare, "--mount", "--propagation", "private", "sh", "-c", WRAP, "sh"],
                 jpath)
    finally:
        j.close()


def scenario(t, j, wrapper, jpath):
    web = t.testd_service("web", idle_timeout="300ms")
    bad = t.testd_service("bad", args=("--exit-code", 3), idle_timeout="300ms")
    missing = f"127.0.0.1:{t.port()}"
    t.service("missing", listen=missing, exec=MISSING, address=f"127.0.0.1:{t.port()}")
    t.start(wrapper=wrapper, env={"ZP_JOURNAL_SOCK": jpath})
    j.wait("startup", ZEROPROXY_EVENT="startup")

    zt.expect_eq(zt.http_get(web).status, 200, "web's cold start")
    j.wait("web stopped", ZEROPROXY_SERVICE="web", ZEROPROXY_STATE="stopped")
    zt.expect(zt.try_http_get(bad) is None, "bad's connection closed")
    zt.expect(zt.try_http_get(missing) is None, "missing's connection closed")
    j.wait("bad failed", ZEROPROXY_SERVICE="bad", ZEROPROXY_STATE="failed")
    j.wait("missing failed", ZEROPROXY_SERVICE="missing", ZEROPROXY_STATE="failed")

    # A broken reload, then a good one that adds a service.
    broken = t.service_text("broken", "[service]\nlisten = 127.0.0.1:1\n[backend]\nready = sokcet\n")
    r = t.zeroproxy("reload", "-s", t.control_socket, check=False)
    zt.expect_eq(r.returncode, 1, f"a broken reload exits 1: {r.stderr}")
    j.wait("reload-failed", ZEROPROXY_EVENT="reload-failed")
    os.unlink(broken)
    t.testd_service("extra")
    t.zeroproxy("reload", "-s", t.control_socket)
    j.wait("extra listening", ZEROPROXY_SERVICE="extra", ZEROPROXY_EVENT="config")
    j.wait("reloaded", ZEROPROXY_EVENT="reload")
    zt.expect_eq(t.stop(), 0, "zeroproxy's exit status on SIGTERM")
    j.wait("stopped", ZEROPROXY_EVENT="shutdown", MESSAGE="stopped")
    time.sleep(0.1)

    entries = j.find()
    ours = [ln for _, ln in t.log_lines if ln[:1] == "<" and ln[1:2].isdigit()]
    zt.expect(not ours, f"no <N> line on stderr: {ours[:3]}")
    for e in entries:
        zt.expect_eq(e.get("SYSLOG_IDENTIFIER"), "zeroproxy", f"identifier of {e}")
        zt.expect(e.get("PRIORITY") in ("3", "4", "5", "6"), f"PRIORITY of {e}")
        m = e.get("MESSAGE", "")
        zt.expect(m and not m.startswith("<"), f"MESSAGE without a prefix: {e}")
        if "ZEROPROXY_SERVICE" in e:
            zt.expect(m.startswith(e["ZEROPROXY_SERVICE"] + ": "), f"a line about its service: {e}")
        if "ZEROPROXY_STATE" in e:
            zt.expect(f"-> {e['ZEROPROXY_STATE']} (" in m, f"ZEROPROXY_STATE matches: {e}")

    seen = {e["ZEROPROXY_STATE"] for e in j.find(ZEROPROXY_SERVICE="web",
                                                 ZEROPROXY_EVENT="state-change")}
    zt.expect({"starting", "running", "stopping", "stopped"} <= seen, f"web's states: {seen}")
    zt.expect(j.find(ZEROPROXY_SERVICE="web", ZEROPROXY_EVENT="config"), "web's listener")
    for svc, why in (("bad", "exited with status 3 before ready"),
                     ("missing", f"exec {MISSING}: No such file or directory")):
        failed = j.find(ZEROPROXY_SERVICE=svc, ZEROPROXY_EVENT="start-failed")
        zt.expect_eq(len(failed), 1, f"{svc}: one start-failed entry for one failed start: {failed}")
        zt.expect(why in failed[0]["MESSAGE"] and failed[0]["PRIORITY"] == "3",
                  f"{svc}: the failure at err with its reason: {failed[0]}")
        zt.expect(j.find(ZEROPROXY_SERVICE=svc, ZEROPROXY_EVENT="refused"),
                  f"{svc}: the waiting connection's refusal")
    rf = j.find(ZEROPROXY_EVENT="reload-failed")
    zt.expect(len(rf) == 1 and rf[0]["PRIORITY"] == "3" and "ZEROPROXY_SERVICE" not in rf[0],
              f"one reload-failed entry at err about no service: {rf}")
    zt.expect(len(j.find(ZEROPROXY_EVENT="shutdown")) == 2, "SIGTERM and stopped")
    plain = [e for e in entries if "ZEROPROXY_EVENT" not in e]
    zt._note(f"{len(entries)} entries, {len(plain)} without an event "
             f"(e.g. {plain[0]['MESSAGE'] if plain else '-'})")


zt.run(test)
