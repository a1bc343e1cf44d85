#!/usr/bin/env python3
"""t181 — conf/prometheus-rules.yml: `promtool check rules` accepts it and
`promtool test rules tests/prometheus/rules-test.yml` passes, where every
alert has a case in which it fires and one in which it stays quiet; a copy of
the rules in which one alert can never fire makes that test fail (so the
fixture really holds each alert to firing). Every expression names only
metrics that a real running zeroproxy serves on /metrics (or that the file
records itself); that zeroproxy has a tcp service and an http one with
freeze_after in a group, so that the families of HTTP mode, the freeze tier
and groups have series too.
Skipped (77) without promtool or python3-yaml.
Run by hand: ZP_BUILDDIR=$builddir python3 tests/integration/t181-prometheus-rules.py"""
import os
import re
import shutil

import zptest as zt
import zpprom as zp


def check_rules(path):
    p = zp.promtool("check", "rules", path)
    zt.expect(p.returncode == 0 and "SUCCESS" in p.stdout,
              f"promtool check rules {path}: {p.stdout}{p.stderr}")
    return p.stdout.strip().splitlines()[-1].strip()


def test_rules(path):
    p = zp.promtool("test", "rules", path)
    zt.expect(p.returncode == 0 and "SUCCESS" in p.stdout,
              f"promtool test rules {path}:\n{p.stdout}{p.stderr}")


def alert_cases(test_path):
    """{alertname: (firing cases, quiet cases)} of a promtool test file."""
    import yaml
    with open(test_path) as f:
        doc = yaml.safe_load(f)
    cases = {}
    for tc in doc["tests"]:
        for a in tc.get("alert_rule_test", []):
            fire, quiet = cases.setdefault(a["alertname"], (0, 0))
            if a.get("exp_alerts"):
                fire += 1
            else:
                quiet += 1
            cases[a["alertname"]] = (fire, quiet)
    return cases


def mutants_fail(rules, test_path, alerts):
    """Each alert replaced by one that never fires: the test must fail."""
    rel = os.path.relpath(rules, os.path.dirname(test_path))
    text = open(rules).read()
    for name in alerts:
        d = zt._current.path("mutant-" + name)
        tdir = os.path.join(d, "t")
        os.makedirs(tdir)
        shutil.copy(test_path, tdir)
        target = os.path.normpath(os.path.join(tdir, rel))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        m = re.search(rf"(- alert: {name}\n\s+expr: )(>-\n(?:\s{{10,}}.*\n)+|.*\n)", text)
        zt.expect(m, f"alert {name} and its expr in {rules}")
        with open(target, "w") as f:
            f.write(text[:m.start(2)] + "vector(0) > 1\n" + text[m.end(2):])
        p = zp.promtool("test", "rules", os.path.join(tdir, os.path.basename(test_path)))
        zt.expect(p.returncode != 0 and name in p.stdout,
                  f"a {name} that never fires fails the rules test: {p.stdout[-500:]}")


def check_names(path, known, what):
    for name, expr in zp.rule_exprs(path):
        bad = zp.unknown_names(expr, known)
        zt.expect(not bad, f"{os.path.basename(path)}: {name} names {bad}, which {what}")


def test(t):
    zp.tool("promtool")
    zp.need_yaml()

    # The name extractor itself, on the shapes the rules use.
    got = zp.metric_names('sum by (job, le) (rate(a_b{x="y",le=~"1|2"}[5m])) / on (job) '
                          'group_left(service) c:d:e > bool 2 and histogram_quantile(0.9, f)')
    zt.expect_eq(got, {"a_b", "c:d:e", "f"}, "metric names of a test expression")

    summary = check_rules(zp.RULES)
    zt._note(f"promtool check rules: {summary}")
    test_rules(zp.RULES_TEST)
    cases = alert_cases(zp.RULES_TEST)
    alerts = [n for n, _ in zp.rule_exprs(zp.RULES) if n[0].isupper()]
    zt.expect(len(alerts) >= 6, f"the alerts of the rules file: {alerts}")
    for a in alerts:
        fire, quiet = cases.get(a, (0, 0))
        zt.expect(fire and quiet, f"{a}: firing ({fire}) and quiet ({quiet}) cases in the test")
    mutants_fail(zp.RULES, zp.RULES_TEST, alerts)

    # What a running zeroproxy really serves.
    exported = zp.exported_names(t)
    rules_text = open(zp.RULES).read()
    known = exported | zp.recorded_names(rules_text)
    check_names(zp.RULES, known, "a running zeroproxy does not serve")

    zt._note(f"{len(alerts)} alerts, each firing and quiet; {len(exported)} names exported")


zt.run(test)
