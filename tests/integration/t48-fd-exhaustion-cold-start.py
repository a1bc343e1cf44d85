#!/usr/bin/env python3
"""Out of file descriptors during a cold start: the daemon runs with
RLIMIT_NOFILE 40 and 60 clients arrive at once at a stopped service whose
backend takes 200 ms to listen (ready = connect, start_timeout 3s). Waiting
clients must not use up the fds the start itself needs (the readiness probe's
socket, then one backend connection per client): the start succeeds (no
"start failed", the service ends up running after one cold start) and every
client is answered within 10 s, those beyond the fd budget after the first ones
finish (each request is Connection: close)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

CLIENTS = 60


def test(t):
    if not shutil.which("prlimit"):
        zt.skip("no prlimit")
    listen = t.testd_service("web", args=["--quiet", "--start-delay", "200"], idle_timeout="1m",
                             start_timeout="3s", max_pending=CLIENTS)
    t.start(wrapper=["prlimit", "--nofile=40:40", "--"])
    results = zt.concurrent_gets(listen, CLIENTS, timeout=10)
    ok = sum(isinstance(r, zt.Response) and r.status == 200 for r in results)
    bad = [r for r in results if not (isinstance(r, zt.Response) and r.status == 200)]
    zt._note(f"{ok} of {CLIENTS} answered")
    failed = t.log_matches(zt.re_start_failed("web"))
    zt.expect(not failed, f"the cold start failed while out of fds: {failed[:1]}")
    zt.expect(not bad, f"{len(bad)} of {CLIENTS} clients not answered, e.g. {bad[0]!r}; "
              f"the log says {t.log_matches(r'refused')[:1]}" if bad else "")
    st = t.service_status("web")
    zt.expect_eq((st["state"], st["cold_starts"], st["connections_refused"]), ("running", 1, 0),
                 "state, cold starts, refused")
    zt.wait_until(lambda: t.service_status("web")["connections_active"] == 0, 5,
                  interval=0.05, what="connections_active back to 0")
    zt.expect_eq(zt.http_get(listen).status, 200, "served afterwards")


zt.run(test)
