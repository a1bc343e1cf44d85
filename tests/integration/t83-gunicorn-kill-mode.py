#!/usr/bin/env python3
"""kill_mode with a real master/worker server, gunicorn (3 sync workers).

With kill_mode = mixed (the default) an idle stop sends SIGTERM to the master
only, which stops its workers in order: gunicorn logs no "Worker with pid N
was terminated due to signal 15" (it did at every idle stop while zeroproxy
signalled the whole process group: the workers got the signal from both
sides). With kill_mode = control-group every process is signalled; whether
gunicorn then complains is timing, so it is only logged. Either way nothing
of the instance is left once it is stopped.

Skipped (77) without gunicorn (Debian package gunicorn)."""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

WORKERS = 3
ROUNDS = 2
TERMINATED = r"Worker with pid \d+ was terminated due to signal 15"

APP = '''def app(environ, start_response):
    body = b"hello from gunicorn\\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def idle_cycle(t, name, listen):
    """Wake name, let it stop idle; returns (log mark, master and worker pids)."""
    mark = t.mark()
    r = zt.http_get(listen, timeout=30)
    zt.expect_eq((r.status, r.body), (200, b"hello from gunicorn\n"), f"{name}: response")
    master = t.service_status(name)["pid"]
    t.wait_log(r"Booting worker with pid: \d+", 30, count=WORKERS, since=mark)
    workers = [int(re.search(r"pid: (\d+)", line).group(1))
               for line in t.log_matches(r"Booting worker with pid: \d+", mark)]
    for p in [master, *workers]:
        t.track(p)
    t.wait_log(zt.re_idle_stop(name), 10, since=mark)
    t.wait_log(rf"\b{name}: stopping{zt.ARROW}stopped", 30, since=mark)
    zt.wait_until(lambda: not any(zt.pid_alive(p) for p in [master, *workers]), 3,
                  what=f"{name}: master {master} and workers {workers} gone after the stop")
    return mark


def test(t):
    gunicorn = shutil.which("gunicorn") or "/usr/bin/gunicorn"
    if not os.access(gunicorn, os.X_OK):
        zt.skip("gunicorn is not installed (Debian package gunicorn)")
    with open(t.path("zpapp.py"), "w") as f:
        f.write(APP)
    listens = {}
    for name, mode in (("mixed", None), ("cg", "control-group")):
        port = t.port()
        listens[name] = f"127.0.0.1:{t.port()}"
        t.service(name, listen=listens[name], address=f"127.0.0.1:{port}",
                  exec=f"{gunicorn} -w {WORKERS} -b 127.0.0.1:{port} --chdir {t.dir} zpapp:app",
                  kill_mode=mode, idle_timeout="1s", start_timeout="60s", stop_timeout="20s")
    t.start()

    for i in range(ROUNDS):
        mark = idle_cycle(t, "mixed", listens["mixed"])
        t.wait_log(r"Shutting down: Master", 5, since=mark)
        hits = t.log_matches(TERMINATED, mark)
        zt._note(f"mixed, idle stop {i + 1}: {len(hits)} 'terminated due to signal 15' lines")
        zt.expect(not hits, f"kill_mode = mixed: gunicorn says {hits[0] if hits else ''!r}")
        zt.expect_eq(t.count_log(r"Worker exiting \(pid: \d+\)", mark), WORKERS,
                     "workers that exited in order")

    for i in range(ROUNDS):
        mark = idle_cycle(t, "cg", listens["cg"])
        zt._note(f"control-group, idle stop {i + 1}: "
                 f"{t.count_log(TERMINATED, mark)} 'terminated due to signal 15' lines")


zt.run(test)
