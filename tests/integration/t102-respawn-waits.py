#!/usr/bin/env python3
"""The next instance starts only once every process of the previous one is
gone. A backend forks a worker that keeps the listening socket; the worker is
held in the kernel (the cgroup v1 freezer: SIGKILL cannot end a frozen task
until it is thawed, as with a worker stuck in D state) while its master
crashes. Before the fix zeroproxy respawned at once: the new instance could
not bind the address the worker still held, or its probe connected to the
worker's socket and the waiting client was handed to a process that would
never answer. Now zeroproxy waits — on the instance's cgroup (populated 0 in
cgroup.events) where it manages cgroups, else until the process group is gone
— while the client waits as pending, and the log says which it waits on. Run
twice: with cgroups, and with cgroup v2 hidden from the daemon (a private
mount namespace with an empty /sys/fs/cgroup). Needs root, the v1 freezer and
unshare(1); skipped otherwise."""
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

FREEZER = "/sys/fs/cgroup/freezer"
HOLD = 1.0  # seconds the worker is kept frozen after its master crashed


class Freezer:
    """A private v1 freezer cgroup; always thawed and removed at the end."""

    def __init__(self):
        self.path = os.path.join(FREEZER, f"zptest-{os.getpid()}")
        os.mkdir(self.path)

    def write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def state(self):
        with open(os.path.join(self.path, "freezer.state")) as f:
            return f.read().strip()

    def freeze(self, pid):
        self.write("cgroup.procs", str(pid))
        self.write("freezer.state", "FROZEN")
        zt.wait_until(lambda: self.state() == "FROZEN", 5, what="the worker frozen")

    def thaw(self):
        self.write("freezer.state", "THAWED")

    def remove(self):
        try:
            self.thaw()
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                left = [int(p) for p in f.read().split()]
            for p in left:  # back to the root freezer cgroup before rmdir
                with open(os.path.join(FREEZER, "cgroup.procs"), "w") as f:
                    f.write(str(p))
            os.rmdir(self.path)
        except OSError as e:
            zt._note(f"freezer cleanup: {e}")


def round_trip(t, name, wrapper, cgroup):
    d = t.path(name)
    os.mkdir(d)
    mpid, wpid = os.path.join(d, "main.pid"), os.path.join(d, "worker.pid")
    listen = t.testd_service("web", args=["--pidfile", mpid, "--worker", "60000",
                                          "--worker-pidfile", wpid],
                             idle_timeout="1m", start_timeout="10s", pending_timeout="20s")
    t.start(wrapper=wrapper)
    if cgroup:
        t.wait_log(r"cgroup: service cgroups under ")
    else:
        t.wait_log(r"cgroup: not used \(no cgroup v2 hierarchy is mounted")
    r = zt.http_get(listen)
    main = t.read_pidfile(mpid)
    worker = t.read_pidfile(wpid)
    zt.expect_eq(r.pid, main, "served by the main process")

    fz = Freezer()
    try:
        fz.freeze(worker)
        mark = t.mark()
        try:
            zt.http_get(listen, "/crash")
            zt.fail("/crash was answered")
        except zt.Closed:
            pass
        t.wait_log(zt.re_killed("web", "SIGABRT"), since=mark)
        how = r"cgroup .*svc-web" if cgroup else rf"process group {main}\b"
        t.wait_log(rf"web: .*wait.* {how}", since=mark)

        out = {}

        def client():
            try:
                out["r"] = zt.http_get(listen, "/after", timeout=20)
            except Exception as e:  # reported below
                out["e"] = e
        th = threading.Thread(target=client)
        th.start()
        zt.wait_until(lambda: t.service_status("web")["connections_pending"] == 1, 5,
                      what="the client waiting as pending")
        time.sleep(HOLD)
        zt.expect_eq(t.count_log(zt.re_starting("web"), since=mark), 0,
                     "starts while a process of the previous instance lives")
        zt.expect(th.is_alive(), f"the client did not wait: {out}")
        st = t.service_status("web")
        zt.expect_eq(st["connections_pending"], 1, "still pending")
        fz.thaw()
        th.join(20)
        zt.expect(not th.is_alive(), "no answer after the worker was thawed")
        zt.expect("e" not in out, f"the waiting client failed: {out.get('e')!r}")
        zt.expect_eq(out["r"].status, 200, "the waiting client's answer")
        zt.expect(out["r"].pid not in (main, worker), "answered by an old process")
        zt.expect(not zt.pid_alive(worker), "the old worker still runs")
        t.expect_log(r"web: stopping -> stopped \(the last process of the instance is gone",
                     since=mark)
        zt.expect_eq(t.service_status("web")["connections_refused"], 0, "nothing refused")
    finally:
        fz.remove()
    zt.expect_eq(t.stop(), 0, "zeroproxy's exit status on SIGTERM")
    t.daemon = None


def test(t):
    if os.geteuid() != 0:
        zt.skip("needs root (the freezer)")
    if not os.path.exists(os.path.join(FREEZER, "freezer.state")) and \
            not os.path.exists(os.path.join(FREEZER, "cgroup.procs")):
        zt.skip(f"no cgroup v1 freezer at {FREEZER}")
    unshare = shutil.which("unshare")
    if not unshare:
        zt.skip("unshare(1) not found")
    round_trip(t, "cgroup", (), cgroup=True)
    hide = (unshare, "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs zptest /sys/fs/cgroup && exec "$@"', "sh")
    round_trip(t, "no-cgroup", hide, cgroup=False)


zt.run(test)
