#!/usr/bin/env python3
"""The C sources are formatted by the tree's .clang-format (STYLE.md: "the
code formatted by them"): `clang-format --dry-run --Werror` reports nothing.
Skips where clang-format is not installed."""
import glob
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def test(t):
    tool = shutil.which("clang-format")
    if not tool:
        zt.skip("clang-format is not installed")
    top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    files = sorted(f for pattern in ("src/*.[ch]", "tests/unit/*.[ch]", "tests/backend/*.c")
                   for f in glob.glob(os.path.join(top, pattern)))
    zt.expect(len(files) > 30, f"found the sources ({len(files)} files)")
    r = subprocess.run([tool, "--style=file", "--dry-run", "--Werror", *files],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    zt.expect(r.returncode == 0,
              "not formatted by .clang-format (run clang-format -i --style=file on them):\n"
              + "\n".join(r.stdout.splitlines()[:40]))


zt.run(test)
