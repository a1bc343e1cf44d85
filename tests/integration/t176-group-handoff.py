#!/usr/bin/env python3
"""t176 — a relay = no service in a full group: a connection queued on its
listener waits there (zeroproxy accepts nothing) while the service is
waiting, without zeroproxy spinning on the listener it no longer watches; it
is served once the busy member becomes idle and is gone."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import zptest as zt  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test(t):
    t.groups = {"gpu": 1}
    a_addr = f"127.0.0.1:{t.port()}"
    b_pidfile = t.path("b.pid")
    a = t.testd_service("a", address=a_addr, idle_timeout="infinity", service_group="gpu")
    b = f"127.0.0.1:{t.port()}"
    t.service("b", listen=b, relay="no", idle_timeout="infinity",
              exec=t.testd("--pidfile", b_pidfile), service_group="gpu")
    t.start()
    watch = zt.GroupWatch(t, {a_addr: ("a", 1), b_pidfile: ("b", 1)})
    try:
        busy = zt.HttpConn(a)
        t.track(busy.get().pid)
        result = {}
        th = threading.Thread(target=lambda: result.update(r=zt.http_get(b, timeout=20)))
        th.start()
        zt.wait_until(lambda: t.service_status("b")["state"] == "waiting", 5, what="b waiting")
        cpu0 = cpu_seconds(t.daemon_pid)
        time.sleep(1.0)
        used = cpu_seconds(t.daemon_pid) - cpu0
        zt.expect(used < 0.3, f"no spinning while b waits ({used:.2f} s of CPU in 1 s)")
        zt.expect_eq(t.service_status("b")["state"], "waiting", "b still waits")
        zt.expect(not result, "b not served while a is busy")
        busy.close()
        th.join(20)
        zt.expect("r" in result, "b served once a is idle and gone")
        t.track(result["r"].pid)
        t.wait_log(r"gpu: stopping a to make room for b")
    finally:
        most = watch.stop()
    zt.expect(most <= 1, f"never both at once (at most {most}: {watch.max_alive})")


zt.run(test)
