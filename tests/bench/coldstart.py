#!/usr/bin/env python3
"""coldstart.py — cold-start latency benchmark: connect() to the first response
byte, median and p99 over many runs, for the small native backend zp-testd in
HTTP mode:

  (a) direct: spawn zp-testd, poll-connect until it answers; measured from the
      spawn to the first byte (the backend's own start-up; the baseline);
  (b) through zeroproxy with ready = socket, ready = notify (zp-testd
      --notify-delay 0), ready = connect and relay = no (handoff: zp-testd
      accepts on the listen socket itself), and ready = connect with wake_on =
      data (the backend starts at the request's first byte, not at the
      accept: case "data"); every run is a real cold start: the
      backend is stopped (`stop NAME` on the control socket) and its stop seen
      in the status (state stopped, no pid) before the next run;
  (c) the systemd recipe under a real systemd (tests/systemd/box.sh): a .socket
      unit + a systemd-socket-proxyd service + the backend service
      (Type=notify, StopWhenUnneeded=yes), as in systemd-socket-proxyd(8);
      skipped with a message when the box cannot be booted here.

Also, for reference, the warm latency (a new connection to a running backend),
direct and through zeroproxy.

  (d) freeze: the three tiers of one slow backend (zp-testd --start-delay 500:
      a 500 ms start-up) behind zeroproxy with ready = connect: warm (running,
      a new connection), thawed (frozen by freeze_after = 20ms, the same pid
      every run) and cold (stopped before every run). Printed as ratios:
      thawed minus warm, and cold over thawed. BENCH_FREEZE_RUNS (default
      BENCH_RUNS) runs of each; BENCH_COLD_RUNS (default the same) of cold,
      which take half a second each.

Run by hand, never by `make check` (stdlib only):
  tests/bench/coldstart.py [BUILDDIR]   (BUILDDIR holds ./zeroproxy and
                                          tests/backend/zp-testd; default .)
Environment: BENCH_RUNS (default 200), BENCH_CASES (space separated, from
direct socket notify connect data handoff systemd warm freeze; default all), ZEROPROXY, ZP_TESTD,
BOX_SH (default tests/systemd/box.sh beside this script).

Everything binds 127.0.0.1 on free ports chosen at run time and everything
started is stopped at the end.
"""
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
IO_TIMEOUT = 10.0


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def read_pid(s, first):
    """Read the rest of zp-testd's answer (untimed); its pid= line, or None."""
    data = first
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("pid="):
            return int(line[4:])
    return None


def first_byte_ns(port, pids=None):
    """connect(), send a request, read the first response byte: elapsed ns.
    The backend's pid is added to the set pids when one is given."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    try:
        t0 = time.perf_counter_ns()
        s.connect(("127.0.0.1", port))
        s.sendall(REQUEST)
        b = s.recv(1)
        t1 = time.perf_counter_ns()
        if not b:
            raise RuntimeError("connection closed before the first byte")
        if pids is not None:
            pids.add(read_pid(s, b))
        return t1 - t0
    finally:
        s.close()


def pct(sorted_ms, p):
    """Nearest-rank percentile of an ascending list."""
    k = max(0, math.ceil(p / 100.0 * len(sorted_ms)) - 1)
    return sorted_ms[k]


def summary(ns_list):
    ms = sorted(x / 1e6 for x in ns_list)
    return {
        "runs": len(ms),
        "min_ms": ms[0],
        "median_ms": statistics.median(ms),
        "p99_ms": pct(ms, 99),
        "max_ms": ms[-1],
    }


def log(msg):
    print("coldstart: " + msg, file=sys.stderr, flush=True)


# --- (a) direct ---------------------------------------------------------------

def bench_direct(testd, runs):
    port = free_ports(1)[0]
    argv = [testd, "--mode", "http", "--quiet", "--listen", "127.0.0.1:%d" % port]
    env = dict(os.environ)
    env.pop("NOTIFY_SOCKET", None)
    env.pop("LISTEN_FDS", None)
    # zp-testd says "signal 15, exiting" on stderr even with --quiet.
    quiet = [(os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    out = []
    attempts = 0
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(testd, argv, env, file_actions=quiet)
        try:
            deadline = time.monotonic() + IO_TIMEOUT
            while True:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.connect(("127.0.0.1", port))
                except ConnectionRefusedError:
                    s.close()
                    attempts += 1
                    if time.monotonic() > deadline:
                        raise RuntimeError("zp-testd did not listen on %d" % port)
                    continue
                s.settimeout(IO_TIMEOUT)
                s.sendall(REQUEST)
                b = s.recv(1)
                t1 = time.perf_counter_ns()
                s.close()
                if not b:
                    raise RuntimeError("zp-testd closed before the first byte")
                break
            out.append(t1 - t0)
        finally:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
    return out, attempts / runs


def bench_direct_warm(testd, runs):
    port = free_ports(1)[0]
    p = subprocess.Popen([testd, "--mode", "http", "--quiet", "--listen", "127.0.0.1:%d" % port],
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            try:
                first_byte_ns(port)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)
        return [first_byte_ns(port) for _ in range(runs)]
    finally:
        p.terminate()
        p.wait()


# --- (b) zeroproxy ------------------------------------------------------------

class Zeroproxy:
    """A zeroproxy daemon in a temporary directory, one service per ready mode."""

    def __init__(self, zeroproxy, testd, modes, extra=None):
        self.dir = tempfile.mkdtemp(prefix="zp-bench-cold.")
        self.sock = os.path.join(self.dir, "control.sock")
        self.ports = {}
        os.mkdir(os.path.join(self.dir, "services.d"))
        with open(os.path.join(self.dir, "zeroproxy.conf"), "w") as f:
            f.write("[zeroproxy]\nservices_dir = services.d\ncontrol_socket = control.sock\n"
                    "state_dir = state\nlog_level = warning\n")
        for mode in modes:
            lport, bport = free_ports(2)
            self.ports[mode] = lport
            exe = testd + " --mode http --quiet"
            if mode == "notify":
                exe += " --notify-delay 0"
            if mode not in ("socket", "handoff"):
                exe += " --listen 127.0.0.1:%d" % bport
            # handoff: relay = no, the backend accepts on the listen socket itself;
            # data: ready = connect, started by the first byte (wake_on = data)
            backend = ("relay = no\n[backend]\n" if mode == "handoff" else
                       "wake_on = data\n[backend]\naddress = 127.0.0.1:%d\nready = connect\n"
                       % bport if mode == "data" else
                       "[backend]\naddress = 127.0.0.1:%d\nready = %s\n" % (bport, mode))
            with open(os.path.join(self.dir, "services.d", mode + ".conf"), "w") as f:
                f.write("[service]\nlisten = 127.0.0.1:%d\nidle_timeout = 50ms\n%s"
                        "exec = %s\nstart_timeout = 10s\nstop_timeout = 2s\n"
                        % (lport, backend, exe))
        # extra: {name: service file text with {listen} and {address} to fill}
        for name, text in (extra or {}).items():
            lport, bport = free_ports(2)
            self.ports[name] = lport
            with open(os.path.join(self.dir, "services.d", name + ".conf"), "w") as f:
                f.write(text.format(listen="127.0.0.1:%d" % lport, address="127.0.0.1:%d" % bport,
                                    port=bport))
        self.stderr = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen([zeroproxy, "run", "-c", os.path.join(self.dir, "zeroproxy.conf")],
                                     stderr=self.stderr)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("zeroproxy did not start: " + self.log_tail())
            time.sleep(0.01)

    def log_tail(self):
        self.stderr.flush()
        with open(os.path.join(self.dir, "stderr")) as f:
            return " | ".join(f.read().splitlines()[-5:])

    def control(self, line):
        """One request on the control socket (protocol in src/control.h)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        try:
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            data = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        finally:
            s.close()
        head, _, body = data.decode().partition("\n")
        if head != "ok":
            raise RuntimeError("zeroproxy %s: %s" % (line, head))
        return body

    def status(self, name):
        return json.loads(self.control("status --json " + name))["services"][0]

    def wait_stopped(self, name):
        deadline = time.monotonic() + 10
        while True:
            st = self.status(name)
            if st["state"] == "stopped" and st["pid"] is None:
                return st
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not stop: %r" % (name, st))
            time.sleep(0.002)

    def wait_running(self, name, state="running"):
        deadline = time.monotonic() + 10
        while self.status(name)["state"] != state:
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not reach %s" % (name, state))
            time.sleep(0.002)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def bench_zeroproxy(zp, modes, runs, chunk=10):
    """Every mode's runs, interleaved in rounds of chunk runs per mode: the
    machine's noise (other processes, frequency changes) falls on every case
    alike, so that their ratios mean something. -> {mode: (ns, status, pids)}."""
    out = {m: [] for m in modes}
    pids = {m: set() for m in modes}
    for mode in modes:
        zp.wait_stopped(mode)
    done = 0
    while done < runs:
        n = min(chunk, runs - done)
        for mode in modes:
            for _ in range(n):
                out[mode].append(first_byte_ns(zp.ports[mode], pids[mode]))
                zp.control("stop " + mode)
                zp.wait_stopped(mode)
        done += n
    return {m: (out[m], zp.status(m), len(pids[m])) for m in modes}


def bench_zeroproxy_warm(zp, mode, runs):
    zp.control("start " + mode)
    zp.wait_running(mode)
    first_byte_ns(zp.ports[mode])
    out = [first_byte_ns(zp.ports[mode]) for _ in range(runs)]
    zp.control("stop " + mode)
    zp.wait_stopped(mode)
    return out


# --- (d) freeze ---------------------------------------------------------------

SLOW_START_MS = 500


def bench_freeze(zeroproxy, testd, runs, cold_runs):
    """Warm, thawed and cold first-byte times of a backend with a 500 ms
    start-up. Returns {tier: (ns list, note)}."""
    exe = "%s --mode http --quiet --start-delay %d --listen {address}" % (testd, SLOW_START_MS)
    svc = ("[service]\nlisten = {listen}\nidle_timeout = 1h\n%s\n[backend]\nexec = " + exe +
           "\naddress = {address}\nstart_timeout = 10s\nstop_timeout = 2s\n")
    zp = Zeroproxy(zeroproxy, testd, [], extra={"warm": svc % "", "thawed": svc % "freeze_after = 20ms",
                                                 "cold": svc % ""})
    out = {}
    try:
        for name in ("warm", "thawed"):
            zp.control("start " + name)
            zp.wait_running(name)
            first_byte_ns(zp.ports[name])
        pids = set()
        out["warm"] = ([first_byte_ns(zp.ports["warm"], pids) for _ in range(runs)],
                       "%d distinct pid(s)" % len(pids))
        pids = set()
        ns = []
        for _ in range(runs):
            zp.wait_running("thawed", "frozen")
            ns.append(first_byte_ns(zp.ports["thawed"], pids))
        st = zp.status("thawed")
        out["thawed"] = (ns, "%d distinct pid(s), thaws %d, last_thaw_ms %s" % (
            len(pids), st["thaws"], st["last_thaw_ms"]))
        pids = set()
        ns = []
        for _ in range(cold_runs):
            zp.wait_stopped("cold")
            ns.append(first_byte_ns(zp.ports["cold"], pids))
            zp.control("stop cold")
        out["cold"] = (ns, "%d distinct pids" % len(pids))
    finally:
        zp.close()
    return out


# --- (c) systemd --------------------------------------------------------------

UNIT_DIR = "/etc/systemd/system"


def systemctl(*args, check=True):
    return subprocess.run(["systemctl"] + list(args), check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True).stdout.strip()


def inner_systemd(testd, runs):
    """Run inside the box: install the recipe's units, measure, print JSON."""
    lport, bport = free_ports(2)
    units = {
        "zpbench-proxy.socket": """[Unit]
Description=zeroproxy benchmark: the socket-activated proxy's socket
[Socket]
ListenStream=127.0.0.1:%d
# The benchmark triggers the proxy hundreds of times in a row.
TriggerLimitIntervalSec=0
""" % lport,
        "zpbench-proxy.service": """[Unit]
Description=zeroproxy benchmark: systemd-socket-proxyd in front of the backend
Requires=zpbench-backend.service
After=zpbench-backend.service
Requires=zpbench-proxy.socket
After=zpbench-proxy.socket
StartLimitIntervalSec=0
[Service]
ExecStart=/lib/systemd/systemd-socket-proxyd --exit-idle-time=5s 127.0.0.1:%d
""" % bport,
        "zpbench-backend.service": """[Unit]
Description=zeroproxy benchmark: the backend, stopped when the proxy is gone
StopWhenUnneeded=yes
StartLimitIntervalSec=0
[Service]
Type=notify
ExecStart=%s --mode http --quiet --notify-delay 0 --listen 127.0.0.1:%d
""" % (testd, bport),
    }
    for name, text in units.items():
        with open(os.path.join(UNIT_DIR, name), "w") as f:
            f.write(text)
    systemctl("daemon-reload")
    systemctl("start", "zpbench-proxy.socket")

    def wait_inactive():
        deadline = time.monotonic() + 10
        while True:
            a = systemctl("is-active", "zpbench-proxy.service", "zpbench-backend.service", check=False)
            if a.split() == ["inactive", "inactive"]:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("units still active: " + a)
            time.sleep(0.002)

    out = []
    pids = set()
    for _ in range(runs):
        wait_inactive()
        out.append(first_byte_ns(lport, pids))
        # As an idle exit would (sooner): stop the proxy; the backend is then
        # unneeded and stopped by systemd.
        systemctl("stop", "zpbench-proxy.service")
    wait_inactive()
    json.dump({"ns": out, "pids": len(pids)}, sys.stdout)
    return 0


def bench_systemd(box_sh, testd, runs):
    """Boot a box, run inner_systemd in it. Returns (ns list, None) or (None, why)."""
    if os.geteuid() != 0:
        return None, 0, "needs root"
    if not os.access(box_sh, os.X_OK):
        return None, 0, "no " + box_sh
    chk = subprocess.run([box_sh, "check"], stderr=subprocess.PIPE, text=True)
    if chk.returncode != 0:
        return None, 0, chk.stderr.strip() or "box.sh check failed"
    state = tempfile.mkdtemp(prefix="zp-bench-box.")
    try:
        st = subprocess.run([box_sh, "start", state], stderr=subprocess.PIPE, text=True)
        if st.returncode != 0:
            return None, 0, "box did not boot: " + st.stderr.strip()
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
        r = subprocess.run([box_sh, "run", state, py, os.path.abspath(__file__), "--inner-systemd",
                            testd, str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30 + runs * 2)
        if r.returncode != 0:
            return None, 0, "inside the box: " + (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
        res = json.loads(r.stdout)
        return res["ns"], res["pids"], None
    finally:
        subprocess.run([box_sh, "stop", state], stderr=subprocess.DEVNULL)
        shutil.rmtree(state, ignore_errors=True)


# --- main ---------------------------------------------------------------------

def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--inner-systemd":
        return inner_systemd(sys.argv[2], int(sys.argv[3]))
    builddir = sys.argv[1] if len(sys.argv) > 1 else "."
    zeroproxy = os.path.abspath(os.environ.get("ZEROPROXY", os.path.join(builddir, "zeroproxy")))
    testd = os.path.abspath(os.environ.get("ZP_TESTD", os.path.join(builddir, "tests/backend/zp-testd")))
    box_sh = os.environ.get("BOX_SH", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", "systemd", "box.sh"))
    runs = int(os.environ.get("BENCH_RUNS", "200"))
    cases = os.environ.get("BENCH_CASES",
                           "direct socket notify connect data handoff systemd warm freeze").split()
    if not os.access(testd, os.X_OK):
        log("no zp-testd at %s (pass the build dir)" % testd)
        return 1
    modes = [m for m in ("socket", "notify", "connect", "data", "handoff") if m in cases]
    if (modes or "freeze" in cases) and not os.access(zeroproxy, os.X_OK):
        log("no zeroproxy at %s (pass the build dir)" % zeroproxy)
        return 1

    log("%d runs per case, %d CPU(s), nothing pinned; connect() to first response byte" %
        (runs, os.cpu_count()))
    rows = []  # (label, summary dict, note)
    base = None
    # (a) is the baseline: always measured.
    if True:
        ns, attempts = bench_direct(testd, runs)
        base = summary(ns)
        rows.append(("(a) direct: spawn to first byte", base,
                     "%.1f refused connects per run" % attempts))
        log("direct done")
    zp = None
    try:
        if modes or "warm" in cases:
            zp = Zeroproxy(zeroproxy, testd, modes or ["socket"])
        results = bench_zeroproxy(zp, modes, runs) if modes else {}
        for mode in modes:
            ns, st, npids = results[mode]
            note = "%d distinct pids, cold_starts %d, zeroproxy's own start p50 %s ms" % (
                npids, st["cold_starts"], st.get("start_ms_p50"))
            label = ("relay = no" if mode == "handoff" else
                     "ready = connect, wake_on = data" if mode == "data" else "ready = " + mode)
            rows.append(("(b) zeroproxy, " + label, summary(ns), note))
            log("zeroproxy %s done" % mode)
        if "warm" in cases:
            warm_mode = modes[0] if modes else "socket"
            rows.append(("warm: direct, new connection", summary(bench_direct_warm(testd, runs)), ""))
            rows.append(("warm: zeroproxy, new connection", summary(bench_zeroproxy_warm(zp, warm_mode, runs)),
                         "backend running"))
            log("warm done")
    finally:
        if zp:
            zp.close()
    if "systemd" in cases:
        ns, npids, why = bench_systemd(os.path.abspath(box_sh), testd, runs)
        if ns is None:
            log("skipping (c) systemd: " + why)
            rows.append(("(c) systemd .socket + socket-proxyd", None, "skipped: " + why))
        else:
            rows.append(("(c) systemd .socket + socket-proxyd", summary(ns),
                         "%d distinct pids; Type=notify backend, StopWhenUnneeded=yes" % npids))
            log("systemd done")

    print()
    print("%-48s %9s %9s %9s %11s %11s" % ("case", "median", "p99", "min", "+median", "+p99"))
    for label, s, note in rows:
        if s is None:
            print("%-48s %9s %9s %9s %11s %11s  %s" % (label, "-", "-", "-", "-", "-", note))
            continue
        add_m = s["median_ms"] - base["median_ms"]
        add_p = s["p99_ms"] - base["p99_ms"]
        plus = label.startswith(("(b)", "(c)"))
        print("%-48s %7.3fms %7.3fms %7.3fms %11s %11s  %s" % (
            label, s["median_ms"], s["p99_ms"], s["min_ms"],
            "%+.3fms" % add_m if plus else "", "%+.3fms" % add_p if plus else "", note))
    by = {label: s for label, s, _ in rows if s}
    conn, data = by.get("(b) zeroproxy, ready = connect"), by.get(
        "(b) zeroproxy, ready = connect, wake_on = data")
    if conn and data:
        print()
        print("wake_on = data / wake_on = connect (ready = connect): median %.3f, p99 %.3f" % (
            data["median_ms"] / conn["median_ms"], data["p99_ms"] / conn["p99_ms"]))
    print()
    print("+median, +p99: added to (a), the backend's own start-up measured the same way.")
    print("All in ms over %d runs; the benchmark client, zeroproxy and the backend share %d CPU(s)." %
          (runs, os.cpu_count()))

    if "freeze" in cases:
        fruns = int(os.environ.get("BENCH_FREEZE_RUNS", str(runs)))
        cruns = int(os.environ.get("BENCH_COLD_RUNS", str(fruns)))
        log("freeze: %d warm and thawed runs, %d cold ones (%d ms start-up each)" %
            (fruns, cruns, SLOW_START_MS))
        tiers = bench_freeze(zeroproxy, testd, fruns, cruns)
        sums = {k: summary(v[0]) for k, v in tiers.items()}
        print()
        print("(d) freeze: a backend with a %d ms start-up, through zeroproxy (ready = connect)" %
              SLOW_START_MS)
        print("%-10s %6s %10s %10s  %s" % ("tier", "runs", "median", "p99", ""))
        for k in ("warm", "thawed", "cold"):
            print("%-10s %6d %8.3fms %8.3fms  %s" % (k, sums[k]["runs"], sums[k]["median_ms"],
                                                    sums[k]["p99_ms"], tiers[k][1]))
        w, th, c = sums["warm"], sums["thawed"], sums["cold"]
        print("thawed - warm: median %+.3f ms, p99 %+.3f ms" % (
            th["median_ms"] - w["median_ms"], th["p99_ms"] - w["p99_ms"]))
        print("cold / thawed: median %.0fx, p99 %.0fx" % (
            c["median_ms"] / th["median_ms"], c["p99_ms"] / th["p99_ms"]))
        print("cold / warm: median %.0fx" % (c["median_ms"] / w["median_ms"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
