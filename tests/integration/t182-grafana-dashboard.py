#!/usr/bin/env python3
"""t182 — conf/grafana-dashboard.json: the JSON loads; it is one dashboard
templated by data source, zeroproxy instance and service; every panel has a
unique id, a place on the grid, a title and the templated data source; every
PromQL expression in it (panel targets and the template variables'
label_values() selectors), with $service replaced by a regex value and
Grafana's $__ intervals by durations, parses (`promtool check rules` on a
generated rules file, one recording rule per expression) and names only
metrics that a real running zeroproxy serves on /metrics (a histogram by its
_bucket/_sum/_count); every metric zeroproxy serves is shown by some panel.
The zeroproxy scraped has a tcp service and an http one with freeze_after in
a group, so that every family has series. The state panel's sum of
zeroproxy_state{state=...} terms and its value mappings name exactly the
states zeroproxy serves, each with one value. A broken expression and an
unknown name are caught (the checks can fail).
Skipped (77) without promtool.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t182-grafana-dashboard.py"""
import json
import re

import zptest as zt
import zpprom as zp

VARS = {"datasource", "instance", "service"}
walk, exprs_of, substitute = zp.walk, zp.exprs_of, zp.substitute


def promtool_parses(t, exprs, name):
    """Every expr parses: (returncode, output) of promtool check rules."""
    path = t.path(f"{name}.rules.yml")
    with open(path, "w") as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, (_, e) in enumerate(exprs):
            f.write(f"      - record: dashboard:expr_{i}\n        expr: {json.dumps(substitute(e))}\n")
    p = zp.promtool("check", "rules", path)
    return p.returncode, p.stdout + p.stderr


def check_panels(panels, ids):
    for p in walk(panels):
        zt.expect(isinstance(p.get("id"), int) and p["id"] not in ids, f"unique id: {p.get('id')}")
        ids.add(p["id"])
        zt.expect(p.get("title"), f"panel {p['id']} has a title")
        g = p.get("gridPos", {})
        zt.expect(all(isinstance(g.get(k), int) for k in "xywh") and g["x"] + g["w"] <= 24,
                  f"panel {p['title']!r}: gridPos {g}")
        if p["type"] != "row":
            zt.expect_eq(p.get("datasource", {}).get("uid"), "${datasource}",
                         f"panel {p['title']!r} uses the templated data source")
            zt.expect(p.get("targets"), f"panel {p['title']!r} has queries")
            for tg in p["targets"]:
                zt.expect('service=~"$service"' in tg["expr"],
                          f"panel {p['title']!r} {tg['refId']} follows $service: {tg['expr']}")


def test(t):
    zp.tool("promtool")
    with open(zp.DASHBOARD) as f:
        d = json.load(f)
    zt.expect_eq(d.get("uid"), "zeroproxy", "dashboard uid")
    tvars = d["templating"]["list"]
    zt.expect_eq({v["name"] for v in tvars}, VARS, "template variables")
    svc = next(v for v in tvars if v["name"] == "service")
    zt.expect(svc["multi"] and svc["includeAll"], "several services at once, or all")
    check_panels(d["panels"], set())
    titles = [p["title"] for p in walk(d["panels"])]
    for want in ("State over time", "Time at zero", "Cold starts", "Cold-start latency",
                 "Backend CPU", "Billed", "connections", "Requests by response class",
                 "Request duration", "Frozen", "Thaw latency", "Group evictions", "Ignored"):
        zt.expect(any(want.lower() in x.lower() for x in titles), f"a panel for {want}: {titles}")

    exprs = exprs_of(d["panels"], tvars)
    rc, out = promtool_parses(t, exprs, "dashboard")
    zt.expect(rc == 0 and f"SUCCESS: {len(exprs)} rules found" in out,
              f"promtool parses all {len(exprs)} expressions: {out}")
    # A check that cannot fail proves nothing: a broken copy must fail.
    rc, out = promtool_parses(t, exprs + [("broken", 'sum(rate(zeroproxy_up{service=~"$service"}[1m])')],
                              "broken")
    zt.expect(rc != 0, f"promtool rejects an unbalanced expression: {out}")

    exported, text = zp.exported(t)
    used = set()
    for where, e in exprs:
        bad = zp.unknown_names(e, exported)
        zt.expect(not bad, f"{where} names {bad}, which a running zeroproxy does not serve")
        used |= zp.metric_names(e)
    zt.expect_eq(zp.unknown_names('increase(zeroproxy_cold_start_total{service=~"$service"}[1h])',
                                  exported), ["zeroproxy_cold_start_total"],
                 "a typo is caught")
    unshown = exported - used
    zt.expect(not unshown, f"metrics zeroproxy serves that no panel shows: {sorted(unshown)}")

    # The state panel: one value per state, exactly the states zeroproxy has.
    states = zp.served_states(text)
    zt.expect({"stopped", "frozen", "waiting"} <= set(states),
              f"the states zeroproxy serves: {states}")
    state = next(p for p in walk(d["panels"]) if p["title"] == "State over time")
    (target,) = state["targets"]
    terms = re.findall(r"(?:^|\+)\s*(\d+) \* max by \(instance, service\) \(zeroproxy_state\{"
                       r'[^}]*\bstate="(\w+)"\}\)', target["expr"])
    zt.expect_eq(len(terms), target["expr"].count("zeroproxy_state"), "every term understood")
    in_expr = {int(v): st for v, st in terms}
    (mapping,) = state["fieldConfig"]["defaults"]["mappings"]
    mapped = {int(v): o["text"] for v, o in mapping["options"].items()}
    zt.expect_eq(len(in_expr), len(terms), f"one value per state in the expression: {terms}")
    zt.expect_eq(sorted(in_expr.values()), sorted(states),
                 "the state panel's expression: each state zeroproxy serves, once")
    zt.expect_eq(mapped, in_expr, "the state panel's mapping: the expression's values")
    zt._note(f"{len(titles)} panels, {len(exprs)} expressions, {len(used)} metrics shown; "
             f"states {states}")


zt.run(test)
