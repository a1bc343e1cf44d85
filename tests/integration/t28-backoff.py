#!/usr/bin/env python3
"""Back-off after failed starts: 1 s after the first failure, 2 s after the
second. Connections during the back-off are closed at once without a start
attempt; after it the next connection tries again (and succeeds once the
backend is fixed)."""
import time
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def attempt(listen):
    """Returns (answered?, seconds)."""
    t0 = time.monotonic()
    r = zt.try_http_get(listen, timeout=5)
    return r, time.monotonic() - t0


def test(t):
    broken = t.path("broken")
    open(broken, "w").close()
    listen = t.testd_service("web", args=["--exit-code", "3", "--exit-if", broken],
                             idle_timeout="1m", start_timeout="10s")
    t.start()
    starts = lambda: t.count_log(zt.re_starting("web"))  # noqa: E731
    fails = zt.re_start_failed("web", "exited with status 3")

    r, _ = attempt(listen)
    zt.expect(r is None, "the broken backend answered")
    t.wait_log(fails, count=1)
    failed1 = time.monotonic()
    r, took = attempt(listen)  # within the 1 s back-off
    zt.expect(r is None, "answered during the back-off")
    zt.expect(took < 0.5, f"refused during the back-off only after {took:.3f}s")
    time.sleep(0.1)
    zt.expect_eq(starts(), 1, "starts during the first back-off")

    time.sleep(max(0, failed1 + 1.3 - time.monotonic()))
    r, _ = attempt(listen)  # the back-off is over: a second try, failing again
    zt.expect(r is None, "the broken backend answered")
    t.wait_log(fails, count=2)
    failed2 = time.monotonic()
    zt.expect_eq(starts(), 2, "starts after the first back-off")

    # Past 1 s, inside 2 s. failed2 is when this test saw the failure, later
    # than the daemon's back-off began by however long the log took to come
    # (much under a loaded machine): 1.1 s after it leaves 0.9 s for that.
    time.sleep(max(0, failed2 + 1.1 - time.monotonic()))
    r, took = attempt(listen)
    zt.expect(r is None, "answered during the doubled back-off")
    zt.expect(took < 0.5, f"refused during the doubled back-off only after {took:.3f}s")
    time.sleep(0.1)
    zt.expect_eq(starts(), 2, "starts during the doubled back-off (1 s, not 2 s?)")

    os.unlink(broken)  # fix the backend
    time.sleep(max(0, failed2 + 2.3 - time.monotonic()))
    r, _ = attempt(listen)
    zt.expect(r is not None and r.status == 200, "no answer after the back-off ended")
    zt.expect_eq(starts(), 3, "starts")


zt.run(test)
