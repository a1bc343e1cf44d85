#!/usr/bin/env python3
"""host routing with idle_ignore: a request is judged by the idle_ignore of
the service its Host routes it to, not by that of the service that happens
to hold the shared socket (the first by name). alpha holds the socket and
ignores nothing; beta (host beta.example.com) ignores /healthz. A /healthz
for beta while it is stopped is answered by zeroproxy (200, empty) and
starts nothing, and counts in beta's requests_ignored; the same path for
alpha is a real request that starts alpha. Before the fix the probe was
judged by alpha's (empty) idle_ignore and started beta's backend."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def svc(t, name):
    return t.status_json(name)["services"][0]


def test(t):
    listen = f"127.0.0.1:{t.port()}"
    t.testd_service("alpha", listen=listen, protocol="http", idle_timeout="1h")
    t.testd_service("beta", listen=listen, protocol="http", idle_timeout="1h",
                    host="beta.example.com", idle_ignore="/healthz")
    t.start()

    for i in range(5):
        r = zt.host_get(listen, "beta.example.com", "/healthz")
        zt.expect_eq(r.status, 200, f"probe {i} for beta answered by zeroproxy")
        zt.expect_eq(r.body, b"", f"probe {i}: an empty body")
    zt.expect_eq(svc(t, "beta")["state"], "stopped", "beta not started by its probes")
    zt.expect_eq(t.children(), [], "no backend started by the probes")
    zt.expect_eq(svc(t, "beta")["requests_ignored"], 5, "beta counts the probes it ignored")
    zt.expect_eq(svc(t, "alpha")["requests_ignored"], 0, "alpha counts none of them")

    # The same path for alpha, which ignores nothing, is a real request.
    r = zt.host_get(listen, "alpha.example.com", "/healthz")
    zt.expect_eq(r.status, 200, "alpha's answer")
    zt.expect(r.pid, "alpha's backend answered")
    zt.expect_eq(svc(t, "alpha")["state"], "running", "alpha started by its request")
    zt.expect_eq(svc(t, "beta")["state"], "stopped", "beta still stopped")


zt.run(test)
