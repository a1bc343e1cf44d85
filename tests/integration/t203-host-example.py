#!/usr/bin/env python3
"""The shipped conf/services.d/blog-host.conf.example: `zeroproxy check`
accepts it beside web-http.conf.example on the same address (web is the
default), refuses a second copy claiming the same hosts, and made to run
here it serves python3's http.server for its hosts and 404 for others."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

SRCDIR = os.environ.get("ZP_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLES = os.path.join(SRCDIR, "conf", "services.d")


def made_here(name, subst):
    with open(os.path.join(EXAMPLES, name)) as f:
        text = f.read()
    for old, new in subst:
        zt.expect(old in text, f"{name} has {old!r}")
        text = text.replace(old, new)
    return text


def get(listen, host, path):
    return zt.host_get(listen, host, path, timeout=20)


def test(t):
    t.service_text("blog", made_here("blog-host.conf.example", []))
    t.service_text("web", made_here("web-http.conf.example", []))
    t.write_global()
    r = t.zeroproxy("check", "-c", t.conf, check=False)
    zt._note(f"check: {r.stdout.strip()} {r.stderr.strip()}")
    zt.expect_eq(r.returncode, 0, "zeroproxy check accepts blog beside the default web")
    zt.expect("blog: listen 127.0.0.1:8080 (hosts blog.example.com *.blog.example.com) ->"
              in r.stdout, f"check lists blog's hosts: {r.stdout.strip()}")
    t.service_text("blog2", made_here("blog-host.conf.example", [("18081", "18082")]))
    r = t.zeroproxy("check", "-c", t.conf, check=False)
    zt.expect(r.returncode != 0, "a second service claiming blog's hosts is refused")
    zt.expect("blog.example.com is already taken by service blog" in r.stderr,
              f"the error names the host and its owner: {r.stderr.strip()}")
    for name in ("blog", "blog2", "web"):
        t.remove_service(name)

    port, backend = t.port(), t.port()
    www = t.path("www")
    os.mkdir(www)
    with open(os.path.join(www, "hello.txt"), "w") as f:
        f.write("hello from the blog\n")
    t.service_text("blog", made_here("blog-host.conf.example", [
        ("listen = 127.0.0.1:8080", f"listen = 127.0.0.1:{port}"),
        ("18081", str(backend)),
        ("user = nobody\n", ""),
        ("working_directory = /var/www", f"working_directory = {www}")]))
    t.start()
    listen = f"127.0.0.1:{port}"
    zt.expect_eq(get(listen, "other.example.com", "/hello.txt").status, 404,
                 "a Host the example does not name")
    zt.expect_eq(t.children(), [], "nothing started for it")
    r = get(listen, "www.Blog.example.com:8080", "/hello.txt")
    zt.expect_eq((r.status, r.body), (200, b"hello from the blog\n"),
                 "python3 -m http.server behind the example, by its wildcard")
    zt.expect_eq(t.service_status("blog")["hosts"], ["blog.example.com", "*.blog.example.com"],
                 "status lists the example's hosts")


zt.run(test)
