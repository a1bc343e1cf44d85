#!/usr/bin/env python3
"""listen = systemd:NAME with a NAME that systemd did not pass is a start-up
error that names it and the names that were passed."""
import shutil
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402



def test(t):
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        zt.skip("systemd-socket-activate is not installed")
    port = t.port()
    t.testd_service("web", listen="systemd:nope", idle_timeout="1m")
    t.start(wait_ready=False,
            wrapper=[tool, "-l", f"127.0.0.1:{port}", "--fdname=web", "-E", "NOTIFY_SOCKET"])
    # socket-activate execs the daemon on the first connection; the daemon may
    # exit (and the socket close, resetting us) before connect() returns

    def poke():
        if t.daemon.poll() is None:
            try:
                zt.connect(f"127.0.0.1:{port}", 1).close()
            except OSError:
                pass
        return t.daemon.poll() is not None

    zt.wait_until(poke, 10, interval=0.02, what="the daemon to exit")
    zt.expect(t.daemon.returncode != 0, "exit status 0 on a missing systemd socket")
    t.wait_log(r"\bnope\b.*\bweb\b|\bweb\b.*\bnope\b", timeout=1)
    zt.expect_eq(t.notify.count("READY", "1"), 0, "READY=1 sent")


zt.run(test)
