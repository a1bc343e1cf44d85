#!/usr/bin/env python3
"""ready = command with user = nobody: the ready_command runs as the backend's
user and group (never as root), with the backend's supplementary groups
dropped to that user's. Needs root."""
import os
import pwd
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    if os.geteuid() != 0:
        zt.skip("needs root (user = nobody)")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        zt.skip("no user nobody")
    # The command writes its report where nobody may write.
    out = tempfile.mkdtemp(prefix="zp-t84-", dir="/tmp")
    try:
        os.chmod(out, 0o777)
        report = os.path.join(out, "report")
        t.testd_service("web", ready="command", user="nobody", idle_timeout="1m",
                        ready_command=t.testd("--report", report, "--exit-code", "0",
                                              "--quiet"))
        t.start()
        t.zeroproxy("start", "web", "-c", t.conf)
        zt.wait_until(lambda: t.service_status("web")["state"] == "running", 10,
                      what="web to be running")
        with open(report) as f:
            rep = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        zt._note(f"ready_command report: {rep}")
        zt.expect_eq((rep["uid"], rep["gid"]), (str(nobody.pw_uid), str(nobody.pw_gid)),
                     "the ready_command's uid and gid")
        want = sorted(os.getgrouplist("nobody", nobody.pw_gid))
        zt.expect_eq(sorted(int(g) for g in rep["groups"].split(",") if g), want,
                     "the ready_command's supplementary groups")
        st = os.stat(report)
        zt.expect_eq(st.st_uid, nobody.pw_uid, "owner of the file the command wrote")
    finally:
        shutil.rmtree(out, ignore_errors=True)


zt.run(test)
