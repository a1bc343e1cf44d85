#!/usr/bin/env python3
"""kill_mode, with zp-testd as a master and three workers (each process logs
every signal that reaches it while it stops and who sent it; the master
passes SIGTERM on to its workers after 300 ms):
- mixed (the default): stop_signal goes to the master only; every worker is
  stopped by its master, none hears from zeroproxy;
- control-group: stop_signal goes to every process of the instance at once:
  each worker hears it from zeroproxy;
- mixed, with a master that exits and leaves its workers: once the master is
  gone nothing of the instance is left;
- mixed, with a master (and workers) ignoring SIGTERM: at stop_timeout every
  process of the instance gets SIGKILL."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

WORKERS = 3


def start_instance(t, name, listen):
    """Wake NAME with a request; returns (master pid, worker pids)."""
    r = zt.http_get(listen, timeout=10)
    zt.expect_eq(r.status, 200, f"{name}: first request")
    master = int(r.kv["ppid"])
    zt.expect_eq(t.service_status(name)["pid"], master, f"{name}: the backend is the master")
    workers = zt.wait_until(lambda: len(zt.descendants(master)) == WORKERS and
                            zt.descendants(master), 5, what=f"{name}: {WORKERS} workers")
    for p in [master, *workers]:
        t.track(p)
    zt.expect(r.pid in workers, f"{name}: a worker answered")
    return master, workers


def stop(t, name):
    t.zeroproxy("stop", name, "-c", t.conf)
    zt.wait_until(lambda: t.service_status(name)["state"] == "stopped", 10,
                  what=f"{name} to be stopped")


def senders(t, pids, since):
    """{pid: {pids that sent it a stop signal}} from zp-testd's lines."""
    out = {}
    for line in t.log_matches(r"zp-testd\[\d+\]: signal \d+ from pid \d+, exiting", since):
        m = re.search(r"zp-testd\[(\d+)\]: signal \d+ from pid (\d+)", line)
        if int(m.group(1)) in pids:
            out.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    return out


def test(t):
    args = ("--workers", WORKERS)
    slow = (*args, "--term-delay", "300")
    mixed = t.testd_service("mixed", args=slow, idle_timeout="1m")
    cgroup = t.testd_service("cg", args=slow, idle_timeout="1m", kill_mode="control-group")
    orphan = t.testd_service("orphan", args=(*args, "--orphan-workers"), idle_timeout="1m")
    stuck = t.testd_service("stuck", args=(*args, "--ignore-term"), idle_timeout="1m",
                            stop_timeout="1s")
    t.start()
    me = t.daemon_pid

    master, workers = start_instance(t, "mixed", mixed)
    mark = t.mark()
    stop(t, "mixed")
    t.wait_log(rf"zp-testd\[{master}\]: master: signal 15 from pid {me}", since=mark)
    t.expect_log_count(rf"zp-testd\[{master}\]: master: worker \d+ exited with status 0",
                       WORKERS, since=mark)
    got = senders(t, set(workers), mark)
    zt.expect_eq(got, {w: {master} for w in workers},
                 "mixed: who sent each worker its SIGTERM (the master, never zeroproxy)")

    master, workers = start_instance(t, "cg", cgroup)
    mark = t.mark()
    stop(t, "cg")
    t.expect_log_count(rf"zp-testd\[{master}\]: master: worker \d+ exited with status 0",
                       WORKERS, since=mark)
    got = senders(t, set(workers), mark)
    zt.expect_eq({w: me in got.get(w, ()) for w in workers}, {w: True for w in workers},
                 f"control-group: each worker got a SIGTERM from zeroproxy (senders: {got})")

    master, workers = start_instance(t, "orphan", orphan)
    mark = t.mark()
    stop(t, "orphan")
    t.wait_log(rf"zp-testd\[{master}\]: master: signal 15 .*workers left running", since=mark)
    zt.wait_until(lambda: not any(zt.pid_alive(w) for w in workers), 3,
                  what=f"the workers {workers} a master left behind to be gone")
    zt.expect_eq(senders(t, set(workers), mark), {}, "orphaned workers got no SIGTERM")

    master, workers = start_instance(t, "stuck", stuck)
    mark = t.mark()
    t.zeroproxy("stop", "stuck", "-c", t.conf)
    t.wait_log(zt.re_killed("stuck", "SIGKILL"), 10, since=mark)
    zt.wait_until(lambda: not any(zt.pid_alive(p) for p in [master, *workers]), 3,
                  what="every process of stuck to be gone after SIGKILL")
    zt.expect_eq(senders(t, set(workers), mark), {}, "mixed: no SIGTERM to stuck's workers")


zt.run(test)
