#!/usr/bin/env python3
"""A usage save never holds up the relay: with the disk stalled in the middle
of a save (an LD_PRELOAD shim keeps every fsync() of zeroproxy waiting for as
long as the test wants), a request relayed to another service and a status
request are answered all the same; once the disk comes back, the save ends
with a good file. (zeroproxy used to fsync on its event loop: nothing was
relayed, accepted or answered until the disk came back.) No figure is timed:
the stall lasts until the test ends it, and the request is given 5 s.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t111-stalled-disk.py"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int (*real_fsync)(int);
static const char *hold, *entered;

__attribute__((constructor)) static void init(void)
{
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	hold = getenv("ZP_TEST_FSYNC_HOLD");
	entered = getenv("ZP_TEST_FSYNC_ENTERED");
}

/* While the file `hold` exists, wait (after leaving `entered` for the test). */
int fsync(int fd)
{
	if (hold && access(hold, F_OK) == 0) {
		int m = open(entered, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (m >= 0)
			close(m);
		struct timespec nap = {0, 10 * 1000 * 1000};
		while (access(hold, F_OK) == 0)
			nanosleep(&nap, NULL);
	}
	return real_fsync(fd);
}
"""


def test(t):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        zt.skip("no C compiler for the fsync shim")
    src, so = t.path("stall.c"), t.path("stall.so")
    with open(src, "w") as f:
        f.write(SHIM)
    subprocess.run([cc, "-shared", "-fPIC", "-o", so, src, "-ldl"], check=True)
    hold, entered = t.path("hold"), t.path("entered")

    web = t.testd_service("web", idle_timeout="1h")
    churn = t.testd_service("churn", idle_timeout="100ms")
    asan = os.environ.get("ASAN_OPTIONS", "")
    t.start(env={"LD_PRELOAD": so, "ZP_TEST_FSYNC_HOLD": hold, "ZP_TEST_FSYNC_ENTERED": entered,
                 # a sanitizer build wants its runtime first otherwise
                 "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})
    zt.expect_eq(zt.http_get(web).status, 200, "web runs")

    # The disk stalls; churn's idle stop saves churn.usage and waits in fsync.
    open(hold, "w").close()
    try:
        zt.expect_eq(zt.http_get(churn).status, 200, "churn answers")
        zt.wait_until(lambda: os.path.exists(entered), 10,
                      what="churn's stop to start its save (fsync entered)")
        try:
            r = zt.http_get(web, timeout=5)
        except (OSError, zt.Closed) as e:
            raise zt.Fail(f"a request relayed to web while a save waits for the disk: {e!r} "
                          "(the relay waits for the disk)")
        zt.expect_eq(r.status, 200, "relayed while the save waits for the disk")
        s = t.service_status("churn")
        zt.expect_eq(s["state"], "stopped", "status answers meanwhile: churn stopped")
        zt.expect(not os.path.exists(t.path("state", "churn.usage")),
                  "churn.usage not in place before its fsync")
    finally:
        os.unlink(hold)

    # The disk is back: the save ends with a good file.
    path = t.path("state", "churn.usage")
    zt.wait_until(lambda: os.path.exists(path) and "\ncold_starts 1\n" in open(path).read(), 10,
                  what="churn.usage written once the disk is back")
    zt.expect_eq(t.stop(), 0, "exit status on SIGTERM")
    with open(t.path("state", "web.usage")) as f:
        zt.expect("\nconnections_total 2\n" in f.read(), "web.usage written at shutdown")
    zt.expect_eq(sorted(os.listdir(t.path("state"))), ["churn.usage", "web.usage"],
                 "no temp file left")


zt.run(test)
