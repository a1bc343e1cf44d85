#!/usr/bin/env python3
"""t180 — a real Prometheus scrapes a running zeroproxy.

Debian's prometheus server (storage in the test's folder, its web API on a free
loopback port), configured by the shipped conf/prometheus-scrape.yml (checked
by `promtool check config` first), scrapes zeroproxy's metrics_listen every
second and loads conf/prometheus-rules.yml. The test causes real traffic: three keep-alive
connections held at once (a cold start), an idle stop, one more request (a
second cold start) and another idle stop, a service whose backend exits
before ready (a failed start, a refused connection), and api, an http service
with freeze_after in a group: 5 GET requests on one keep-alive connection (a
cold start), a freeze, one more request that thaws it, and a freeze again.
Then it asks Prometheus's HTTP API, not zeroproxy:

 - the scrape is healthy (up == 1) and every family of a direct scrape of
   /metrics arrived, each series with exactly the labels job, instance,
   service (and state, le where they belong);
 - at the latest time, cold starts, connections, refusals, billed and CPU
   seconds equal `zeroproxy status --json`; the start-latency histogram has
   _count 2 and +Inf 2 for web, 0 for bad, and its p99 lies in the bucket of
   status's start_ms_p99;
 - api: after the 5 requests zeroproxy_requests_total is 5, all of class 2xx;
   at the end 6, by class as status's responses, none in flight; the request
   duration histogram has _count 6 and +Inf 6 and its p99 lies in the bucket
   of status's request_ms_p99; one thaw, its latest thaw duration and frozen
   time as status says, no group eviction;
 - exact differences over the test's window (`X - X @ T0`, no increase()
   extrapolation): web started twice; a range query of the cold-start counter
   steps 0 -> 1 -> 2, never down; max_over_time of the active connections is 3
   and zeroproxy_up went 1 and back to 0;
 - every rule of conf/prometheus-rules.yml evaluates with health ok, the p99
   recording rule has web's value, and ZeroproxyStartFailing is pending or
   firing for bad and for nothing else;
 - every query of conf/grafana-dashboard.json (its variables replaced by the
   test's services, instance and window) evaluates without error and with
   data, and the state panel says stopped (0) for web, failed (4) for bad
   and frozen (5) for api.

Prometheus is killed at the end whatever happens. Skipped (77) only where
prometheus (or python3-yaml, which autogen.sh installs with it) is not
installed.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t180-prometheus-scrape.py"""
import json
import math
import re
import time

import zptest as zt
import zpprom as zp

LABELS = {"__name__", "job", "instance", "service"}
EXTRA = {"zeroproxy_state": {"state"}, "zeroproxy_start_duration_seconds_bucket": {"le"},
         "zeroproxy_requests_total": {"class"},
         "zeroproxy_request_duration_seconds_bucket": {"le"},
         "zeroproxy_group_evictions_total": {"group"}}


def test(t):
    zp.tool("prometheus")
    zp.need_yaml()
    maddr = f"127.0.0.1:{t.port()}"
    t.groups = {"pool": 2}
    t.write_global(metrics_listen=maddr)
    web = t.testd_service("web", idle_timeout="1500ms")
    bad = t.testd_service("bad", args=("--exit-code", 3), idle_timeout="1500ms")
    api = t.testd_service("api", protocol="http", idle_timeout="1h", freeze_after="500ms",
                          service_group="pool")
    t.start()
    t.wait_log(rf"metrics: serving /metrics on {re.escape(maddr)}")

    prom = zp.Prometheus(t, [maddr], interval="1s", rule_files=[zp.RULES])
    p = zp.promtool("check", "config", prom.config)
    zt.expect(p.returncode == 0, f"promtool check config: {p.stdout}{p.stderr}")
    with prom:
        scenario(t, prom, maddr, web, bad, api)


def http_traffic(t, prom, api):
    """api: 5 requests on one keep-alive connection (a cold start), seen by
    Prometheus as 5 of class 2xx; a freeze, a request that thaws it, a
    freeze again."""
    a = 'job="zeroproxy",service="api"'
    with zt.HttpConn(api) as c:
        for i in range(5):
            zt.expect_eq(c.get(f"/{i}").status, 200, f"api: request {i} on one connection")
    prom.wait_value(f"sum(zeroproxy_requests_total{{{a}}})", 5, what="api: 5 requests")
    zt.expect_eq(prom.value(f'zeroproxy_requests_total{{{a},class="2xx"}}'), 5,
                 "api: the 5 requests are of class 2xx")
    prom.wait_value(f"zeroproxy_request_duration_seconds_count{{{a}}}", 5)
    frozen = lambda: t.service_status("api")["state"] == "frozen"  # noqa: E731
    zt.wait_until(frozen, 10, interval=0.05, what="api frozen")
    zt.expect_eq(zt.http_get(api).status, 200, "api: the request that thaws it")
    zt.wait_until(frozen, 10, interval=0.05, what="api frozen again")
    prom.wait_value(f"zeroproxy_thaws_total{{{a}}}", 1)
    prom.wait_value(f'zeroproxy_state{{{a},state="frozen"}}', 1)


def http_figures(prom, j):
    """api's request, freeze and group figures in Prometheus == status."""
    a = 'job="zeroproxy",service="api"'
    s = j["api"]
    zt.expect_eq((s["requests_total"], s["responses"]["2xx"], s["thaws"], s["cold_starts"]),
                 (6, 6, 1, 1), "api in status: 6 requests, all 2xx, one thaw, one cold start")
    by_class = {m["class"]: v for m, v in prom.query(f"zeroproxy_requests_total{{{a}}}")}
    want = dict(s["responses"], none=0)
    zt.expect_eq(by_class, want, "api: zeroproxy_requests_total by class == status")
    zt.expect_eq(prom.value(f"zeroproxy_requests_in_flight{{{a}}}"), 0, "api: none in flight")
    h = "zeroproxy_request_duration_seconds"
    zt.expect_eq(prom.value(f"{h}_count{{{a}}}"), 6, "api: request histogram _count")
    zt.expect_eq(prom.value(f'{h}_bucket{{{a},le="+Inf"}}'), 6, "api: +Inf bucket")
    zt.expect(prom.value(f"{h}_sum{{{a}}}") > 0, "api: request histogram _sum")
    les = sorted(float(m["le"]) for m, _ in prom.query(f"{h}_bucket{{{a}}}"))
    p99 = prom.value(f"histogram_quantile(0.99, {h}_bucket{{{a}}})")
    sp99 = s["request_ms_p99"] / 1000
    upper = min(le for le in les if le >= sp99)
    lower = max([0.0] + [le for le in les if le < sp99])
    zt.expect(lower <= p99 <= upper,
              f"api: Prometheus's request p99 {p99} in status's p99 bucket ({lower}, {upper}]")
    zt.expect_eq(prom.value(f"zeroproxy_thaws_total{{{a}}}"), 1, "api: one thaw")
    thaw = prom.value(f"zeroproxy_last_thaw_duration_seconds{{{a}}}")
    zt.expect(thaw is not None and abs(thaw - s["last_thaw_ms"] / 1000) < 0.002,
              f"api: latest thaw {thaw} s == status {s['last_thaw_ms']} ms")
    fz = prom.value(f"zeroproxy_frozen_seconds_total{{{a}}}")
    zt.expect(0 < fz <= s["frozen_seconds"] + 0.002,
              f"api: frozen {fz} s, at most status's {s['frozen_seconds']} s taken later")
    zt.expect_eq(prom.query(f"zeroproxy_group_evictions_total{{{a}}}")[0][0]["group"], "pool",
                 "api: its group")
    zt.expect_eq(prom.value(f"zeroproxy_group_evictions_total{{{a}}}"), 0, "api: no eviction")
    return p99


def scenario(t, prom, maddr, web, bad, api):
    sel = 'job="zeroproxy",service="web"'
    prom.wait_value(f'up{{job="zeroproxy",instance="{maddr}"}}', 1, what="a healthy scrape")
    prom.wait_value(f"zeroproxy_cold_starts_total{{{sel}}}", 0)
    t0 = time.time()
    # The sample Prometheus holds at t0 is 0, and nothing has started yet.
    zt.expect_eq(prom.value(f"zeroproxy_cold_starts_total{{{sel}}}", at=t0), 0, "0 at T0")

    # 1. Three connections at once: one cold start.
    held = [zt.HttpConn(web) for _ in range(3)]
    for c in held:
        zt.expect_eq(c.get("/").status, 200, "held connection")
    prom.wait_value(f"zeroproxy_connections_active{{{sel}}}", 3)
    prom.wait_value(f"zeroproxy_up{{{sel}}}", 1)
    prom.wait_value(f'zeroproxy_state{{{sel},state="running"}}', 1)
    prom.wait_value(f"zeroproxy_cold_starts_total{{{sel}}}", 1)
    for c in held:
        c.close()
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 10, interval=0.05,
                  what="web's first idle stop")
    prom.wait_value(f"zeroproxy_up{{{sel}}}", 0)

    # 2. One more request: the second cold start, and its idle stop.
    zt.expect_eq(zt.http_get(web).status, 200, "web's second cold start")
    zt.wait_until(lambda: t.service_status("web")["state"] == "stopped", 10, interval=0.05,
                  what="web's second idle stop")
    # 3. bad: its backend exits before ready.
    zt.expect(zt.try_http_get(bad) is None, "bad's connection closed")
    zt.wait_until(lambda: t.service_status("bad")["state"] == "failed", 10, interval=0.05,
                  what="bad failed")
    prom.wait_value(f"zeroproxy_cold_starts_total{{{sel}}}", 2)
    prom.wait_value(f'zeroproxy_state{{{sel},state="stopped"}}', 1)
    prom.wait_value('zeroproxy_state{job="zeroproxy",service="bad",state="failed"}', 1)
    # 4. api: http requests, a freeze and a thaw.
    http_traffic(t, prom, api)
    j = {s["name"]: s for s in t.status_json()["services"]}
    # One more scrape after the status: counters of stopped services stand still.
    prom.wait_value(f"zeroproxy_connections_total{{{sel}}}", j["web"]["connections_total"])
    t_end = time.time()

    # --- every family, with its labels ----------------------------------------
    direct = zp.names_in_exposition(zp.scrape(maddr), samples_only=True)
    got = prom.query('{job="zeroproxy",__name__=~"zeroproxy_.+"}')
    names = {m["__name__"] for m, _ in got}
    zt.expect_eq(names, direct, "every name of a direct scrape arrived in Prometheus")
    for m, _ in got:
        want = LABELS | EXTRA.get(m["__name__"], set())
        zt.expect_eq(set(m), want, f"labels of {m}")
        zt.expect_eq(m["instance"], maddr, f"instance of {m}")
        zt.expect(m["service"] in ("web", "bad", "api"), f"service label of {m}")

    # --- raw samples at the latest time == status -------------------------------
    for svc in ("web", "bad"):
        s = f'job="zeroproxy",service="{svc}"'
        for metric, field in (("zeroproxy_cold_starts_total", "cold_starts"),
                              ("zeroproxy_connections_total", "connections_total"),
                              ("zeroproxy_connections_refused_total", "connections_refused")):
            zt.expect_eq(prom.value(f"{metric}{{{s}}}"), j[svc][field],
                         f"{svc}: {metric} in Prometheus == status {field}")
        for metric, field in (("zeroproxy_billed_seconds_total", "billed_seconds"),
                              ("zeroproxy_cpu_seconds_total", "cpu_seconds")):
            v = prom.value(f"{metric}{{{s}}}")
            zt.expect(abs(v - j[svc][field]) < 0.002,
                      f"{svc}: {metric} {v} in Prometheus == status {field} {j[svc][field]}")
        ratio = prom.value(f"zeroproxy_time_at_zero_ratio{{{s}}}")
        zt.expect(0 < ratio < 1, f"{svc}: time at zero ratio {ratio}")
    zt.expect(j["web"]["billed_seconds"] > 1.5, f"web billed {j['web']['billed_seconds']} s")
    zt.expect_eq(j["web"]["cold_starts"], 2, "web: the two cold starts the test caused")
    zt.expect_eq(j["web"]["connections_total"], 4, "web: four connections")
    zt.expect_eq(j["bad"]["cold_starts"], 1, "bad: one failed start")
    zt.expect(j["bad"]["connections_refused"] >= 1, "bad: a refused connection")

    h = "zeroproxy_start_duration_seconds"
    zt.expect_eq(prom.value(f"{h}_count{{{sel}}}"), 2, "web: histogram _count")
    zt.expect_eq(prom.value(f'{h}_bucket{{{sel},le="+Inf"}}'), 2, "web: +Inf bucket")
    zt.expect_eq(prom.value(f'{h}_count{{job="zeroproxy",service="bad"}}'), 0,
                 "bad: a start never ready is not in the histogram")
    zt.expect(prom.value(f"{h}_sum{{{sel}}}") > 0, "web: histogram _sum")
    les = sorted(float(m["le"]) for m, _ in prom.query(f"{h}_bucket{{{sel}}}"))
    p99 = prom.value(f"histogram_quantile(0.99, {h}_bucket{{{sel}}})")
    sp99 = j["web"]["start_ms_p99"] / 1000
    upper = min(le for le in les if le >= sp99)
    lower = max([0.0] + [le for le in les if le < sp99])
    zt.expect(lower <= p99 <= upper,
              f"web: Prometheus's p99 {p99} in status's p99 bucket ({lower}, {upper}]")

    # --- over the window: exact differences and a range query --------------------
    zt.expect_eq(prom.value(f"zeroproxy_cold_starts_total{{{sel}}} - "
                            f"zeroproxy_cold_starts_total{{{sel}}} @ {t0:.3f}"), 2,
                 "cold starts between T0 and now")
    zt.expect_eq(prom.value(f"zeroproxy_connections_total{{{sel}}} - "
                            f"zeroproxy_connections_total{{{sel}}} @ {t0:.3f}"), 4,
                 "connections between T0 and now")
    series = prom.query_range(f"zeroproxy_cold_starts_total{{{sel}}}", t0, t_end, 1.0)
    zt.expect_eq(len(series), 1, "one cold-start series for web")
    vals = [v for _, v in series[0][1]]
    steps = [v for i, v in enumerate(vals) if i == 0 or v != vals[i - 1]]
    zt.expect_eq(steps, [0, 1, 2], f"the cold-start counter over the test ({len(vals)} points)")
    win = f"{math.ceil(t_end - t0) + 1}s"
    zt.expect_eq(prom.value(f"max_over_time(zeroproxy_connections_active{{{sel}}}[{win}])"), 3,
                 "the three connections held at once")
    zt.expect_eq(prom.value(f"max_over_time(zeroproxy_up{{{sel}}}[{win}])"), 1, "web was up")
    zt.expect_eq(prom.value(f"min_over_time(zeroproxy_up{{{sel}}}[{win}])"), 0, "and at zero")
    zt.expect_eq(prom.value(f"resets(zeroproxy_cold_starts_total{{{sel}}}[{win}])"), 0,
                 "the counter never went down")
    ap = 'job="zeroproxy",service="api",class="2xx"'
    zt.expect_eq(prom.value(f"zeroproxy_requests_total{{{ap}}} - "
                            f"zeroproxy_requests_total{{{ap}}} @ {t0:.3f}"), 6,
                 "api: 2xx requests between T0 and now")
    req_p99 = http_figures(prom, j)

    # --- the shipped rules, evaluated by this Prometheus ---------------------------
    def rules_evaluated():
        groups = prom.api("rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("2") and
                                      not r["lastEvaluation"].startswith("0001")
                                      for r in rules) else None
    zt.wait_until(rules_evaluated, timeout=30, interval=0.2, what="every rule evaluated")
    rules = rules_evaluated()
    for r in rules:
        zt.expect_eq(r["health"], "ok", f"rule {r['name']}: {r.get('lastError')}")
    zt.expect_eq(len(rules), len(zp.rule_exprs(zp.RULES)), "every rule of the file loaded")
    def recorded_p99():
        v = prom.value(f"zeroproxy:start_duration_seconds:p99_1h{{{sel}}}")
        return v if v is not None and not math.isnan(v) else None
    zt.wait_until(recorded_p99, timeout=30, interval=0.2, what="the p99 recording rule for web")
    rp99 = recorded_p99()
    zt.expect(0 < rp99 <= 10, f"web's recorded p99 {rp99}")

    def start_failing():
        return [a["labels"] for a in prom.api("alerts")["alerts"]
                if a["labels"]["alertname"] == "ZeroproxyStartFailing"
                and a["state"] in ("pending", "firing")]
    zt.wait_until(start_failing, timeout=30, interval=0.2, what="ZeroproxyStartFailing for bad")
    zt.expect_eq([a["service"] for a in start_failing()], ["bad"], "ZeroproxyStartFailing")
    # --- the dashboard's queries, evaluated by this Prometheus ---------------------
    with open(zp.DASHBOARD) as f:
        dash = json.load(f)
    values = {"service": "web|bad|api", "instance": maddr, "__rate_interval": "10s",
              "__interval": "5s", "__range": win}
    queries = zp.exprs_of(dash["panels"], dash["templating"]["list"])
    for where, e in queries:
        res = prom.query(zp.substitute(e, **values))
        zt.expect(res, f"dashboard {where}: data for {e}")
    state = next(p for p in zp.walk(dash["panels"]) if p["title"] == "State over time")
    shown = {m["service"]: v for m, v in prom.query(zp.substitute(state["targets"][0]["expr"],
                                                                  **values))}
    zt.expect_eq(shown, {"web": 0, "bad": 4, "api": 5},
                 "the state panel: web stopped, bad failed, api frozen")
    zt._note(f"{len(queries)} dashboard queries evaluated with data")
    zt._note(f"window {t_end - t0:.1f}s, {len(vals)} points, {len(got)} series, "
             f"{len(rules)} rules ok, p99 {p99:.4f}s (status {sp99:.4f}s), "
             f"api's request p99 {req_p99:.4f}s")


zt.run(test)
