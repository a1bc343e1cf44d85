#!/usr/bin/env python3
"""Without services_dir, `-c DIR/zeroproxy.conf` reads DIR/services.d (not the
compiled-in folder of the installed configuration), whatever the working
directory: `check` lists the service, and `run` serves it."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    listen = t.testd_service("web", idle_timeout="1m")
    t.write_global(services_dir=None)
    with open(t.conf) as f:
        zt.expect("services_dir" not in f.read(), "zeroproxy.conf still names services_dir")

    # From another working directory, so that nothing relative to it can help.
    r = subprocess.run([zt.ZEROPROXY, "check", "-c", t.conf], capture_output=True,
                          text=True, timeout=10, cwd="/")
    zt.expect_eq(r.returncode, 0, f"zeroproxy check exit status (stderr: {r.stderr.strip()!r})")
    zt.expect(r.stdout.startswith(f"web: listen {listen} "),
              f"check lists the service beside the config file: {r.stdout!r}")
    zt.expect("services_dir" not in r.stderr,
              f"check warns about services_dir: {r.stderr.strip()!r}")

    t.start()
    t.expect_no_log(r"services_dir")
    zt.expect_eq(zt.http_get(listen).status, 200, "a request to the service beside -c")


zt.run(test)
