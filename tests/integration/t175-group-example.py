#!/usr/bin/env python3
"""t175 — the shipped example of a group (conf/groups/) is a valid
configuration: `zeroproxy check` accepts it and shows both services in the
group with their weights; with one weight raised above the capacity it
refuses it at that line."""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

SRCDIR = os.environ.get("ZP_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def test(t):
    src = os.path.join(SRCDIR, "conf", "groups")
    r = t.zeroproxy("check", "-c", os.path.join(src, "zeroproxy.conf"), check=False)
    zt.expect_eq(r.returncode, 0, f"check of the example: {r.stderr.strip()}")
    zt.expect(re.search(r"^chat: .*group gpu \(weight 2\)$", r.stdout, re.M), "chat in gpu, 2")
    zt.expect(re.search(r"^embed: .*group gpu \(weight 1\)$", r.stdout, re.M), "embed in gpu, 1")
    copy = t.path("groups")
    shutil.copytree(src, copy)
    chat = os.path.join(copy, "services.d", "chat.conf")
    with open(chat) as f:
        lines = f.read().split("\n")
    n = next(i for i, ln in enumerate(lines) if ln.startswith("group_weight")) + 1
    lines[n - 1] = "group_weight = 3"
    with open(chat, "w") as f:
        f.write("\n".join(lines))
    r = t.zeroproxy("check", "-c", os.path.join(copy, "zeroproxy.conf"), check=False)
    zt.expect_eq(r.returncode, 1, "weight 3 of capacity 2 refused")
    zt.expect(f"chat.conf:{n}: [service] group_weight: expected at most the capacity of group "
              "gpu (2 at " in r.stderr, f"the error at its line: {r.stderr.strip()}")


zt.run(test)
