#!/usr/bin/env python3
"""usage-save.py — does saving the usage files stall the relay? Relayed request
latency (p50, p99, max) through zeroproxy on a slow disk, with and without
usage saves happening, for an old and a new zeroproxy in the same run.

The slow disk: an LD_PRELOAD shim, built here with cc, makes every fsync() and
fdatasync() of zeroproxy sleep BENCH_FSYNC_MS (default 50 ms) before it does
the real one, as a busy or networked disk would. (A device-mapper `delay`
target would do the same for the whole file system; containers seldom have
device-mapper, the shim works everywhere.)

For each zeroproxy, two services in front of zp-testd (HTTP mode):
  web    kept running; the load: BENCH_RATE (default 1000) requests a
         second, each GET / on a fresh connection (connect, request, response
         to EOF), started on time whether or not the ones before are done
         (open loop), for BENCH_SECONDS (default 8) per phase;
  churn  restarted over and over through the control socket (start, stop,
         BENCH_CHURN_S (default 0.2) s apart): every stop writes churn.usage,
         two fsyncs each.
Phase "quiet": the load alone. Phase "saves": the load while churn restarts.
Both zeroproxies run side by side, and BENCH_ROUNDS (default 3) rounds take
turns (old quiet, old saves, new quiet, new saves), so that a change in the
machine's background load hits both alike; the figures are over all rounds.
The old zeroproxy did the fsyncs on its event loop, so every relayed request
waited behind them; the new one writes from a thread. The line to read is the
p99 ratio saves/quiet of each, and new/old during the saves. The restarts cost
the loop something of their own (a fork, a stop, control requests): run once
with BENCH_FSYNC_MS=0 to see that part, the same for both.

Run by hand, never by `make check` (stdlib only, needs cc):
  tests/bench/usage-save.py [--old OLD_ZEROPROXY | --baseline REV] [BUILDDIR]
BUILDDIR holds the new ./zeroproxy and tests/backend/zp-testd (default .).
--baseline REV (default f0c5fbc, the last commit that saved on the loop)
builds that revision's zeroproxy from this git tree in a temporary folder.
Everything binds 127.0.0.1 on free ports chosen at run time and everything
started is stopped at the end.
"""
import argparse
import errno
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static int (*real_fsync)(int), (*real_fdatasync)(int);
static struct timespec nap;

/* Resolved once, before zeroproxy has threads: nothing but nanosleep later. */
__attribute__((constructor)) static void init(void)
{
	const char *s = getenv("BENCH_FSYNC_MS");
	long ms = s ? atol(s) : 50;
	nap.tv_sec = ms / 1000;
	nap.tv_nsec = (ms % 1000) * 1000000L;
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
}

int fsync(int fd)
{
	nanosleep(&nap, NULL);
	return real_fsync(fd);
}

int fdatasync(int fd)
{
	nanosleep(&nap, NULL);
	return real_fdatasync(fd);
}
"""

SLOW = 0.020  # a request slower than this (seconds) is counted as stalled
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_shim(tmp):
    src = os.path.join(tmp, "slowfsync.c")
    so = os.path.join(tmp, "slowfsync.so")
    with open(src, "w") as f:
        f.write(SHIM)
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-shared", "-fPIC", "-o", so, src,
                    "-ldl"], check=True)
    return so


def build_baseline(rev, tmp):
    """zeroproxy of git revision rev, built in tmp/REV."""
    out = os.path.join(tmp, "baseline")
    os.mkdir(out)
    print(f"# building zeroproxy at {rev} in {out} ...", flush=True)
    arch = subprocess.run(["git", "-C", TOP, "archive", rev], check=True,
                          stdout=subprocess.PIPE).stdout
    subprocess.run(["tar", "-x", "-C", out], input=arch, check=True)
    log = open(os.path.join(out, "build.log"), "w")
    for cmd in (["autoreconf", "-fi"], ["./configure"], ["make", "-j2", "zeroproxy"]):
        subprocess.run(cmd, cwd=out, check=True, stdout=log, stderr=subprocess.STDOUT)
    return os.path.join(out, "zeroproxy")


def control(sock_path, line, timeout=10):
    """One request on the control socket; the reply's text."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(line.encode() + b"\n")
        chunks = []
        while True:
            d = s.recv(65536)
            if not d:
                break
            chunks.append(d)
    return b"".join(chunks).decode()


def state_of(sock_path, name):
    for ln in control(sock_path, f"status {name}").splitlines()[2:]:
        f = ln.split()
        if f and f[0] == name:
            return f[1]
    return None


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


class Daemon:
    """One zeroproxy with services web and churn in a folder of its own."""

    def __init__(self, zeroproxy, testd, shim, fsync_ms, tmp, tag):
        self.dir = os.path.join(tmp, tag)
        os.makedirs(os.path.join(self.dir, "services.d"))
        self.sock = os.path.join(self.dir, "control.sock")
        with open(os.path.join(self.dir, "zeroproxy.conf"), "w") as f:
            f.write(f"[zeroproxy]\ncontrol_socket = {self.sock}\nstate_dir = state\n"
                    "services_dir = services.d\nlog_level = warning\n")
        self.listen = {}
        for name in ("web", "churn"):
            lp, bp = free_port(), free_port()
            self.listen[name] = ("127.0.0.1", lp)
            with open(os.path.join(self.dir, "services.d", name + ".conf"), "w") as f:
                f.write(f"[service]\nlisten = 127.0.0.1:{lp}\nidle_timeout = 1h\n\n"
                        f"[backend]\nexec = {testd} --listen 127.0.0.1:{bp}\n"
                        f"address = 127.0.0.1:{bp}\n")
        env = dict(os.environ, LD_PRELOAD=shim, BENCH_FSYNC_MS=str(fsync_ms))
        for k in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC"):
            env.pop(k, None)
        self.log = open(os.path.join(self.dir, "zeroproxy.log"), "w")
        self.proc = subprocess.Popen([zeroproxy, "run", "-c",
                                      os.path.join(self.dir, "zeroproxy.conf")],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                                     start_new_session=True)
        wait_for(lambda: "ok" in control(self.sock, "status"), 10, f"{tag} to start")
        control(self.sock, "start web")
        wait_for(lambda: state_of(self.sock, "web") == "running", 10, f"{tag}: web running")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def load(addr, rate, seconds):
    """Open-loop load: a request started every 1/rate s for seconds, whether
    or not the ones before have finished (a closed loop of clients would stop
    asking while the daemon stalls, and hide the stall). A latency runs from
    when the request was due to its response's EOF. -> (latencies, errors)."""
    sel = selectors.DefaultSelector()
    lat, errors = [], 0
    t0 = time.monotonic()
    total = int(rate * seconds)
    started = 0
    while started < total or sel.get_map():
        now = time.monotonic()
        while started < total and t0 + started / rate <= now:
            due = t0 + started / rate
            started += 1
            s = socket.socket()
            s.setblocking(False)
            r = s.connect_ex(addr)
            if r not in (0, errno.EINPROGRESS):
                errors += 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE, [due, "connect"])
        wait = max(0.0, t0 + started / rate - time.monotonic()) if started < total else 1.0
        for key, _ in sel.select(wait):
            s, st = key.fileobj, key.data
            try:
                if st[1] == "connect":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    s.sendall(REQUEST)
                    st[1] = "read"
                    sel.modify(s, selectors.EVENT_READ, st)
                    continue
                if s.recv(65536):
                    continue
                lat.append(time.monotonic() - st[0])
            except OSError:
                errors += 1
            sel.unregister(s)
            s.close()
    sel.close()
    return lat, errors


def churn(d, interval, stop, out):
    """Restart churn until stop is set: every stop is a usage save."""
    while not stop.is_set():
        control(d.sock, "start churn")
        wait_for(lambda: state_of(d.sock, "churn") == "running", 10, "churn running")
        time.sleep(interval / 2)
        control(d.sock, "stop churn")
        wait_for(lambda: state_of(d.sock, "churn") == "stopped", 10, "churn stopped")
        out["saves"] += 1
        time.sleep(interval / 2)


def pct(sorted_lat, p):
    if not sorted_lat:
        return float("nan")
    k = max(0, min(len(sorted_lat) - 1, int(round(p / 100 * len(sorted_lat) + 0.5)) - 1))
    return sorted_lat[k]


def run_phase(d, saves, rate, seconds, interval):
    """One phase: (latencies, errors, saves)."""
    out = {"saves": 0}
    stop = threading.Event()
    th = None
    if saves:
        th = threading.Thread(target=churn, args=(d, interval, stop, out), daemon=True)
        th.start()
        time.sleep(interval)  # churning before the measurement starts
    lat, errors = load(d.listen["web"], rate, seconds)
    stop.set()
    if th:
        th.join(30)
    return lat, errors, out["saves"]


def summary(lat, errors, saves):
    lat = sorted(lat)
    return {"n": len(lat), "errors": errors, "saves": saves, "p50": pct(lat, 50) * 1e3,
            "p99": pct(lat, 99) * 1e3, "max": lat[-1] * 1e3 if lat else float("nan"),
            "slow": 100 * sum(x > SLOW for x in lat) / max(1, len(lat))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builddir", nargs="?", default=".")
    ap.add_argument("--old", help="the old zeroproxy binary")
    ap.add_argument("--baseline", default="f0c5fbc",
                    help="git revision to build as the old zeroproxy (without --old)")
    a = ap.parse_args()
    fsync_ms = int(os.environ.get("BENCH_FSYNC_MS", "50"))
    rate = float(os.environ.get("BENCH_RATE", "1000"))
    seconds = float(os.environ.get("BENCH_SECONDS", "8"))
    interval = float(os.environ.get("BENCH_CHURN_S", "0.2"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    new = os.path.abspath(os.path.join(a.builddir, "zeroproxy"))
    testd = os.path.abspath(os.path.join(a.builddir, "tests", "backend", "zp-testd"))
    for p in (new, testd):
        if not os.access(p, os.X_OK):
            raise SystemExit(f"{p}: not found (build first, or give BUILDDIR)")

    tmp = tempfile.mkdtemp(prefix="zp-bench-usage-")
    daemons = []
    try:
        shim = build_shim(tmp)
        old = os.path.abspath(a.old) if a.old else build_baseline(a.baseline, tmp)
        print(f"# fsync and fdatasync sleep {fsync_ms} ms first; {rate:g} requests/s, GET / "
              f"on a fresh connection each; {rounds} rounds of {seconds:g} s per phase; churn "
              f"restarted every {interval:g} s during 'saves'", flush=True)
        print(f"# old: {old}\n# new: {new}", flush=True)
        for tag, binary in (("old", old), ("new", new)):
            daemons.append(Daemon(binary, testd, shim, fsync_ms, tmp, tag))
        raw = {(t, p): ([], 0, 0) for t in ("old", "new") for p in ("quiet", "saves")}
        for i in range(rounds):
            for d, tag in zip(daemons, ("old", "new")):
                for phase in ("quiet", "saves"):
                    lat, errors, saves = run_phase(d, phase == "saves", rate, seconds,
                                                   interval)
                    acc = raw[tag, phase]
                    raw[tag, phase] = (acc[0] + lat, acc[1] + errors, acc[2] + saves)
            print(f"# round {i + 1} of {rounds} done", flush=True)
        for d in daemons:
            d.stop()
        rows = {k: summary(*v) for k, v in raw.items()}
        seconds *= rounds
        print(f"{'zeroproxy':<10}{'phase':<8}{'requests':>9}{'errors':>7}{'saves':>7}"
              f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'>20ms %':>9}")
        for (tag, phase), r in rows.items():
            print(f"{tag:<10}{phase:<8}{r['n']:>9}{r['errors']:>7}{r['saves']:>7}"
                  f"{r['p50']:>9.2f}{r['p99']:>9.2f}{r['max']:>9.2f}{r['slow']:>9.2f}")
        for tag in ("old", "new"):
            q, s = rows[tag, "quiet"], rows[tag, "saves"]
            print(f"{tag}: p99 saves/quiet {s['p99'] / q['p99']:.2f}x "
                  f"({s['saves'] / seconds:.1f} saves/s)")
        ns, os_ = rows["new", "saves"], rows["old", "saves"]
        print(f"during saves: p99 new/old {ns['p99'] / os_['p99']:.3f}")
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
