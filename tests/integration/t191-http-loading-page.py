#!/usr/bin/env python3
"""loading_page: a backend that takes 3 s to start (zp-testd --start-delay
3000). A browser-like GET (Accept: text/html...) gets, after about
loading_page_after (500 ms), zeroproxy's 503 with Retry-After: 1, Refresh: 1
and the built-in page (it names the service, no script), then a close; at the
same time an `Accept: */*` GET and a POST that accepts text/html keep waiting
and get the backend's own answer. Once running, the browser gets the backend.
With loading_page = FILE the page is that file's bytes. The loading page is no
refusal: connections_refused stays 0, the 503 is counted in responses."""
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
           "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}


def request(addr, method="GET", path="/", headers=None, body=None, out=None):
    """One request on a fresh connection -> (status, headers, body, seconds, closed)."""
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=15)
    t0 = time.monotonic()
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    took = time.monotonic() - t0
    res = (r.status, {k.lower(): v for k, v in r.getheaders()}, data, took, r.will_close)
    c.close()
    if out is not None:
        out.append(res)
    return res


def test(t):
    web = t.testd_service("web", args=["--start-delay", "3000"], protocol="http",
                          idle_timeout="1h", start_timeout="20s", loading_page="yes",
                          loading_page_after="500ms")
    page = t.path("loading.html")
    with open(page, "wb") as f:
        f.write(b"<!doctype html><title>Wait</title><p>Our own page \xe2\x80\x94 hold on.</p>\n")
    filed = t.testd_service("filed", args=["--start-delay", "2000"], protocol="http",
                            idle_timeout="1h", start_timeout="20s", loading_page=page,
                            loading_page_after="200ms")
    t.start()

    results = {"api": [], "post": []}
    threads = [
        threading.Thread(target=request, args=(web,), kwargs={
            "headers": {"Accept": "*/*"}, "out": results["api"]}),
        threading.Thread(target=request, args=(web, "POST", "/form"), kwargs={
            "headers": BROWSER, "body": b"a=1", "out": results["post"]}),
    ]
    for th in threads:
        th.start()
    status, headers, body, took, closed = request(web, headers=BROWSER)
    zt._note(f"loading page after {took:.3f}s")
    zt.expect_eq(status, 503, "the browser's status during the cold start")
    zt.expect(0.4 <= took < 2.5, f"the loading page came after {took:.3f}s, not ~0.5s")
    zt.expect_eq((headers.get("retry-after"), headers.get("refresh")), ("1", "1"),
                 "Retry-After and Refresh")
    zt.expect(headers.get("content-type", "").startswith("text/html"), "text/html")
    zt.expect(closed, "the connection closes after the loading page")
    text = body.decode()
    zt.expect("web is starting" in text and "<script" not in text.lower(),
              f"the built-in page names the service, no script: {text!r}")
    zt.expect_eq(int(headers["content-length"]), len(body), "Content-Length")
    for th in threads:
        th.join(20)
    for what in ("api", "post"):
        zt.expect_eq(len(results[what]), 1, f"the {what} request answered")
        st, _, b, took2, _ = results[what][0]
        zt.expect_eq(st, 200, f"the {what} request's status")
        zt.expect(b"pid=" in b, f"the {what} request answered by the backend")
        zt.expect(took2 >= 2.5, f"the {what} request waited for the backend ({took2:.2f}s)")
    # Running now: the browser gets the backend.
    status, _, body, took, _ = request(web, headers=BROWSER)
    zt.expect_eq(status, 200, "the browser once the backend runs")
    zt.expect(b"pid=" in body, "answered by the backend")
    s = t.service_status("web")
    zt.expect_eq((s["connections_refused"], s["requests_total"], s["responses"]["5xx"],
                  s["responses"]["2xx"], s["cold_starts"]), (0, 4, 1, 3, 1),
                 "web: the loading page is a 5xx response, no refusal")

    # loading_page = FILE: its bytes, as they are.
    status, headers, body, took, _ = request(filed, headers=BROWSER)
    zt.expect_eq(status, 503, "the file page's status")
    with open(page, "rb") as f:
        zt.expect_eq(body, f.read(), "the file page's body")
    zt.expect(0.15 <= took < 1.8, f"the file page came after {took:.3f}s, not ~0.2s")
    t.wait_log(r"filed: request from \S+ waited \S+ s for the cold start: loading page sent")


zt.run(test)
