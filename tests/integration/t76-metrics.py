#!/usr/bin/env python3
"""Metering over Prometheus: with metrics_listen set, GET /metrics (raw HTTP
and curl) gives the text exposition: every family has HELP and TYPE, every
sample a service label; while keep-alive connections are held and short ones
come and go, scrapes keep parsing, counters never go down, the histogram stays
cumulative with +Inf == _count, and a client that connects to the endpoint and
says nothing blocks neither the scrapes nor the proxying. At rest the counters
equal `status --json` (connections_total, refused, cold_starts, bytes, billed,
CPU), the histogram _count equals the cold starts that became ready (not a
start whose backend exited before ready), and `promtool check metrics` accepts
the scrape (that one check is skipped without promtool). Other paths get 404.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t76-metrics.py"""
import os
import re
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402

SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
COUNTERS = {  # metric: status field
    "zeroproxy_connections_total": "connections_total",
    "zeroproxy_connections_refused_total": "connections_refused",
    "zeroproxy_cold_starts_total": "cold_starts",
    "zeroproxy_bytes_in_total": "bytes_in",
    "zeroproxy_bytes_out_total": "bytes_out",
}


def raw_get(addr, path="/metrics", timeout=5.0):
    """(status, headers dict, body bytes) of one request; the server closes."""
    with zt.connect(addr, timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: zptest\r\n\r\n".encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    head, sep, body = data.partition(b"\r\n\r\n")
    zt.expect(sep, f"a complete HTTP response from {addr}: {data[:100]!r}")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if "content-length" in headers:
        zt.expect_eq(len(body), int(headers["content-length"]), "body length = Content-Length")
    return status, headers, body


def parse(text):
    """{(name, frozenset(labels)): value}, {family: type}; checks HELP/TYPE."""
    samples, types, helps = {}, {}, set()
    for ln in text.splitlines():
        if not ln:
            continue
        if ln.startswith("# HELP "):
            helps.add(ln.split()[2])
            continue
        if ln.startswith("# TYPE "):
            _, _, fam, typ = ln.split()
            zt.expect(fam not in types, f"one TYPE line for {fam}")
            types[fam] = typ
            continue
        zt.expect(not ln.startswith("#"), f"unexpected comment {ln!r}")
        m = SAMPLE.match(ln)
        zt.expect(m, f"sample line {ln!r}")
        name, labels, value = m.groups()
        lab = dict(LABEL.findall(labels or ""))
        zt.expect("service" in lab, f"service label on {ln!r}")
        fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        zt.expect(fam in types and fam in helps, f"HELP and TYPE before {ln!r}")
        samples[(name, frozenset(lab.items()))] = float(value)
    return samples, types


def get(samples, name, service, **labels):
    key = (name, frozenset({"service": service, **labels}.items()))
    zt.expect(key in samples, f"sample {name}{{service={service!r} {labels}}} present")
    return samples[key]


def scrape(addr):
    status, headers, body = raw_get(addr)
    zt.expect_eq(status, 200, "GET /metrics status")
    zt.expect(headers.get("content-type", "").startswith("text/plain"),
              f"Content-Type {headers.get('content-type')!r}")
    return parse(body.decode())


def check_histogram(samples, service):
    les = sorted(((dict(k[1])["le"], v) for k, v in samples.items()
                  if k[0] == "zeroproxy_start_duration_seconds_bucket"
                  and dict(k[1])["service"] == service),
                 key=lambda x: float(x[0]))
    zt.expect(les and les[-1][0] == "+Inf", f"{service}: a +Inf bucket")
    vals = [v for _, v in les]
    zt.expect(vals == sorted(vals), f"{service}: buckets cumulative {vals}")
    count = get(samples, "zeroproxy_start_duration_seconds_count", service)
    zt.expect_eq(vals[-1], count, f"{service}: +Inf bucket == _count")
    return count


def test(t):
    maddr = f"127.0.0.1:{t.port()}"
    t.write_global(metrics_listen=maddr)
    web = t.testd_service("web", idle_timeout="300ms")
    bad = t.testd_service("bad", args=("--exit-code", 3), idle_timeout="300ms")
    t.start()
    t.wait_log(rf"metrics: serving /metrics on {re.escape(maddr)}")

    s, types = scrape(maddr)
    for fam, typ in types.items():
        if fam.endswith("_total"):
            zt.expect_eq(typ, "counter", f"{fam} type")
    zt.expect_eq(types.get("zeroproxy_start_duration_seconds"), "histogram", "histogram type")
    for svc in ("web", "bad"):
        for m in COUNTERS:
            zt.expect_eq(get(s, m, svc), 0, f"{svc}: {m} at first")
        zt.expect_eq(get(s, "zeroproxy_up", svc), 0, f"{svc}: not up")
        zt.expect_eq(get(s, "zeroproxy_state", svc, state="stopped"), 1, f"{svc}: stopped")
        zt.expect_eq(check_histogram(s, svc), 0, f"{svc}: no start yet")
    status, _, body = raw_get(maddr, "/other")
    zt.expect_eq(status, 404, "GET /other")

    # 1. Three keep-alive connections held.
    held = [zt.HttpConn(web) for _ in range(3)]
    for c in held:
        zt.expect_eq(c.get("/").status, 200, "held connection works")
    s, _ = scrape(maddr)
    zt.expect_eq(get(s, "zeroproxy_connections_active", "web"), 3, "3 active")
    zt.expect_eq(get(s, "zeroproxy_up", "web"), 1, "web up")
    zt.expect_eq(get(s, "zeroproxy_state", "web", state="running"), 1, "web running")
    zt.expect_eq(get(s, "zeroproxy_state", "web", state="stopped"), 0, "web not stopped")
    zt.expect_eq(get(s, "zeroproxy_connections_total", "web"), 3, "3 connections so far")
    zt.expect_eq(get(s, "zeroproxy_cold_starts_total", "web"), 1, "one cold start")
    zt.expect_eq(check_histogram(s, "web"), 1, "one ready start in the histogram")

    # 2. Short connections come and go while we scrape; a mute client sits on
    #    the metrics port all along.
    mute = zt.connect(maddr)
    n_short, errors = 40, []

    def traffic():
        try:
            for i in range(n_short):
                r = zt.http_get(web, f"/short/{i}")
                if r.status != 200:
                    errors.append(f"status {r.status}")
        except Exception as e:  # reported by the main thread
            errors.append(repr(e))

    th = threading.Thread(target=traffic)
    th.start()
    prev, scrapes = None, 0
    while th.is_alive() or scrapes < 5:
        s, _ = scrape(maddr)
        scrapes += 1
        cur = {m: get(s, m, "web") for m in COUNTERS}
        cur["billed"] = get(s, "zeroproxy_billed_seconds_total", "web")
        if prev:
            for k, v in cur.items():
                zt.expect(v >= prev[k], f"{k} never goes down ({prev[k]} -> {v})")
        prev = cur
        zt.expect(get(s, "zeroproxy_connections_active", "web") >= 3, "held ones still active")
        check_histogram(s, "web")
    th.join()
    zt.expect_eq(errors, [], "short connections while scraping")
    zt._note(f"{scrapes} scrapes during {n_short} short connections")
    mute.close()

    # 3. Everything closed, web stopped and started again; bad fails a start.
    for c in held:
        c.close()
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.02,
                  what="web's idle stop")
    zt.expect_eq(zt.http_get(web).status, 200, "web's second cold start")
    zt.expect(zt.try_http_get(bad) is None, "bad's backend exits before ready")
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 5, interval=0.02,
                  what="web's second idle stop")
    zt.wait_until(lambda: t.service_status("bad")["state"] == "failed", 5, interval=0.02,
                  what="bad failed")

    s, _ = scrape(maddr)
    j = {x["name"]: x for x in t.status_json()["services"]}
    for svc in ("web", "bad"):
        for m, field in COUNTERS.items():
            zt.expect_eq(get(s, m, svc), j[svc][field], f"{svc}: {m} == status {field}")
        for m, field in (("zeroproxy_billed_seconds_total", "billed_seconds"),
                         ("zeroproxy_cpu_seconds_total", "cpu_seconds")):
            zt.expect(abs(get(s, m, svc) - j[svc][field]) < 0.0011,
                      f"{svc}: {m} {get(s, m, svc)} == status {field} {j[svc][field]}")
        zt.expect_eq(get(s, "zeroproxy_connections_active", svc), 0, f"{svc}: none active")
        zt.expect_eq(get(s, "zeroproxy_up", svc), 0, f"{svc}: down")
        zt.expect_eq(get(s, "zeroproxy_state", svc, state=j[svc]["state"]), 1,
                     f"{svc}: state {j[svc]['state']}")
    zt.expect_eq(j["web"]["connections_total"], 3 + n_short + 1, "web: every connection counted")
    zt.expect_eq(j["web"]["cold_starts"], 2, "web: two cold starts")
    zt.expect_eq(check_histogram(s, "web"), 2, "web: histogram _count == ready starts")
    zt.expect(abs(get(s, "zeroproxy_last_start_duration_seconds", "web")
                  - j["web"]["last_start_ms"] / 1000) < 1e-5, "web: last start duration")
    zt.expect_eq(j["bad"]["cold_starts"], 1, "bad: one (failed) cold start")
    zt.expect_eq(check_histogram(s, "bad"), 0, "bad: a start never ready is not in the histogram")
    zt.expect(j["bad"]["connections_refused"] >= 1, "bad: refused")

    # 4. promtool on a scrape taken by curl.
    promtool, curl = shutil.which("promtool"), shutil.which("curl")
    if curl:
        body = subprocess.run([curl, "-sf", f"http://{maddr}/metrics"], capture_output=True,
                              timeout=10).stdout
    else:
        body = raw_get(maddr)[2]
    zt.expect(b"zeroproxy_connections_total" in body, "scrape taken")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           timeout=30)
        zt.expect_eq((p.returncode, p.stdout + p.stderr), (0, b""), "promtool check metrics")
    else:
        zt._note("promtool not found: that check skipped")


zt.run(test)
