#!/usr/bin/env python3
"""host routing: three http services on one listen address, one socket. Each
request goes to the backend of the service that names its Host (each
backend answers with its own pid), a wildcard takes the names under it and
not itself, case and port do not matter; a Host nobody takes goes to the
default, and without a default it gets 404 from zeroproxy and starts
nothing. status --json lists the hosts of each service."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def get(listen, host, path="/"):
    return zt.host_get(listen, host, path)


def svc(t, name):
    return t.status_json(name)["services"][0]


def pid_of(t, name):
    zt.wait_until(lambda: svc(t, name)["pid"], 10, what=f"{name} running")
    return svc(t, name)["pid"]


def test(t):
    listen = f"127.0.0.1:{t.port()}"
    t.testd_service("alpha", listen=listen, protocol="http", idle_timeout="1h",
                    host=["alpha.example.com", "*.apps.example.com"])
    t.testd_service("beta", listen=listen, protocol="http", idle_timeout="1h",
                    host="beta.example.com")
    t.testd_service("gamma", listen=listen, protocol="http", idle_timeout="1h",
                    host="gamma.example.com")
    t.start()
    t.expect_log_count(r"listening on " + listen, 3, "each service listens on the address")

    # Nobody takes this Host and there is no default: 404, nothing starts.
    r = get(listen, "nobody.example.com")
    zt.expect_eq(r.status, 404, "a Host nobody takes")
    r = get(listen, "apps.example.com")
    zt.expect_eq(r.status, 404, "a wildcard does not take its own name")
    r = get(listen, None)
    zt.expect_eq(r.status, 404, "no Host at all, no default")
    zt.expect_eq(t.children(), [], "no backend started for unknown hosts")
    for name in ("alpha", "beta", "gamma"):
        st = svc(t, name)
        zt.expect_eq(st["state"], "stopped", f"{name} after the 404s")
        zt.expect_eq(st["requests_total"], 0, f"{name} counts none of the 404s")
        zt.expect_eq(st["connections_total"], 0, f"{name} counts none of their connections")

    # Each Host reaches its own backend, which starts for it alone.
    r = get(listen, "beta.example.com", "/b")
    zt.expect_eq(r.status, 200, "beta's answer")
    zt.expect_eq(r.kv.get("path"), "/b", "beta's path")
    zt.expect_eq(r.pid, pid_of(t, "beta"), "beta's backend answered")
    zt.expect_eq(svc(t, "alpha")["state"], "stopped", "alpha still stopped")
    zt.expect_eq(svc(t, "gamma")["state"], "stopped", "gamma still stopped")
    r = get(listen, "alpha.example.com")
    zt.expect_eq(r.pid, pid_of(t, "alpha"), "alpha's backend answered")
    r = get(listen, "gamma.example.com")
    zt.expect_eq(r.pid, pid_of(t, "gamma"), "gamma's backend answered")
    zt.expect(len({pid_of(t, n) for n in ("alpha", "beta", "gamma")}) == 3, "three backends")

    # Case and port are ignored; a wildcard takes the names under it.
    zt.expect_eq(get(listen, "BETA.Example.COM:8080").pid, pid_of(t, "beta"), "case and port")
    zt.expect_eq(get(listen, "beta.example.com.").pid, pid_of(t, "beta"), "a trailing dot")
    zt.expect_eq(get(listen, "x.apps.example.com").pid, pid_of(t, "alpha"), "wildcard")
    zt.expect_eq(get(listen, "a.b.apps.example.com").pid, pid_of(t, "alpha"), "deeper wildcard")
    zt.expect_eq(get(listen, "nobody.example.com").status, 404, "still 404")

    st = svc(t, "beta")
    zt.expect_eq(st["requests_total"], 3, "beta's requests")
    zt.expect_eq(st["connections_total"], 3, "beta's connections")
    zt.expect_eq(svc(t, "alpha")["requests_total"], 3, "alpha's requests")
    zt.expect_eq(svc(t, "gamma")["requests_total"], 1, "gamma's requests")
    zt.expect_eq(svc(t, "alpha")["hosts"], ["alpha.example.com", "*.apps.example.com"],
                 "alpha's hosts in status")
    zt.expect_eq(svc(t, "gamma")["hosts"], ["gamma.example.com"], "gamma's hosts in status")

    # A default: the service without host takes what nobody else does.
    t.testd_service("zdefault", listen=listen, protocol="http", idle_timeout="1h")
    t.zeroproxy("reload", "-c", t.conf)
    r = get(listen, "nobody.example.com")
    zt.expect_eq(r.status, 200, "the default takes an unknown Host")
    zt.expect_eq(r.pid, pid_of(t, "zdefault"), "the default's backend answered")
    zt.expect_eq(get(listen, None).pid, pid_of(t, "zdefault"), "no Host: the default")
    zt.expect_eq(get(listen, "beta.example.com").pid, pid_of(t, "beta"), "beta still beta")
    zt.expect_eq(svc(t, "zdefault")["hosts"], [], "the default has no hosts")


zt.run(test)
