#!/usr/bin/env python3
"""The shipped conf/services.d/web-http.conf.example: `zeroproxy check`
accepts it as it is, and made to run here (ports, no user, a folder of our
own) it serves python3's http.server in HTTP mode, found ready by ready =
http; status says protocol http and counts the request. The demo's conf/demo/web-http.conf.in
checks too."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

SRCDIR = os.environ.get("ZP_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLE = os.path.join(SRCDIR, "conf", "services.d", "web-http.conf.example")
DEMO = os.path.join(SRCDIR, "conf", "demo", "web-http.conf.in")


def made_here(path, subst):
    with open(path) as f:
        text = f.read()
    for old, new in subst:
        zt.expect(old in text, f"{os.path.basename(path)} has {old!r}")
        text = text.replace(old, new)
    return text


def test(t):
    # As shipped (and the demo's, with its backend filled in).
    t.service_text("shipped", made_here(EXAMPLE, []))
    t.service_text("demo", made_here(DEMO, [("@ZP_TESTD@", t.shared_copy(zt.ZP_TESTD))]))
    t.write_global()
    r = t.zeroproxy("check", "-c", t.conf, check=False)
    zt._note(f"check: {r.stdout.strip()} {r.stderr.strip()}")
    zt.expect_eq(r.returncode, 0, "zeroproxy check accepts the example and the demo")
    zt.expect_eq(r.stdout.count("(ready=http)"), 2, "check lists both with ready=http")
    t.remove_service("shipped")
    t.remove_service("demo")

    port, backend = t.port(), t.port()
    www = t.path("www")
    os.mkdir(www)
    with open(os.path.join(www, "hello.txt"), "w") as f:
        f.write("hello over http mode\n")
    t.service_text("web", made_here(EXAMPLE, [
        ("listen = 127.0.0.1:8080", f"listen = 127.0.0.1:{port}"),
        ("18080", str(backend)),
        ("user = nobody\n", ""),
        ("working_directory = /var/www", f"working_directory = {www}")]))
    t.start()
    r = zt.http_get(f"127.0.0.1:{port}", "/hello.txt", timeout=20)
    zt.expect_eq((r.status, r.body), (200, b"hello over http mode\n"),
                 "python3 -m http.server behind the example")
    s = t.service_status("web")
    zt.expect_eq((s["protocol"], s["state"], s["cold_starts"]), ("http", "running", 1),
                 "an http service, started once")
    zt.expect_eq((s["requests_total"], s["responses"]["2xx"]), (1, 1), "the request counted")


zt.run(test)
