"""zpprom -- helpers for the monitoring tests (t18x): Prometheus's tools
(promtool, a real prometheus server on loopback) and the metric names that a
running zeroproxy serves.

    names = zpprom.exported_names(t)         # a running zeroproxy's /metrics
    bad = zpprom.unknown_names(expr, names)   # metric names expr uses that are not there
    zpprom.promtool("check", "rules", path)   # CompletedProcess; skip() if no promtool
    with zpprom.Prometheus(t, targets=[addr]) as prom:
        prom.query('zeroproxy_up{service="web"}')

Stdlib only, like zptest.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import zptest as zt

SRCDIR = os.environ.get("ZP_SRCDIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RULES = os.path.join(SRCDIR, "conf", "prometheus-rules.yml")
DASHBOARD = os.path.join(SRCDIR, "conf", "grafana-dashboard.json")
RULES_TEST = os.path.join(SRCDIR, "tests", "prometheus", "rules-test.yml")
SCRAPE = os.path.join(SRCDIR, "conf", "prometheus-scrape.yml")


def tool(name):
    """The path of a Prometheus tool, or skip the test saying why."""
    p = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK)
                               else None)
    if not p:
        zt.skip(f"{name} not installed (Debian package prometheus)")
    return p


def need_yaml():
    """python3-yaml (the rules and configuration files are YAML), or skip."""
    try:
        import yaml  # noqa: F401
    except ImportError:
        zt.skip("python3-yaml not installed")


def promtool(*args, input=None, timeout=120):
    return subprocess.run([tool("promtool"), *args], input=input, capture_output=True,
                          text=True, timeout=timeout)


# --- what zeroproxy exports ---------------------------------------------------

def scrape(addr, timeout=5.0):
    """The body of GET /metrics from addr, as text."""
    return zt.metrics_text(addr, timeout)


def names_in_exposition(text, samples_only=False):
    """The metric names PromQL can select in an exposition: those of its
    samples and, unless samples_only, of every family its TYPE lines declare
    (a gauge with no sample yet, such as the last start's duration before the
    first start, is still a name zeroproxy exports). A histogram is its
    _bucket, _sum and _count, never the bare family name, which has no
    series."""
    names = set()
    for ln in text.splitlines():
        if ln.startswith("# TYPE ") and not samples_only:
            _, _, fam, typ = ln.split()
            if typ == "histogram":
                names |= {fam + "_bucket", fam + "_sum", fam + "_count"}
            elif typ == "summary":
                names |= {fam, fam + "_sum", fam + "_count"}
            else:
                names.add(fam)
        elif ln and not ln.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", ln).group(0))
    return names


# Gauges of a service's latest event (a cold start, a readiness, a thaw):
# declared from the start, with a series only once the event happened.
LATEST_EVENT = {"zeroproxy_last_start_duration_seconds",
                "zeroproxy_last_ready_duration_seconds",
                "zeroproxy_last_thaw_duration_seconds"}


def exported_names(t):
    """The names of exported(t)."""
    return exported(t)[0]


def exported(t):
    """Start zeroproxy (through t) with metrics_listen and one service of
    each kind, zp-testd behind each and none started: web (tcp) and api
    (protocol = http, freeze_after, in group pool), so that every family has
    its series; return the names it serves. A family declared without a
    series, other than the gauges of LATEST_EVENT, fails: some kind of
    service is missing here. Returns (names, the scraped exposition)."""
    maddr = f"127.0.0.1:{t.port()}"
    t.groups = {"pool": 2}
    t.write_global(metrics_listen=maddr)
    t.testd_service("web")
    t.testd_service("api", protocol="http", freeze_after="1m", service_group="pool")
    t.start()
    t.wait_log(rf"metrics: serving /metrics on {re.escape(maddr)}")
    text = scrape(maddr)
    names = names_in_exposition(text)
    zt.expect("zeroproxy_cold_starts_total" in names, f"a real scrape: {sorted(names)[:5]}")
    bare = names - names_in_exposition(text, samples_only=True) - LATEST_EVENT
    zt.expect(not bare, f"families served without a series: {sorted(bare)}")
    return names, text


def served_states(text):
    """The values of zeroproxy_state's state label in an exposition, in the
    order zeroproxy lists them."""
    out = []
    for st in re.findall(r'^zeroproxy_state\{[^}]*\bstate="([^"]*)"', text, re.M):
        if st not in out:
            out.append(st)
    return out


def recorded_names(rules_text):
    """The record: names of a rules file (they are metric names too)."""
    return set(re.findall(r"^\s*-?\s*record:\s*(\S+)\s*$", rules_text, re.M))


# PromQL words that are not metric names.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
             "and", "or", "unless", "atan2", "inf", "nan", "start", "end"}


def metric_names(expr):
    """The metric names an expression selects: identifiers that are not
    functions or aggregations (followed by "("), keywords, label lists of
    by/without/on/ignoring/group_*, label matchers, strings or durations."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)   # strings
    e = re.sub(r"\{[^}]*\}", " ", e)                                     # matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                                    # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def unknown_names(expr, known):
    return sorted(metric_names(expr) - set(known))


# --- the dashboard ------------------------------------------------------------

# What the dashboard's template variables and Grafana's own stand for in a
# check: $service and $instance regexes, the intervals durations.
VALUES = {"service": "web|api.*", "instance": "127.0.0.1:9.*", "__rate_interval": "1m",
          "__interval": "30s", "__range": "1d"}


def substitute(expr, **values):
    """expr with the dashboard's variables replaced by VALUES, or values."""
    v = dict(VALUES, **values)
    for name in sorted(v, key=len, reverse=True):
        expr = re.sub(r"\$\{?" + re.escape(name) + r"\}?", lambda m: v[name], expr)
    zt.expect("$" not in expr, f"no unknown variable left in {expr!r}")
    return expr


def walk(panels):
    """Every panel, rows' nested panels included."""
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))


def exprs_of(panels, templating=()):
    """[(where, expr)] of every target and of label_values(SELECTOR, label)."""
    out = []
    for p in walk(panels):
        for tg in p.get("targets", []):
            zt.expect(tg.get("expr"), f"panel {p.get('title')!r}: target {tg.get('refId')} has expr")
            out.append((f"panel {p['id']} {p['title']!r} {tg['refId']}", tg["expr"]))
    for v in templating:
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
            zt.expect(m, f"variable {v['name']}: label_values(SELECTOR, LABEL), got {q!r}")
            out.append((f"variable {v['name']}", m.group(1)))
    return out


# --- a real Prometheus ------------------------------------------------------------

class Prometheus:
    """prometheus on a free loopback port with its storage in the test's
    folder, scraping targets every `interval`; killed on exit (and by the
    harness's cleanup, which kills what carries the test's folder in its
    command line)."""

    def __init__(self, t, targets, interval="1s", rule_files=()):
        """The configuration is conf/prometheus-scrape.yml, the one that
        ships, with targets, intervals and rule files replaced."""
        import yaml
        self.t = t
        self.dir = t.path("prometheus")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.addr = f"127.0.0.1:{t.port()}"
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(SCRAPE) as f:
            cfg = yaml.safe_load(f)
        cfg["global"].update(scrape_interval=interval, evaluation_interval=interval)
        cfg["rule_files"] = list(rule_files)
        (job,) = cfg["scrape_configs"]
        job.update(scrape_interval=interval, scrape_timeout=interval)
        job["static_configs"] = [{"targets": list(targets)}]
        self.job = job["job_name"]
        with open(self.config, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.proc = None

    def __enter__(self):
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [tool("prometheus"), f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address={self.addr}", "--log.level=warn",
             "--storage.tsdb.retention.time=1h"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.t.pids.add(self.proc.pid)
        zt.wait_until(self._ready, timeout=60, interval=0.1, what="prometheus ready")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            zt.error(f"prometheus exited {self.proc.returncode}: {self.log()}")
        try:
            with urllib.request.urlopen(f"http://{self.addr}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(10)

    def api(self, path, **params):
        url = f"http://{self.addr}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:  # 400, 422: the error is in the body
            zt.fail(f"prometheus {path} {params}: {e.code} {e.read().decode(errors='replace')}")
        zt.expect_eq(body.get("status"), "success", f"prometheus {path} {params}: {body}")
        return body["data"]

    def query(self, expr, at=None):
        """The instant vector of expr: [(labels, value)], labels with __name__."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        zt.expect_eq(data["resultType"], "vector", f"result type of {expr}")
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def query_range(self, expr, start, end, step=1.0):
        data = self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}",
                        step=str(step))
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
                for r in data["result"]]

    def value(self, expr, at=None):
        """The single value of expr, or None when it has no sample."""
        res = self.query(expr, at)
        zt.expect(len(res) <= 1, f"{expr}: one series at most, got {res}")
        return res[0][1] if res else None

    def wait_value(self, expr, want, timeout=30, what=None):
        """Wait until expr's single value equals want; returns the time seen."""
        got = []

        def seen():
            got[:] = [self.value(expr)]
            return got[0] == want

        zt.wait_until(seen, timeout=timeout, interval=0.2,
                      what=what or f"prometheus to see {expr} == {want} (last {got})")
        return time.time()




def rule_exprs(path):
    """[(name, expr)] of every rule of a rules file (record or alert name)."""
    import yaml
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [(r.get("record") or r.get("alert"), str(r["expr"]))
            for g in doc["groups"] for r in g["rules"]]
